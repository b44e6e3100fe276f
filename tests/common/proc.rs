//! Child processes of the `regcenter` binary for the tests: spawned with the
//! shared compile cache, their stdout read line by line, killed (by their own
//! PID) when the test drops them; and their resident memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Far longer than anything should take on loopback.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Far longer than a master's start should take: it compiles its services
/// first, and with an empty compile cache the Python and JavaScript guests
/// (~25 MB of wasm) take tens of seconds on a busy 2-core machine.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(180);

/// A child process killed when the test ends.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its stdout, line by line.
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// SIGKILL now, and reap it.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id()).expect("the process's VmRSS")
    }
}

/// Resident memory of process `pid` in KiB (Linux `/proc`); `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Starts `regcenter ARGS…`.
pub fn spawn(args: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(args)
        .env("REGCENTER_CACHE_DIR", super::cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn regcenter");
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Proc { child, lines }
}

/// The first line of `p`'s stdout matching `pred` (panics after [`PATIENCE`]).
pub fn wait_line(p: &Proc, what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_line_within(p, what, PATIENCE, pred)
}

/// The first line of `p`'s stdout matching `pred` (panics after `patience`).
pub fn wait_line_within(p: &Proc, what: &str, patience: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + patience;
    while let Ok(l) = p.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if pred(&l) {
            return l;
        }
    }
    panic!("timed out waiting for {what} ({patience:?})");
}

/// A register process on `listen`; returns it and its port.
pub fn start_register(dir: &std::path::Path, listen: &str) -> (Proc, u16) {
    let p = spawn(&["register", "--listen", listen, "--data-dir", dir.to_str().unwrap()]);
    let line = wait_line(&p, "the register's address", |l| l.starts_with("register listening on"));
    let port = line.rsplit(':').next().unwrap().parse().unwrap();
    (p, port)
}
