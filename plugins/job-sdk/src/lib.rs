//! The job side of the `regcenter:job/job` world, shared by every job
//! component in this workspace.
//!
//! This crate binds the world's imports (`services`, `channel`, `log`); a job
//! crate implements `run` with the [`job!`] macro:
//!
//! ```text
//! struct MyJob;
//! impl Guest for MyJob {
//!     fn run(input: String) -> Result<(), String> { job_sdk::emit(&input) }
//! }
//! job_sdk::job!(MyJob);
//! ```
//!
//! Imports and the export are bound in two `generate!` calls; the component
//! linker merges them into one component of the `job` world.
//!
//! The crate itself needs only `core` and `alloc`, so it serves both kinds of
//! job: ordinary `std` jobs, and lean `#![no_std]` jobs that add
//! [`lean_runtime!`] and read their input with [`json`]. A lean job imports
//! no WASI at all. `std`'s panic and abort paths import about twenty WASI
//! functions (stdio, terminal, environment, exit) even when the job never
//! prints; each one is linked into every instance, and a lean job
//! instantiates measurably faster (see BENCHMARKS.md).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

pub mod json;
#[cfg(target_arch = "wasm32")]
pub mod lean;

#[doc(hidden)]
pub use wit_bindgen;

wit_bindgen::generate!({
    inline: "
        package local:job-sdk;
        world job-imports {
            import regcenter:job/services@0.1.0;
            import regcenter:job/channel@0.1.0;
            import regcenter:job/log@0.1.0;
        }
    ",
    path: "../../wit",
    generate_all,
});

pub use regcenter::job::channel::{emit, recv};
pub use regcenter::job::log::log;
pub use regcenter::job::services::{call, list_services};
pub use regcenter::job::types::{CallError, Level, ServiceInfo};

/// Defines the job's `run` export: `job!(MyJob)` where `MyJob: Guest`
/// (the `Guest` trait is generated next to the call).
#[macro_export]
macro_rules! job {
    ($ty:ident) => {
        $crate::wit_bindgen::generate!({
            inline: "
                package local:job;
                world job-run {
                    export run: func(input: string) -> result<_, string>;
                }
            ",
            runtime_path: "::job_sdk::wit_bindgen::rt",
        });
        export!($ty);
    };
}

/// A one-line description of a [`CallError`], for emitting or logging.
pub fn describe(err: &CallError) -> String {
    match err {
        CallError::ServiceNotFound(m) => format!("service not found: {m}"),
        CallError::MethodNotFound(m) => format!("method not found: {m}"),
        CallError::InvalidArgs(m) => format!("invalid arguments: {m}"),
        CallError::ServiceError(m) => format!("service error: {m}"),
        CallError::Trapped(m) => format!("service trapped: {m}"),
        CallError::Refused(m) => format!("refused: {m}"),
    }
}

/// Calls a service; a failure becomes its [`describe`]d message.
pub fn call_or_describe(service: &str, method: &str, args: &str) -> Result<String, String> {
    call(service, method, args).map_err(|e| describe(&e))
}
