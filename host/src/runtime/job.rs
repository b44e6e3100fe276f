//! Running jobs: a fresh Store per run from a cached [`InstancePre`], the
//! job's channel (emit / recv) and log imports, limits, and cancellation.
//! A run goes in a task of its own or inside its owner's task (the master's
//! job streams: one task per job instead of two).
//!
//! A run of a job that has just ended well leaves a spare behind (see
//! [`crate::runtime::spare`]): the next run of the same job takes that
//! instantiated Store instead of instantiating on its critical path.
//!
//! A job is never stopped by dropping its future (that could drop a service
//! call half-way and poison the service's Store). It is stopped by a flag
//! ([`JobControl`]) that the epoch callback checks while wasm runs and every
//! host import checks before and while it waits; service calls already under
//! way finish, bounded by their own deadline.

use crate::error::{JobError, Limit};
use crate::limits::{JobLimits, JOB_EVENT_BUFFER, JOB_INBOX_BUFFER, JOB_MAX_ITEM_BYTES, LOG_LINE_BYTES};
use crate::runtime::imports::{self, GuestHost, Level, CHANNEL, LOG};
use crate::driven::{Driven, Driver};
use crate::runtime::proxy::{self, Binding, TypedImport};
use crate::runtime::service::{trap_message, CallCtx, MemoryLimiter, ServiceLookup};
use crate::runtime::spare::{Spare, SpareSlot};
use crate::error::CallError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, Notify};
use wasmtime::component::{ComponentExportIndex, InstancePre, Linker, ResourceTable};
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// What a running job sends to its requester, in order. The last event is
/// always [`JobEvent::Done`] or [`JobEvent::Failed`].
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// One emitted item (JSON text).
    Item(String),
    /// A line the job logged.
    Log(Level, String),
    /// The job returned ok after emitting `items` items.
    Done {
        /// How many items were emitted.
        items: u64,
    },
    /// The job ended with an error.
    Failed(JobError),
}

/// Why a job was stopped from outside its own code.
#[derive(Debug, Clone)]
enum StopReason {
    Cancelled,
    Limit(Limit, String),
}

/// The stop flag of one run, shared by the runner, the Store and the handle.
pub struct JobControl {
    stopped: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    notify: Notify,
    deadline: Instant,
}

impl JobControl {
    fn new(deadline: Instant) -> Self {
        Self { stopped: AtomicBool::new(false), reason: Mutex::new(None), notify: Notify::new(), deadline }
    }

    fn stop(&self, reason: StopReason) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(reason);
        }
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Stops the job: it ends with [`JobError::Cancelled`].
    pub fn cancel(&self) {
        self.stop(StopReason::Cancelled);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire) || Instant::now() >= self.deadline
    }

    fn check_deadline(&self) {
        if Instant::now() >= self.deadline {
            self.stop(StopReason::Limit(Limit::Deadline, "wall-clock deadline reached".into()));
        }
    }

    /// Resolves once the job is stopped or its deadline passes.
    async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(self.deadline.into()) => {
                    self.check_deadline();
                    return;
                }
            }
        }
    }

    /// Runs `fut` unless the job is stopped first.
    async fn guard<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        if self.is_stopped() {
            self.check_deadline();
            return None;
        }
        tokio::pin!(fut);
        // Most sends and receives are ready at once: those need no watch for
        // a stop (its notifier and deadline timer cost more than the send).
        if let std::task::Poll::Ready(v) = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(v);
        }
        tokio::select! {
            biased;
            _ = self.stopped() => None,
            v = fut => Some(v),
        }
    }

    fn error(&self) -> Option<JobError> {
        let reason = self.reason.lock().ok()?.clone();
        match reason {
            Some(StopReason::Cancelled) => Some(JobError::Cancelled),
            Some(StopReason::Limit(limit, detail)) => Some(JobError::LimitExceeded { limit, detail }),
            None if Instant::now() >= self.deadline => {
                Some(JobError::LimitExceeded { limit: Limit::Deadline, detail: "wall-clock deadline reached".into() })
            }
            None => None,
        }
    }
}

