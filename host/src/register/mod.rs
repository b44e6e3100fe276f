//! The register (the seed's `Register`): a QUIC server masters connect to.
//! It authenticates them, keeps the table of masters and their services,
//! ships jobs to them (`run_on_master`, `run_on_all_masters`,
//! `run_on_service`) and broadcasts commands.
//!
//! # Layout
//! - [`table`]: the masters, their services and load.
//! - [`session`]: one master's connection: auth, control loop.
//! - [`backoff`]: growing delays for addresses that fail authentication.
//! - [`jobs`]: job streams, [`RemoteJob`], [`RemoteError`].
//! - [`operator`]: operators' requests (queries, commands, relayed runs).
//! - [`prometheus`]: statistics over HTTP in the Prometheus text format.

pub mod backoff;
pub mod jobs;
pub mod operator;
pub mod prometheus;
pub mod session;
pub mod table;

pub use jobs::{JobModule, RemoteError, RemoteEvent, RemoteJob};
pub use table::MasterInfo;
pub(crate) use table::KnownModules;

use crate::transport::datadir::{CertPair, DataDir, DataDirError, TokenKind};
use crate::transport::handshakes::HandshakeSlots;
use crate::transport::tls::{self, TlsError, TransportSettings};
use regcenter_protocol::frame::DEFAULT_MAX_FRAME;
use regcenter_protocol::limits::JobLimits;
use regcenter_protocol::message::Command;
use regcenter_protocol::stats::Stats;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use table::MasterTable;
use tokio::sync::broadcast;

/// The seed's auth timeout.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest control frame (hello with a big service list, commands).
pub const MAX_CONTROL_FRAME: usize = 4 << 20;
/// The default cap of a frame before authentication.
pub const MAX_HELLO_FRAME: usize = 256 << 10;
/// Hellos up to this size need no permit; larger ones take one of
/// [`MAX_LARGE_HELLOS`] (most hellos are a few KiB).
pub const SMALL_HELLO: usize = 16 << 10;
/// The default number of large hellos being received at once.
pub const MAX_LARGE_HELLOS: usize = 32;
/// The default number of connections authenticating at once (a whole fleet
/// of masters reconnecting to a restarted register fits).
pub const MAX_UNAUTHENTICATED: usize = 1024;
/// The default number of TLS handshakes in progress at once. A fleet
/// reconnecting together queues behind them: each handshake's keys and
/// buffers are freed before the next ones start, so the allocator's
/// high-water mark is that of 64 handshakes, not of 1,000 (whose memory the
/// process would keep: ~7 KB of RSS per connected master).
pub const MAX_HANDSHAKES: usize = 64;

/// How a register runs.
#[derive(Clone, Debug)]
pub struct RegisterConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The data directory (CA, certificate, tokens, reset key).
    pub data_dir: PathBuf,
    /// The register's name: its certificate in the data dir is `register-<name>`.
    pub name: String,
    /// A certificate and key to use instead of the data dir's.
    pub cert: Option<CertPair>,
    /// Extra DNS names / addresses for the generated certificate.
    pub extra_names: Vec<String>,
    /// Master tokens; `None`: the data dir's list (re-read at every hello,
    /// so added or removed tokens apply without a restart).
    pub master_tokens: Option<Vec<String>>,
    /// Operator tokens; `None`: the data dir's operator list (generated at first use).
    pub operator_tokens: Option<Vec<String>>,
    /// An unauthenticated connection is closed after this long.
    pub auth_timeout: Duration,
    /// QUIC transport parameters.
    pub transport: TransportSettings,
    /// Largest job-stream frame (a module plus header).
    pub max_job_frame: usize,
    /// Largest control frame.
    pub max_control_frame: usize,
    /// Largest frame before authentication (the hello with its services).
    pub max_hello_frame: usize,
    /// Connections still authenticating at once; more are refused at the
    /// handshake (bounds what unauthenticated peers can make us hold).
    pub max_unauthenticated: usize,
    /// Hellos over [`SMALL_HELLO`] bytes received at once; more are refused
    /// with a reason. With the two limits, unauthenticated peers can make
    /// the register buffer at most `max_unauthenticated * SMALL_HELLO +
    /// max_large_hellos * max_hello_frame` (24 MiB by default).
    pub max_large_hellos: usize,
    /// TLS handshakes in progress at once; more connections wait for one to
    /// end (up to half the transport's idle timeout, and no longer than the
    /// auth timeout; then they are refused and dial again). While all are
    /// taken, a peer whose address is not yet validated is first sent a
    /// QUIC Retry, so that peers with forged source addresses cannot hold
    /// the queue.
    pub max_handshakes: usize,
}

