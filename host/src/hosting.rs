//! What a node hosts, from command-line specs: `--service NAME=FILE`,
//! `--meta NAME:KEY=VALUE`, and the WASI grants a master explicitly gives a
//! service (`--grant-env NAME:KEY=VALUE`, `--grant-dir NAME:HOST=GUEST[:rw]`).
//! Without a grant a service sees no environment and no filesystem. Also the
//! job-limit ceilings (`--job-deadline`, `--job-max-items`, `--job-max-emit-mib`).

use crate::limits::JobLimits;
use crate::plugins;
use crate::registry::{ServiceOptions, ServiceRegistry};
use crate::runtime::{Runtime, RuntimeConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The specs of the services to host.
#[derive(Clone, Debug, Default)]
pub struct HostSpec {
    /// `NAME=FILE` or the name of a built plugin.
    pub services: Vec<String>,
    /// `NAME:KEY=VALUE` metadata.
    pub meta: Vec<String>,
    /// `NAME:KEY=VALUE` environment variables granted to a service.
    pub grant_env: Vec<String>,
    /// `NAME:HOST_DIR=GUEST_DIR` (read-only) or `…:rw` directories granted to a service.
    pub grant_dir: Vec<String>,
    /// The most a job may use here (requesters can only ask for less).
    pub job_limits: JobLimits,
}

/// A malformed spec, a service file that cannot be read, or a failed registration.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A spec does not parse; the message names the flag and the expected form.
    #[error("{0}")]
    Usage(String),
    /// A service file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] crate::error::LoadError),
    /// A service could not be registered.
    #[error(transparent)]
    Registry(#[from] crate::error::RegistryError),
}

/// One `--service NAME=FILE` (FILE may be omitted for a built plugin).
pub fn parse_service(spec: &str) -> Result<(String, PathBuf), HostError> {
    match spec.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_string(), plugins::resolve(file))),
        None if !spec.is_empty() => Ok((spec.to_string(), plugins::path(spec))),
        _ => Err(HostError::Usage(format!("invalid --service '{spec}': expected NAME=FILE (or NAME of a built plugin)"))),
    }
}

/// Reads a file, naming it in the error.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>, HostError> {
    std::fs::read(path).map_err(|e| HostError::Io { path: path.display().to_string(), message: e.to_string() })
}

/// `NAME:KEY=VALUE` of flag `flag`.
fn parse_keyed(flag: &str, spec: &str) -> Result<(String, String, String), HostError> {
    let bad = || HostError::Usage(format!("invalid {flag} '{spec}': expected NAME:KEY=VALUE"));
    let (name, kv) = spec.split_once(':').ok_or_else(bad)?;
    let (k, v) = kv.split_once('=').ok_or_else(bad)?;
    if name.is_empty() || k.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), k.to_string(), v.to_string()))
}

/// `NAME:HOST_DIR=GUEST_DIR[:rw|:ro]`.
fn parse_dir(spec: &str) -> Result<(String, (PathBuf, String, bool)), HostError> {
    let bad = |why: &str| HostError::Usage(format!("invalid --grant-dir '{spec}': {why} (expected NAME:HOST_DIR=GUEST_DIR[:rw])"));
    let (name, rest) = spec.split_once(':').ok_or_else(|| bad("no service name"))?;
    let (host, guest) = rest.split_once('=').ok_or_else(|| bad("no guest path"))?;
    let (guest, writable) = match guest.rsplit_once(':') {
        Some((g, "rw")) => (g, true),
        Some((g, "ro")) => (g, false),
        _ => (guest, false),
    };
    if name.is_empty() || host.is_empty() || guest.is_empty() {
        return Err(bad("empty part"));
    }
    let host = PathBuf::from(host);
    if !host.is_dir() {
        return Err(bad(&format!("{} is not a directory", host.display())));
    }
    Ok((name.to_string(), (host, guest.to_string(), writable)))
}

impl HostSpec {
    /// Only these services, nothing granted.
    pub fn services(services: &[String]) -> Self {
        Self { services: services.to_vec(), ..Self::default() }
    }

    /// Per-service options (metadata and grants) from the specs; every
    /// service they name must be hosted.
    fn options(&self) -> Result<BTreeMap<String, ServiceOptions>, HostError> {
        let mut opts: BTreeMap<String, ServiceOptions> = BTreeMap::new();
        for m in &self.meta {
            let (name, k, v) = parse_keyed("--meta", m)?;
            opts.entry(name).or_default().metadata.insert(k, v);
        }
        for e in &self.grant_env {
            let (name, k, v) = parse_keyed("--grant-env", e)?;
            opts.entry(name).or_default().grants.env.push((k, v));
        }
        for d in &self.grant_dir {
            let (name, dir) = parse_dir(d)?;
            opts.entry(name).or_default().grants.dirs.push(dir);
        }
        Ok(opts)
    }

    /// A registry on a default runtime hosting the services.
    pub async fn load(&self) -> Result<ServiceRegistry, HostError> {
        let mut opts = self.options()?;
        let registry = ServiceRegistry::new(Runtime::new(RuntimeConfig { job_limits: self.job_limits, ..RuntimeConfig::default() })?);
        for spec in &self.services {
            let (name, path) = parse_service(spec)?;
            let bytes = read(&path)?;
            registry.register(&name, bytes, opts.remove(&name).unwrap_or_default()).await?;
        }
        if let Some(unknown) = opts.keys().next() {
            return Err(HostError::Usage(format!("--meta/--grant-* name service '{unknown}', which is not hosted")));
        }
        Ok(registry)
    }
}
