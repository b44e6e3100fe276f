//! # regcenter-protocol
//!
//! The wire protocol between registers and masters, sans IO: bytes in,
//! messages out, and back. No tokio, no quinn: the transport feeds a
//! [`message::Decoder`] with what it reads and writes what
//! [`message::Message::encode`] produces. Fuzz and unit tests run without
//! sockets or the WebAssembly runtime.
//!
//! # Layout
//! - [`frame`]: length-prefixed frames (`check`, then `parse`), with a cap.
//! - [`message`]: one type per message, encoding, the stream decoder.
//! - [`body`]: binary bodies of the per-job messages.
//! - [`session`]: which message may come when, per stream and side.
//! - [`admission`]: job signatures and why a master refuses a job.
//! - [`limits`], [`errors`], [`service`], [`remote`], [`stats`]: the data types messages carry.

pub mod admission;
pub mod body;
pub mod errors;
pub mod frame;
pub mod limits;
pub mod message;
pub mod remote;
pub mod service;
pub mod session;
pub mod stats;
