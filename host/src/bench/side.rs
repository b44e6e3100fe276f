//! Where the masters run. Shared layout: on the bench's own runtime, beside
//! the register. Split layout: on a single-threaded runtime of their own, on
//! a thread of their own, with the floor's echo server: two nodes like two
//! single-threaded processes (as the PHP original runs), so a job and its
//! floor cross the same thread boundaries per hop.

use tokio::runtime::Handle;

/// The runtime the masters and the floor's echo server are started on.
pub struct MasterSide {
    handle: Handle,
    /// Split layout: the thread running the masters' runtime, and the sender
    /// that stops it when dropped.
    thread: Option<(std::thread::JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
}

impl MasterSide {
    /// The current runtime (shared layout).
    pub fn shared() -> Self {
        Self { handle: Handle::current(), thread: None }
    }

    /// A single-threaded runtime on a thread named `regcenter-masters`,
    /// pinned to CPU `pin` if given (see [`super::pin`]).
    pub fn split(pin: Option<usize>) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (pinned_tx, pinned) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("regcenter-masters".into()).spawn(move || {
            let pinned = pin.map_or(Ok(()), super::pin::pin_current_thread);
            let ok = pinned.is_ok();
            let _ = pinned_tx.send(pinned);
            if ok {
                rt.block_on(async {
                    let _ = stopped.await;
                });
            }
        })?;
        match pinned.recv() {
            Ok(Ok(())) => Ok(Self { handle, thread: Some((thread, stop)) }),
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => Err(std::io::Error::other("the masters' thread ended before it started")),
        }
    }

    /// Runs `f` with this side's runtime as the current one: what it spawns
    /// (and the sockets it registers) belong to this side.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.handle.enter();
        f()
    }
}

impl Drop for MasterSide {
    fn drop(&mut self) {
        if let Some((thread, stop)) = self.thread.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_split_side_runs_what_it_spawns_on_its_own_thread() {
        let side = MasterSide::split(None).unwrap();
        let name = side.enter(|| tokio::spawn(async { std::thread::current().name().map(String::from) })).await.unwrap();
        assert_eq!(name.as_deref(), Some("regcenter-masters"));
        let shared = MasterSide::shared();
        let here = std::thread::current().name().map(String::from);
        let there = shared.enter(|| tokio::spawn(async { std::thread::current().name().map(String::from) })).await.unwrap();
        assert_eq!(there, here);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_pinned_split_side_runs_on_its_cpu_and_a_bad_cpu_is_an_error() {
        let cpus = super::super::pin::allowed_cpus().unwrap();
        let last = *cpus.last().unwrap();
        let side = MasterSide::split(Some(last)).unwrap();
        let mask = side.enter(|| tokio::spawn(async { super::super::pin::allowed_cpus().unwrap() })).await.unwrap();
        assert_eq!(mask, vec![last]);
        let outside = (0..).find(|c| !cpus.contains(c)).unwrap();
        let err = MasterSide::split(Some(outside)).err().expect("a CPU outside the mask is refused");
        assert!(err.to_string().contains(&format!("CPU {outside} is not in")), "{err}");
    }
}
