//! The `regcenter` command line: clap and tracing setup, then one library call.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use regcenter::limits::JobLimits;
use regcenter::node::{MasterOptions, RegisterOptions, TrustOptions};
use regcenter::protocol::message::RunTarget;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A WebAssembly-native register center.
#[derive(Parser)]
#[command(name = "regcenter", version, about, long_about = None)]
struct Cli {
    /// A TOML file with the same settings as the flags (`listen = "…"`, `max-jobs = 8`, …).
    #[arg(long, global = true, env = "REGCENTER_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, env = "REGCENTER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a register: a QUIC server masters connect to and jobs are shipped from.
    Register(RegisterArgs),
    /// Run a master: host services and run the jobs registers send.
    Master(MasterArgs),
    /// List the masters connected to a register.
    Masters {
        #[command(flatten)]
        conn: ConnArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List services and the masters offering them.
    Services {
        #[command(flatten)]
        conn: ConnArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Call and job statistics per master and in total (calls, errors, p50/p99/max latency).
    Stats {
        #[command(flatten)]
        conn: ConnArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a job on masters and stream its items.
    Run {
        #[command(flatten)]
        conn: ConnArgs,
        /// The job component (or the name of a built plugin, e.g. `greet`).
        #[arg(long)]
        job: String,
        /// On this master.
        #[arg(long, group = "target")]
        master: Option<String>,
        /// On every master.
        #[arg(long, group = "target")]
        all: bool,
        /// On the least-loaded master offering this service.
        #[arg(long, group = "target")]
        service: Option<String>,
        /// With --service: try up to N other masters when one is lost or busy
        /// before emitting anything (never after: at-most-once).
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// The job's input (JSON).
        #[arg(long)]
        input: Option<String>,
        /// Sign the job with the data dir's key (for masters started with --trust-job-key).
        #[arg(long)]
        sign: bool,
        /// The job's deadline in seconds (only lowers the master's limit).
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// One JSON object per event.
        #[arg(long)]
        json: bool,
    },
    /// Call one service method on a master (through the built-in call job); prints the JSON result.
    Call {
        #[command(flatten)]
        conn: ConnArgs,
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// Arguments (JSON object or array).
        args: Option<String>,
        /// On this master (default: the least-loaded master offering the service).
        #[arg(long)]
        master: Option<String>,
        /// Without --master: try up to N other masters when one is lost or busy.
        #[arg(long, default_value_t = 0)]
        retries: u32,
    },
    /// Send a command (`register`, `remove`, or custom) to the masters.
    Tell {
        #[command(flatten)]
        conn: ConnArgs,
        /// The command.
        cmd: String,
        /// Its JSON payload, e.g. '{"registers":[{"host":"127.0.0.1","port":8011}]}'.
        payload: Option<String>,
        /// Only this master.
        #[arg(long)]
        master: Option<String>,
    },
    /// Manage the tokens in a data dir (a running register picks changes up at the next hello).
    Token {
        #[command(subcommand)]
        op: TokenCmd,
        /// Operator tokens instead of master tokens.
        #[arg(long, global = true)]
        operator: bool,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Print this operator's job-signing public key (made at first use, kept 0600 in the data dir).
    JobKey {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// The seed's whole demo in one process: two registers, one master, the 10 s / 20 s timeline.
    Demo {
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 25)]
        duration: u64,
        /// Ports of registers A and B (0 = any free port).
        #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [0, 0])]
        ports: Vec<u16>,
    },
    /// Run services and jobs in this process, without a network.
    #[command(subcommand)]
    Local(Local),
    /// Print a component's imports and exports with their signatures.
    Inspect {
        /// The component file (or the name of a built plugin, e.g. `greet`).
        file: String,
    },
    /// Measure round trips, throughput, cold starts, fan-out and memory against a floor measured in the same run.
    Bench {
        /// Small counts: a smoke run of a few seconds (not for figures).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Worker threads of the bench process (default: one per core; 1: a single-threaded runtime).
        #[arg(long)]
        threads: Option<usize>,
        /// Run only these sections (comma-separated): rtt, local, throughput, cold, fanout, memory, langs.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Two nodes: the register side on one single-threaded runtime, the masters (and the floor's echo server) on another, each on its own thread.
        #[arg(long, conflicts_with = "threads")]
        split: bool,
        /// With --split: pin the register side's thread and the masters' thread each to a CPU of its own (Linux).
        #[arg(long, requires = "split")]
        pin: bool,
        /// Internal: serve as the memory figure's floor (a bare QUIC server) with this data dir.
        #[arg(long, hide = true, value_name = "DATA_DIR")]
        quic_floor_server: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum Local {
    /// Call one method of a service and print the JSON result.
    Call {
        #[command(flatten)]
        services: Services,
        /// The service (`name` or `name@version`).
        service: String,
        /// The method (`sayHello2`, `say-hello2` or `greeter/say-hello2`).
        method: String,
        /// Arguments: a JSON object of named parameters or an array of positional ones.
        args: Option<String>,
    },
    /// Run a job against the services and print each emitted item as a JSON line.
    Run {
        #[command(flatten)]
        services: Services,
        /// The job component (or the name of a built plugin, e.g. `greet`).
        #[arg(long)]
        job: String,
        /// The job's input (JSON).
        #[arg(long)]
        input: Option<String>,
        /// The job's deadline in seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

#[derive(Args)]
struct RegisterArgs {
    /// Address to listen on (UDP); port 0 picks a free port.
    #[arg(long, env = "REGCENTER_LISTEN", default_value = "127.0.0.1:8010")]
    listen: SocketAddr,
    /// Master token(s) to accept (default: the data dir's, generated at first use).
    #[arg(long = "token", env = "REGCENTER_TOKEN", value_delimiter = ',')]
    tokens: Vec<String>,
    /// Operator token(s) to accept (default: the data dir's, generated at first use).
    #[arg(long = "operator-token", env = "REGCENTER_OPERATOR_TOKENS", value_delimiter = ',')]
    operator_tokens: Vec<String>,
    /// Certificate PEM to serve instead of the data dir's (needs --key).
    #[arg(long, env = "REGCENTER_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key PEM of --cert.
    #[arg(long, env = "REGCENTER_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// The register's name (names its certificate in the data dir).
    #[arg(long, env = "REGCENTER_NAME", default_value = "main")]
    name: String,
    /// Serve call/job statistics in the Prometheus text format at http://ADDR/metrics.
    #[arg(long, env = "REGCENTER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Args)]
struct MasterArgs {
    /// A register to connect to, HOST:PORT (repeatable).
    #[arg(long, env = "REGCENTER_CONNECT", value_delimiter = ',', required = true)]
    connect: Vec<String>,
    #[command(flatten)]
    services: Services,
    /// The master's node id (default: a random id kept in the data dir).
    #[arg(long, env = "REGCENTER_NODE_NAME")]
    name: Option<String>,
    /// Connection attempts before giving up (default: unlimited).
    #[arg(long, env = "REGCENTER_RETRY_ATTEMPTS")]
    retry_attempts: Option<u32>,
    /// Seconds between attempts.
    #[arg(long, env = "REGCENTER_RETRY_DELAY", default_value_t = 2.0)]
    retry_delay: f64,
    /// Do not reconnect when a connection closes.
    #[arg(long, env = "REGCENTER_NO_RECONNECT")]
    no_reconnect: bool,
    /// Jobs run at once; more are refused as busy.
    #[arg(long, env = "REGCENTER_MAX_JOBS", default_value_t = 256)]
    max_jobs: u32,
    /// Master token (default: the data dir's).
    #[arg(long, env = "REGCENTER_TOKEN")]
    token: Option<String>,
    /// Run only the job module with this SHA-256 (hex; repeatable; default: any).
    #[arg(long, value_name = "SHA256", env = "REGCENTER_ALLOW_JOB", value_delimiter = ',')]
    allow_job: Vec<String>,
    /// Take jobs only through this register, HOST:PORT as given to --connect (repeatable; default: any).
    #[arg(long, value_name = "HOST:PORT", env = "REGCENTER_ALLOW_REGISTER", value_delimiter = ',')]
    allow_register: Vec<String>,
    /// Run only jobs signed by this operator key (hex from `regcenter job-key`; repeatable).
    #[arg(long, value_name = "HEX", env = "REGCENTER_TRUST_JOB_KEY", value_delimiter = ',')]
    trust_job_key: Vec<String>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    data: DataDirArg,
}

/// How to trust registers (default: the data dir's CA).
#[derive(Args)]
struct TrustArgs {
    /// Trust registers signed by this CA / with this certificate (PEM).
    #[arg(long, env = "REGCENTER_TRUST")]
    trust: Option<PathBuf>,
    /// Trust the register whose certificate has this SHA-256 fingerprint.
    #[arg(long, env = "REGCENTER_FINGERPRINT")]
    fingerprint: Option<String>,
    /// Do not verify registers at all (development only; warned on every connect).
    #[arg(long, env = "REGCENTER_INSECURE")]
    insecure: bool,
}

impl TrustArgs {
    fn options(self) -> TrustOptions {
        TrustOptions { trust: self.trust, fingerprint: self.fingerprint, insecure: self.insecure }
    }
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Print the tokens.
    List,
    /// Add a token (a random one when none is given) and print it.
    Add {
        /// The token.
        token: Option<String>,
    },
    /// Remove a token.
    Remove {
        /// The token.
        token: String,
    },
}

#[derive(Args)]
struct ConnArgs {
    /// The register, HOST:PORT.
    #[arg(long, env = "REGCENTER_REGISTER", default_value = "127.0.0.1:8010")]
    register: String,
    /// Operator token (default: the data dir's).
    #[arg(long, env = "REGCENTER_OPERATOR_TOKEN")]
    token: Option<String>,
    /// File holding the operator token.
    #[arg(long, env = "REGCENTER_OPERATOR_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    data: DataDirArg,
}

impl ConnArgs {
    fn into_conn(self) -> Result<regcenter::ops::Conn> {
        let token = match (self.token, self.token_file) {
            (Some(t), _) => Some(t),
            (None, Some(f)) => Some(std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?.trim().to_string()),
            (None, None) => None,
        };
        let trust = self.trust.options().resolve()?;
        Ok(regcenter::ops::Conn {
            register: self.register,
            cfg: regcenter::client::OperatorConfig { data_dir: self.data.path(), token, trust },
        })
    }
}

#[derive(Args)]
struct DataDirArg {
    /// Data directory: local CA, certificates, tokens, node id
    /// (default: $REGCENTER_HOME or the user's data directory).
    #[arg(long, env = "REGCENTER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl DataDirArg {
    fn path(self) -> PathBuf {
        self.data_dir.unwrap_or_else(regcenter::transport::datadir::DataDir::default_path)
    }
}

#[derive(Args)]
struct Services {
    /// A service to host: NAME=FILE, or NAME of a built plugin. Repeatable.
    #[arg(long = "service", value_name = "NAME=FILE", env = "REGCENTER_SERVICE", value_delimiter = ',')]
    specs: Vec<String>,
    /// Service metadata, NAME:KEY=VALUE (repeatable).
    #[arg(long, value_name = "NAME:KEY=VALUE", env = "REGCENTER_META", value_delimiter = ',')]
    meta: Vec<String>,
    /// Grant service NAME an environment variable (repeatable; default: empty environment).
    #[arg(long, value_name = "NAME:KEY=VALUE")]
    grant_env: Vec<String>,
    /// Grant service NAME a host directory at GUEST_DIR, read-only unless `:rw` (repeatable; default: no filesystem).
    #[arg(long, value_name = "NAME:HOST_DIR=GUEST_DIR[:rw]")]
    grant_dir: Vec<String>,
    /// The longest a job may run, in seconds (requesters can only ask for less).
    #[arg(long, value_name = "SECS", env = "REGCENTER_JOB_DEADLINE", default_value_t = JobLimits::default().deadline.as_secs_f64())]
    job_deadline: f64,
    /// The most items a job may emit.
    #[arg(long, value_name = "N", env = "REGCENTER_JOB_MAX_ITEMS", default_value_t = JobLimits::default().max_items)]
    job_max_items: u64,
    /// The most a job may emit in total, in MiB.
    #[arg(long, value_name = "MIB", env = "REGCENTER_JOB_MAX_EMIT_MIB", default_value_t = JobLimits::default().max_bytes >> 20)]
    job_max_emit_mib: u64,
}

impl Services {
    fn spec(self) -> Result<regcenter::hosting::HostSpec> {
        if !(self.job_deadline.is_finite() && self.job_deadline > 0.0) {
            anyhow::bail!("--job-deadline must be a positive number of seconds");
        }
        if self.job_max_items == 0 || self.job_max_emit_mib == 0 {
            anyhow::bail!("--job-max-items and --job-max-emit-mib must be at least 1");
        }
        let job_limits = JobLimits {
            deadline: Duration::from_secs_f64(self.job_deadline),
            max_items: self.job_max_items,
            max_bytes: self.job_max_emit_mib.saturating_mul(1 << 20),
            ..JobLimits::default()
        };
        Ok(regcenter::hosting::HostSpec { services: self.specs, meta: self.meta, grant_env: self.grant_env, grant_dir: self.grant_dir, job_limits })
    }
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Applies `--config FILE` (or `REGCENTER_CONFIG`) before the flags are
/// parsed: each key sets its flag's environment variable unless already set.
fn apply_config() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().position(|a| a == "--config").and_then(|i| args.get(i + 1).cloned());
    let from_eq = args.iter().find_map(|a| a.strip_prefix("--config=").map(String::from));
    let Some(path) = from_args.or(from_eq).or_else(|| std::env::var("REGCENTER_CONFIG").ok()) else { return Ok(()) };
    for (k, v) in regcenter::config::read(std::path::Path::new(&path))? {
        if std::env::var_os(&k).is_none() {
            // Still single-threaded: no runtime has started yet.
            std::env::set_var(k, v);
        }
    }
    Ok(())
}

/// mimalloc: a job's memory is often freed on another worker than the one
/// that allocated it, and glibc malloc takes the owning arena's lock for that
/// (8.5 futex system calls per job under load in `bench --only throughput`).
/// Built without transparent huge pages (`no_thp`): with them a register
/// holding 1000 masters kept ~65 KB of RSS per master, without ~48 KB
/// (glibc malloc: ~41 KB).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Err(e) = regcenter::parent::follow_parent_from_env() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = apply_config() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    let mut builder = match &cli.command {
        Command::Bench { threads: Some(1), .. } | Command::Bench { split: true, .. } => tokio::runtime::Builder::new_current_thread(),
        Command::Bench { threads: Some(n), .. } => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads((*n).max(1));
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Register(a) => {
            let cert = a.cert.zip(a.key);
            let opts = RegisterOptions {
                listen: a.listen,
                data_dir: a.data.path(),
                tokens: a.tokens,
                operator_tokens: a.operator_tokens,
                cert,
                name: a.name,
                metrics_listen: a.metrics_listen,
            };
            regcenter::node::serve_register(opts).await?;
        }
        Command::Master(a) => {
            if !(a.retry_delay.is_finite() && a.retry_delay >= 0.0) {
                anyhow::bail!("--retry-delay must be a non-negative number of seconds");
            }
            let opts = MasterOptions {
                connect: a.connect,
                services: a.services.spec()?,
                name: a.name,
                retry_attempts: a.retry_attempts,
                retry_delay: Duration::from_secs_f64(a.retry_delay),
                no_reconnect: a.no_reconnect,
                max_jobs: a.max_jobs,
                data_dir: a.data.path(),
                token: a.token,
                trust: a.trust.options(),
                admission: regcenter::node::AdmissionOptions {
                    allow_jobs: a.allow_job,
                    allow_registers: a.allow_register,
                    trust_job_keys: a.trust_job_key,
                },
            };
            regcenter::node::serve_master(opts).await?;
        }
        Command::Masters { conn, json } => print!("{}", regcenter::ops::masters(&conn.into_conn()?, json).await?),
        Command::Stats { conn, json } => print!("{}", regcenter::ops::stats(&conn.into_conn()?, json).await?),
        Command::Services { conn, json } => print!("{}", regcenter::ops::services(&conn.into_conn()?, json).await?),
        Command::Run { conn, job, master, all, service, retries, input, sign, timeout, json } => {
            if !(timeout.is_finite() && timeout > 0.0) {
                anyhow::bail!("--timeout must be a positive number of seconds");
            }
            let target = match (master, all, service) {
                (Some(id), false, None) => RunTarget::Master { id },
                (None, true, None) => RunTarget::All,
                (None, false, Some(name)) => RunTarget::Service { name, retries },
                _ => anyhow::bail!("choose where to run: --master ID, --all or --service NAME"),
            };
            let path = regcenter::plugins::resolve(&job);
            let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let input = match input {
                Some(i) => {
                    serde_json::from_str::<serde_json::Value>(&i).map_err(|e| anyhow::anyhow!("--input is not valid JSON: {e}"))?;
                    i
                }
                None => "{}".into(),
            };
            let conn = conn.into_conn()?;
            let mut module = regcenter::register::JobModule::new(bytes);
            if sign {
                module = module.signed(&regcenter::ops::job_signer(&conn.cfg.data_dir)?);
            }
            let opts = regcenter::ops::RunOptions { timeout: Duration::from_secs_f64(timeout), json };
            regcenter::ops::run(&conn, module, target, input, opts, &mut std::io::stdout(), &mut std::io::stderr()).await?;
        }
        Command::Call { conn, service, method, args, master, retries } => {
            let out = regcenter::ops::call(&conn.into_conn()?, &service, &method, args.as_deref(), master, retries).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Tell { conn, cmd, payload, master } => {
            let n = regcenter::ops::tell(&conn.into_conn()?, &cmd, payload.as_deref(), master).await?;
            println!("sent to {n} master(s)");
        }
        Command::Token { op, operator, data } => {
            let op = match op {
                TokenCmd::List => regcenter::ops::TokenOp::List,
                TokenCmd::Add { token } => regcenter::ops::TokenOp::Add(token),
                TokenCmd::Remove { token } => regcenter::ops::TokenOp::Remove(token),
            };
            print!("{}", regcenter::ops::token(&data.path(), op, operator)?);
        }
        Command::JobKey { data } => print!("{}", regcenter::ops::job_key(&data.path())?),
        Command::Demo { duration, ports } => {
            let summary = regcenter::demo::run(Duration::from_secs(duration), (ports[0], ports[1])).await?;
            if summary.a.failed + summary.b.failed > 0 || summary.a.done == 0 {
                anyhow::bail!("the demo saw failed jobs or none that finished");
            }
        }
        Command::Inspect { file } => print!("{}", regcenter::local::inspect(&file)?),
        Command::Bench { quic_floor_server: Some(dir), .. } => regcenter::bench::memory::serve_floor(&dir).await?,
        Command::Bench { quick, json, threads, only, split, pin, quic_floor_server: None } => {
            let threads = if split { 1 } else { threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)) };
            // The bench drives the cluster from a task on the runtime's workers,
            // as a server's handlers do, not from the main thread.
            let opts = regcenter::bench::BenchOptions { quick, threads, only, split, pin };
            let report = tokio::spawn(regcenter::bench::run(opts, |step| eprintln!("bench: {step}"))).await??;
            if json {
                println!("{}", serde_json::Value::Object(report));
            } else {
                print!("{}", regcenter::bench::table(&report));
            }
        }
        Command::Local(Local::Call { services, service, method, args }) => {
            let out = regcenter::local::call(&services.spec()?, &service, &method, args.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Local(Local::Run { services, job, input, timeout }) => {
            if !(timeout.is_finite() && timeout > 0.0) {
                anyhow::bail!("--timeout must be a positive number of seconds");
            }
            let limits = JobLimits { deadline: Duration::from_secs_f64(timeout), ..JobLimits::default() };
            regcenter::local::run(&services.spec()?, &job, input.as_deref(), limits, &mut std::io::stdout()).await?;
        }
    }
    Ok(())
}
