//! The network-free commands: `local call`, `local run` and `inspect`. They
//! build a [`ServiceRegistry`] from `NAME=FILE` specs in this process.

use crate::error::{CallError, JobError, LoadError, RegistryError};
use crate::limits::JobLimits;
use crate::plugins;
use crate::registry::{ServiceOptions, ServiceRegistry};
use crate::runtime::job::JobEvent;
use crate::runtime::{Runtime, RuntimeConfig};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;

/// What went wrong in a local command.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A `--service` spec is malformed.
    #[error("invalid --service '{0}': expected NAME=FILE (or NAME of a built plugin)")]
    Spec(String),
    /// The arguments are not JSON.
    #[error("{what} is not valid JSON: {message}")]
    Json {
        /// Which argument.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] LoadError),
    /// A service could not be registered.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The job failed.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// One `--service NAME=FILE` (FILE may be omitted for a built plugin).
pub fn parse_spec(spec: &str) -> Result<(String, PathBuf), LocalError> {
    match spec.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_string(), plugins::resolve(file))),
        None if !spec.is_empty() => Ok((spec.to_string(), plugins::path(spec))),
        _ => Err(LocalError::Spec(spec.to_string())),
    }
}

/// Parses a JSON argument; empty means null.
pub fn parse_json(what: &'static str, text: Option<&str>) -> Result<Value, LocalError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Value::Null),
        Some(t) => serde_json::from_str(t).map_err(|e| LocalError::Json { what, message: e.to_string() }),
    }
}

/// The bytes of a component file.
pub fn read(path: &PathBuf) -> Result<Vec<u8>, LocalError> {
    std::fs::read(path).map_err(|e| LocalError::Io { path: path.display().to_string(), message: e.to_string() })
}

/// A registry with the given services.
pub async fn registry(specs: &[String]) -> Result<ServiceRegistry, LocalError> {
    let reg = ServiceRegistry::new(Runtime::new(RuntimeConfig::default())?);
    for spec in specs {
        let (name, path) = parse_spec(spec)?;
        let bytes = read(&path)?;
        reg.register(&name, bytes, ServiceOptions::default()).await?;
    }
    Ok(reg)
}

/// `local call`: the JSON result of one call.
pub async fn call(specs: &[String], service: &str, method: &str, args: Option<&str>) -> Result<Value, LocalError> {
    let reg = registry(specs).await?;
    let args = parse_json("ARGS_JSON", args)?;
    Ok(reg.execute(service, method, &args).await?)
}

/// `local run`: runs a job, writing each item as one JSON line to `out` and
/// the job's log lines to stderr. Returns the item count.
pub async fn run(specs: &[String], job: &str, input: Option<&str>, limits: JobLimits, out: &mut impl Write) -> Result<u64, LocalError> {
    let reg = registry(specs).await?;
    let input = parse_json("--input", input)?;
    let input = if input.is_null() { "{}".to_string() } else { input.to_string() };
    let bytes = read(&plugins::resolve(job))?;
    let mut running = reg.run_job(&bytes, input, limits).await?;
    running.close_input();
    while let Some(ev) = running.next().await {
        match ev {
            JobEvent::Item(item) => {
                let _ = writeln!(out, "{item}");
            }
            JobEvent::Log(level, message) => eprintln!("[job {level:?}] {message}"),
            JobEvent::Done { items } => return Ok(items),
            JobEvent::Failed(e) => return Err(e.into()),
        }
    }
    Err(JobError::Cancelled.into())
}

/// `inspect`: a component's imports and exports.
pub fn inspect(file: &str) -> Result<String, LocalError> {
    let bytes = read(&plugins::resolve(file))?;
    let mut cfg = RuntimeConfig::default();
    cfg.engine.job_slots = 1;
    Ok(Runtime::new(cfg)?.inspect(&bytes)?)
}
