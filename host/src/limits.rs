//! Every limit the host enforces, as named defaults in one place. Each is
//! overridable by configuration ([`crate::runtime::RuntimeConfig`]); per-run
//! job limits from a requester can only lower them ([`JobLimits::capped_by`]).

use std::time::Duration;

pub use regcenter_protocol::limits::{JobLimits, JOB_DEADLINE, JOB_MAX_BYTES, JOB_MAX_ITEMS, JOB_MEMORY};

/// The largest single item (or log line) a job may emit.
pub const JOB_MAX_ITEM_BYTES: u64 = 1 << 20;
/// The largest job or service module accepted, in bytes.
pub const MAX_MODULE_BYTES: usize = 32 << 20;
/// A service call's default deadline (including the wait for its instance).
pub const SERVICE_CALL_DEADLINE: Duration = Duration::from_secs(10);
/// A service instance's linear-memory cap, in bytes.
pub const SERVICE_MEMORY: u64 = 512 << 20;
/// How often the engines' epoch advances: the granularity of deadlines,
/// cancellation and cooperative yields of running wasm.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// How long running wasm (a job since it started, a service call since it
/// got its instance) keeps its thread before it yields at an epoch tick;
/// after that it yields at every tick. A shorter run never yields: a call
/// that merely straddles a tick would otherwise hold its service instance
/// while it waits for a turn behind every other task, and every caller of
/// that instance would queue up behind it.
pub const WASM_SLICE: Duration = EPOCH_TICK;
/// Concurrent job instances one process can hold (pooling allocator slots).
pub const JOB_SLOTS: u32 = 1000;
/// Compiled job components kept in memory.
pub const JOB_CACHE_ENTRIES: usize = 256;
/// Soft bound of the on-disk compile cache, in bytes.
pub const DISK_CACHE_BYTES: u64 = 512 << 20;
/// Items buffered between a running job and its consumer (backpressure beyond).
pub const JOB_EVENT_BUFFER: usize = 64;
/// Items buffered from the requester to a running job.
pub const JOB_INBOX_BUFFER: usize = 64;
/// Longest line of guest stdout/stderr/log kept; the rest is cut.
pub const LOG_LINE_BYTES: usize = 4096;
/// Largest JSON argument document for one service call.
pub const MAX_ARGS_BYTES: usize = 16 << 20;
/// Deepest nesting accepted when converting JSON to component values.
pub const MAX_VALUE_DEPTH: usize = 128;

