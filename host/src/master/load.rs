//! The jobs running on a master, in all and per register that opened them.
//!
//! A register counts the jobs it opened itself; what it cannot see are the
//! jobs other registers opened on the same master. So a master reports to
//! each register only the jobs that register did not open: with one
//! register that stays zero and costs no control message, where reporting
//! the total cost two per job (its start and its end), each a datagram and
//! an acknowledgement on a connection that carried one job per fan-out.

use std::collections::HashMap;
use std::sync::Arc;

/// Running jobs by the register (`host:port` as dialled) that opened them.
#[derive(Debug, Default)]
pub struct JobCounts {
    total: u32,
    by_register: HashMap<Arc<str>, u32>,
}

impl JobCounts {
    /// A job from `register` started; returns the jobs running now.
    pub fn start(&mut self, register: &Arc<str>) -> u32 {
        self.total += 1;
        *self.by_register.entry(register.clone()).or_default() += 1;
        self.total
    }

    /// A job from `register` ended.
    pub fn end(&mut self, register: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_register.get_mut(register) {
            *n -= 1;
            if *n == 0 {
                self.by_register.remove(register);
            }
        }
    }

    /// Jobs running, from every register.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Jobs running that `register` did not open (what it is told).
    pub fn others(&self, register: &str) -> u32 {
        self.total - self.by_register.get(register).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_register_is_told_only_of_the_others_jobs() {
        let (a, b): (Arc<str>, Arc<str>) = ("a:1".into(), "b:2".into());
        let mut c = JobCounts::default();
        c.start(&a);
        c.start(&a);
        c.start(&b);
        assert_eq!((c.others("a:1"), c.others("b:2"), c.others("c:3")), (1, 2, 3));
        c.end("a:1");
        c.end("b:2");
        assert_eq!((c.others("a:1"), c.others("b:2")), (0, 1));
        c.end("a:1");
        assert_eq!((c.others("a:1"), c.others("b:2")), (0, 0));
        assert!(c.by_register.is_empty());
    }
}
