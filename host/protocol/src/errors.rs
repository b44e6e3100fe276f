//! Errors that cross the wire: why a component could not be loaded, which
//! job limit was exceeded, how a job ended when it did not end with done.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a component (service or job) could not be loaded.
///
/// Tagged `cause` (not `kind`): it travels inside [`JobError::Rejected`],
/// whose own tag is `kind`, and one JSON object cannot carry both.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum LoadError {
    /// The module is larger than the configured cap.
    #[error("module is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// A core wasm module was given where a component is needed.
    #[error("not a WebAssembly component: this is a core wasm module (build it with --target wasm32-wasip2, or `cargo component build`)")]
    CoreModule,
    /// The bytes are not valid WebAssembly.
    #[error("invalid WebAssembly component: {message}")]
    Invalid {
        /// The validator's message.
        message: String,
    },
    /// The component does not have the shape of the expected world.
    #[error("wrong world: {message}")]
    WrongWorld {
        /// What is missing or different.
        message: String,
    },
    /// An import nothing on this master provides.
    #[error("unsatisfied import `{import}`: {reason}")]
    UnsatisfiedImport {
        /// The import's name.
        import: String,
        /// Why it could not be linked.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// Instantiation failed (e.g. the start function trapped, or no slot was free).
    #[error("instantiation failed: {message}")]
    Instantiate {
        /// The cause.
        message: String,
    },
}

/// Which job limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The wall-clock deadline.
    Deadline,
    /// The linear-memory cap.
    Memory,
    /// The number of emitted items.
    Items,
    /// The total bytes of emitted items.
    Bytes,
    /// The size of one item.
    ItemSize,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Deadline => "deadline",
            Limit::Memory => "memory",
            Limit::Items => "item count",
            Limit::Bytes => "emitted bytes",
            Limit::ItemSize => "item size",
        })
    }
}

/// How a job ended when it did not end with done.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobError {
    /// `run` returned an error.
    #[error("job failed: {message}")]
    Failed {
        /// The job's error message.
        message: String,
    },
    /// The job trapped (unreachable, stack overflow, out-of-bounds access…).
    #[error("job trapped: {message}")]
    Trapped {
        /// The trap.
        message: String,
    },
    /// The job exceeded one of its limits.
    #[error("job exceeded its {limit} limit: {detail}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The numbers.
        detail: String,
    },
    /// The requester cancelled the job (or went away).
    #[error("job cancelled by its requester")]
    Cancelled,
    /// The job was refused before it ran.
    #[error("job rejected: {0}")]
    Rejected(LoadError),
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_round_trips_as_json_inside_a_job_error() {
        let causes = [
            LoadError::TooLarge { size: 2, max: 1 },
            LoadError::CoreModule,
            LoadError::Invalid { message: "bad".into() },
            LoadError::WrongWorld { message: "no run".into() },
            LoadError::UnsatisfiedImport { import: "a:b/c@1.0.0".into(), reason: "missing".into() },
            LoadError::Io { path: "/x".into(), message: "gone".into() },
            LoadError::Instantiate { message: "linker".into() },
        ];
        for cause in causes {
            let e = JobError::Rejected(cause);
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<JobError>(&json).unwrap(), e, "{json}");
        }
    }
}
