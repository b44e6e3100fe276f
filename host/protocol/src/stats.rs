//! Call and job statistics (the seed's ServiceMonitor, built in): counts,
//! errors and a mergeable latency histogram per service method and per job,
//! so registers can add up what their masters report and still give exact
//! bucket percentiles.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Buckets per doubling of the latency: about 19% resolution.
const STEPS: f64 = 4.0;

/// The largest bucket index (`u64::MAX` microseconds falls in it).
pub const MAX_BUCKET: u16 = 256;

/// A latency histogram in microseconds with logarithmic buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bucket index -> count.
    pub buckets: BTreeMap<u16, u64>,
    /// Largest value seen.
    pub max_us: u64,
}

/// The bucket a latency of `us` microseconds falls in (0 ..= [`MAX_BUCKET`]).
pub fn bucket(us: u64) -> u16 {
    if us <= 1 {
        0
    } else {
        ((us as f64).log2() * STEPS).ceil().min(u16::MAX as f64) as u16
    }
}

fn upper(bucket: u16) -> u64 {
    2f64.powf(bucket as f64 / STEPS).round() as u64
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, us: u64) {
        *self.buckets.entry(bucket(us)).or_default() += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The `q` quantile (0..=1), as the upper edge of its bucket (capped by the max).
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return upper(*b).min(self.max_us);
            }
        }
        self.max_us
    }
}

/// Counts of one thing (a service method, or jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Calls (or runs).
    pub calls: u64,
    /// Of which failed.
    pub errors: u64,
    /// Latency.
    pub latency: Histogram,
}

impl Counter {
    /// Records one call.
    pub fn record(&mut self, us: u64, ok: bool) {
        self.calls += 1;
        if !ok {
            self.errors += 1;
        }
        self.latency.record(us);
    }

    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &Counter) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }
}

/// What one master reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// `service.method` -> counts.
    pub calls: BTreeMap<String, Counter>,
    /// Job runs (errors = runs that did not end with done).
    pub jobs: Counter,
}

impl Stats {
    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &Stats) {
        for (k, c) in &other.calls {
            self.calls.entry(k.clone()).or_default().merge(c);
        }
        self.jobs.merge(&other.jobs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let mut h = Histogram::default();
        for us in 1..=1000 {
            h.record(us);
        }
        let p50 = h.quantile(0.5);
        assert!((500..=600).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn every_latency_falls_in_a_bucket_up_to_the_largest() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(2), 4);
        assert_eq!(bucket(u64::MAX), MAX_BUCKET);
        let mut last = 0;
        for shift in 0..64 {
            let b = bucket(1u64 << shift);
            assert!(b >= last && b <= MAX_BUCKET, "{shift}: {b}");
            last = b;
        }
    }

    #[test]
    fn merged_histograms_equal_one_that_saw_everything() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for us in [3, 50, 700, 9000] {
            a.record(us);
            all.record(us);
        }
        for us in [1, 64, 65, 100_000] {
            b.record(us);
            all.record(us);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }
}
