//! The wasmtime side: engines and limits, loading services, preparing and
//! running jobs, JSON <-> component values, the WASI policy.
//!
//! # Layout
//! - [`engine`]: the job and service engines, epoch ticker, compile checks.
//! - [`exports`]: what a component exports (interfaces, functions), `inspect`.
//! - [`values`]: JSON <-> component values.
//! - [`imports`]: the shared `regcenter:job` imports (services, log, types).
//! - [`service`]: loaded services, their instances and calls.
//! - [`instances`]: a service's instances, lent to one call at a time.
//! - [`job`]: job runs, their channel, limits and cancellation.
//! - [`tiering`]: cold jobs on baseline code, optimized in the background.
//! - [`compiling`]: one fetch and compile per new module, however many ask.
//! - [`proxy`]: typed service imports of jobs.
//! - [`wasi`]: what guests get from WASI.
//!
//! This module never imports the transport.

pub mod compiling;
pub mod engine;
pub mod exports;
pub mod imports;
pub mod instances;
pub mod job;
pub mod proxy;
pub mod service;
pub mod spare;
pub mod tiering;
pub mod values;
pub mod wasi;

use crate::error::{JobError, LoadError};
use crate::limits::{self, JobLimits};
use compiling::{Compiled, InFlight, PrepareError};
use engine::{EngineConfig, Engines};
use exports::Exports;
use job::{JobState, PreparedJob, RunningJob};
use service::{LoadedService, ServiceLookup, ServiceSettings, ServiceState};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

/// Settings of a [`Runtime`]. Every field defaults to the named constant in
/// [`crate::limits`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Engines and compile cache.
    pub engine: EngineConfig,
    /// The most a job may use; requesters can only ask for less.
    pub job_limits: JobLimits,
    /// Deadline of one service call.
    pub service_call_deadline: Duration,
    /// Memory cap of a service instance.
    pub service_memory: u64,
    /// Largest component accepted.
    pub max_module_bytes: usize,
    /// Compiled jobs kept in memory.
    pub job_cache_entries: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            job_limits: JobLimits::default(),
            service_call_deadline: limits::SERVICE_CALL_DEADLINE,
            service_memory: limits::SERVICE_MEMORY,
            max_module_bytes: limits::MAX_MODULE_BYTES,
            job_cache_entries: limits::JOB_CACHE_ENTRIES,
        }
    }
}

struct CachedJob {
    component: Component,
    run: wasmtime::component::ComponentExportIndex,
    linked: Option<Arc<PreparedJob>>,
    last_used: u64,
    /// Compiled by Cranelift (else baseline code awaiting its upgrade).
    optimized: bool,
}

#[derive(Default)]
struct JobCache {
    entries: HashMap<[u8; 32], CachedJob>,
    clock: u64,
}

struct Inner {
    metrics: Arc<crate::metrics::Metrics>,
    engines: Engines,
    cfg: RuntimeConfig,
    job_linker: Linker<JobState>,
    baseline_linker: Option<Linker<JobState>>,
    /// Recompiles baseline jobs with Cranelift (present with the baseline engine).
    upgrader: Option<tiering::Upgrader>,
    service_linker: Linker<ServiceState>,
    jobs: Mutex<JobCache>,
    compiling: InFlight,
    /// Foreground job compiles (the optimizing upgrades not counted).
    compiles: AtomicU64,
    /// The one warm spare of a job instance (see [`spare`]).
    spare: Arc<spare::SpareSlot>,
}

/// The process's WebAssembly runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Parses exactly `2 * N` hex digits (either case).
pub fn unhex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

