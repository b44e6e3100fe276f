//! The WASI policy for guests (Rust std, Python and JS guests import WASI p2).
//!
//! Granted to every job and service: wall and monotonic clocks, random, and
//! stdout/stderr, whose lines go to the host's log (target `regcenter::guest`)
//! cut at [`LOG_LINE_BYTES`](crate::limits::LOG_LINE_BYTES). Denied unless a
//! master grants them to a service ([`WasiGrants`]): the filesystem (no
//! preopened directories: opening any path fails with `no-entry`/`not-permitted`),
//! the environment (empty), TCP, UDP and name lookup (socket calls fail with
//! `access-denied`). Stdin is closed. Jobs never get grants.

use crate::limits::LOG_LINE_BYTES;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// What a master explicitly grants one service beyond the default policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasiGrants {
    /// Environment variables the service sees.
    pub env: Vec<(String, String)>,
    /// Host directories preopened for the service: (host path, guest path, writable).
    pub dirs: Vec<(PathBuf, String, bool)>,
}

/// Builds the WASI context of a service named `label` (for log lines) with
/// what the master granted it.
pub fn context(label: &Arc<str>, grants: &WasiGrants) -> Result<WasiCtx, String> {
    let mut b = policy(label);
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for (host, guest, writable) in &grants.dirs {
        let perms = if *writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        b.preopened_dir(host, guest, perms)
            .map_err(|e| format!("cannot preopen {} as {guest}: {e}", host.display()))?;
    }
    Ok(b.build())
}

/// The WASI context of a job named `label`: the default policy, no grants.
pub fn job_context(label: &Arc<str>) -> WasiCtx {
    policy(label).build()
}

/// The default policy: log output, no network, nothing else granted.
fn policy(label: &Arc<str>) -> WasiCtxBuilder {
    let mut b = WasiCtxBuilder::new();
    b.stdout(LogOutput { label: label.clone(), stream: "stdout" })
        .stderr(LogOutput { label: label.clone(), stream: "stderr" })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b
}

/// Guest stdout/stderr into the log, one event per line.
#[derive(Clone)]
struct LogOutput {
    label: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineLogger { out: self.clone(), line: Vec::new() })
    }
}

struct LineLogger {
    out: LogOutput,
    line: Vec<u8>,
}

impl LineLogger {
    fn flush_line(&mut self) {
        if !self.line.is_empty() {
            let text = String::from_utf8_lossy(&self.line);
            tracing::info!(target: "regcenter::guest", guest = %self.out.label, stream = self.out.stream, "{}", text.trim_end());
            self.line.clear();
        }
    }
}

impl AsyncWrite for LineLogger {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        for &b in buf {
            if b == b'\n' {
                self.flush_line();
            } else if self.line.len() < LOG_LINE_BYTES {
                self.line.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_line();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        self.flush_line();
    }
}
