//! # regcenter
//!
//! A WebAssembly-native register center. Masters host services as
//! WebAssembly components described in WIT; registers ship small job
//! components to masters, which run them sandboxed against their local
//! services and stream the results back.
//!
//! # Layout
//! - [`error`]: typed errors (call, load, job, registry).
//! - [`limits`]: every limit as a named default.
//! - [`metrics`]: call and job statistics of this process.
//! - [`driven`]: event streams whose producer runs inside its reader's polls.
//! - [`runtime`]: wasmtime engines, services, jobs, JSON <-> values, WASI policy.
//! - [`registry`]: the `ServiceRegistry` API over the runtime.
//! - [`plugins`]: where the built guest components are.
//! - [`transport`]: QUIC, TLS and trust; the data directory; framed streams.
//! - [`register`]: the register server: master table, jobs, commands.
//! - [`master`]: the master node: links to registers, job execution.
//! - [`admission`]: which jobs a master runs (hash and register lists, ed25519 signatures).
//! - [`client`]: the operator API over QUIC (used by the CLI).
//! - [`embedded`]: components built into the binary.
//! - [`hosting`]: what a node hosts: service, metadata and WASI grant specs.
//! - [`local`]: the `local` and `inspect` commands (no network).
//! - [`config`]: the optional TOML config file.
//! - [`node`]: the `register` and `master` commands.
//! - [`ops`]: the operator commands (`masters`, `services`, `run`, `call`, `tell`, `token`).
//! - [`demo`]: the seed's demo timeline (examples and `regcenter demo`).
//! - [`bench`]: `regcenter bench`: figures against a floor measured in the same run.
//! - [`parent`]: child processes (the bench's servers) that end with their parent.
//!
//! The wire protocol (sans IO) is the `regcenter-protocol` crate, re-exported
//! as [`protocol`].

pub mod admission;
pub mod bench;
pub mod client;
pub mod config;
pub mod demo;
pub mod driven;
pub mod embedded;
pub mod error;
pub mod hosting;
pub mod limits;
pub mod local;
pub mod master;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod parent;
pub mod plugins;
pub mod register;
pub mod registry;
pub mod runtime;
pub mod transport;

pub use regcenter_protocol as protocol;

pub use error::{CallError, JobError, Limit, LoadError, RegistryError};
pub use limits::JobLimits;
pub use registry::{ServiceOptions, ServiceRegistry};
pub use runtime::job::{JobEvent, RunningJob};
pub use runtime::service::ServiceInfo;
pub use runtime::{Runtime, RuntimeConfig};
