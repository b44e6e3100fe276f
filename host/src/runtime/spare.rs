//! A warm spare: one instantiated Store of a job that has just ended well,
//! made after its run sent its result, so that the next run of the same job
//! starts without instantiating on its critical path (a warm instantiation
//! is a large part of a short job's run).
//!
//! A spare is made only when the run that ends was the runtime's only one:
//! under load there is no idle time to hide the work in, and a spare made
//! on one worker and taken on another costs more than it saves (measured:
//! throughput on two workers fell ~10 % when every run left one).
//!
//! One spare per runtime, so it holds at most one pool slot. A run takes it
//! only for the very same prepared job (same code, same link to the
//! services) and the same memory cap; runs of other jobs leave it, and it is
//! dropped after [`MAX_MISSES`] of those in a row, when its job has left the
//! cache, or when a run's own instantiation fails (the pool may be full).
//! Runtimes with a single job slot keep no spare.
//!
//! A spare never runs before it is taken: it is instantiated with every
//! host import refused, and one whose instantiation reached outside its
//! instance is not kept (see `job::refill`). So a run on a spare sees
//! exactly what a run on a fresh instance sees.

use crate::runtime::job::{JobState, PreparedJob};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use wasmtime::component::Instance;
use wasmtime::Store;

/// Runs of other jobs after which a spare that was not taken is dropped.
pub const MAX_MISSES: u32 = 8;

/// An instantiated Store of a job, not yet run.
pub(crate) struct Spare {
    pub(crate) store: Store<JobState>,
    pub(crate) instance: Instance,
}

struct Held {
    /// Which prepared job it is an instance of. A `Weak` keeps the
    /// allocation, so another job can never compare equal to it.
    job: Weak<PreparedJob>,
    memory: u64,
    misses: u32,
    spare: Spare,
}

/// The runtime's one spare, shared by all its prepared jobs.
pub struct SpareSlot {
    enabled: bool,
    held: Mutex<Option<Held>>,
    /// Whether `held` holds one: runs find an empty slot without the lock.
    full: AtomicBool,
    /// Runs of this runtime under way.
    running: AtomicUsize,
    taken: AtomicU64,
}

/// One run under way (see [`SpareSlot::enter`]); counted until dropped.
pub(crate) struct Running(Arc<SpareSlot>);

impl Running {
    /// Ends the count of this run; whether it was the only run under way.
    pub(crate) fn leave(self) -> bool {
        let slot = self.0.clone();
        drop(self);
        slot.running.load(Ordering::Acquire) == 0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SpareSlot {
    /// A slot that keeps a spare only if `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, held: Mutex::new(None), full: AtomicBool::new(false), running: AtomicUsize::new(0), taken: AtomicU64::new(0) }
    }

    /// Counts a run under way until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::AcqRel);
        Running(self.clone())
    }

