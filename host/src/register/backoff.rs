//! Slowing down token guessing: each failed authentication from an IP
//! address makes that address's next attempts wait longer before their
//! token is checked (doubling from [`FIRST_DELAY`] to [`MAX_DELAY`]); a
//! success from the address clears it, so honest masters behind the same
//! address are delayed, never locked out. The table is bounded: entries
//! expire after [`FORGET_AFTER`] and at most [`MAX_TRACKED`] are kept.
//! Time comes in as a parameter; no clocks are read here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The wait after one failure.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait (well under the authentication timeout, so an honest
/// peer still gets its hello checked).
pub const MAX_DELAY: Duration = Duration::from_secs(4);
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses tracked at most.
pub const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed authentications per IP address.
#[derive(Debug, Default)]
pub struct AuthBackoff {
    table: Mutex<HashMap<IpAddr, Failures>>,
    waited: AtomicU64,
}

/// The wait after `failures` consecutive failures.
pub fn delay_for(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = (failures - 1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

impl AuthBackoff {
    /// How long an attempt from `ip` waits before its credentials are checked.
    pub fn delay(&self, ip: IpAddr, now: Instant) -> Duration {
        let Ok(table) = self.table.lock() else { return MAX_DELAY };
        match table.get(&ip) {
            Some(f) if now.saturating_duration_since(f.last) < FORGET_AFTER => delay_for(f.count),
            _ => Duration::ZERO,
        }
    }

    /// Records that an attempt was made to wait its delay.
    pub fn waited(&self) {
        self.waited.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts made to wait so far.
    pub fn waits(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let Ok(mut table) = self.table.lock() else { return };
        if !table.contains_key(&ip) && table.len() >= MAX_TRACKED {
            table.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
            if table.len() >= MAX_TRACKED {
                // Still full of recent failures: make room by dropping the stalest.
                if let Some(oldest) = table.iter().min_by_key(|(_, f)| f.last).map(|(ip, _)| *ip) {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(ip).or_insert(Failures { count: 0, last: now });
        if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// Records a success from `ip`: its delay is cleared.
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut table) = self.table.lock() {
            table.remove(&ip);
        }
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn the_delay_doubles_per_failure_up_to_the_cap() {
        assert_eq!(delay_for(0), Duration::ZERO);
        assert_eq!(delay_for(1), FIRST_DELAY);
        assert_eq!(delay_for(2), FIRST_DELAY * 2);
        assert_eq!(delay_for(3), FIRST_DELAY * 4);
        assert_eq!(delay_for(30), MAX_DELAY);
        assert_eq!(delay_for(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn failures_grow_the_delay_and_a_success_clears_it() {
        let b = AuthBackoff::default();
        let t = Instant::now();
        assert_eq!(b.delay(ip(1), t), Duration::ZERO);
        b.failed(ip(1), t);
        b.failed(ip(1), t);
        assert_eq!(b.delay(ip(1), t), FIRST_DELAY * 2);
        assert_eq!(b.delay(ip(2), t), Duration::ZERO, "other addresses are not affected");
        b.succeeded(ip(1));
        assert_eq!(b.delay(ip(1), t), Duration::ZERO);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let b = AuthBackoff::default();
        let t = Instant::now();
        b.failed(ip(1), t);
        assert_eq!(b.delay(ip(1), t + FORGET_AFTER), Duration::ZERO);
        b.failed(ip(1), t + FORGET_AFTER);
        assert_eq!(b.delay(ip(1), t + FORGET_AFTER), FIRST_DELAY, "the count restarted");
    }

    #[test]
    fn the_table_stays_bounded() {
        let b = AuthBackoff::default();
        let t = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 100) {
            b.failed(ip(n), t + Duration::from_millis(n.into()));
        }
        assert_eq!(b.tracked(), MAX_TRACKED);
        let newest = ip(MAX_TRACKED as u32 + 99);
        assert_eq!(b.delay(newest, t + Duration::from_secs(5)), FIRST_DELAY);
    }
}