impl Runtime {
    /// Builds the engines and linkers.
    pub fn new(cfg: RuntimeConfig) -> Result<Self, LoadError> {
        let engines = Engines::new(&cfg.engine)?;
        let linker_err = |e: wasmtime::Error| LoadError::Instantiate { message: format!("linker: {e:#}") };

        let baseline_linker = engines.baseline_jobs.as_ref().map(new_job_linker).transpose().map_err(linker_err)?;
        let job_linker = new_job_linker(&engines.jobs).map_err(linker_err)?;

        let mut service_linker = Linker::<ServiceState>::new(&engines.services);
        wasmtime_wasi::p2::add_to_linker_async(&mut service_linker).map_err(linker_err)?;
        imports::add_services(&mut service_linker).map_err(linker_err)?;
        imports::add_service_log(&mut service_linker).map_err(linker_err)?;

        // One slot lent to a spare needs a pool of more than one.
        let spare = Arc::new(spare::SpareSlot::new(cfg.engine.job_slots > 1));
        let mut failed = None;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let upgrader = if engines.baseline_jobs.is_some() {
                let weak = weak.clone();
                let install: tiering::Install = Box::new(move |sha, component| {
                    if let Some(inner) = weak.upgrade() {
                        Runtime { inner }.install_optimized(sha, component);
                    }
                });
                tiering::Upgrader::start(engines.jobs.clone(), cfg.max_module_bytes, install).map_err(|e| failed = Some(e)).ok()
            } else {
                None
            };
            Inner { metrics: Default::default(), engines, cfg, job_linker, baseline_linker, upgrader, service_linker,
                jobs: Mutex::new(JobCache::default()),
                compiling: InFlight::default(),
                compiles: AtomicU64::new(0),
                spare,
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(Self { inner }),
        }
    }

