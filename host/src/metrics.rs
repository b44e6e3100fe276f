//! This process's call and job statistics (the seed's ServiceMonitor, built
//! in): every service call and every job run is counted with its latency.
//! Masters push them to their registers; registers add them up.

use regcenter_protocol::stats::Stats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The statistics of one runtime.
#[derive(Debug, Default)]
pub struct Metrics {
    stats: Mutex<Stats>,
    version: AtomicU64,
}

impl Metrics {
    /// The statistics key of `service`.`method` (make it once per function).
    pub fn call_key(service: &str, method: &str) -> String {
        format!("{service}.{method}")
    }

    /// Records one service call under `key` (from [`Self::call_key`]).
    pub fn record_call(&self, key: &str, took: Duration, ok: bool) {
        if let Ok(mut s) = self.stats.lock() {
            match s.calls.get_mut(key) {
                Some(c) => c.record(micros(took), ok),
                None => s.calls.entry(key.to_string()).or_default().record(micros(took), ok),
            }
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Records one job run.
    pub fn record_job(&self, took: Duration, ok: bool) {
        if let Ok(mut s) = self.stats.lock() {
            s.jobs.record(micros(took), ok);
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// A copy of the statistics.
    pub fn snapshot(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Changes with every record (to push only what changed).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}