/// Store data of a job run.
pub struct JobState {
    /// Built on the job's first WASI call: many jobs make none, and the
    /// context (its generators seeded, its streams boxed) is a few percent
    /// of a short job's run.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    limiter: MemoryLimiter,
    /// `None` while the Store waits as a spare: it has no services yet.
    lookup: Option<Arc<dyn ServiceLookup>>,
    /// Set when a spare's instantiation asked for the services (which it
    /// must not see): that spare is not kept.
    touched: AtomicBool,
    ctl: Arc<JobControl>,
    events: mpsc::Sender<JobEvent>,
    inbox: mpsc::Receiver<String>,
    limits: JobLimits,
    items: u64,
    bytes: u64,
    label: Arc<str>,
    bindings: Vec<Option<Binding>>,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| crate::runtime::wasi::job_context(&self.label));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl GuestHost for JobState {
    fn lookup(&self) -> Option<Arc<dyn ServiceLookup>> {
        if self.lookup.is_none() {
            self.touched.store(true, Ordering::Relaxed);
        }
        self.lookup.clone()
    }
    fn call_ctx(&self) -> Result<CallCtx, CallError> {
        if self.ctl.is_stopped() {
            self.ctl.check_deadline();
            return Err(CallError::Refused { message: "the job is stopping".into() });
        }
        Ok(CallCtx { chain: Vec::new(), deadline: self.ctl.deadline })
    }
    fn label(&self) -> &Arc<str> {
        &self.label
    }
}

impl JobState {
    /// The binding of typed import `slot` that this run's input chose, if any.
    pub fn binding(&self, slot: usize) -> Option<&Binding> {
        self.bindings.get(slot).and_then(Option::as_ref)
    }

    /// The state of one run: `lookup` its services (`None` for a spare),
    /// `ctl` its stop flag, `events` and `inbox` its requester's channels.
    #[allow(clippy::too_many_arguments)]
    fn new(
        label: Arc<str>,
        limits: JobLimits,
        lookup: Option<Arc<dyn ServiceLookup>>,
        ctl: Arc<JobControl>,
        events: mpsc::Sender<JobEvent>,
        inbox: mpsc::Receiver<String>,
        bindings: Vec<Option<Binding>>,
    ) -> Self {
        JobState {
            wasi: None,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { max: limits.memory, hit: false },
            lookup,
            touched: AtomicBool::new(false),
            ctl,
            events,
            inbox,
            limits,
            items: 0,
            bytes: 0,
            label,
            bindings,
        }
    }

    /// The state of a spare: stopped from the start (every import it might
    /// call while instantiating is refused), no services, no channels that
    /// lead anywhere.
    fn idle(label: Arc<str>, limits: JobLimits) -> Self {
        let (events, _) = mpsc::channel(1);
        let (_, inbox) = mpsc::channel(1);
        Self::new(label, limits, None, Arc::new(JobControl::new(Instant::now())), events, inbox, Vec::new())
    }

    /// Whether instantiating under this state reached nothing outside the
    /// instance: no WASI, no services, no resources.
    fn untouched(&self) -> bool {
        self.wasi.is_none() && !self.touched.load(Ordering::Relaxed) && self.table.is_empty()
    }
}

/// The stop error that traps a job whose flag is set.
fn stopping() -> wasmtime::Error {
    wasmtime::Error::msg("job stopped")
}