    /// Call and job statistics of this runtime.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.metrics
    }

    /// The warm spare of a job instance: how often runs started on one.
    pub fn spare(&self) -> &spare::SpareSlot {
        &self.inner.spare
    }

    /// Job runs under way on this runtime, from every master and local
    /// caller that shares it (an inline run counts until its Store is
    /// dropped).
    pub fn runs_under_way(&self) -> usize {
        self.inner.spare.runs_under_way()
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    /// Compiles and instantiates a service (blocking compile on a worker thread).
    #[allow(clippy::too_many_arguments)]
    pub async fn load_service(
        &self,
        id: u64,
        name: &str,
        bytes: Arc<[u8]>,
        version: Option<semver::Version>,
        metadata: BTreeMap<String, String>,
        settings: ServiceSettings,
        lookup: Weak<dyn ServiceLookup>,
    ) -> Result<LoadedService, LoadError> {
        let engine = self.inner.engines.services.clone();
        let max = self.inner.cfg.max_module_bytes;
        let component = tokio::task::spawn_blocking(move || engine::compile(&engine, &bytes, max))
            .await
            .map_err(|e| LoadError::Instantiate { message: format!("compile task: {e}") })??;
        let exports = Exports::of(&component, &self.inner.engines.services);
        if exports.funcs.is_empty() {
            return Err(LoadError::WrongWorld { message: "a service must export at least one function".into() });
        }
        let pre = self.inner.service_linker.instantiate_pre(&component).map_err(|e| unsatisfied(&component, &self.inner.engines.services, e))?;
        let version = version.or_else(|| exports.package_version()).unwrap_or_else(|| semver::Version::new(0, 0, 0));
        LoadedService::start(id, name, version, metadata, service::ServiceCode { exports, pre }, settings, lookup).await
    }

    /// The default [`ServiceSettings`] of this runtime.
    pub fn service_settings(&self, instances: usize, grants: wasi::WasiGrants) -> ServiceSettings {
        ServiceSettings {
            instances: instances.max(1),
            grants,
            call_deadline: self.inner.cfg.service_call_deadline,
            memory: self.inner.cfg.service_memory,
            metrics: self.inner.metrics.clone(),
        }
    }

    /// Whether a compiled job with this hash is cached.
    pub fn has_job(&self, sha256: &[u8; 32]) -> bool {
        self.inner.jobs.lock().map(|c| c.entries.contains_key(sha256)).unwrap_or(false)
    }

    /// Whether the cached job with this hash runs on optimized code (`None`:
    /// not cached).
    pub fn job_is_optimized(&self, sha256: &[u8; 32]) -> Option<bool> {
        self.inner.jobs.lock().ok()?.entries.get(sha256).map(|e| e.optimized)
    }

    /// Compiles (or finds in the cache) a job and links it against the
    /// services of `lookup`. Warm runs do neither compile nor link. A job
    /// seen for the first time is compiled by the baseline compiler and
    /// queued for Cranelift; its later runs use the optimized code once
    /// that is ready. Callers asking for the same new job at the same time
    /// share one compile.
    pub async fn prepare_job(&self, bytes: &[u8], lookup: &Arc<dyn ServiceLookup>) -> Result<Arc<PreparedJob>, LoadError> {
        if bytes.len() > self.inner.cfg.max_module_bytes {
            return Err(LoadError::TooLarge { size: bytes.len(), max: self.inner.cfg.max_module_bytes });
        }
        let fetch = || async { Ok::<_, LoadError>(Arc::<[u8]>::from(bytes)) };
        self.prepare_once(sha256(bytes), lookup, fetch).await.map_err(|e| match e {
            PrepareError::Fetch(e) | PrepareError::Load(e) => e,
        })
    }

    /// The job with hash `sha`, linked against `lookup`: from the cache, or
    /// compiled from the bytes `fetch` returns (the caller checks them
    /// against `sha`). Of the callers asking for one hash at the same time
    /// only one fetches and compiles; the others wait for its code, and
    /// when its attempt fails or is dropped the next one tries with its own
    /// fetch; a fetch that takes longer than [`compiling::FETCH_PATIENCE`]
    /// is not waited for (see [`compiling`]).
    pub async fn prepare_once<E, F, Fut>(&self, sha: [u8; 32], lookup: &Arc<dyn ServiceLookup>, fetch: F) -> Result<Arc<PreparedJob>, PrepareError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<[u8]>, E>>,
    {
        if let Some(ready) = self.prepare_cached(&sha, lookup) {
            return ready.map_err(PrepareError::Load);
        }
        let slot = self.inner.compiling.slot(&sha);
        let compiled = compiling::shared(&slot, fetch, |bytes| self.compile_new(sha, bytes)).await;
        // The code is in the cache now (or the attempt failed): later askers
        // find it there, or try afresh.
        self.inner.compiling.forget(&sha, &slot);
        let code = compiled?;
        match self.prepare_cached(&sha, lookup) {
            Some(ready) => ready,
            // Already pushed out of a small cache by other jobs.
            None => self.link_and_store(sha, code, lookup),
        }
        .map_err(PrepareError::Load)
    }

    /// Foreground job compiles so far (a job shared by many askers counts
    /// once; the background upgrades to optimized code do not count).
    pub fn job_compiles(&self) -> u64 {
        self.inner.compiles.load(Ordering::Relaxed)
    }

    /// Compiles bytes not in the cache, checks the job world, and stores the
    /// code in the cache unlinked; baseline code is queued for its upgrade.
    /// (The compile itself refuses bytes over the size limit.)
    async fn compile_new(&self, sha: [u8; 32], bytes: Arc<[u8]>) -> Result<Compiled, LoadError> {
        self.inner.compiles.fetch_add(1, Ordering::Relaxed);
        let (component, optimized) = self.compile_job(bytes.clone()).await?;
        let run = check_job_world(&component)?;
        self.store_job(sha, CachedJob { component: component.clone(), run, linked: None, last_used: 0, optimized });
        if !optimized {
            self.upgrade_later(sha, bytes);
        }
        Ok(Compiled { component, run, optimized })
    }

    /// Compiles on the baseline engine if there is one (falling back to
    /// Cranelift when the baseline compiler declines), else on Cranelift.
    /// Returns the component and whether it is optimized code.
    async fn compile_job(&self, bytes: Arc<[u8]>) -> Result<(Component, bool), LoadError> {
        let baseline = self.inner.upgrader.as_ref().and(self.inner.engines.baseline_jobs.clone());
        let optimizing = self.inner.engines.jobs.clone();
        let max = self.inner.cfg.max_module_bytes;
        tokio::task::spawn_blocking(move || {
            if let Some(engine) = baseline {
                match engine::compile(&engine, &bytes, max) {
                    Ok(c) => return Ok((c, false)),
                    Err(e) => tracing::debug!(error = %e, "baseline compiler declined a job; compiling it with Cranelift"),
                }
            }
            engine::compile(&optimizing, &bytes, max).map(|c| (c, true))
        })
        .await
        .map_err(|e| LoadError::Instantiate { message: format!("compile task: {e}") })?
    }

    /// Queues the optimizing compile of a job that runs on baseline code;
    /// when done, its cache entry switches to the optimized code (runs under
    /// way keep theirs).
    fn upgrade_later(&self, sha: [u8; 32], bytes: Arc<[u8]>) {
        if let Some(u) = &self.inner.upgrader {
            u.queue(sha, bytes);
        }
    }

    fn install_optimized(&self, sha: [u8; 32], component: Component) {
        let Ok(run) = check_job_world(&component) else { return };
        let Ok(mut cache) = self.inner.jobs.lock() else { return };
        if let Some(entry) = cache.entries.get_mut(&sha).filter(|e| !e.optimized) {
            entry.component = component;
            entry.run = run;
            entry.linked = None;
            entry.optimized = true;
        }
    }

    /// The job with this hash if its compiled code is cached (relinked when
    /// the services changed); `None` when the bytes are needed.
    pub fn prepare_cached(&self, sha: &[u8; 32], lookup: &Arc<dyn ServiceLookup>) -> Option<Result<Arc<PreparedJob>, LoadError>> {
        if let Some(hit) = self.cached_job(sha, lookup.generation()) {
            return Some(Ok(hit));
        }
        let code = self.lookup_component(sha)?;
        Some(self.link_and_store(*sha, code, lookup))
    }

    fn link_and_store(&self, sha: [u8; 32], code: Compiled, lookup: &Arc<dyn ServiceLookup>) -> Result<Arc<PreparedJob>, LoadError> {
        let Compiled { component, run, optimized } = code;
        let generation = lookup.generation();
        let (pre, typed_imports) = self.link_job(&component, lookup.as_ref())?;
        let label = Arc::from(format!("job-{}", hex(&sha[..6])));
        let spare = self.inner.spare.clone();
        let prepared = Arc::new(PreparedJob { sha256: sha, generation, optimized, label, pre, run, typed_imports, spare });
        self.store_job(sha, CachedJob { component, run, linked: Some(prepared.clone()), last_used: 0, optimized });
        Ok(prepared)
    }

    fn cached_job(&self, sha: &[u8; 32], generation: u64) -> Option<Arc<PreparedJob>> {
        let mut cache = self.inner.jobs.lock().ok()?;
        cache.clock += 1;
        let now = cache.clock;
        let entry = cache.entries.get_mut(sha)?;
        entry.last_used = now;
        // A job with no typed imports links the same against any services.
        entry.linked.as_ref().filter(|p| p.generation == generation || p.typed_imports.is_empty()).cloned()
    }

    fn lookup_component(&self, sha: &[u8; 32]) -> Option<Compiled> {
        let cache = self.inner.jobs.lock().ok()?;
        cache.entries.get(sha).map(|e| Compiled { component: e.component.clone(), run: e.run, optimized: e.optimized })
    }

    /// Caches `entry`, except over optimized code with baseline code: the
    /// background upgrade may have installed it while the baseline code was
    /// being linked, and is not queued again.
    fn store_job(&self, sha: [u8; 32], mut entry: CachedJob) {
        let Ok(mut cache) = self.inner.jobs.lock() else { return };
        cache.clock += 1;
        entry.last_used = cache.clock;
        if let Some(held) = cache.entries.get_mut(&sha).filter(|held| held.optimized && !entry.optimized) {
            held.last_used = entry.last_used;
            return;
        }
        cache.entries.insert(sha, entry);
        while cache.entries.len() > self.inner.cfg.job_cache_entries.max(1) {
            let oldest = cache.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| *k);
            match oldest {
                Some(k) => cache.entries.remove(&k),
                None => break,
            };
        }
    }

    fn link_job(
        &self,
        component: &Component,
        lookup: &dyn ServiceLookup,
    ) -> Result<(wasmtime::component::InstancePre<JobState>, Vec<proxy::TypedImport>), LoadError> {
        let engine = component.engine();
        let base = match &self.inner.baseline_linker {
            Some(l) if !wasmtime::Engine::same(engine, &self.inner.engines.jobs) => l,
            _ => &self.inner.job_linker,
        };
        let mut linker = base.clone();
        let mut typed = Vec::new();
        let ty = component.component_type();
        for (name, item) in ty.imports(engine) {
            if name.starts_with("wasi:") || name.starts_with("regcenter:job/") {
                continue;
            }
            match &item.ty {
                ComponentItem::ComponentInstance(inst) => {
                    typed.push(proxy::link_import(&mut linker, engine, typed.len(), name, inst, lookup)?);
                }
                _ => {
                    return Err(LoadError::UnsatisfiedImport {
                        import: name.to_string(),
                        reason: "only interface imports can be provided by services".into(),
                    })
                }
            }
        }
        let pre = linker.instantiate_pre(component).map_err(|e| unsatisfied(component, engine, e))?;
        Ok((pre, typed))
    }

    /// `bytes` as a job linked like any other, except that `relink` may
    /// replace imports (the linker allows shadowing). It shares nothing with
    /// the job cache or the spare slot, and is compiled with optimizations
    /// in the calling thread: for the bench's floors, not for peers' bytes.
    pub(crate) fn prepare_job_relinked(
        &self,
        bytes: &[u8],
        relink: impl FnOnce(&mut Linker<JobState>) -> wasmtime::Result<()>,
    ) -> Result<Arc<PreparedJob>, LoadError> {
        let component = engine::compile(&self.inner.engines.jobs, bytes, self.inner.cfg.max_module_bytes)?;
        let run = check_job_world(&component)?;
        let mut linker = self.inner.job_linker.clone();
        linker.allow_shadowing(true);
        let relinked = |e: wasmtime::Error| LoadError::Instantiate { message: format!("relinking: {e:#}") };
        relink(&mut linker).map_err(relinked)?;
        let pre = linker.instantiate_pre(&component).map_err(|e| unsatisfied(&component, &self.inner.engines.jobs, e))?;
        let sha256 = sha256(bytes);
        let label = Arc::from(format!("relinked-{}", hex(&sha256[..6])));
        let spare = Arc::new(spare::SpareSlot::new(false));
        Ok(Arc::new(PreparedJob { sha256, generation: 0, optimized: true, label, pre, run, typed_imports: Vec::new(), spare }))
    }

    /// Starts a prepared job with `input` (JSON text) under `limits` (capped
    /// by this runtime's ceiling).
    pub fn start_job(&self, job: Arc<PreparedJob>, input: String, limits: JobLimits, lookup: Arc<dyn ServiceLookup>) -> RunningJob {
        let label = job.label.clone();
        job::start(job, input, limits.capped_by(self.inner.cfg.job_limits), lookup, label, self.inner.metrics.clone(), false)
    }

    /// [`Runtime::start_job`], run inside the task that awaits the handle:
    /// the job makes progress only while its `next` or `send` is awaited.
    pub fn start_job_inline(&self, job: Arc<PreparedJob>, input: String, limits: JobLimits, lookup: Arc<dyn ServiceLookup>) -> RunningJob {
        let label = job.label.clone();
        job::start(job, input, limits.capped_by(self.inner.cfg.job_limits), lookup, label, self.inner.metrics.clone(), true)
    }

    /// Prepares and starts a job; a job that cannot be prepared yields a
    /// handle whose only event is the rejection.
    pub async fn run_job(&self, bytes: &[u8], input: String, limits: JobLimits, lookup: Arc<dyn ServiceLookup>) -> Result<RunningJob, JobError> {
        let prepared = self.prepare_job(bytes, &lookup).await.map_err(JobError::Rejected)?;
        Ok(self.start_job(prepared, input, limits, lookup))
    }

    /// The imports and exports of a component, with signatures.
    pub fn inspect(&self, bytes: &[u8]) -> Result<String, LoadError> {
        let engine = &self.inner.engines.services;
        let component = engine::compile(engine, bytes, self.inner.cfg.max_module_bytes)?;
        Ok(exports::render(&component, engine))
    }
}

