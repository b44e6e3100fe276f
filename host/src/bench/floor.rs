//! The physical floor: a bare quinn echo of ~100 bytes on a new bidirectional
//! stream of an open connection, with the register's TLS and transport
//! settings, directly (1 hop) and through a bare relay (2 hops). The echo
//! server runs where the masters run, the relay where the register runs.

use super::side::MasterSide;
use crate::transport::datadir::DataDir;
use crate::transport::tls::{self, Trust, TransportSettings};
use crate::transport::udp;
use std::net::SocketAddr;
use std::time::Duration;

/// Bytes per echo, about one small job request.
pub const ECHO_BYTES: usize = 100;

/// An echo server, a relay in front of it, and client connections to both.
pub struct Floor {
    direct: quinn::Connection,
    relayed: quinn::Connection,
    _endpoints: Vec<quinn::Endpoint>,
}

fn server(cfg: quinn::ServerConfig) -> Result<quinn::Endpoint, String> {
    udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), Some(cfg)).map_err(|e| e.to_string())
}

async fn connect(client: &quinn::Endpoint, to: SocketAddr) -> Result<quinn::Connection, String> {
    client.connect(to, "localhost").map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())
}

/// Echoes every stream of every connection.
fn serve_echo(ep: quinn::Endpoint) {
    tokio::spawn(async move {
        while let Some(inc) = ep.accept().await {
            tokio::spawn(async move {
                if let Ok(conn) = inc.await {
                    echo_streams(conn).await;
                }
            });
        }
    });
}

/// Echoes every stream the peer opens on `conn`, each in a task of its own.
pub async fn echo_streams(conn: quinn::Connection) {
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        tokio::spawn(async move {
            if let Ok(data) = recv.read_to_end(64 << 10).await {
                let _ = send.write_all(&data).await;
                let _ = send.finish();
            }
        });
    }
}

/// One exchange on a new stream of `conn`: send [`ECHO_BYTES`], finish,
/// read the echo to its end and check its length.
pub async fn exchange(conn: &quinn::Connection) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&[7u8; ECHO_BYTES]).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let back = recv.read_to_end(64 << 10).await.map_err(|e| e.to_string())?;
    if back.len() != ECHO_BYTES {
        return Err(format!("echo returned {} bytes, sent {ECHO_BYTES}", back.len()));
    }
    Ok(())
}

/// Forwards every stream to a new stream on `upstream` and the answer back.
fn serve_relay(ep: quinn::Endpoint, upstream: quinn::Connection) {
    tokio::spawn(async move {
        while let Some(inc) = ep.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(conn) = inc.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok((mut up_send, mut up_recv)) = upstream.open_bi().await else { return };
                        let Ok(data) = recv.read_to_end(64 << 10).await else { return };
                        if up_send.write_all(&data).await.is_err() || up_send.finish().is_err() {
                            return;
                        }
                        if let Ok(answer) = up_recv.read_to_end(64 << 10).await {
                            let _ = send.write_all(&answer).await;
                            let _ = send.finish();
                        }
                    });
                }
            });
        }
    });
}

impl Floor {
    /// Starts the echo server and the relay, and connects to both.
    pub async fn start(dir: &DataDir, side: &MasterSide) -> Result<Self, String> {
        let trust = Trust::from_pem(&dir.ca_cert_pem().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let client_cfg = tls::client_config(&trust, TransportSettings::default()).map_err(|e| e.to_string())?;
        let mut client = udp::endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), None).map_err(|e| e.to_string())?;
        client.set_default_client_config(client_cfg);

        let pair = dir.register_cert("bench-floor", &[]).map_err(|e| e.to_string())?;
        let server_cfg = tls::server_config(&pair, TransportSettings::default()).map_err(|e| e.to_string())?;
        // The echo server stands where the masters do.
        let echo = side.enter(|| {
            let echo = server(server_cfg.clone())?;
            serve_echo(echo.clone());
            Ok::<_, String>(echo)
        })?;
        let echo_addr = echo.local_addr().map_err(|e| e.to_string())?;
        let relay = server(server_cfg)?;
        let relay_addr = relay.local_addr().map_err(|e| e.to_string())?;
        let upstream = connect(&client, echo_addr).await?;
        serve_relay(relay.clone(), upstream);

        let direct = connect(&client, echo_addr).await?;
        let relayed = connect(&client, relay_addr).await?;
        Ok(Self { direct, relayed, _endpoints: vec![client, echo, relay] })
    }

    /// One echo round trip, directly (`hops` 1) or through the relay (2).
    pub async fn round_trip(&self, hops: u8) -> Result<Duration, String> {
        let conn = if hops == 1 { &self.direct } else { &self.relayed };
        let t0 = std::time::Instant::now();
        exchange(conn).await?;
        Ok(t0.elapsed())
    }
}
