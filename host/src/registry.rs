//! The seed's `ServiceRegistry`, over the runtime: register components under
//! a name (and version) with metadata; get / has / remove / all; metadata
//! queries; `execute(name, method, args)` with JSON arguments; run jobs
//! against the registered services.
//!
//! Entries are keyed by (name, version): registering the same name and
//! version again replaces the entry. `name@1.0.0` picks one version; a bare
//! `name` picks the newest (the seed's VersionedServiceRegistry, built in).
//! A service's version is the one given at registration, else its `version`
//! metadata, else the package version of its exported interfaces.

use crate::error::{CallError, JobError, LoadError, RegistryError};
use crate::limits::JobLimits;
use crate::runtime::job::RunningJob;
use crate::runtime::proxy;
use crate::runtime::service::{CallCtx, LoadedService, ServiceInfo, ServiceLookup};
use crate::runtime::wasi::WasiGrants;
use crate::runtime::Runtime;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

/// How to register a service.
#[derive(Clone, Debug, Default)]
pub struct ServiceOptions {
    /// Metadata key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// The version, overriding metadata and the WIT package version.
    pub version: Option<String>,
    /// Instances: 1 (default) for a stateful service, more for a stateless pool.
    pub instances: usize,
    /// WASI capabilities granted beyond the default policy.
    pub grants: WasiGrants,
}

impl ServiceOptions {
    /// Options with these metadata pairs.
    pub fn with_metadata<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { metadata: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), ..Self::default() }
    }
}

struct Inner {
    runtime: Runtime,
    services: RwLock<Vec<Arc<LoadedService>>>,
    generation: AtomicU64,
    next_id: AtomicU64,
    changes: tokio::sync::watch::Sender<u64>,
}

/// Generations are numbered across every registry of the process: runtimes
/// may be shared by registries, and a job linked against one registry's
/// services (its typed imports bound to them) must never be taken for
/// another's because their counters happen to agree.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::AcqRel) + 1
}

impl Inner {
    /// Records a change of the service set (relinks jobs, re-announces).
    fn changed(&self) {
        let g = next_generation();
        self.generation.fetch_max(g, Ordering::AcqRel);
        self.changes.send_replace(g);
    }
}

/// A set of services hosted in this process. Cheap to clone.
#[derive(Clone)]
pub struct ServiceRegistry {
    inner: Arc<Inner>,
}