/// A linker with everything jobs import except services.
fn new_job_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<JobState>> {
    let mut linker = Linker::<JobState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    imports::add_services(&mut linker)?;
    job::add_job_imports(&mut linker)?;
    Ok(linker)
}

/// The job world's export: `run: func(input: string) -> result<_, string>`.
fn check_job_world(component: &Component) -> Result<wasmtime::component::ComponentExportIndex, LoadError> {
    let engine = component.engine();
    let wrong = |what: &str| LoadError::WrongWorld {
        message: format!("{what}; a job must export `run: func(input: string) -> result<_, string>` (world regcenter:job/job)"),
    };
    let ty = component.component_type();
    let item = ty.get_export(engine, "run").ok_or_else(|| wrong("no `run` export"))?;
    let ComponentItem::ComponentFunc(f) = &item.ty else { return Err(wrong("`run` is not a function")) };
    let params: Vec<_> = f.params().map(|(_, t)| t).collect();
    let results: Vec<_> = f.results().collect();
    let ok = matches!(params.as_slice(), [wasmtime::component::Type::String])
        && matches!(results.as_slice(), [wasmtime::component::Type::Result(r)]
            if r.ok().is_none() && matches!(r.err(), Some(wasmtime::component::Type::String)));
    if !ok {
        return Err(wrong("`run` has another signature"));
    }
    component.get_export_index(None, "run").ok_or_else(|| wrong("no `run` export"))
}

