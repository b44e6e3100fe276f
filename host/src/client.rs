//! The operator API used by the CLI: connect to a register with an operator
//! token, query masters and services, send commands, run jobs (the module is
//! sent only when the register asks for it) and read every master's events.

use crate::register::{JobModule, KnownModules, MasterInfo};
use crate::runtime::hex;
use crate::transport::datadir::{DataDir, DataDirError, TokenKind};
use crate::transport::stream::{self, codes, MessageReader, StreamError};
use crate::transport::tls::{self, TlsError, TransportSettings, Trust};
use regcenter_protocol::frame::DEFAULT_MAX_FRAME;
use regcenter_protocol::limits::JobLimits;
use regcenter_protocol::message::{Command, Message, OperatorHello, Request, RunTarget, PROTOCOL_VERSION};
use regcenter_protocol::remote::RemoteEvent;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why an operator request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The register could not be reached.
    #[error("cannot reach the register at {addr}: {message}")]
    Connect {
        /// The address.
        addr: String,
        /// What failed.
        message: String,
    },
    /// The register refused the operator's credentials.
    #[error("authentication with the register failed: {0}")]
    Auth(String),
    /// The register refused the request.
    #[error("the register refused: {0}")]
    Refused(String),
    /// The stream broke.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// An answer that does not fit the request.
    #[error("unexpected answer from the register: {0}")]
    Unexpected(String),
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// TLS settings are wrong.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How an operator connects.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// The data directory (its CA and operator token are the defaults).
    pub data_dir: PathBuf,
    /// The operator token; `None`: the data dir's first operator token.
    pub token: Option<String>,
    /// How to trust the register; `None`: the data dir's CA.
    pub trust: Option<Trust>,
}

/// A connection to a register as an operator.
pub struct Operator {
    conn: quinn::Connection,
    /// Modules the register showed it holds: a run of one of these ends the
    /// operator's side of the stream with the request.
    known: KnownModules,
    _endpoint: quinn::Endpoint,
    _control: (quinn::SendStream, MessageReader),
}

