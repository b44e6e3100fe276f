//! A loaded service: a compiled component with one or more long-lived
//! instances (stateful, like the seed's service objects). Calls to one
//! instance are serialized; `instances = N` gives a round-robin pool for
//! stateless services. Each call has a deadline; a call that traps poisons
//! its Store, so that instance is re-created (its state is lost, and logged)
//! and the service keeps serving.

use crate::error::{CallError, LoadError};
use crate::runtime::exports::Exports;
use crate::runtime::imports::GuestHost;
use crate::runtime::instances::Instances;
use crate::runtime::values;
use crate::runtime::wasi::{self, WasiGrants};
pub use regcenter_protocol::service::ServiceInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use wasmtime::component::{Func, InstancePre, ResourceTable, Val};
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// What jobs and services need from the set of services around them.
/// Implemented by [`crate::ServiceRegistry`]; the runtime never depends on it.
pub trait ServiceLookup: Send + Sync + 'static {
    /// A service by `name` or `name@version` (bare name: the newest version).
    fn find(&self, name: &str) -> Option<Arc<LoadedService>>;
    /// Services exporting an interface compatible with `import`
    /// (`ns:pkg/iface@version`), in binding order: the newest version first,
    /// then the first registered. Each with the index of the interface.
    fn providers(&self, import: &str) -> Vec<(Arc<LoadedService>, usize)>;
    /// Every service.
    fn list(&self) -> Vec<ServiceInfo>;
    /// Changes whenever the set of services changes (links are cached by
    /// it); unique in the process, so it also names the lookup.
    fn generation(&self) -> u64;
}

/// The context of one call: who is calling whom (to refuse cycles) and
/// until when the caller waits.
#[derive(Clone, Debug)]
pub struct CallCtx {
    /// Services already on the call stack: (id, name).
    pub chain: Vec<(u64, Arc<str>)>,
    /// When the caller gives up.
    pub deadline: Instant,
}

impl CallCtx {
    /// A call from outside any service, waiting at most `wait`.
    pub fn root(wait: Duration) -> Self {
        Self { chain: Vec::new(), deadline: Instant::now() + wait }
    }
}

/// How a service is run.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Instances (1 = one stateful instance; more = round-robin pool).
    pub instances: usize,
    /// WASI grants beyond the default policy.
    pub grants: WasiGrants,
    /// Per-call deadline.
    pub call_deadline: Duration,
    /// Linear-memory cap per instance.
    pub memory: u64,
    /// Where calls are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Store data of a service instance.
pub struct ServiceState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    deadline: Instant,
    /// Until when the current call runs on at epoch ticks instead of yielding.
    slice_end: Instant,
    ctx: CallCtx,
    lookup: Weak<dyn ServiceLookup>,
    label: Arc<str>,
}

impl WasiView for ServiceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl GuestHost for ServiceState {
    fn lookup(&self) -> Option<Arc<dyn ServiceLookup>> {
        self.lookup.upgrade()
    }
    fn call_ctx(&self) -> Result<CallCtx, CallError> {
        Ok(self.ctx.clone())
    }
    fn label(&self) -> &Arc<str> {
        &self.label
    }
}

/// Caps linear memory; remembers that the cap was hit so the error can say so.
pub struct MemoryLimiter {
    /// The cap in bytes.
    pub max: u64,
    /// Set when a grow was refused.
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.max {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!("memory limit of {} bytes exceeded (wanted {desired})", self.max)));
        }
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

struct Slot {
    store: Store<ServiceState>,
    funcs: Vec<Func>,
}

/// A service's compiled code: what it exports, and its instances' factory
/// (linked to the host).
pub struct ServiceCode {
    /// Its exported functions.
    pub exports: Exports,
    /// Instantiates it.
    pub pre: InstancePre<ServiceState>,
}

/// A registered, instantiated service.
pub struct LoadedService {
    /// Unique id within the process.
    pub id: u64,
    /// The registered name.
    pub name: Arc<str>,
    /// Its version.
    pub version: semver::Version,
    /// What it exports.
    pub exports: Exports,
    /// Metadata (mutable: `set_metadata`).
    pub metadata: RwLock<BTreeMap<String, String>>,
    settings: ServiceSettings,
    pre: InstancePre<ServiceState>,
    lookup: Weak<dyn ServiceLookup>,
    slots: Instances<Slot>,
    /// The statistics counter of each function of `exports`.
    call_counters: Vec<Arc<crate::metrics::LiveCounter>>,
}

