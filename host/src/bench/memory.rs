//! Memory per connection, each server in a process of its own (this binary,
//! started as a child): the register with every master connected, and its
//! floor, a bare quinn server with the register's TLS and transport settings
//! and its bound on handshakes in progress, holding as many connections,
//! each with one open stream that carried a ~100-byte exchange each way (as
//! a master's control stream carries hello and welcome). Both are RSS growth
//! over the same settle time.

use super::floor::ECHO_BYTES;
use super::{BenchError, CONNECT_PATIENCE};
use crate::register::MAX_HANDSHAKES;
use crate::transport::datadir::DataDir;
use crate::transport::handshakes::HandshakeSlots;
use crate::transport::tls::{self, Trust, TransportSettings};
use crate::transport::udp;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server settles after the last connection before its RSS is read.
pub const SETTLE: Duration = Duration::from_secs(1);

/// How long a new server settles before its baseline RSS is read.
const STARTUP_SETTLE: Duration = Duration::from_millis(500);

/// How soon a refused floor connection dials again.
const REDIAL: Duration = Duration::from_millis(100);

/// What the floor server prints first.
const FLOOR_LISTENING: &str = "quic floor listening on ";

/// A server child process, killed (by its own PID) when dropped, and by the
/// kernel when this process ends first (see [`crate::parent`]).
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts this binary with `args`, reads its address from the first
    /// stdout line starting with `prefix` (the rest of its output is
    /// drained), and lets it settle before its baseline RSS is read.
    pub async fn start(args: &[&std::ffi::OsStr], prefix: &str) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(|e| BenchError(e.to_string()))?;
        let mut child = crate::parent::bind_to_this_process(&mut Command::new(exe))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError(format!("spawn {prefix:?} server: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| BenchError("no stdout".into()))?;
        // Killed on any error from here on.
        let mut server = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| BenchError(e.to_string()))?;
        let addr = line.trim().strip_prefix(prefix).ok_or_else(|| BenchError(format!("server printed {line:?}, expected {prefix:?}…")))?;
        server.addr = addr.parse().map_err(|_| BenchError(format!("bad address {addr:?}")))?;
        // Keep draining its event lines.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        tokio::time::sleep(STARTUP_SETTLE).await;
        Ok(server)
    }

    /// Its resident set size in bytes (Linux `/proc`).
    pub fn rss_bytes(&self) -> Result<u64, BenchError> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| BenchError(format!("RSS of {pid}: {e}")))?;
        parse_vm_rss(&status).ok_or_else(|| BenchError(format!("no VmRSS for {pid}")))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The floor server's side: the register's server config (one stream per
/// peer, the same idle timeout and keepalive) and its bound on handshakes in
/// progress, every connection held with its one stream open. Prints its
/// address, then serves until killed.
pub async fn serve_floor(data_dir: &Path) -> Result<(), BenchError> {
    let dir = DataDir::open(data_dir).map_err(|e| BenchError(e.to_string()))?;
    let pair = dir.register_cert("bench-floor", &[]).map_err(|e| BenchError(e.to_string()))?;
    let cfg = tls::server_config(&pair, TransportSettings { max_bidi_streams: 1, ..TransportSettings::default() }).map_err(|e| BenchError(e.to_string()))?;
    let ep = udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), Some(cfg)).map_err(|e| BenchError(e.to_string()))?;
    let addr = ep.local_addr().map_err(|e| BenchError(e.to_string()))?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{FLOOR_LISTENING}{addr}").and_then(|_| out.flush()).map_err(|e| BenchError(e.to_string()))?;
    }
    let slots = std::sync::Arc::new(HandshakeSlots::new(MAX_HANDSHAKES, TransportSettings::default().idle_timeout, CONNECT_PATIENCE));
    while let Some(inc) = ep.accept().await {
        let Some(inc) = slots.admit(inc) else { continue };
        let slots = slots.clone();
        tokio::spawn(async move {
            let Ok(conn) = slots.handshake(inc).await else { return };
            let Ok((mut send, mut recv)) = conn.accept_bi().await else { return };
            let mut buf = [0u8; ECHO_BYTES];
            if recv.read_exact(&mut buf).await.is_err() || send.write_all(&buf).await.is_err() {
                return;
            }
            conn.closed().await;
            drop((send, recv));
        });
    }
    Ok(())
}

/// Starts the floor server in a child process, opens `n` connections to it
/// (each: one stream, 100 bytes each way, kept open) and returns its RSS
/// growth per connection.
pub async fn floor_bytes_per_connection(data_dir: &Path, n: usize) -> Result<u64, BenchError> {
    let server = ServerProcess::start(&["bench".as_ref(), "--quic-floor-server".as_ref(), data_dir.as_os_str()], FLOOR_LISTENING).await?;
    let dir = DataDir::open(data_dir).map_err(|e| BenchError(e.to_string()))?;
    let trust = Trust::from_pem(&dir.ca_cert_pem().map_err(|e| BenchError(e.to_string()))?).map_err(|e| BenchError(e.to_string()))?;
    let mut client = udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), None).map_err(|e| BenchError(e.to_string()))?;
    client.set_default_client_config(tls::client_config(&trust, TransportSettings::default()).map_err(|e| BenchError(e.to_string()))?);
    let before = server.rss_bytes()?;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, to) = (client.clone(), server.addr);
        set.spawn(async move { tokio::time::timeout(CONNECT_PATIENCE, hold(&client, to)).await.map_err(|_| "timed out".to_string())? });
    }
    let mut held = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        let conn = r.map_err(|e| BenchError(e.to_string()))?.map_err(|e| BenchError(format!("floor connection: {e}")))?;
        held.push(conn);
    }
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_bytes()?;
    drop(held);
    client.close(0u32.into(), b"done");
    Ok(after.saturating_sub(before) / n.max(1) as u64)
}

/// One floor connection: its stream's 100 bytes each way; all kept open.
/// Refused (its wait for a handshake slot ran out) or timed out, it dials
/// again, as a master does.
async fn hold(client: &quinn::Endpoint, to: SocketAddr) -> Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String> {
    let conn = loop {
        match client.connect(to, "localhost").map_err(|e| e.to_string())?.await {
            Ok(c) => break c,
            Err(quinn::ConnectionError::ConnectionClosed(_) | quinn::ConnectionError::TimedOut) => tokio::time::sleep(REDIAL).await,
            Err(e) => return Err(e.to_string()),
        }
    };
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&[7u8; ECHO_BYTES]).await.map_err(|e| e.to_string())?;
    let mut back = [0u8; ECHO_BYTES];
    recv.read_exact(&mut back).await.map_err(|e| e.to_string())?;
    Ok((conn, send, recv))
}

#[cfg(test)]
mod tests {
    use super::parse_vm_rss;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tregcenter\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }
}
