//! How a job run through a register ends, as requesters (the register's own
//! API, operators over the wire) see it.

use crate::errors::JobError;
use serde::{Deserialize, Serialize};

/// Why a remote job did not end with done.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RemoteError {
    /// The job failed on the master.
    #[error(transparent)]
    Job {
        /// Its error.
        error: JobError,
    },
    /// The master's connection was lost (or replaced) before the job ended.
    #[error("master lost: {master} ({reason})")]
    MasterLost {
        /// The master.
        master: String,
        /// What happened.
        reason: String,
    },
    /// The master was at its job limit.
    #[error("master busy: {master} runs {running} of {max} jobs")]
    MasterBusy {
        /// The master.
        master: String,
        /// Jobs running.
        running: u32,
        /// Its limit.
        max: u32,
    },
    /// No connected master offers the service.
    #[error("no master offers service '{service}'")]
    NoMaster {
        /// The service.
        service: String,
    },
    /// No master with this id is connected.
    #[error("Master not found: {id}")]
    MasterNotFound {
        /// The id asked for.
        id: String,
    },
    /// The master's admission policy refused the job.
    #[error("master {master} does not admit the job: {refusal}")]
    NotAdmitted {
        /// The master.
        master: String,
        /// Why.
        refusal: crate::admission::Refusal,
    },
    /// The master broke the protocol or refused the stream.
    #[error("protocol error with master {master}: {message}")]
    Protocol {
        /// The master.
        master: String,
        /// What went wrong.
        message: String,
    },
}

/// What a remote job produces, in order; the last event is `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "kebab-case")]
pub enum RemoteEvent {
    /// One emitted item (JSON text).
    Item(String),
    /// A log line of the job.
    Log {
        /// Its level.
        level: String,
        /// The line.
        message: String,
    },
    /// The job returned ok after `items` items (all delivered).
    Done {
        /// How many.
        items: u64,
    },
    /// The job ended otherwise.
    Failed(RemoteError),
}