impl Operator {
    /// Connects to `addr` (`host:port`) and authenticates.
    pub async fn connect(addr: &str, cfg: &OperatorConfig) -> Result<Self, ClientError> {
        let unreachable = |message: String| ClientError::Connect { addr: addr.to_string(), message };
        let dir = DataDir::open(&cfg.data_dir)?;
        let token = match &cfg.token {
            Some(t) => t.clone(),
            None => dir.tokens(TokenKind::Operator)?.into_iter().next().unwrap_or_default(),
        };
        let trust = match &cfg.trust {
            Some(t) => t.clone(),
            None => Trust::from_pem(&dir.ca_cert_pem()?)?,
        };
        if matches!(trust, Trust::Insecure) {
            tracing::warn!(register = addr, "connecting WITHOUT verifying the register's certificate (insecure mode)");
        }
        let (host, port) = crate::node::split_host_port(addr).map_err(|e| unreachable(e.to_string()))?;
        let sock = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("no address".into()))?;
        let bind = if sock.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
        let mut endpoint = crate::transport::udp::endpoint(bind.parse().expect("valid address"), quinn::EndpointConfig::default(), None).map_err(|e| unreachable(e.to_string()))?;
        endpoint.set_default_client_config(tls::client_config(&trust, TransportSettings::default())?);
        let server_name = if host.parse::<std::net::IpAddr>().is_ok() { "localhost" } else { host.as_str() };
        let conn = endpoint
            .connect(sock, server_name)
            .map_err(|e| unreachable(e.to_string()))?
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut send, recv) = conn.open_bi().await.map_err(|e| unreachable(e.to_string()))?;
        stream::write(&mut send, &Message::OperatorHello(OperatorHello { version: PROTOCOL_VERSION, token })).await?;
        let mut reader = MessageReader::new(recv, DEFAULT_MAX_FRAME);
        match reader.next().await {
            Ok(Some(Message::Welcome(_))) => Ok(Self { conn, known: KnownModules::default(), _endpoint: endpoint, _control: (send, reader) }),
            Ok(Some(Message::AuthFailed(f))) => Err(ClientError::Auth(f.reason)),
            Ok(other) => Err(ClientError::Unexpected(format!("{other:?}"))),
            Err(e) => match conn.close_reason() {
                Some(quinn::ConnectionError::ApplicationClosed(c)) if c.error_code == codes::AUTH_FAILED.into() => {
                    Err(ClientError::Auth(String::from_utf8_lossy(&c.reason).into_owned()))
                }
                _ => Err(e.into()),
            },
        }
    }

    async fn ask(&self, req: Request) -> Result<serde_json::Value, ClientError> {
        let (mut send, recv) = self.conn.open_bi().await.map_err(|e| StreamError::ConnectionLost(e.to_string()))?;
        stream::write(&mut send, &Message::Request(req)).await?;
        let _ = send.finish();
        let mut reader = MessageReader::new(recv, DEFAULT_MAX_FRAME);
        match reader.next().await? {
            Some(Message::Reply(v)) => Ok(v),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// QUIC statistics of the connection to the register (datagrams, frames, …).
    pub fn connection_stats(&self) -> quinn::ConnectionStats {
        self.conn.stats()
    }

    /// The connected masters.
    pub async fn masters(&self) -> Result<Vec<MasterInfo>, ClientError> {
        let v = self.ask(Request::Masters).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    /// Service -> masters.
    pub async fn services(&self) -> Result<BTreeMap<String, Vec<String>>, ClientError> {
        let v = self.ask(Request::Services).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    /// Statistics: `{"masters": {id: stats}, "total": stats}`.
    pub async fn stats(&self) -> Result<serde_json::Value, ClientError> {
        self.ask(Request::Stats).await
    }

    /// Sends `command` to one master or all; returns how many got it.
    pub async fn tell(&self, master: Option<String>, command: Command) -> Result<u64, ClientError> {
        let v = self.ask(Request::Tell { master, command }).await?;
        v.get("sent").and_then(|n| n.as_u64()).ok_or_else(|| ClientError::Unexpected(v.to_string()))
    }

    /// Runs `module` on `target`; the stream yields each master's events.
    pub async fn run(&self, target: RunTarget, module: &JobModule, input: String, limits: JobLimits) -> Result<RunStream, ClientError> {
        let sha = module.sha256();
        let req = Request::Run { target, sha256: hex(&sha), size: module.bytes().len() as u64, input, limits, signature: module.signature().cloned() };
        let req = Message::Request(req).to_frame();
        // A module the register holds: the whole request in one write with
        // the end of our side. If it evicted the module after all, it asks
        // and ends the stream, and the run goes again with the module.
        if self.known.contains(&sha) {
            match self.try_run(&req, None).await? {
                Some(run) => return Ok(run),
                None => self.known.remove(&sha),
            }
        }
        let run = self.try_run(&req, Some(module)).await?.ok_or_else(|| ClientError::Unexpected("the register asked for the module twice".into()))?;
        self.known.insert(sha);
        Ok(run)
    }

    /// One run request on a new stream; with `module`, sent when asked for,
    /// without, our side ends at once and `None` means the register asked.
    async fn try_run(&self, req: &[u8], module: Option<&JobModule>) -> Result<Option<RunStream>, ClientError> {
        let (mut send, recv) = self.conn.open_bi().await.map_err(|e| StreamError::ConnectionLost(e.to_string()))?;
        send.write_all(req).await.map_err(|e| StreamError::ConnectionLost(e.to_string()))?;
        if module.is_none() {
            let _ = send.finish();
        }
        let mut reader = MessageReader::new(recv, DEFAULT_MAX_FRAME);
        loop {
            match reader.next().await? {
                Some(Message::NeedModule) => match module {
                    Some(m) => stream::write(&mut send, &Message::Module(m.bytes().to_vec())).await?,
                    None => {
                        reader.take_end().await;
                        return Ok(None);
                    }
                },
                Some(Message::Reply(v)) => {
                    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                        return Err(ClientError::Refused(e.to_string()));
                    }
                    let masters = v
                        .get("masters")
                        .and_then(|m| serde_json::from_value::<Vec<String>>(m.clone()).ok())
                        .ok_or_else(|| ClientError::Unexpected(v.to_string()))?;
                    let _ = send.finish();
                    let pending = masters.len();
                    return Ok(Some(RunStream { masters, pending, reader, _send: send }));
                }
                other => return Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        }
    }
}

/// The events of a run, tagged with their master. Dropping it cancels the jobs.
pub struct RunStream {
    /// The masters the job was started on ("" for a run that found none).
    pub masters: Vec<String>,
    /// Masters whose job has not ended yet.
    pending: usize,
    reader: MessageReader,
    _send: quinn::SendStream,
}

impl RunStream {
    /// The next (master, event); `None` once every master's job ended.
    pub async fn next(&mut self) -> Result<Option<(String, RemoteEvent)>, ClientError> {
        match self.reader.next().await? {
            Some(Message::Routed { master, event }) => {
                if matches!(event, RemoteEvent::Done { .. } | RemoteEvent::Failed(_)) {
                    self.pending = self.pending.saturating_sub(1);
                    if self.pending == 0 {
                        // The register ends the stream with the last event:
                        // take the end now, or dropping this run right
                        // after it asks the register to stop sending.
                        self.reader.take_end().await;
                    }
                }
                Ok(Some((master, event)))
            }
            None => Ok(None),
            Some(other) => Err(ClientError::Unexpected(other.name().to_string())),
        }
    }
}
