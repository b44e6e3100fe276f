//! The long-running commands: `regcenter register` and `regcenter master`.
//! Each builds its node from options, prints one readable line per event on
//! stdout, and runs until Ctrl-C (SIGINT) or SIGTERM.

use crate::admission::{parse_hex, Admission};
use crate::hosting::{HostError, HostSpec};
use crate::master::{Master, MasterConfig, MasterError, MasterEvent};
use crate::register::{Register, RegisterConfig, RegisterError, RegisterEvent};
use crate::transport::datadir::{CertPair, DataDir, DataDirError, TokenKind};
use crate::transport::tls::{TlsError, Trust};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One line of a node's own output on stdout. A serving node outlives its
/// stdout: once the reader is gone (a closed pipe, `| head`), lines are
/// dropped instead of panicking the way `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad option value.
    #[error("{0}")]
    Usage(String),
    /// The register failed to start.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// The master failed to start.
    #[error(transparent)]
    Master(#[from] MasterError),
    /// The services to host could not be loaded.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// TLS settings are wrong.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How a client (master, later operators) trusts registers.
#[derive(Clone, Debug, Default)]
pub struct TrustOptions {
    /// A CA or certificate PEM file.
    pub trust: Option<PathBuf>,
    /// A pinned SHA-256 fingerprint.
    pub fingerprint: Option<String>,
    /// Skip verification (development only).
    pub insecure: bool,
}

impl TrustOptions {
    /// The chosen trust; `None` means the data dir's CA.
    pub fn resolve(&self) -> Result<Option<Trust>, NodeError> {
        match (&self.trust, &self.fingerprint, self.insecure) {
            (Some(p), None, false) => Ok(Some(Trust::from_pem(&read_text(p)?)?)),
            (None, Some(f), false) => Ok(Some(Trust::from_fingerprint(f)?)),
            (None, None, true) => Ok(Some(Trust::Insecure)),
            (None, None, false) => Ok(None),
            _ => Err(NodeError::Usage("choose one of --trust, --fingerprint, --insecure".into())),
        }
    }
}

fn read_text(p: &Path) -> Result<String, NodeError> {
    let bytes = crate::hosting::read(p)?;
    String::from_utf8(bytes).map_err(|_| NodeError::Usage(format!("{} is not UTF-8 text", p.display())))
}

/// Options of `regcenter register`.
#[derive(Clone, Debug)]
pub struct RegisterOptions {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Master tokens (empty: the data dir's, generated at first use).
    pub tokens: Vec<String>,
    /// Operator tokens (empty: the data dir's, generated at first use).
    pub operator_tokens: Vec<String>,
    /// Certificate and key files instead of the data dir's CA-signed pair.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// The register's name (its certificate in the data dir).
    pub name: String,
    /// Serve statistics in the Prometheus text format here (HTTP).
    pub metrics_listen: Option<SocketAddr>,
}

/// Runs a register until interrupted.
pub async fn serve_register(opts: RegisterOptions) -> Result<(), NodeError> {
    let mut cfg = RegisterConfig::new(opts.listen, &opts.data_dir);
    cfg.name = opts.name;
    if !opts.tokens.is_empty() {
        cfg.master_tokens = Some(opts.tokens);
    }
    if !opts.operator_tokens.is_empty() {
        cfg.operator_tokens = Some(opts.operator_tokens);
    }
    if let Some((cert, key)) = &opts.cert {
        cfg.cert = Some(CertPair { cert_pem: read_text(cert)?, key_pem: read_text(key)? });
    }
    let register = Register::start(cfg).await?;
    let mut events = register.events();
    say!("register listening on {}", register.local_addr());
    if let Some(addr) = opts.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| NodeError::Usage(format!("cannot listen on {addr} for metrics: {e}")))?;
        say!("metrics on http://{}/metrics", listener.local_addr().unwrap_or(addr));
        tokio::spawn(crate::register::prometheus::serve(listener, register.clone()));
    }
    say!("data dir: {} (masters on this machine with the same data dir trust and authenticate automatically)", opts.data_dir.display());
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(e) => say!("{}", describe_register_event(&e)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => say!("({n} events skipped)"),
                Err(_) => break,
            },
            _ = shutdown_signal() => break,
        }
    }
    register.shutdown();
    say!("register stopped");
    Ok(())
}

/// One line for a register event.
pub fn describe_register_event(e: &RegisterEvent) -> String {
    match e {
        RegisterEvent::MasterAuthenticated { id, address } => format!("master {id} authenticated from {address}"),
        RegisterEvent::AuthFailed { address, reason } => format!("authentication failed from {address}: {reason}"),
        RegisterEvent::ServicesChanged { id } => format!("master {id} announced its services"),
        RegisterEvent::MasterDisconnected { id, reason } => format!("master {id} disconnected: {reason}"),
        RegisterEvent::Cmd { id, command } => format!("command from {id}: {} {}", command.cmd, command.payload),
    }
}