/// Adds the job-only imports (`channel`, `log`) to `linker`.
pub fn add_job_imports(linker: &mut Linker<JobState>) -> wasmtime::Result<()> {
    let mut channel = linker.instance(CHANNEL)?;
    channel.func_wrap_async("emit", |mut store: StoreContextMut<'_, JobState>, (item,): (String,)| {
        Box::new(async move {
            let st = store.data_mut();
            let len = item.len() as u64;
            let limit = if len > JOB_MAX_ITEM_BYTES {
                Some((Limit::ItemSize, format!("an item of {len} bytes is over the {JOB_MAX_ITEM_BYTES}-byte limit")))
            } else if st.items >= st.limits.max_items {
                Some((Limit::Items, format!("more than {} items", st.limits.max_items)))
            } else if st.bytes + len > st.limits.max_bytes {
                Some((Limit::Bytes, format!("more than {} bytes emitted", st.limits.max_bytes)))
            } else {
                None
            };
            if let Some((limit, detail)) = limit {
                st.ctl.stop(StopReason::Limit(limit, detail));
                return Err(stopping());
            }
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&item) {
                return Ok((Err(format!("item is not valid JSON: {e}")),));
            }
            let (ctl, events) = (st.ctl.clone(), st.events.clone());
            match ctl.guard(events.send(JobEvent::Item(item))).await {
                Some(Ok(())) => {
                    let st = store.data_mut();
                    st.items += 1;
                    st.bytes += len;
                    Ok((Ok(()),))
                }
                Some(Err(_)) => {
                    ctl.cancel();
                    Err(stopping())
                }
                None => Err(stopping()),
            }
        })
    })?;
    channel.func_wrap_async("recv", |mut store: StoreContextMut<'_, JobState>, (): ()| {
        Box::new(async move {
            let ctl = store.data().ctl.clone();
            let st = store.data_mut();
            match ctl.guard(st.inbox.recv()).await {
                Some(item) => Ok((item,)),
                None => Err(stopping()),
            }
        })
    })?;
    linker.instance(LOG)?.func_wrap_async("log", |store: StoreContextMut<'_, JobState>, (level, message): (Level, String)| {
        Box::new(async move {
            let st = store.data();
            let message: String = message.chars().take(LOG_LINE_BYTES).collect();
            imports::trace_guest_log(&st.label, level, &message);
            let (ctl, events) = (st.ctl.clone(), st.events.clone());
            match ctl.guard(events.send(JobEvent::Log(level, message))).await {
                Some(_) => Ok(()),
                None => Err(stopping()),
            }
        })
    })?;
    Ok(())
}

/// A job component linked against the current services, ready to run.
pub struct PreparedJob {
    /// SHA-256 of the component bytes.
    pub sha256: [u8; 32],
    /// The services generation it was linked against.
    pub generation: u64,
    /// Whether it runs on optimized (Cranelift) code, else baseline code.
    pub optimized: bool,
    /// Its name in logs: `job-` and the first 12 hex digits of the hash.
    pub label: Arc<str>,
    pub(crate) pre: InstancePre<JobState>,
    pub(crate) run: ComponentExportIndex,
    pub(crate) typed_imports: Vec<TypedImport>,
    /// The runtime's spare slot (see [`crate::runtime::spare`]).
    pub(crate) spare: Arc<SpareSlot>,
}

/// The handle of a running job: read its events, send it items, cancel it.
/// Dropping the handle cancels the job.
///
/// The job runs either in a task of its own ([`start`]) or inside whatever
/// task awaits this handle ([`start_inline`]): then `next` and `send` drive
/// it (see [`crate::driven`]), which saves a task and a cross-task wake-up
/// per event on the master's job path.
pub struct RunningJob {
    events: Driven<JobEvent>,
    inbox: Option<mpsc::Sender<String>>,
    ctl: Arc<JobControl>,
    /// The final event (`Done`/`Failed`) has been read.
    ended: bool,
}

impl RunningJob {
    /// The next event; `None` after the final `Done`/`Failed`.
    pub async fn next(&mut self) -> Option<JobEvent> {
        let ev = self.events.next().await;
        self.seen(ev)
    }

    /// The next event if one is already waiting (never waits).
    pub fn try_next(&mut self) -> Option<JobEvent> {
        let ev = self.events.try_next();
        self.seen(ev)
    }

    /// Notes a final event however it was read: dropping the handle after
    /// it drops the Store at once (see `Drop`), rather than in a task.
    fn seen(&mut self, ev: Option<JobEvent>) -> Option<JobEvent> {
        if matches!(ev, Some(JobEvent::Done { .. } | JobEvent::Failed(_))) {
            self.ended = true;
        }
        ev
    }