impl LoadedService {
    /// Instantiates `settings.instances` instances of `pre`.
    pub async fn start(
        id: u64,
        name: &str,
        version: semver::Version,
        metadata: BTreeMap<String, String>,
        code: ServiceCode,
        settings: ServiceSettings,
        lookup: Weak<dyn ServiceLookup>,
    ) -> Result<Self, LoadError> {
        let ServiceCode { exports, pre } = code;
        let call_counters = exports.funcs.iter().map(|f| settings.metrics.call_counter(name, &f.name)).collect();
        let mut svc = LoadedService {
            call_counters,
            id,
            name: Arc::from(name),
            version,
            exports,
            metadata: RwLock::new(metadata),
            slots: Instances::new(Vec::new()),
            settings,
            pre,
            lookup,
        };
        let mut slots = Vec::new();
        for _ in 0..svc.settings.instances.max(1) {
            slots.push(svc.instantiate().await?);
        }
        svc.slots = Instances::new(slots);
        Ok(svc)
    }

    async fn instantiate(&self) -> Result<Slot, LoadError> {
        let wasi = wasi::context(&self.name, &self.settings.grants).map_err(|message| LoadError::Instantiate { message })?;
        let state = ServiceState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { max: self.settings.memory, hit: false },
            deadline: Instant::now() + self.settings.call_deadline,
            slice_end: Instant::now(),
            ctx: CallCtx::root(self.settings.call_deadline),
            lookup: self.lookup.clone(),
            label: self.name.clone(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx: StoreContextMut<'_, ServiceState>| {
            let (now, data) = (Instant::now(), ctx.data());
            Ok(if now >= data.deadline { UpdateDeadline::Interrupt } else { super::engine::at_tick(now, data.slice_end) })
        });
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| LoadError::Instantiate { message: format!("{e:#}") })?;
        let mut funcs = Vec::with_capacity(self.exports.funcs.len());
        for f in &self.exports.funcs {
            let func = instance
                .get_func(&mut store, f.index)
                .ok_or_else(|| LoadError::Instantiate { message: format!("export {} missing after instantiation", f.name) })?;
            funcs.push(func);
        }
        Ok(Slot { store, funcs })
    }

    /// An instance of its own, outside the pool, and the function `method`
    /// resolves to, set up so that calls are never interrupted: what the
    /// bench's in-job call floor calls directly (no lookup, lease, JSON or
    /// statistics in between).
    pub(crate) async fn bare_instance(&self, method: &str) -> Result<(Store<ServiceState>, Func), CallError> {
        let func = self.exports.resolve(method).map_err(|hint| CallError::MethodNotFound {
            service: self.name.to_string(),
            method: method.to_string(),
            hint,
        })?;
        let Slot { mut store, funcs } =
            self.instantiate().await.map_err(|e| CallError::Trapped { service: self.name.to_string(), message: e.to_string() })?;
        let data = store.data_mut();
        data.deadline = Instant::now() + Duration::from_secs(24 * 3600);
        data.slice_end = data.deadline;
        Ok((store, funcs[func]))
    }

    /// The service as the registry reports it.
    pub fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: self.name.to_string(),
            version: self.version.to_string(),
            interfaces: self.exports.interfaces.iter().map(|i| i.name.clone()).collect(),
            functions: (0..self.exports.funcs.len())
                .map(|i| {
                    let q = self.exports.qualified(i);
                    let sig = self.exports.funcs[i].signature();
                    match q.rsplit_once('/') {
                        Some((iface, _)) => format!("{iface}/{sig}"),
                        None => sig,
                    }
                })
                .collect(),
            metadata: self.metadata.read().map(|m| m.clone()).unwrap_or_default(),
            instances: self.slots.len(),
        }
    }

    /// Calls `method` with JSON arguments (named or positional) and returns
    /// the JSON result. A WIT `result` error becomes [`CallError::ServiceError`].
    pub async fn call_json(&self, method: &str, args: &Value, ctx: CallCtx) -> Result<Value, CallError> {
        let func = self.exports.resolve(method).map_err(|hint| CallError::MethodNotFound {
            service: self.name.to_string(),
            method: method.to_string(),
            hint,
        })?;
        let f = &self.exports.funcs[func];
        let params = values::args_to_vals(args, &f.params).map_err(|e| CallError::InvalidArgs {
            service: self.name.to_string(),
            method: self.exports.qualified(func),
            message: e.to_string(),
        })?;
        let results = self.call_vals(func, params, ctx).await?;
        match results.as_slice() {
            [] => Ok(Value::Null),
            [Val::Result(Ok(v))] => Ok(v.as_deref().map(values::from_val).unwrap_or(Value::Null)),
            [Val::Result(Err(e))] => Err(CallError::ServiceError { payload: e.as_deref().map(values::from_val).unwrap_or(Value::Null) }),
            [one] => Ok(values::from_val(one)),
            many => Ok(Value::Array(many.iter().map(values::from_val).collect())),
        }
    }

    /// Calls function number `func` of [`Self::exports`] with typed values
    /// (as JSON calls and typed imports do); every call is counted in the
    /// statistics, a WIT `result` error or a refusal as an error.
    pub async fn call_vals(&self, func: usize, params: Vec<Val>, ctx: CallCtx) -> Result<Vec<Val>, CallError> {
        let started = Instant::now();
        let results = self.call_instance(func, params, ctx, started).await;
        let ok = matches!(&results, Ok(v) if !matches!(v.as_slice(), [Val::Result(Err(_))]));
        self.settings.metrics.record_call(&self.call_counters[func], started.elapsed(), ok);
        results
    }

    /// Runs one call on a free instance; `started` is when it was asked for.
    async fn call_instance(&self, func: usize, params: Vec<Val>, ctx: CallCtx, started: Instant) -> Result<Vec<Val>, CallError> {
        if let Some(pos) = ctx.chain.iter().position(|(id, _)| *id == self.id) {
            let mut names: Vec<&str> = ctx.chain[pos..].iter().map(|(_, n)| &**n).collect();
            names.push(&self.name);
            return Err(CallError::Refused { message: format!("call cycle {}", names.join(" -> ")) });
        }
        // A free instance is taken at once; only when all are busy does the
        // call wait (bounded by its deadline) for one to come back.
        let (mut lease, mut now) = match self.slots.try_take() {
            Some(lease) => (lease, started),
            None => {
                let wait = ctx.deadline.saturating_duration_since(Instant::now()).min(self.settings.call_deadline);
                let lease = self.slots.take(Instant::now() + wait).await.ok_or_else(|| CallError::Refused {
                    message: format!("service '{}' stayed busy for {wait:?}", self.name),
                })?;
                (lease, Instant::now())
            }
        };
        let missing = lease.is_missing();
        let recreate_failed = |e: LoadError| CallError::Trapped { service: self.name.to_string(), message: format!("could not re-create the instance: {e}") };
        let slot = lease.get_or_create(async || self.instantiate().await).await.map_err(recreate_failed)?;
        if missing {
            now = Instant::now();
        }
        let data = slot.store.data_mut();
        // The call's own budget starts once it has an instance.
        data.deadline = now + self.settings.call_deadline;
        data.slice_end = now + crate::limits::WASM_SLICE;
        // The chain is rebuilt in the buffer of the instance's last call.
        data.ctx.chain.clear();
        data.ctx.chain.extend(ctx.chain);
        data.ctx.chain.push((self.id, self.name.clone()));
        data.ctx.deadline = data.deadline;
        slot.store.set_epoch_deadline(1);
        let mut results = vec![Val::Bool(false); self.exports.funcs[func].results.len()];
        let func_handle = slot.funcs[func];
        match func_handle.call_async(&mut slot.store, &params, &mut results).await {
            Ok(()) => Ok(results),
            Err(e) => {
                let message = if slot.store.data().limiter.hit {
                    format!("memory limit of {} bytes exceeded", self.settings.memory)
                } else if matches!(e.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
                    format!("exceeded its {:?} call deadline", self.settings.call_deadline)
                } else {
                    trap_message(&e)
                };
                tracing::warn!(service = %self.name, error = %message, "service instance trapped; re-creating it (its state is lost)");
                lease.replace(None);
                match self.instantiate().await {
                    Ok(s) => lease.replace(Some(s)),
                    Err(e) => tracing::error!(service = %self.name, error = %e, "could not re-create the service instance; will retry on the next call"),
                }
                Err(CallError::Trapped { service: self.name.to_string(), message })
            }
        }
    }
}

/// The most specific message of a wasmtime error: the trap kind if any.
pub fn trap_message(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e:#}"),
    }
}