impl RegisterConfig {
    /// Defaults for `listen` and `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            data_dir: data_dir.into(),
            name: "main".into(),
            cert: None,
            extra_names: Vec::new(),
            master_tokens: None,
            operator_tokens: None,
            auth_timeout: AUTH_TIMEOUT,
            transport: TransportSettings::default(),
            max_job_frame: DEFAULT_MAX_FRAME,
            max_control_frame: MAX_CONTROL_FRAME,
            max_hello_frame: MAX_HELLO_FRAME,
            max_unauthenticated: MAX_UNAUTHENTICATED,
            max_large_hellos: MAX_LARGE_HELLOS,
            max_handshakes: MAX_HANDSHAKES,
        }
    }
}

/// What happens on a register.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterEvent {
    /// A master authenticated.
    MasterAuthenticated {
        /// Its node id.
        id: String,
        /// Its address.
        address: String,
    },
    /// A connection failed authentication.
    AuthFailed {
        /// The peer's address.
        address: String,
        /// Why.
        reason: String,
    },
    /// A master announced a new service list.
    ServicesChanged {
        /// Its node id.
        id: String,
    },
    /// A master disconnected (its jobs end with "master lost").
    MasterDisconnected {
        /// Its node id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A master sent a command/event.
    Cmd {
        /// Its node id.
        id: String,
        /// The command.
        command: Command,
    },
}

/// Why a register could not start.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error (e.g. address in use).
        source: std::io::Error,
    },
}

/// State shared by the register's tasks.
pub struct Shared {
    pub(crate) cfg: RegisterConfig,
    pub(crate) data_dir: DataDir,
    pub(crate) masters: MasterTable,
    pub(crate) events: broadcast::Sender<RegisterEvent>,
    pub(crate) register_id: String,
    pub(crate) modules: std::sync::Mutex<operator::ModuleStore>,
    pub(crate) backoff: backoff::AuthBackoff,
    pub(crate) authenticating: Arc<tokio::sync::Semaphore>,
    pub(crate) large_hellos: tokio::sync::Semaphore,
    pub(crate) handshakes: HandshakeSlots,
}

impl Shared {
    /// Connected masters, by id.
    pub(crate) fn connected_masters(&self) -> Vec<MasterInfo> {
        self.masters.all().iter().map(|m| m.info()).collect()
    }

    /// One master.
    pub(crate) fn master(&self, id: &str) -> Option<MasterInfo> {
        self.masters.get(id).map(|m| m.info())
    }

    /// Service name -> ids of the masters offering it (the seed's `getServicesMaster`).
    pub(crate) fn services_masters(&self) -> BTreeMap<String, Vec<String>> {
        self.masters.services()
    }

    /// Masters offering `service` (`name` or `name@version`).
    pub(crate) fn masters_with_service(&self, service: &str) -> Vec<MasterInfo> {
        self.masters.all().iter().filter(|m| m.offers(service)).map(|m| m.info()).collect()
    }

    /// Masters offering `service` whose metadata has `key` = `value`.
    pub(crate) fn masters_with_metadata(&self, service: &str, key: &str, value: &str) -> Vec<MasterInfo> {
        self.masters_with_service(service)
            .into_iter()
            .filter(|m| m.services.iter().any(|s| s.name == service && s.metadata.get(key).is_some_and(|v| v == value)))
            .collect()
    }

    /// Runs `module` on master `id` (the seed's `runOnMaster`).
    pub(crate) fn run_on_master(&self, id: &str, module: &JobModule, input: String, limits: JobLimits, items: jobs::Input) -> RemoteJob {
        match self.masters.get(id) {
            Some(m) => jobs::start(m, module.clone(), input, limits, self.cfg.max_job_frame, items, jobs::Pump::Reader),
            None => RemoteJob::failed(id, RemoteError::MasterNotFound { id: id.to_string() }),
        }
    }

    /// Runs `module` on every connected master (the seed's `runOnAllMasters`).
    /// Broadcast jobs take no input items: closed from the start, each job's
    /// start carries the input's end (its requester usually reads its
    /// stream from another task, which would close the input only after the
    /// start had gone: one more packet each way per master).
    pub(crate) fn run_on_all_masters(&self, module: &JobModule, input: String, limits: JobLimits) -> Vec<RemoteJob> {
        self.masters
            .all()
            .into_iter()
            .map(|m| jobs::start(m, module.clone(), input.clone(), limits, self.cfg.max_job_frame, jobs::Input::Closed, jobs::Pump::Task))
            .collect()
    }

