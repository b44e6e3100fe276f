//! Tiered job compilation: a job seen for the first time runs on baseline
//! (Winch) code at once, and this module's worker thread recompiles it with
//! Cranelift. The worker runs one compile at a time on a single thread at
//! low scheduling priority, so upgrades use spare CPU and never delay jobs;
//! the queue is bounded and a job that does not fit stays on baseline code
//! until it leaves the cache.

use crate::error::LoadError;
use crate::runtime::engine;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Upgrades waiting for the worker; more are dropped.
pub const MAX_QUEUED_UPGRADES: usize = 16;

/// Nice value of the worker thread (Unix): below every job and service.
const WORKER_NICE: i32 = 10;

/// What the worker hands back: the job's hash and its optimized component.
pub type Install = Box<dyn Fn([u8; 32], Component) + Send + Sync>;

/// The queue of the optimizing compiler. Dropping it ends the worker after
/// its current compile.
pub struct Upgrader {
    queue: SyncSender<([u8; 32], Arc<[u8]>)>,
}

impl Upgrader {
    /// Starts the worker: it compiles on `engine` (bytes up to `max`) and
    /// passes each result to `install`. The thread ends with the upgrader.
    pub fn start(engine: Engine, max: usize, install: Install) -> Result<Self, LoadError> {
        let (tx, rx) = sync_channel::<([u8; 32], Arc<[u8]>)>(MAX_QUEUED_UPGRADES);
        std::thread::Builder::new()
            .name("regcenter-optimize".into())
            .spawn(move || {
                lower_priority();
                while let Ok((sha, bytes)) = rx.recv() {
                    match engine::compile(&engine, &bytes, max) {
                        Ok(component) => install(sha, component),
                        Err(e) => tracing::warn!(job = %crate::runtime::hex(&sha[..6]), error = %e, "optimizing compile failed; the job stays on baseline code"),
                    }
                }
            })
            .map_err(|e| LoadError::Instantiate { message: format!("optimizing compiler thread: {e}") })?;
        Ok(Self { queue: tx })
    }

    /// Queues `bytes` for optimization; when the queue is full the job
    /// stays on baseline code.
    pub fn queue(&self, sha: [u8; 32], bytes: Arc<[u8]>) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send((sha, bytes)) {
            tracing::debug!(job = %crate::runtime::hex(&sha[..6]), "optimizing compiles are backed up; the job stays on baseline code");
        }
    }
}

#[cfg(unix)]
fn lower_priority() {
    // On Linux the nice value is per thread; `None` is the calling thread.
    if let Err(e) = rustix::process::setpriority_process(None, WORKER_NICE) {
        tracing::debug!(error = %e, "could not lower the optimizing compiler's priority");
    }
}

#[cfg(not(unix))]
fn lower_priority() {}
