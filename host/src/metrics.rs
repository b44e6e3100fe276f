//! This process's call and job statistics (the seed's ServiceMonitor, built
//! in): every service call and every job run is counted with its latency.
//! Masters push them to their registers; registers add them up.
//!
//! Recording takes no lock: each service method has a [`LiveCounter`] of
//! atomics, handed to the service once when it is loaded, so calls on
//! every worker thread count without meeting on one mutex. A snapshot reads
//! the counters one field at a time: a call recorded meanwhile may show in
//! one field and not yet in another, and the next snapshot (the version
//! changed) has it everywhere.

use regcenter_protocol::stats::{self, Counter, Histogram, Stats};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts of one thing (a service method, or jobs), updated without a lock.
/// Calls are the sum of the buckets, and the max is written only when it
/// grows: a successful call costs one atomic add (two with the version),
/// cheaper than the lock it replaces even uncontended.
#[derive(Debug)]
pub struct LiveCounter {
    errors: AtomicU64,
    max_us: AtomicU64,
    /// One count per latency bucket ([`stats::bucket`]).
    buckets: Box<[AtomicU64]>,
}

impl Default for LiveCounter {
    fn default() -> Self {
        Self {
            errors: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            buckets: (0..=stats::MAX_BUCKET).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LiveCounter {
    /// Records one call (or run) that took `us` microseconds.
    pub fn record(&self, us: u64, ok: bool) {
        if us > self.max_us.load(Ordering::Relaxed) {
            self.max_us.fetch_max(us, Ordering::Relaxed);
        }
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.buckets[stats::bucket(us) as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts as the protocol carries them.
    pub fn snapshot(&self) -> Counter {
        let errors = self.errors.load(Ordering::Relaxed);
        let buckets: BTreeMap<u16, u64> = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(b, n)| match n.load(Ordering::Relaxed) {
                0 => None,
                n => Some((b as u16, n)),
            })
            .collect();
        // Errors are counted before their bucket: read first, never more than calls.
        let calls = buckets.values().sum::<u64>().max(errors);
        Counter { calls, errors, latency: Histogram { buckets, max_us: self.max_us.load(Ordering::Relaxed) } }
    }
}

/// The statistics of one runtime.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `service.method` -> its counter (kept when the service goes: a
    /// service registered again under the name counts on).
    calls: Mutex<BTreeMap<String, Arc<LiveCounter>>>,
    jobs: LiveCounter,
    version: AtomicU64,
}

impl Metrics {
    /// The counter of `service`.`method`, made on first use (take it once
    /// per function, when the service is loaded).
    pub fn call_counter(&self, service: &str, method: &str) -> Arc<LiveCounter> {
        let key = format!("{service}.{method}");
        match self.calls.lock() {
            Ok(mut calls) => calls.entry(key).or_default().clone(),
            // A poisoned map still gets counts; they are not reported.
            Err(_) => Arc::default(),
        }
    }

    /// Records one service call on `counter` (from [`Self::call_counter`]).
    pub fn record_call(&self, counter: &LiveCounter, took: Duration, ok: bool) {
        counter.record(micros(took), ok);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Records one job run.
    pub fn record_job(&self, took: Duration, ok: bool) {
        self.jobs.record(micros(took), ok);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// A copy of the statistics: the methods called at least once, and jobs.
    pub fn snapshot(&self) -> Stats {
        let calls = match self.calls.lock() {
            Ok(calls) => calls.iter().map(|(k, c)| (k.clone(), c.snapshot())).filter(|(_, c)| c.calls > 0).collect(),
            Err(_) => BTreeMap::new(),
        };
        Stats { calls, jobs: self.jobs.snapshot() }
    }

    /// Changes with every record (to push only what changed).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_counter_reports_what_the_protocol_counter_would() {
        let live = LiveCounter::default();
        let mut plain = Counter::default();
        for (i, us) in [0, 1, 2, 3, 17, 999, 1_000_000, u64::MAX, 5, 5].into_iter().enumerate() {
            let ok = i % 3 != 0;
            live.record(us, ok);
            plain.record(us, ok);
        }
        assert_eq!(live.snapshot(), plain);
        assert_eq!(LiveCounter::default().snapshot(), Counter::default());
    }

    #[test]
    fn calls_from_many_threads_are_all_counted() {
        let metrics = Arc::new(Metrics::default());
        let v0 = metrics.version();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    let counter = metrics.call_counter("svc", "m");
                    for i in 0..10_000u64 {
                        metrics.record_call(&counter, Duration::from_micros(i % 100), (i + t) % 10 != 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = &metrics.snapshot().calls["svc.m"];
        assert_eq!((c.calls, c.errors, c.latency.count(), c.latency.max_us), (40_000, 4_000, 40_000, 99));
        assert_eq!(metrics.version() - v0, 40_000);
    }

    #[test]
    fn only_called_methods_are_reported_and_a_name_keeps_its_counts() {
        let metrics = Metrics::default();
        let (a, _unused) = (metrics.call_counter("svc", "a"), metrics.call_counter("svc", "b"));
        metrics.record_call(&a, Duration::from_micros(10), false);
        metrics.record_job(Duration::from_millis(2), true);
        // The service loaded again (a new version, or re-created): same counts.
        let again = metrics.call_counter("svc", "a");
        metrics.record_call(&again, Duration::from_micros(20), true);
        let s = metrics.snapshot();
        assert_eq!(s.calls.keys().collect::<Vec<_>>(), ["svc.a"]);
        assert_eq!((s.calls["svc.a"].calls, s.calls["svc.a"].errors), (2, 1));
        assert_eq!((s.jobs.calls, s.jobs.errors, s.jobs.latency.max_us), (1, 0, 2_000));
    }
}
