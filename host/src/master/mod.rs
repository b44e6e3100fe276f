//! The master (the seed's `Master`): hosts a [`ServiceRegistry`], connects
//! to registers over QUIC, announces its services, runs the jobs they send.
//!
//! Knobs default as the seed's code does: unlimited retry attempts, 2 s
//! delay, reconnect on close. `connect` is idempotent per `host:port`;
//! `remove_connection` matches the address exactly. The built-in `register`
//! and `remove` commands connect to / drop the listed registers (switchable
//! off); every command reaches the event stream.
//!
//! # Layout
//! - [`link`]: one connection to one register (retry, auth, control loop).
//! - [`exec`]: one job stream.
//! - [`load`]: running jobs per register, for the load reports.

pub mod exec;
pub mod link;
pub mod load;

use crate::registry::ServiceRegistry;
use crate::transport::datadir::{DataDir, DataDirError, TokenKind};
use crate::transport::tls::{self, TlsError, TransportSettings, Trust};
use regcenter_protocol::message::Command;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How a master runs.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// The data directory (node id; the local CA and token when shared with a register).
    pub data_dir: PathBuf,
    /// A stable node id; `None`: a random id kept in the data dir.
    pub node_id: Option<String>,
    /// The master token; `None`: the first token in the data dir.
    pub token: Option<String>,
    /// How to trust registers; `None`: the data dir's CA.
    pub trust: Option<Trust>,
    /// Connection attempts before giving up; `None`: unlimited (the seed's default).
    pub retry_attempts: Option<u32>,
    /// Delay between attempts (seed: 2 s).
    pub retry_delay: Duration,
    /// Reconnect when an established connection closes (seed: on).
    pub reconnect_on_close: bool,
    /// Jobs run at once; more are refused as busy.
    pub max_jobs: u32,
    /// Handle the `register` / `remove` commands.
    pub builtin_commands: bool,
    /// QUIC transport parameters; the bidi streams a register may open are
    /// set from `max_jobs` (see [`JOB_STREAM_MARGIN`]).
    pub transport: TransportSettings,
    /// Set when `trust` is [`Trust::Insecure`]: warn on every connect.
    pub insecure: bool,
    /// Which jobs this master runs (default: every job from its registers).
    pub admission: crate::admission::Admission,
}

impl MasterConfig {
    /// The seed's defaults with `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: None,
            token: None,
            trust: None,
            retry_attempts: None,
            retry_delay: Duration::from_secs(2),
            reconnect_on_close: true,
            max_jobs: 256,
            builtin_commands: true,
            transport: TransportSettings::default(),
            insecure: false,
            admission: crate::admission::Admission::default(),
        }
    }
}

/// What happens on a master (the seed's connect / error / close / cmd, and more).
#[derive(Debug, Clone, PartialEq)]
pub enum MasterEvent {
    /// An attempt to connect starts.
    Connecting {
        /// `host:port`.
        register: String,
        /// Attempt number since the last success.
        attempt: u64,
    },
    /// Authenticated.
    AuthSuccess {
        /// `host:port`.
        register: String,
        /// The register's id.
        register_id: String,
    },
    /// The register refused the credentials (final for this link).
    AuthFailed {
        /// `host:port`.
        register: String,
        /// The register's reason.
        reason: String,
    },
    /// An attempt failed.
    Error {
        /// `host:port`.
        register: String,
        /// Where.
        context: String,
        /// What.
        message: String,
    },
    /// An authenticated connection closed.
    Close {
        /// `host:port`.
        register: String,
        /// Why.
        reason: String,
    },
    /// Retries ran out; the link stopped.
    RetriesExhausted {
        /// `host:port`.
        register: String,
        /// Attempts made.
        attempts: u64,
    },
    /// A command from a register.
    Cmd {
        /// `host:port`.
        register: String,
        /// The command.
        command: Command,
    },
}

/// Why a master could not start.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

struct Link {
    stop: watch::Sender<bool>,
    /// The authenticated connection, if any.
    conn: Option<quinn::Connection>,
    serial: u64,
}