    /// Sends an item to the job (what it reads with `recv`). Fails when the
    /// job has ended or the input was closed.
    pub async fn send(&mut self, item: String) -> Result<(), String> {
        let Some(tx) = &self.inbox else {
            return Err("the job's input is closed".into());
        };
        let permit = self.events.reserve(tx).await;
        permit.map(|p| p.send(item)).map_err(|_| "the job has ended".to_string())
    }

    /// Closes the job's input: its next `recv` returns none.
    pub fn close_input(&mut self) {
        self.inbox = None;
    }

    /// Stops the job; it ends with [`JobError::Cancelled`].
    pub fn cancel(&self) {
        self.ctl.cancel();
    }

    /// Reads every event until the end: (items, logs, outcome).
    /// An inline run is driven to its very end (its Store dropped) first.
    pub async fn collect(mut self) -> (Vec<String>, Vec<(Level, String)>, Result<u64, JobError>) {
        self.close_input();
        let (mut items, mut logs) = (Vec::new(), Vec::new());
        let mut outcome = Err(JobError::Cancelled);
        while let Some(ev) = self.next().await {
            match ev {
                JobEvent::Item(i) => items.push(i),
                JobEvent::Log(l, m) => logs.push((l, m)),
                JobEvent::Done { items: n } => outcome = Ok(n),
                JobEvent::Failed(e) => outcome = Err(e),
            }
        }
        (items, logs, outcome)
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        self.ctl.cancel();
        // An inline run is not dropped half-way either: it finishes (stopped
        // at its next check) in a task of its own. One whose final event was
        // read has only its Store left to drop: done here, at once, so the
        // pool slot is back before the owner starts another job.
        if self.ended && self.events.poll_once() {
            return;
        }
        self.events.finish_in_task();
    }
}

/// Pending once without asking to be woken: the next poll comes from
/// whoever polls the future next, not from a wake-up (so no other worker is
/// notified, as `yield_now` would).
struct PendOnce(bool);

impl std::future::Future for PendOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            std::task::Poll::Pending
        }
    }
}