    /// Runs `module` on the master offering `service` with the fewest jobs in flight.
    pub(crate) fn run_on_service(&self, service: &str, module: &JobModule, input: String, limits: JobLimits, items: jobs::Input) -> RemoteJob {
        self.run_on_service_except(service, module, input, limits, items, &[])
    }

    /// Like `run_on_service`, skipping the masters in `tried`.
    pub(crate) fn run_on_service_except(&self, service: &str, module: &JobModule, input: String, limits: JobLimits, items: jobs::Input, tried: &[String]) -> RemoteJob {
        let best = self.masters.all().into_iter().filter(|m| m.offers(service) && !tried.contains(&m.id)).min_by_key(|m| m.load());
        match best {
            Some(m) => jobs::start(m, module.clone(), input, limits, self.cfg.max_job_frame, items, jobs::Pump::Reader),
            None => RemoteJob::failed("", RemoteError::NoMaster { service: service.to_string() }),
        }
    }

    /// Sends a command to every master (the seed's `writeRawMessageToAllMasters`).
    /// Returns how many masters it was queued for.
    pub(crate) fn write_raw_message_to_all_masters(&self, command: Command) -> usize {
        self.masters.all().iter().filter(|m| m.commands.try_send(Box::new(command.clone())).is_ok()).count()
    }

    /// Sends a command to one master; false if it is not connected or its queue is full.
    pub(crate) fn send_command(&self, id: &str, command: Command) -> bool {
        self.masters.get(id).is_some_and(|m| m.commands.try_send(Box::new(command)).is_ok())
    }

    /// Each master's statistics, and their sum.
    pub(crate) fn stats(&self) -> (BTreeMap<String, Stats>, Stats) {
        let mut total = Stats::default();
        let mut each = BTreeMap::new();
        for m in self.masters.all() {
            let s = m.stats.read().map(|s| s.clone()).unwrap_or_default();
            total.merge(&s);
            each.insert(m.id.clone(), s);
        }
        (each, total)
    }

    pub(crate) fn master_tokens(&self) -> Vec<String> {
        match &self.cfg.master_tokens {
            Some(t) => t.clone(),
            None => self.data_dir.tokens(TokenKind::Master).unwrap_or_default(),
        }
    }

    pub(crate) fn operator_tokens(&self) -> Vec<String> {
        match &self.cfg.operator_tokens {
            Some(t) => t.clone(),
            None => self.data_dir.tokens(TokenKind::Operator).unwrap_or_default(),
        }
    }
}

/// A running register. Dropping it does not stop it; call [`Register::shutdown`].
#[derive(Clone)]
pub struct Register {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
}