impl Link {
    /// Closes the connection with a reason the register sees, then stops the task.
    fn shut(self, reason: &[u8]) {
        if let Some(c) = &self.conn {
            c.close(crate::transport::stream::codes::CLOSED.into(), reason);
        }
        let _ = self.stop.send(true);
    }
}

/// Job streams a register may open beyond the job limit: room for the busy
/// refusals of jobs other registers' load kept it from seeing. quinn keeps
/// state for every stream a peer may open, so the credit follows the job
/// limit instead of a fixed 1024 (cache footprint per job, memory per link).
pub const JOB_STREAM_MARGIN: u32 = 16;

static LINK_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// State shared by the master's tasks.
pub struct MasterInner {
    pub(crate) cfg: MasterConfig,
    pub(crate) node_id: String,
    pub(crate) token: String,
    pub(crate) registry: ServiceRegistry,
    pub(crate) client: quinn::ClientConfig,
    endpoints: Mutex<(Option<quinn::Endpoint>, Option<quinn::Endpoint>)>,
    links: Mutex<HashMap<String, Link>>,
    events: broadcast::Sender<MasterEvent>,
    pub(crate) draining: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) announce: watch::Sender<u64>,
    pub(crate) load: watch::Sender<load::JobCounts>,
}

impl MasterInner {
    pub(crate) fn emit(&self, ev: MasterEvent) {
        tracing::debug!(event = ?ev, "master event");
        let _ = self.events.send(ev);
    }

    pub(crate) fn set_connected(&self, key: &str, serial: u64, conn: Option<quinn::Connection>) {
        if let Ok(mut links) = self.links.lock() {
            if let Some(l) = links.get_mut(key).filter(|l| l.serial == serial) {
                l.conn = conn;
            }
        }
    }

    /// Whether a link to a register other than `register` exists: only such
    /// a session is told of `register`'s jobs (see [`load`]), so only then
    /// does a change of them wake the sessions. Called while the load is
    /// locked for writing, so a session that starts later, whose link is
    /// already in the table, reads the count after the change or is woken
    /// by it.
    pub(crate) fn others_are_told(&self, register: &str) -> bool {
        self.links.lock().map(|l| l.keys().any(|k| k.as_str() != register)).unwrap_or(true)
    }

    /// Removes link `key` if it is still the one numbered `serial`.
    pub(crate) fn forget_link(&self, key: &str, serial: u64) {
        if let Ok(mut links) = self.links.lock() {
            if links.get(key).is_some_and(|l| l.serial == serial) {
                links.remove(key);
            }
        }
    }

    /// One shared client endpoint per address family.
    pub(crate) fn endpoint(&self, v6: bool) -> Result<quinn::Endpoint, String> {
        let mut eps = self.endpoints.lock().map_err(|_| "endpoint lock poisoned".to_string())?;
        let slot = if v6 { &mut eps.1 } else { &mut eps.0 };
        if let Some(e) = slot {
            return Ok(e.clone());
        }
        let bind = if v6 { "[::]:0" } else { "0.0.0.0:0" };
        let e = crate::transport::udp::endpoint(bind.parse().expect("valid address"), quinn::EndpointConfig::default(), None)
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        *slot = Some(e.clone());
        Ok(e)
    }

    pub(crate) fn handle_command(self: &Arc<Self>, from: &str, cmd: Command) {
        if self.cfg.builtin_commands && (cmd.cmd == "register" || cmd.cmd == "remove") {
            for (host, port) in registers_of(&cmd.payload) {
                if cmd.cmd == "register" {
                    connect(self, &host, port);
                } else {
                    remove(self, &host, port);
                }
            }
        }
        self.emit(MasterEvent::Cmd { register: from.to_string(), command: cmd });
    }
}