/// Starts `job`: in a task of its own on the current tokio runtime, or
/// (`inline`) inside the task that awaits the handle (see [`RunningJob`]),
/// where it makes progress only while `next` or `send` is awaited.
pub fn start(
    job: Arc<PreparedJob>,
    input: String,
    limits: JobLimits,
    lookup: Arc<dyn ServiceLookup>,
    label: Arc<str>,
    metrics: Arc<crate::metrics::Metrics>,
    inline: bool,
) -> RunningJob {
    let (ev_tx, ev_rx) = mpsc::channel(JOB_EVENT_BUFFER);
    let (in_tx, in_rx) = mpsc::channel(JOB_INBOX_BUFFER);
    let ctl = Arc::new(JobControl::new(Instant::now() + limits.deadline));
    let state_ctl = ctl.clone();
    let running = job.spare.enter();
    let driver = Box::pin(async move {
        let final_tx = ev_tx.clone();
        let started = Instant::now();
        let mut store = None;
        let outcome = run(&job, input, limits, lookup, state_ctl, ev_tx, in_rx, label, &mut store).await;
        let ended_well = outcome.is_ok();
        metrics.record_job(started.elapsed(), ended_well);
        let last = match outcome {
            Ok(items) => JobEvent::Done { items },
            Err(e) => JobEvent::Failed(e),
        };
        let _ = final_tx.send(last).await;
        // Inline, returning the Store's memory to the pool (a third of a
        // short job's run) waits until the owner polls the run again: after
        // it sent the result, or the handle is dropped (which finishes it).
        if inline && store.is_some() {
            PendOnce(false).await;
        }
        drop(store);
        // Also after the result: the next run of this job may find it ready.
        if running.leave() && ended_well {
            refill(&job, limits).await;
        }
    });
    let driver: Driver = driver;
    let driver = if inline {
        Some(driver)
    } else {
        tokio::spawn(driver);
        None
    };
    RunningJob { events: Driven::new(ev_rx, driver), inbox: Some(in_tx), ctl, ended: false }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    job: &PreparedJob,
    input: String,
    limits: JobLimits,
    lookup: Arc<dyn ServiceLookup>,
    ctl: Arc<JobControl>,
    events: mpsc::Sender<JobEvent>,
    inbox: mpsc::Receiver<String>,
    label: Arc<str>,
    slot: &mut Option<Store<JobState>>,
) -> Result<u64, JobError> {
    let bindings = proxy::overrides(&job.typed_imports, &input, lookup.as_ref()).map_err(JobError::Rejected)?;
    let state = JobState::new(label, limits, Some(lookup), ctl.clone(), events, inbox, bindings);
    // The Store outlives this function: the caller drops it after the
    // job's last event has gone out.
    let (store, spare) = match job.spare.take(job, limits.memory) {
        Some(Spare { mut store, instance }) => {
            // A spare is kept only with an empty table: nothing to carry over.
            *store.data_mut() = state;
            (store, Some(instance))
        }
        None => (new_store(job, state), None),
    };
    let store = slot.insert(store);
    arm(store);
    let instance = match spare {
        Some(instance) => instance,
        None => {
            let instance = match job.pre.instantiate_async(&mut *store).await {
                // The pool is full, and the spare may hold a slot: give it
                // back and try once more.
                Err(e) if e.is::<wasmtime::PoolConcurrencyLimitError>() && job.spare.discard() => {
                    job.pre.instantiate_async(&mut *store).await
                }
                other => other,
            };
            instance.map_err(|e| JobError::Rejected(crate::error::LoadError::Instantiate { message: trap_message(&e) }))?
        }
    };
    let outcome = async {
        let run = instance.get_typed_func::<(String,), (Result<(), String>,)>(&mut *store, &job.run)?;
        run.call_async(&mut *store, (input,)).await
    }
    .await;
    if let Some(e) = ctl.error() {
        return Err(e);
    }
    match outcome {
        Ok((Ok(()),)) => Ok(store.data().items),
        Ok((Err(message),)) => Err(JobError::Failed { message }),
        Err(e) if store.data().limiter.hit => Err(JobError::LimitExceeded {
            limit: Limit::Memory,
            detail: format!("linear memory over {} bytes ({})", limits.memory, trap_message(&e)),
        }),
        Err(e) => Err(JobError::Trapped { message: trap_message(&e) }),
    }
}

/// A Store for `job` with `state`, its memory limiter in place.
fn new_store(job: &PreparedJob, state: JobState) -> Store<JobState> {
    let mut store = Store::new(job.pre.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store
}

/// Sets a Store's epoch deadline and callback for a run that starts now:
/// interrupted once its job is stopped, yielding after each slice.
fn arm(store: &mut Store<JobState>) {
    store.set_epoch_deadline(1);
    let slice_end = Instant::now() + crate::limits::WASM_SLICE;
    store.epoch_deadline_callback(move |ctx: StoreContextMut<'_, JobState>| {
        let ctl = &ctx.data().ctl;
        if ctl.is_stopped() {
            ctl.check_deadline();
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(crate::runtime::engine::at_tick(Instant::now(), slice_end))
        }
    });
}

/// Instantiates a spare of `job` for runs with `limits` if its slot wants
/// one. A spare whose instantiation reached outside its instance (WASI,
/// services, resources) is not kept: that job instantiates per run.
async fn refill(job: &Arc<PreparedJob>, limits: JobLimits) {
    if !job.spare.wants() {
        return;
    }
    let mut store = new_store(job, JobState::idle(job.label.clone(), limits));
    arm(&mut store);
    let Ok(instance) = job.pre.instantiate_async(&mut store).await else { return };
    if store.data().untouched() {
        job.spare.put(job, limits.memory, Spare { store, instance });
    }
}