/// Options of `regcenter master`.
#[derive(Clone, Debug)]
pub struct MasterOptions {
    /// Registers to connect to (`host:port`).
    pub connect: Vec<String>,
    /// Services, their metadata and WASI grants.
    pub services: HostSpec,
    /// Node id.
    pub name: Option<String>,
    /// Retry attempts (`None`: unlimited).
    pub retry_attempts: Option<u32>,
    /// Delay between attempts.
    pub retry_delay: Duration,
    /// Do not reconnect after a close.
    pub no_reconnect: bool,
    /// Job limit.
    pub max_jobs: u32,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Master token (default: the data dir's).
    pub token: Option<String>,
    /// Trust settings.
    pub trust: TrustOptions,
    /// Which jobs to run.
    pub admission: AdmissionOptions,
}

/// `regcenter master`'s admission flags, as given.
#[derive(Clone, Debug, Default)]
pub struct AdmissionOptions {
    /// `--allow-job SHA256`: run only these modules.
    pub allow_jobs: Vec<String>,
    /// `--allow-register HOST:PORT`: take jobs only through these registers.
    pub allow_registers: Vec<String>,
    /// `--trust-job-key HEX`: run only jobs signed by one of these ed25519 keys.
    pub trust_job_keys: Vec<String>,
}

impl AdmissionOptions {
    /// The policy these flags describe.
    pub fn policy(&self) -> Result<Admission, NodeError> {
        let usage = |e: crate::admission::AdmissionError| NodeError::Usage(e.to_string());
        let hashes = self.allow_jobs.iter().map(|h| parse_hex::<32>("--allow-job", h).map_err(usage)).collect::<Result<_, _>>()?;
        let keys = self.trust_job_keys.iter().map(|k| parse_hex::<32>("--trust-job-key", k).map_err(usage)).collect::<Result<_, _>>()?;
        let registers = self
            .allow_registers
            .iter()
            .map(|r| split_host_port(r).map(|(h, p)| crate::master::link_key(&h, p)))
            .collect::<Result<_, _>>()?;
        Ok(Admission { hashes, registers, keys })
    }
}

/// Splits `host:port` (IPv6 as `[::1]:8010`).
pub fn split_host_port(s: &str) -> Result<(String, u16), NodeError> {
    let bad = || NodeError::Usage(format!("invalid register address '{s}': expected HOST:PORT"));
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Runs a master until interrupted.
pub async fn serve_master(opts: MasterOptions) -> Result<(), NodeError> {
    if opts.connect.is_empty() {
        return Err(NodeError::Usage("give at least one --connect HOST:PORT".into()));
    }
    let targets: Vec<(String, u16)> = opts.connect.iter().map(|c| split_host_port(c)).collect::<Result<_, _>>()?;
    let admission = opts.admission.policy()?;
    let registry = opts.services.load().await?;
    DataDir::open(&opts.data_dir)?.tokens(TokenKind::Master)?;
    let mut cfg = MasterConfig::new(&opts.data_dir);
    cfg.node_id = opts.name;
    cfg.token = opts.token;
    cfg.trust = opts.trust.resolve()?;
    cfg.retry_attempts = opts.retry_attempts;
    cfg.retry_delay = opts.retry_delay;
    cfg.reconnect_on_close = !opts.no_reconnect;
    cfg.max_jobs = opts.max_jobs;
    let policy = admission.summary();
    cfg.admission = admission;
    let master = Master::new(cfg, registry)?;
    let mut events = master.events();
    say!("master {} hosting {} service(s)", master.node_id(), master.registry().all().len());
    if let Some(policy) = policy {
        say!("admission: {policy}");
    }
    for (host, port) in &targets {
        master.connect(host, *port);
    }
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(e) => say!("{}", describe_master_event(&e)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => say!("({n} events skipped)"),
                Err(_) => break,
            },
            _ = shutdown_signal() => break,
        }
    }
    master.drain(Duration::from_secs(5)).await;
    say!("master stopped");
    Ok(())
}

/// One line for a master event.
pub fn describe_master_event(e: &MasterEvent) -> String {
    match e {
        MasterEvent::Connecting { register, attempt } => format!("connecting to {register} (attempt {attempt})"),
        MasterEvent::AuthSuccess { register, register_id } => format!("connected to {register} (register {register_id})"),
        MasterEvent::AuthFailed { register, reason } => format!("authentication with {register} failed: {reason}"),
        MasterEvent::Error { register, context, message } => format!("{context} to {register} failed: {message}"),
        MasterEvent::Close { register, reason } => format!("disconnected from {register}: {reason}"),
        MasterEvent::RetriesExhausted { register, attempts } => format!("giving up on {register} after {attempts} attempts"),
        MasterEvent::Cmd { register, command } => format!("command from {register}: {} {}", command.cmd, command.payload),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