impl Register {
    /// Binds and starts serving.
    pub async fn start(cfg: RegisterConfig) -> Result<Self, RegisterError> {
        let data_dir = DataDir::open(&cfg.data_dir)?;
        let pair = match &cfg.cert {
            Some(p) => p.clone(),
            None => data_dir.register_cert(&cfg.name, &cfg.extra_names)?,
        };
        // Before authentication a peer may open only its control stream; an
        // operator gets `cfg.transport.max_bidi_streams` once authenticated.
        let server = tls::server_config(&pair, TransportSettings { max_bidi_streams: 1, ..cfg.transport })?;
        let reset_key = data_dir.reset_key()?;
        let endpoint_cfg = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &reset_key)));
        let endpoint = crate::transport::udp::endpoint(cfg.listen, endpoint_cfg, Some(server))
            .map_err(|source| RegisterError::Bind { addr: cfg.listen, source })?;
        if cfg.master_tokens.is_none() {
            data_dir.tokens(TokenKind::Master)?;
        }
        if cfg.operator_tokens.is_none() {
            data_dir.tokens(TokenKind::Operator)?;
        }
        let (events, _) = broadcast::channel(1024);
        let register_id = format!("{}@{}", cfg.name, endpoint.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let max_unauthenticated = cfg.max_unauthenticated.max(1);
        let max_large_hellos = cfg.max_large_hellos;
        let handshakes = HandshakeSlots::new(cfg.max_handshakes, cfg.transport.idle_timeout, cfg.auth_timeout);
        let shared = Arc::new(Shared { cfg, data_dir, masters: MasterTable::default(), events, register_id,
            modules: Default::default(),
            backoff: Default::default(),
            authenticating: Arc::new(tokio::sync::Semaphore::new(max_unauthenticated)),
            large_hellos: tokio::sync::Semaphore::new(max_large_hellos),
            handshakes,
        });
        let accept_endpoint = endpoint.clone();
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accept_endpoint.accept().await {
                // Every handshake slot taken: a peer that has not proved its
                // address gets a (stateless) Retry before it may queue.
                let Some(incoming) = accept_shared.handshakes.admit(incoming) else { continue };
                // A slot among the connections still authenticating; when all
                // are taken the handshake is refused (the peer may retry).
                let Ok(slot) = accept_shared.authenticating.clone().try_acquire_owned() else {
                    tracing::warn!(address = %incoming.remote_address(), "refused: too many connections authenticating");
                    incoming.refuse();
                    continue;
                };
                tokio::spawn(session::serve(accept_shared.clone(), incoming, slot));
            }
        });
        tracing::info!(addr = ?endpoint.local_addr().ok(), "register listening");
        Ok(Self { shared, endpoint })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr().unwrap_or(self.shared.cfg.listen)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.shared.data_dir
    }

    /// Events (authentications, service changes, disconnects, commands).
    pub fn events(&self) -> broadcast::Receiver<RegisterEvent> {
        self.shared.events.subscribe()
    }

    /// Connected masters, by id.
    pub fn connected_masters(&self) -> Vec<MasterInfo> {
        self.shared.connected_masters()
    }

    /// One master.
    pub fn master(&self, id: &str) -> Option<MasterInfo> {
        self.shared.master(id)
    }

    /// Service name -> ids of the masters offering it (the seed's `getServicesMaster`).
    pub fn services_masters(&self) -> BTreeMap<String, Vec<String>> {
        self.shared.services_masters()
    }

    /// Masters offering `service` (`name` or `name@version`).
    pub fn masters_with_service(&self, service: &str) -> Vec<MasterInfo> {
        self.shared.masters_with_service(service)
    }

    /// Masters offering `service` whose metadata has `key` = `value`.
    pub fn masters_with_metadata(&self, service: &str, key: &str, value: &str) -> Vec<MasterInfo> {
        self.shared.masters_with_metadata(service, key, value)
    }

    /// Runs `module` on master `id` (the seed's `runOnMaster`).
    pub fn run_on_master(&self, id: &str, module: &JobModule, input: impl Into<String>, limits: JobLimits) -> RemoteJob {
        self.shared.run_on_master(id, module, input.into(), limits, jobs::Input::Open)
    }

    /// Runs `module` on every connected master (the seed's `runOnAllMasters`).
    /// The jobs take no input items after `input` (their `recv` returns none).
    pub fn run_on_all_masters(&self, module: &JobModule, input: impl Into<String>, limits: JobLimits) -> Vec<RemoteJob> {
        self.shared.run_on_all_masters(module, input.into(), limits)
    }

    /// Like [`Self::run_on_service`], but when the chosen master is lost or
    /// busy before the job emitted anything, tries up to `retries` other
    /// masters offering the service (the seed's `callServiceWithRetry`). A
    /// job that already emitted items is never retried: at-most-once.
    pub fn run_on_service_with_retries(&self, service: &str, module: &JobModule, input: impl Into<String>, limits: JobLimits, retries: u32) -> RemoteJob {
        jobs::with_retries(self.shared.clone(), service.to_string(), module.clone(), input.into(), limits, retries)
    }

    /// Runs `module` on the master offering `service` with the fewest jobs in flight.
    pub fn run_on_service(&self, service: &str, module: &JobModule, input: impl Into<String>, limits: JobLimits) -> RemoteJob {
        self.shared.run_on_service(service, module, input.into(), limits, jobs::Input::Open)
    }

    /// Sends a command to every master (the seed's `writeRawMessageToAllMasters`).
    /// Returns how many masters it was queued for.
    pub fn write_raw_message_to_all_masters(&self, command: Command) -> usize {
        self.shared.write_raw_message_to_all_masters(command)
    }

    /// Sends a command to one master; false if it is not connected or its queue is full.
    pub fn send_command(&self, id: &str, command: Command) -> bool {
        self.shared.send_command(id, command)
    }

    /// Call and job statistics per master (as they last reported), and the total.
    pub fn stats(&self) -> (BTreeMap<String, Stats>, Stats) {
        self.shared.stats()
    }

    /// QUIC statistics of the connection to master `id` (bytes sent, …).
    pub fn connection_stats(&self, id: &str) -> Option<quinn::ConnectionStats> {
        self.shared.masters.get(id).map(|m| m.conn.stats())
    }

    /// How long the next authentication attempt from `ip` waits before its
    /// credentials are checked (grows with failures, cleared by a success).
    pub fn auth_delay(&self, ip: std::net::IpAddr) -> Duration {
        self.shared.backoff.delay(ip, std::time::Instant::now())
    }

    /// Authentication attempts made to wait their address's delay so far.
    pub fn auth_waits(&self) -> u64 {
        self.shared.backoff.waits()
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.endpoint.close(crate::transport::stream::codes::CLOSED.into(), b"register shutting down");
    }
}
