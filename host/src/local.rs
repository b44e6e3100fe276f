//! The network-free commands: `local call`, `local run` and `inspect`. They
//! host services from a [`HostSpec`] in this process.

use crate::error::{CallError, JobError, LoadError, RegistryError};
use crate::limits::JobLimits;
use crate::hosting::{self, HostError, HostSpec};
use crate::plugins;
use crate::runtime::job::JobEvent;
use crate::runtime::{Runtime, RuntimeConfig};
use serde_json::Value;
use std::io::Write;

/// What went wrong in a local command.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The services to host could not be loaded.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The arguments are not JSON.
    #[error("{what} is not valid JSON: {message}")]
    Json {
        /// Which argument.
        what: &'static str,
        /// The parser's message.
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

/// Parses a JSON argument; empty means null.
pub fn parse_json(what: &'static str, text: Option<&str>) -> Result<Value, LocalError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Value::Null),
        Some(t) => serde_json::from_str(t).map_err(|e| LocalError::Json { what, message: e.to_string() }),
    }
}

/// `local call`: the JSON result of one call.
pub async fn call(spec: &HostSpec, service: &str, method: &str, args: Option<&str>) -> Result<Value, LocalError> {
    let reg = spec.load().await?;
    let args = parse_json("ARGS_JSON", args)?;
    Ok(reg.execute(service, method, &args).await?)
}

/// `local run`: runs a job, writing each item as one JSON line to `out` and
/// the job's log lines to stderr. Returns the item count.
pub async fn run(spec: &HostSpec, job: &str, input: Option<&str>, limits: JobLimits, out: &mut impl Write) -> Result<u64, LocalError> {
    let reg = spec.load().await?;
    let input = parse_json("--input", input)?;
    let input = if input.is_null() { "{}".to_string() } else { input.to_string() };
    let bytes = hosting::read(&plugins::resolve(job))?;
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
    let bytes = hosting::read(&plugins::resolve(file))?;
    let mut cfg = RuntimeConfig::default();
    cfg.engine.job_slots = 1;
    Ok(Runtime::new(cfg)?.inspect(&bytes)?)
}
