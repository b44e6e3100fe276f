//! The operator commands: `masters`, `services`, `run`, `call`, `tell`
//! (over QUIC, through [`crate::client`]) and `token` (on the data dir).
//! Each returns what to print, or a typed error.

use crate::admission::JobSigner;
use crate::client::{ClientError, Operator, OperatorConfig};
use crate::register::JobModule;
use crate::transport::datadir::{random_token, DataDir, DataDirError, TokenKind};
use regcenter_protocol::limits::JobLimits;
use regcenter_protocol::message::{Command, RunTarget};
use regcenter_protocol::remote::RemoteEvent;
use regcenter_protocol::stats::Stats;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Talking to the register failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The job-signing key is unusable.
    #[error(transparent)]
    Admission(#[from] crate::admission::AdmissionError),
    /// The job failed on some masters (their errors were printed).
    #[error("{failed} of {total} master(s) failed")]
    JobsFailed {
        /// How many failed.
        failed: usize,
        /// How many ran.
        total: usize,
    },
    /// A call failed.
    #[error("{0}")]
    CallFailed(String),
    /// No answer within the deadline and its margin.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Where to connect and as whom.
#[derive(Clone, Debug)]
pub struct Conn {
    /// The register, `host:port`.
    pub register: String,
    /// Credentials and trust.
    pub cfg: OperatorConfig,
}

impl Conn {
    async fn open(&self) -> Result<Operator, OpsError> {
        Ok(Operator::connect(&self.register, &self.cfg).await?)
    }
}

/// `masters`: a table (or JSON).
pub async fn masters(conn: &Conn, as_json: bool) -> Result<String, OpsError> {
    let list = conn.open().await?.masters().await?;
    if as_json {
        return Ok(serde_json::to_string_pretty(&list).unwrap_or_default() + "\n");
    }
    let mut rows = vec![["ID".to_string(), "ADDRESS".into(), "IN-FLIGHT".into(), "SERVICES".into()]];
    for m in &list {
        let services: Vec<String> = m.services.iter().map(|s| format!("{}@{}", s.name, s.version)).collect();
        rows.push([m.id.clone(), m.address.clone(), format!("{}/{}", m.in_flight, m.max_jobs), services.join(", ")]);
    }
    Ok(table(&rows))
}

/// `services`: service -> masters, a table (or JSON).
pub async fn services(conn: &Conn, as_json: bool) -> Result<String, OpsError> {
    let map = conn.open().await?.services().await?;
    if as_json {
        return Ok(serde_json::to_string_pretty(&map).unwrap_or_default() + "\n");
    }
    let mut rows = vec![["SERVICE".to_string(), "MASTERS".into()]];
    for (s, ms) in &map {
        rows.push([s.clone(), ms.join(", ")]);
    }
    Ok(table(&rows))
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `stats`: calls, errors and latency per master and service method, and
/// in total (a table, or JSON).
pub async fn stats(conn: &Conn, as_json: bool) -> Result<String, OpsError> {
    let v = conn.open().await?.stats().await?;
    if as_json {
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let (each, total): (std::collections::BTreeMap<String, Stats>, Stats) =
        (serde_json::from_value(v["masters"].clone()).unwrap_or_default(), serde_json::from_value(v["total"].clone()).unwrap_or_default());
    let mut rows = vec![["MASTER".to_string(), "WHAT".into(), "CALLS".into(), "ERRORS".into(), "P50".into(), "P99".into(), "MAX".into()]];
    let us = |v: u64| format!("{v}us");
    let mut add = |who: &str, s: &Stats| {
        for (k, c) in &s.calls {
            rows.push([who.to_string(), k.clone(), c.calls.to_string(), c.errors.to_string(), us(c.latency.quantile(0.5)), us(c.latency.quantile(0.99)), us(c.latency.max_us)]);
        }
        let j = &s.jobs;
        rows.push([who.to_string(), "(jobs)".into(), j.calls.to_string(), j.errors.to_string(), us(j.latency.quantile(0.5)), us(j.latency.quantile(0.99)), us(j.latency.max_us)]);
    };
    for (id, s) in &each {
        add(id, s);
    }
    add("TOTAL", &total);
    Ok(table(&rows))
}

/// `tell`: sends a command; returns how many masters got it.
pub async fn tell(conn: &Conn, cmd: &str, payload: Option<&str>, master: Option<String>) -> Result<u64, OpsError> {
    let payload = match payload {
        Some(p) => serde_json::from_str(p).map_err(|e| OpsError::Usage(format!("the command's JSON is invalid: {e}")))?,
        None => Value::Null,
    };
    Ok(conn.open().await?.tell(master, Command { cmd: cmd.to_string(), payload }).await?)
}

/// How `run` runs and reports.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The jobs' deadline; the command waits 5 s more for their outcomes.
    pub timeout: Duration,
    /// One JSON object per event on `out` instead of plain lines.
    pub json: bool,
}

/// `run`: streams each master's events to `out` (items as they arrive,
/// prefixed by master when there are several; `--json`: one JSON object per
/// event) and a progress/summary to `err`.
pub async fn run(conn: &Conn, module: JobModule, target: RunTarget, input: String, opts: RunOptions, out: &mut impl Write, err: &mut impl Write) -> Result<usize, OpsError> {
    let RunOptions { timeout, json: as_json } = opts;
    let op = conn.open().await?;
    let limits = JobLimits { deadline: timeout, ..JobLimits::default() };
    let several = matches!(target, RunTarget::All);
    let wait = timeout + Duration::from_secs(5);
    let mut stream = op.run(target, &module, input, limits).await?;
    let total = stream.masters.len();
    let (mut ok, mut failed) = (0usize, 0usize);
    let outcome = tokio::time::timeout(wait, async {
        while let Some((master, event)) = stream.next().await? {
            let prefix = if several { format!("{master}: ") } else { String::new() };
            match event {
                RemoteEvent::Item(item) if as_json => {
                    let item: Value = serde_json::from_str(&item).unwrap_or(Value::String(item));
                    let _ = writeln!(out, "{}", json!({"master": master, "item": item}));
                }
                RemoteEvent::Item(item) => {
                    let _ = writeln!(out, "{prefix}{item}");
                }
                RemoteEvent::Log { level, message } => {
                    let _ = writeln!(err, "{prefix}[{level}] {message}");
                }
                RemoteEvent::Done { items } => {
                    ok += 1;
                    if as_json {
                        let _ = writeln!(out, "{}", json!({"master": master, "done": items}));
                    }
                    if several {
                        let _ = writeln!(err, "[{}/{total} masters done] {master}: {items} item(s)", ok + failed);
                    }
                }
                RemoteEvent::Failed(e) => {
                    failed += 1;
                    if as_json {
                        let _ = writeln!(out, "{}", json!({"master": master, "error": e}));
                    }
                    let _ = writeln!(err, "{}{e}", if master.is_empty() { String::new() } else { format!("[{}/{total} masters done] {master} failed: ", ok + failed) });
                }
            }
        }
        Ok::<(), OpsError>(())
    })
    .await;
    match outcome {
        Err(_) => return Err(OpsError::Timeout(wait)),
        Ok(r) => r?,
    }
    let _ = writeln!(err, "summary: {ok} ok, {failed} failed, {total} master(s)");
    if failed > 0 || total == 0 {
        return Err(OpsError::JobsFailed { failed: failed.max(usize::from(total == 0)), total });
    }
    Ok(ok)
}

/// `call`: the seed's `ServiceRegistry::execute` from afar, through the
/// built-in `call-service` job, on `master` or on a master offering `service`.
pub async fn call(conn: &Conn, service: &str, method: &str, args: Option<&str>, master: Option<String>, retries: u32) -> Result<Value, OpsError> {
    let args: Value = match args {
        Some(a) => serde_json::from_str(a).map_err(|e| OpsError::Usage(format!("ARGS_JSON is not valid JSON: {e}")))?,
        None => Value::Null,
    };
    let target = match master {
        Some(id) => RunTarget::Master { id },
        None => RunTarget::Service { name: service.to_string(), retries },
    };
    let input = json!({"service": service, "method": method, "args": args}).to_string();
    let op = conn.open().await?;
    let module = JobModule::new(crate::embedded::CALL_SERVICE.to_vec());
    let mut stream = op.run(target, &module, input, JobLimits::default()).await?;
    let mut result = None;
    while let Some((_, event)) = stream.next().await? {
        match event {
            RemoteEvent::Item(item) => result = Some(serde_json::from_str(&item).unwrap_or(Value::String(item))),
            RemoteEvent::Done { .. } => return result.ok_or_else(|| OpsError::CallFailed("the call returned nothing".into())),
            RemoteEvent::Failed(e) => return Err(OpsError::CallFailed(e.to_string())),
            RemoteEvent::Log { .. } => {}
        }
    }
    Err(OpsError::CallFailed("the call's stream ended without a result".into()))
}

/// What `token` does.
#[derive(Clone, Debug)]
pub enum TokenOp {
    /// Print the tokens.
    List,
    /// Add a token (a random one if none given); prints it.
    Add(Option<String>),
    /// Remove a token.
    Remove(String),
}

/// `token`: manages the data dir's master or operator tokens; a running
/// register re-reads them at every hello.
pub fn token(data_dir: &Path, op: TokenOp, operator: bool) -> Result<String, OpsError> {
    let kind = if operator { TokenKind::Operator } else { TokenKind::Master };
    let dir = DataDir::open(data_dir)?;
    let mut tokens = dir.tokens(kind)?;
    match op {
        TokenOp::List => Ok(tokens.iter().map(|t| format!("{t}\n")).collect()),
        TokenOp::Add(t) => {
            let t = t.unwrap_or_else(random_token);
            if t.trim().is_empty() || t.contains(char::is_whitespace) {
                return Err(OpsError::Usage("a token must be non-empty and contain no whitespace".into()));
            }
            if !tokens.contains(&t) {
                tokens.push(t.clone());
                dir.set_tokens(kind, &tokens)?;
            }
            Ok(format!("{t}\n"))
        }
        TokenOp::Remove(t) => {
            let before = tokens.len();
            tokens.retain(|x| *x != t);
            if tokens.len() == before {
                return Err(OpsError::Usage("no such token".into()));
            }
            dir.set_tokens(kind, &tokens)?;
            Ok(format!("removed; {} token(s) left\n", tokens.len()))
        }
    }
}

/// The data dir's job-signing key (made at first use, mode 0600).
pub fn job_signer(data_dir: &Path) -> Result<JobSigner, OpsError> {
    let der = DataDir::open(data_dir)?.job_signing_key()?;
    Ok(JobSigner::from_pkcs8(&der)?)
}

/// `regcenter job-key`: the public key masters trust with `--trust-job-key`.
pub fn job_key(data_dir: &Path) -> Result<String, OpsError> {
    let signer = job_signer(data_dir)?;
    Ok(format!("{}\n", signer.public_key_hex()))
}
