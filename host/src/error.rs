//! Typed errors of the library: what went wrong, for whom. Each message names
//! the thing at fault (service, method, parameter, limit, import).

use serde::{Deserialize, Serialize};

pub use regcenter_protocol::errors::{JobError, Limit, LoadError};

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