/// Splits `name@1.2.3` into the name and the version, if it parses.
fn split_version(key: &str) -> (&str, Option<semver::Version>) {
    match key.rsplit_once('@') {
        Some((name, v)) => match semver::Version::parse(v) {
            Ok(v) => (name, Some(v)),
            Err(_) => (key, None),
        },
        None => (key, None),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Inner {
    fn all(&self) -> Vec<Arc<LoadedService>> {
        self.services.read().map(|s| s.clone()).unwrap_or_default()
    }
}

impl ServiceLookup for Inner {
    fn find(&self, key: &str) -> Option<Arc<LoadedService>> {
        let (name, version) = split_version(key);
        let services = self.services.read().ok()?;
        let mut best: Option<&Arc<LoadedService>> = None;
        for s in services.iter().filter(|s| &*s.name == name) {
            match &version {
                Some(v) if &s.version == v => return Some(s.clone()),
                Some(_) => {}
                None if best.is_none_or(|b| s.version > b.version) => best = Some(s),
                None => {}
            }
        }
        best.cloned()
    }

    fn providers(&self, import: &str) -> Vec<(Arc<LoadedService>, usize)> {
        let mut found: Vec<(Arc<LoadedService>, usize, Option<semver::Version>)> = Vec::new();
        for s in self.all() {
            if let Some(i) = s.exports.interfaces.iter().position(|i| proxy::compatible(import, &i.name)) {
                let v = s.exports.interfaces[i].version.clone();
                found.push((s, i, v));
            }
        }
        // Stable: equal versions keep registration order.
        found.sort_by(|a, b| b.2.cmp(&a.2));
        found.into_iter().map(|(s, i, _)| (s, i)).collect()
    }

    fn list(&self) -> Vec<ServiceInfo> {
        self.all().iter().map(|s| s.info()).collect()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl ServiceRegistry {
    /// An empty registry on `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        let generation = next_generation();
        Self {
            inner: Arc::new(Inner {
                runtime,
                services: RwLock::new(Vec::new()),
                generation: AtomicU64::new(generation),
                next_id: AtomicU64::new(1),
                changes: tokio::sync::watch::channel(generation).0,
            }),
        }
    }

    /// The runtime services and jobs run on.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Notified on every change of the services (register, remove, metadata).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// This registry as the runtime sees it.
    pub fn lookup(&self) -> Arc<dyn ServiceLookup> {
        self.inner.clone()
    }

    /// Registers component `bytes` as service `name`. Replaces an entry with
    /// the same name and version.
    pub async fn register(&self, name: &str, bytes: impl Into<Arc<[u8]>>, options: ServiceOptions) -> Result<ServiceInfo, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::InvalidName(name.to_string()));
        }
        let version = match options.version.as_deref().or(options.metadata.get("version").map(String::as_str)) {
            Some(v) => Some(semver::Version::parse(v).map_err(|e| RegistryError::InvalidVersion {
                service: name.to_string(),
                version: v.to_string(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let weak: Weak<dyn ServiceLookup> = Arc::downgrade(&self.inner) as Weak<dyn ServiceLookup>;
        let settings = self.inner.runtime.service_settings(options.instances, options.grants);
        let svc = self
            .inner
            .runtime
            .load_service(id, name, bytes.into(), version, options.metadata, settings, weak)
            .await
            .map_err(|error| RegistryError::Load { service: name.to_string(), error })?;
        let info = svc.info();
        let svc = Arc::new(svc);
        {
            let mut services = self.inner.services.write().map_err(|_| RegistryError::NotFound(name.into()))?;
            match services.iter().position(|s| s.name == svc.name && s.version == svc.version) {
                Some(i) => services[i] = svc,
                None => services.push(svc),
            }
        }
        self.inner.changed();
        tracing::info!(service = name, version = %info.version, interfaces = ?info.interfaces, "service registered");
        Ok(info)
    }

    /// Registers the component at `path`.
    pub async fn register_file(&self, name: &str, path: impl AsRef<Path>, options: ServiceOptions) -> Result<ServiceInfo, RegistryError> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path).await.map_err(|e| RegistryError::Load {
            service: name.to_string(),
            error: LoadError::Io { path: path.display().to_string(), message: e.to_string() },
        })?;
        self.register(name, bytes, options).await
    }

    /// The service `name` (or `name@version`; bare: newest).
    pub fn get(&self, name: &str) -> Option<ServiceInfo> {
        self.inner.find(name).map(|s| s.info())
    }

    /// Whether `name` (or `name@version`) is registered.
    pub fn has(&self, name: &str) -> bool {
        self.inner.find(name).is_some()
    }

    /// Removes `name@version`, or every version of a bare `name`. Returns
    /// whether anything was removed.
    pub fn remove(&self, key: &str) -> bool {
        let (name, version) = split_version(key);
        let removed = match self.inner.services.write() {
            Ok(mut services) => {
                let before = services.len();
                services.retain(|s| !(&*s.name == name && version.as_ref().is_none_or(|v| &s.version == v)));
                before != services.len()
            }
            Err(_) => false,
        };
        if removed {
            self.inner.changed();
        }
        removed
    }

    /// Every registered service (each version is one entry).
    pub fn all(&self) -> Vec<ServiceInfo> {
        self.inner.list()
    }

    /// Sets one metadata key of `name` (every version of a bare name).
    pub fn set_metadata(&self, name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
        let (base, version) = split_version(name);
        let mut hit = false;
        for s in self.inner.all().iter().filter(|s| &*s.name == base && version.as_ref().is_none_or(|v| &s.version == v)) {
            if let Ok(mut m) = s.metadata.write() {
                m.insert(key.to_string(), value.to_string());
                hit = true;
            }
        }
        if hit {
            self.inner.changed();
            Ok(())
        } else {
            Err(RegistryError::NotFound(name.to_string()))
        }
    }

    /// Services whose metadata has `key` = `value`.
    pub fn find_by_metadata(&self, key: &str, value: &str) -> Vec<ServiceInfo> {
        self.all().into_iter().filter(|s| s.metadata.get(key).is_some_and(|v| v == value)).collect()
    }

    /// Services exporting `interface` (e.g. `example:users/users@1.0.0`, any
    /// compatible version), in typed-import binding order.
    pub fn find_by_interface(&self, interface: &str) -> Vec<ServiceInfo> {
        self.inner.providers(interface).iter().map(|(s, _)| s.info()).collect()
    }

    /// Calls `method` of service `name` with JSON `args` (object of named
    /// parameters, array of positional ones, or null).
    pub async fn execute(&self, name: &str, method: &str, args: &Value) -> Result<Value, CallError> {
        let svc = self.inner.find(name).ok_or_else(|| CallError::ServiceNotFound { service: name.to_string() })?;
        svc.call_json(method, args, CallCtx::root(self.inner.runtime.config().service_call_deadline)).await
    }

    /// Runs job component `bytes` with `input` against these services.
    pub async fn run_job(&self, bytes: &[u8], input: impl Into<String>, limits: JobLimits) -> Result<RunningJob, JobError> {
        self.inner.runtime.run_job(bytes, input.into(), limits, self.lookup()).await
    }
}
