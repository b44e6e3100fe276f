//! The floors of fan-out and throughput: a bare quinn server where the
//! register runs and bare quinn clients where the masters run, with the
//! register's TLS and transport settings. As the register starts a job on a
//! master, the server opens a bidirectional stream on a client's connection
//! and sends ~100 bytes; the client echoes them and finishes, as a master
//! returns a job's result. Fan-out: one echo on each of N connections at
//! once, until all are back. Throughput: echoes on one connection from many
//! closed-loop requesters, as the job throughput section runs its jobs.

use super::floor::{echo_streams, exchange};
use super::side::MasterSide;
use super::{err, BenchError, CONNECT_PATIENCE};
use crate::master::JOB_STREAM_MARGIN;
use crate::transport::datadir::DataDir;
use crate::transport::tls::{self, Trust, TransportSettings};
use crate::transport::udp;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The server and its clients.
pub struct SpreadFloor {
    server: quinn::Endpoint,
    /// The server's side of each client's connection, in the order the
    /// clients connected.
    conns: Vec<quinn::Connection>,
    accepted: mpsc::UnboundedReceiver<quinn::Connection>,
    clients: Vec<quinn::Endpoint>,
    trust: Trust,
}

impl SpreadFloor {
    /// Starts the server on the current runtime (the register's side).
    pub fn start(dir: &DataDir) -> Result<Self, BenchError> {
        let trust = Trust::from_pem(&dir.ca_cert_pem().map_err(err("floor CA"))?).map_err(err("floor trust"))?;
        let pair = dir.register_cert("bench-spread-floor", &[]).map_err(err("floor certificate"))?;
        // Clients never open streams: the register allows a master one, its control stream.
        let server_cfg = tls::server_config(&pair, TransportSettings { max_bidi_streams: 1, ..TransportSettings::default() }).map_err(err("floor TLS"))?;
        let server = udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), Some(server_cfg)).map_err(err("floor server"))?;
        let (tx, accepted) = mpsc::unbounded_channel();
        let ep = server.clone();
        tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(conn) = incoming.await {
                        let _ = tx.send(conn);
                    }
                });
            }
        });
        Ok(Self { server, conns: Vec::new(), accepted, clients: Vec::new(), trust })
    }

    /// Connects clients on `side` (where the masters run) until `n` are
    /// connected; a new client accepts up to `max_streams` +
    /// [`JOB_STREAM_MARGIN`] streams at once, as a master with that job
    /// limit does.
    pub async fn grow(&mut self, side: &MasterSide, n: usize, max_streams: u32) -> Result<(), BenchError> {
        let settings = TransportSettings { max_bidi_streams: max_streams.saturating_add(JOB_STREAM_MARGIN), ..TransportSettings::default() };
        let client_cfg = tls::client_config(&self.trust, settings).map_err(err("floor client TLS"))?;
        let addr = self.server.local_addr().map_err(err("floor server"))?;
        while self.clients.len() < n {
            // Each client has a UDP socket of its own, as each master has.
            let client = side.enter(|| {
                let mut ep = udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), None)?;
                ep.set_default_client_config(client_cfg.clone());
                let connecting = ep.connect(addr, "localhost").map_err(std::io::Error::other)?;
                tokio::spawn(async move {
                    if let Ok(conn) = connecting.await {
                        echo_streams(conn).await;
                    }
                });
                Ok::<_, std::io::Error>(ep)
            });
            self.clients.push(client.map_err(err("floor client"))?);
        }
        let deadline = Instant::now() + CONNECT_PATIENCE;
        while self.conns.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.accepted.recv()).await {
                Ok(Some(conn)) => self.conns.push(conn),
                _ => return Err(BenchError(format!("only {} of {n} floor clients connected", self.conns.len()))),
            }
        }
        Ok(())
    }

    /// One echo on each of the first `n` connections at once, each read by a
    /// task of its own (as a broadcast's jobs are); done when all are back.
    pub async fn fanout(&self, n: usize) -> Result<(), BenchError> {
        let conns = self.conns.get(..n).ok_or_else(|| BenchError(format!("{n} floor clients wanted, {} connected", self.conns.len())))?;
        let mut set = tokio::task::JoinSet::new();
        for conn in conns {
            let conn = conn.clone();
            set.spawn(async move { exchange(&conn).await.map_err(err("floor echo")) });
        }
        while let Some(r) = set.join_next().await {
            r.map_err(err("floor fan-out"))??;
        }
        Ok(())
    }

    /// `total` echoes on the first connection from `in_flight` requesters,
    /// each running its echoes one after another: (elapsed, echoes).
    pub async fn throughput(&self, total: usize, in_flight: usize) -> Result<(Duration, usize), BenchError> {
        let conn = self.conns.first().ok_or_else(|| BenchError("no floor client connected".into()))?;
        let left = Arc::new(AtomicUsize::new(total));
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..in_flight.min(total) {
            let (conn, left) = (conn.clone(), left.clone());
            set.spawn(async move {
                let mut done = 0usize;
                while left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                    exchange(&conn).await.map_err(err("floor echo"))?;
                    done += 1;
                }
                Ok::<usize, BenchError>(done)
            });
        }
        let mut done = 0;
        while let Some(r) = set.join_next().await {
            done += r.map_err(err("floor throughput"))??;
        }
        Ok((t0.elapsed(), done))
    }

    /// Closes the clients and the server.
    pub fn close(&self) {
        for c in &self.clients {
            c.close(0u32.into(), b"bench over");
        }
        self.server.close(0u32.into(), b"bench over");
    }
}
