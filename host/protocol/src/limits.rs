//! Limits of one job run, as they travel in a job request. A requester's
//! limits only ever lower the master's ([`JobLimits::capped_by`]).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A job's default wall-clock deadline.
pub const JOB_DEADLINE: Duration = Duration::from_secs(10);
/// A job's default linear-memory cap, in bytes.
pub const JOB_MEMORY: u64 = 64 << 20;
/// How many items a job may emit by default.
pub const JOB_MAX_ITEMS: u64 = 1_000_000;
/// How many bytes of items a job may emit in total by default.
pub const JOB_MAX_BYTES: u64 = 256 << 20;
/// Limits of one job run. Defaults are the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLimits {
    /// Wall-clock deadline of the whole run.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Linear-memory cap in bytes.
    pub memory: u64,
    /// Items the job may emit.
    pub max_items: u64,
    /// Bytes of items the job may emit in total.
    pub max_bytes: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self { deadline: JOB_DEADLINE, memory: JOB_MEMORY, max_items: JOB_MAX_ITEMS, max_bytes: JOB_MAX_BYTES }
    }
}

impl JobLimits {
    /// These limits, each lowered to `ceiling`'s where that is smaller: a
    /// requester can tighten what a master allows, never widen it.
    pub fn capped_by(self, ceiling: JobLimits) -> JobLimits {
        JobLimits {
            deadline: self.deadline.min(ceiling.deadline),
            memory: self.memory.min(ceiling.memory),
            max_items: self.max_items.min(ceiling.max_items),
            max_bytes: self.max_bytes.min(ceiling.max_bytes),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requester_limits_only_lower_the_ceiling() {
        let ceiling = JobLimits::default();
        let asked = JobLimits { deadline: Duration::from_secs(3600), memory: 1 << 20, max_items: 5, max_bytes: u64::MAX };
        let got = asked.capped_by(ceiling);
        assert_eq!(got.deadline, ceiling.deadline);
        assert_eq!(got.memory, 1 << 20);
        assert_eq!(got.max_items, 5);
        assert_eq!(got.max_bytes, ceiling.max_bytes);
    }
}