    /// Runs of this runtime under way (inline runs count until their Store
    /// is dropped).
    pub fn runs_under_way(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// How many runs have started on a spare.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Whether a spare is held now.
    pub fn is_held(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// The spare if it is an instance of `job` made for `memory`; otherwise
    /// counts a miss against it.
    pub(crate) fn take(&self, job: &PreparedJob, memory: u64) -> Option<Spare> {
        if !self.is_held() {
            return None;
        }
        let dropped;
        {
            let mut guard = self.held.lock().ok()?;
            let held = guard.as_mut()?;
            if std::ptr::eq(held.job.as_ptr(), job) && held.memory == memory {
                self.taken.fetch_add(1, Ordering::Relaxed);
                self.full.store(false, Ordering::Release);
                return guard.take().map(|h| h.spare);
            }
            held.misses += 1;
            if held.misses < MAX_MISSES && held.job.strong_count() > 0 {
                return None;
            }
            self.full.store(false, Ordering::Release);
            dropped = guard.take();
        }
        // Dropping a Store resets its slot: not under the lock.
        drop(dropped);
        None
    }

    /// Whether a spare should be made now: the slot is enabled and empty.
    pub(crate) fn wants(&self) -> bool {
        self.enabled && !self.is_held()
    }

    /// Keeps `spare` (of `job`, for `memory`) unless another was put first.
    pub(crate) fn put(&self, job: &Arc<PreparedJob>, memory: u64, spare: Spare) {
        let held = Held { job: Arc::downgrade(job), memory, misses: 0, spare };
        let rejected = match self.held.lock() {
            Ok(mut guard) if guard.is_none() => {
                *guard = Some(held);
                self.full.store(true, Ordering::Release);
                None
            }
            _ => Some(held),
        };
        drop(rejected);
    }

    /// Drops the spare, if any (its pool slot is wanted); whether there was one.
    pub(crate) fn discard(&self) -> bool {
        let dropped = self.held.lock().ok().and_then(|mut g| {
            self.full.store(false, Ordering::Release);
            g.take()
        });
        dropped.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::EngineConfig;
    use crate::runtime::{Runtime, RuntimeConfig};
    use crate::{JobEvent, JobLimits, ServiceRegistry};
    use std::time::Duration;

    fn registry(job_slots: u32) -> (Runtime, ServiceRegistry) {
        // Optimized code from the first run: a baseline-compiled job would
        // be replaced by its upgrade (another prepared job) at any time.
        let engine = EngineConfig { cache_dir: None, job_slots, baseline_jobs: false, ..EngineConfig::default() };
        let runtime = Runtime::new(RuntimeConfig { engine, ..RuntimeConfig::default() }).unwrap();
        (runtime.clone(), ServiceRegistry::new(runtime))
    }

    fn plugin(name: &str) -> Vec<u8> {
        std::fs::read(crate::plugins::path(name)).expect("built plugin")
    }

    async fn run(registry: &ServiceRegistry, bytes: &[u8], input: &str, limits: JobLimits) -> Vec<String> {
        let (items, _, outcome) = registry.run_job(bytes, input, limits).await.expect("starts").collect().await;
        outcome.expect("ends well");
        items
    }

    #[tokio::test]
    async fn the_next_run_of_a_job_starts_on_a_fresh_instance_its_last_run_left_ready() {
        let (runtime, registry) = registry(4);
        let flood = plugin("emit-flood");
        let input = r#"{"count":2,"size":1,"runs":true}"#;
        let expected = vec![r#"{"seq":0,"pad":"x","runs":1}"#.to_string(), r#"{"seq":1,"pad":"x","runs":1}"#.to_string()];
        assert_eq!(run(&registry, &flood, input, JobLimits::default()).await, expected);
        assert_eq!(runtime.spare().taken(), 0, "the first run had no spare");
        assert!(runtime.spare().is_held(), "a run that ended well leaves a spare");
        // Its deadline runs from its own start, not from the spare's making.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let short = JobLimits { deadline: Duration::from_millis(250), ..JobLimits::default() };
        for taken in 1..=3 {
            // Every run sees an instance that never ran ("runs": 1).
            assert_eq!(run(&registry, &flood, input, short).await, expected);
            assert_eq!(runtime.spare().taken(), taken);
        }
    }

    #[tokio::test]
    async fn a_failed_run_leaves_no_spare_and_other_jobs_and_caps_leave_it_until_it_is_stale() {
        let (runtime, registry) = registry(4);
        let (flood, fail) = (plugin("emit-flood"), plugin("fail"));
        let (items, _, outcome) = registry.run_job(&fail, r#""no""#, JobLimits::default()).await.unwrap().collect().await;
        assert!(items.is_empty() && outcome.is_err());
        assert!(!runtime.spare().is_held(), "a failed run leaves no spare");

        let one = r#"{"count":1,"size":1}"#;
        run(&registry, &flood, one, JobLimits::default()).await;
        assert!(runtime.spare().is_held());
        // Another memory cap is another instance: it does not take the
        // spare, and while the spare is held it makes none of its own.
        let capped = JobLimits { memory: 32 << 20, ..JobLimits::default() };
        for _ in 1..MAX_MISSES {
            run(&registry, &flood, one, capped).await;
            assert!(runtime.spare().is_held());
            assert_eq!(runtime.spare().taken(), 0);
        }
        // The last miss drops it; that run leaves a spare for its own cap.
        run(&registry, &flood, one, capped).await;
        assert_eq!(runtime.spare().taken(), 0);
        run(&registry, &flood, one, capped).await;
        assert_eq!(runtime.spare().taken(), 1, "the spare is now one for the capped runs");
        run(&registry, &flood, one, JobLimits::default()).await;
        assert_eq!(runtime.spare().taken(), 1, "the default cap's runs miss it now");
    }

    #[tokio::test]
    async fn a_run_that_finds_the_pool_full_takes_the_spares_slot() {
        // Two slots: the spare holds one, two running duplex jobs need both.
        let (runtime, registry) = registry(2);
        run(&registry, &plugin("emit-flood"), r#"{"count":1}"#, JobLimits::default()).await;
        assert!(runtime.spare().is_held());
        let echo = plugin("duplex-echo");
        let mut a = registry.run_job(&echo, "null", JobLimits::default()).await.unwrap();
        let mut b = registry.run_job(&echo, "null", JobLimits::default()).await.unwrap();
        a.send("1".into()).await.unwrap();
        b.send("2".into()).await.unwrap();
        // Both running at once (each has echoed its first item).
        assert_eq!(a.next().await, Some(JobEvent::Item(r#"{"echo":1,"n":1}"#.into())));
        assert_eq!(b.next().await, Some(JobEvent::Item(r#"{"echo":2,"n":1}"#.into())));
        assert!(!runtime.spare().is_held(), "the second run took the spare's slot");
        let (a, b) = (a.collect().await, b.collect().await);
        assert_eq!((a.0.len(), a.2), (0, Ok(1)));
        assert_eq!((b.0.len(), b.2), (0, Ok(1)));
        assert_eq!(runtime.spare().taken(), 0);
    }

    #[tokio::test]
    async fn only_a_run_that_ends_alone_leaves_a_spare() {
        let (runtime, registry) = registry(4);
        let mut echo = registry.run_job(&plugin("duplex-echo"), "null", JobLimits::default()).await.unwrap();
        echo.send("1".into()).await.unwrap();
        assert!(matches!(echo.next().await, Some(JobEvent::Item(_))), "the duplex job is under way");
        run(&registry, &plugin("emit-flood"), r#"{"count":1}"#, JobLimits::default()).await;
        assert!(!runtime.spare().is_held(), "a run that ended beside another left none");
        let (_, _, outcome) = echo.collect().await;
        assert_eq!(outcome, Ok(1));
        assert!(runtime.spare().is_held(), "the last run under way left one");
    }

    #[tokio::test]
    async fn a_runtime_with_one_job_slot_keeps_no_spare() {
        let (runtime, registry) = registry(1);
        let flood = plugin("emit-flood");
        for _ in 0..2 {
            run(&registry, &flood, r#"{"count":1}"#, JobLimits::default()).await;
            assert!(!runtime.spare().is_held());
        }
        assert_eq!(runtime.spare().taken(), 0);
    }
}
