//! Latency samples and their percentiles.

use std::time::{Duration, Instant};

/// Durations of repeated runs of one operation.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Adds one sample.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Times `f` and keeps the sample if it succeeded; a failed operation is
    /// an error of the benchmark, never a sample.
    pub async fn timed<T, E>(&mut self, f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
        let (d, out) = time(f).await;
        let out = out?;
        self.push(d);
        Ok(out)
    }

    /// Adds the samples of another series.
    pub fn append(&mut self, mut other: Samples) {
        self.0.append(&mut other.0);
    }

    /// Adds samples given in nanoseconds.
    pub fn extend_nanos(&mut self, nanos: impl IntoIterator<Item = u64>) {
        self.0.extend(nanos.into_iter().map(Duration::from_nanos));
    }

    /// The `q` quantile (nearest rank), zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let idx = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        v[idx]
    }

    /// p50 in microseconds.
    pub fn p50_us(&self) -> f64 {
        us(self.quantile(0.5))
    }

    /// p99 in microseconds.
    pub fn p99_us(&self) -> f64 {
        us(self.quantile(0.99))
    }

    /// p50 in milliseconds (rounded to 0.01).
    pub fn p50_ms(&self) -> f64 {
        (self.quantile(0.5).as_micros() as f64 / 10.0).round() / 100.0
    }
}

/// Microseconds, rounded to 0.1.
pub fn us(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 100.0).round() / 10.0
}

/// Times one awaited operation.
pub async fn time<T, F: std::future::Future<Output = T>>(f: F) -> (Duration, T) {
    let t0 = Instant::now();
    let out = f.await;
    (t0.elapsed(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut s = Samples::default();
        for n in [5u64, 1, 4, 2, 3] {
            s.push(Duration::from_micros(n));
        }
        assert_eq!(s.quantile(0.5), Duration::from_micros(3));
        assert_eq!(s.quantile(0.0), Duration::from_micros(1));
        assert_eq!(s.quantile(1.0), Duration::from_micros(5));
        assert_eq!(s.p99_us(), 5.0);
        assert_eq!(Samples::default().p50_us(), 0.0);
    }
}