/// `{"registers": [{"host": …, "port": …}, …]}` as (host, port) pairs.
fn registers_of(payload: &serde_json::Value) -> Vec<(String, u16)> {
    payload
        .get("registers")
        .and_then(|r| r.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|r| Some((r.get("host")?.as_str()?.to_string(), u16::try_from(r.get("port")?.as_u64()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// How a register is named on this master: `host:port`, IPv6 in brackets.
pub(crate) fn link_key(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn connect(inner: &Arc<MasterInner>, host: &str, port: u16) {
    if inner.closed.load(Ordering::Acquire) {
        return;
    }
    let key = link_key(host, port);
    let Ok(mut links) = inner.links.lock() else { return };
    if links.contains_key(&key) {
        return;
    }
    let (stop, stop_rx) = watch::channel(false);
    let serial = LINK_SERIAL.fetch_add(1, Ordering::Relaxed);
    links.insert(key.clone(), Link { stop, conn: None, serial });
    let host = host.trim_matches(|c| c == '[' || c == ']').to_string();
    tokio::spawn(link::run(inner.clone(), link::Target { key, host, port, serial }, stop_rx));
}

fn remove(inner: &MasterInner, host: &str, port: u16) -> bool {
    let key = link_key(host, port);
    match inner.links.lock().ok().and_then(|mut l| l.remove(&key)) {
        Some(link) => {
            link.shut(b"connection removed by the master");
            true
        }
        None => false,
    }
}

/// A master node. Cheap to clone.
#[derive(Clone)]
pub struct Master {
    inner: Arc<MasterInner>,
}

impl Master {
    /// A master hosting `registry`; it connects nowhere until told to.
    pub fn new(cfg: MasterConfig, registry: ServiceRegistry) -> Result<Self, MasterError> {
        let dir = DataDir::open(&cfg.data_dir)?;
        let node_id = match &cfg.node_id {
            Some(n) => n.clone(),
            None => dir.node_id()?,
        };
        let token = match &cfg.token {
            Some(t) => t.clone(),
            None => dir.tokens(TokenKind::Master)?.into_iter().next().unwrap_or_default(),
        };
        let trust = match &cfg.trust {
            Some(t) => t.clone(),
            None => Trust::from_pem(&dir.ca_cert_pem()?)?,
        };
        let mut transport = cfg.transport;
        transport.max_bidi_streams = cfg.max_jobs.saturating_add(JOB_STREAM_MARGIN);
        let client = tls::client_config(&trust, transport)?;
        let mut cfg = cfg;
        cfg.insecure = matches!(trust, Trust::Insecure);
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(MasterInner {
                cfg,
                node_id,
                token,
                registry,
                client,
                endpoints: Mutex::new((None, None)),
                links: Mutex::new(HashMap::new()),
                events,
                draining: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                announce: watch::channel(0).0,
                load: watch::channel(load::JobCounts::default()).0,
            }),
        })
    }

    /// The node id registers know this master by.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The services it hosts.
    pub fn registry(&self) -> &ServiceRegistry {
        &self.inner.registry
    }

    /// Events: connect attempts, auth results, errors, closes, commands.
    pub fn events(&self) -> broadcast::Receiver<MasterEvent> {
        self.inner.events.subscribe()
    }

    /// Connects to the register at `host:port` (idempotent), retrying per the knobs.
    pub fn connect(&self, host: &str, port: u16) {
        connect(&self.inner, host, port);
    }

    /// Drops the link to exactly `host:port`; returns whether there was one.
    pub fn remove_connection(&self, host: &str, port: u16) -> bool {
        remove(&self.inner, host, port)
    }

    /// `host:port` of the registers it is authenticated with now.
    pub fn connected_centers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .links
            .lock()
            .map(|l| l.iter().filter(|(_, l)| l.conn.is_some()).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Tells every register the current service list again (changes to the
    /// registry are announced on their own).
    pub fn announce(&self) {
        self.inner.announce.send_modify(|n| *n += 1);
    }

    /// Jobs running now.
    pub fn running_jobs(&self) -> u32 {
        self.inner.load.borrow().total()
    }

    /// Stops every link; no reconnects afterwards.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let links: Vec<Link> = self.inner.links.lock().map(|mut l| l.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        for l in links {
            l.shut(b"master closing");
        }
    }

    /// Refuses new jobs, waits up to `grace` for running ones, then closes.
    pub async fn drain(&self, grace: Duration) {
        self.inner.draining.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + grace;
        while self.running_jobs() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.close();
    }
}
