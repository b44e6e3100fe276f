//! Typed errors of the library: what went wrong, for whom. Each message names
//! the thing at fault (service, method, parameter, limit, import).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a service call failed. Mirrors the WIT `call-error` a job sees.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CallError {
    /// No service is registered under this name (or `name@version`).
    #[error("Service '{service}' not found")]
    ServiceNotFound {
        /// The name asked for.
        service: String,
    },
    /// The service exports no such method (or the bare name is ambiguous).
    #[error("Method '{method}' not found in service '{service}'{hint}")]
    MethodNotFound {
        /// The service.
        service: String,
        /// The method asked for.
        method: String,
        /// Extra detail (e.g. the candidates of an ambiguous name), may be empty.
        hint: String,
    },
    /// The JSON arguments do not fit the method's parameters.
    #[error("invalid arguments for {service}.{method}: {message}")]
    InvalidArgs {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// What is wrong, with the JSON path and the expected type.
        message: String,
    },
    /// The method returned a WIT `result` error; `payload` is its JSON.
    #[error("{}", display_payload(payload))]
    ServiceError {
        /// The error value, as JSON (a string for `result<_, string>`).
        payload: serde_json::Value,
    },
    /// The service trapped; its instance was recreated and its state lost.
    #[error("service '{service}' trapped: {message} (instance recreated; its state was lost)")]
    Trapped {
        /// The service.
        service: String,
        /// The trap.
        message: String,
    },
    /// The call was refused: a call cycle, a timeout, a cancelled caller.
    #[error("call refused: {message}")]
    Refused {
        /// Why.
        message: String,
    },
}

fn display_payload(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why a component (service or job) could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
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

/// Why a service could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// The name is empty, too long, or holds characters other than
    /// letters, digits, `-`, `_`, `.`.
    #[error("invalid service name '{0}': use 1-64 letters, digits, '-', '_' or '.'")]
    InvalidName(String),
    /// The version is not semver.
    #[error("invalid version '{version}' for service '{service}': {message}")]
    InvalidVersion {
        /// The service.
        service: String,
        /// The version given.
        version: String,
        /// The parser's message.
        message: String,
    },
    /// The component could not be loaded.
    #[error("service '{service}': {error}")]
    Load {
        /// The service.
        service: String,
        /// Why.
        error: LoadError,
    },
    /// A metadata operation named an unknown service.
    #[error("Service '{0}' not found")]
    NotFound(String),
}