/// Turns a linker error into the import it names.
fn unsatisfied(component: &Component, engine: &wasmtime::Engine, e: wasmtime::Error) -> LoadError {
    let text = format!("{e:#}");
    let import = component
        .component_type()
        .imports(engine)
        .map(|(n, _)| n.to_string())
        .find(|n| text.contains(n.as_str()))
        .unwrap_or_else(|| "?".into());
    LoadError::UnsatisfiedImport { import, reason: text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn baseline_code_linked_after_its_upgrade_leaves_the_optimized_code_cached() {
        let engine = EngineConfig { cache_dir: None, job_slots: 4, ..EngineConfig::default() };
        let runtime = Runtime::new(RuntimeConfig { engine, ..RuntimeConfig::default() }).unwrap();
        let lookup = crate::ServiceRegistry::new(runtime.clone()).lookup();
        let bytes: Arc<[u8]> = std::fs::read(crate::plugins::path("emit-flood")).expect("built plugin").into();
        let sha = sha256(&bytes);
        // Compiled on baseline code, cached unlinked, its upgrade queued.
        let baseline = runtime.compile_new(sha, bytes).await.unwrap();
        assert!(!baseline.optimized);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while runtime.job_is_optimized(&sha) != Some(true) {
            assert!(std::time::Instant::now() < deadline, "the upgrade never came");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A link of the baseline code that started before the upgrade landed.
        let late = runtime.link_and_store(sha, baseline, &lookup).unwrap();
        assert!(!late.optimized, "the late link still runs what it linked");
        assert_eq!(runtime.job_is_optimized(&sha), Some(true), "the upgrade stays");
        assert!(runtime.prepare_cached(&sha, &lookup).unwrap().unwrap().optimized);
    }

    #[test]
    fn hex_is_lowercase_and_round_trips_through_unhex() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = hex(&bytes);
        assert_eq!(&text[..8], "00010203");
        assert_eq!(&text[text.len() - 4..], "feff");
        let halves: Vec<[u8; 128]> = [&text[..256], &text[256..]].iter().map(|h| unhex::<128>(h).expect("hex")).collect();
        assert_eq!([halves[0].as_slice(), halves[1].as_slice()].concat(), bytes);
        assert_eq!(unhex::<2>("ABcd"), Some([0xab, 0xcd]));
        assert_eq!(unhex::<2>("abc"), None);
    }
}
