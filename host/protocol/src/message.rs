//! The messages of the protocol, one type each, and their encoding in frames.
//!
//! Two kinds of QUIC stream carry them:
//! - the **control** stream, opened by the master: `Hello` first, answered by
//!   `Welcome` or `AuthFailed`; then `Announce`, `Load` and `Command` both ways
//!   (commands from the register, events from the master);
//! - one **job** stream per job, opened by the register: `JobStart`
//!   (answered by `NeedModule` when the master lacks the module, then
//!   `Module`), `Input`/`InputEnd` from the register, and `Item`/`Log` from
//!   the master, ending with exactly one `Done { items }` or `Failed`. A job
//!   stream that ends without either (FIN alone, a reset, a lost connection)
//!   is never a success.
//!
//! Items and inputs travel as raw JSON text (no re-encoding on the path);
//! `Done` is 8 bytes; control messages are JSON objects.

use crate::admission::{JobSignature, Refusal};
use crate::errors::JobError;
use crate::frame::{self, FrameError, DEFAULT_MAX_FRAME};
use crate::body::{self, Cursor};
use crate::limits::JobLimits;
use crate::remote::RemoteEvent;
use crate::service::ServiceInfo;
use serde::{Deserialize, Serialize};

/// The protocol version a hello carries; peers must match exactly.
pub const PROTOCOL_VERSION: u32 = 2;
/// The ALPN name of the protocol.
pub const ALPN: &[u8] = b"regcenter/1";

/// A master's first message on its control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The master token.
    pub token: String,
    /// The master's stable node id.
    pub node_id: String,
    /// Jobs the master runs at once; more are refused as busy.
    pub max_jobs: u32,
    /// The services it hosts.
    pub services: Vec<ServiceInfo>,
}

/// An operator's first message on its control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorHello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// An operator token (master tokens are refused).
    pub token: String,
}

/// Where an operator's job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "kebab-case")]
pub enum RunTarget {
    /// One master.
    Master {
        /// Its node id.
        id: String,
    },
    /// Every connected master.
    All,
    /// The least-loaded master offering a service.
    Service {
        /// The service (`name` or `name@version`).
        name: String,
        /// On "master lost" or "busy" before any item, try this many other
        /// masters offering the service (at-most-once once items flowed).
        #[serde(default)]
        retries: u32,
    },
}

/// An operator's request, first on each stream it opens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// The connected masters (reply: a list of master infos).
    Masters,
    /// Service -> masters (reply: an object).
    Services,
    /// Call and job statistics (reply: `{"masters": {id: stats}, "total": stats}`).
    Stats,
    /// Send a command to one master or all (reply: `{"sent": n}`).
    Tell {
        /// One master, or all when absent.
        master: Option<String>,
        /// The command.
        command: Command,
    },
    /// Run a job (the register may ask for the module with `need-module`;
    /// reply: `{"masters": [...]}`, then `routed` events until the stream ends).
    Run {
        /// Where.
        target: RunTarget,
        /// SHA-256 of the module, hex.
        sha256: String,
        /// Its size.
        size: u64,
        /// The input (JSON text).
        input: String,
        /// Requested limits.
        limits: JobLimits,
        /// The operator's signature of the module, passed on to the masters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<JobSignature>,
    },
}

/// The register's answer to a good hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`] of the register.
    pub version: u32,
    /// The register's id (for logs).
    pub register_id: String,
}

/// The register's answer to a bad hello, before it closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFailed {
    /// Why (wrong token, version mismatch, bad node id…).
    pub reason: String,
}

/// A command (register -> master) or event (master -> register).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// `register`, `remove`, or any custom name.
    pub cmd: String,
    /// The command's data.
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// The start of a job stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStart {
    /// SHA-256 of the module, lowercase hex.
    pub sha256: String,
    /// The module's size in bytes.
    pub size: u64,
    /// The job's input (JSON text).
    pub input: String,
    /// Limits the requester asks for (the master may only lower them).
    pub limits: JobLimits,
    /// The operator's signature of the module, for masters that require one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<JobSignature>,
}

/// How a job stream ended when not with `Done`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobFailure {
    /// The job itself failed (error, trap, limit, rejection).
    #[error(transparent)]
    Job {
        /// The job's error.
        error: JobError,
    },
    /// The master is at its job limit and refused at once.
    #[error("master busy: {running} of {max} jobs running")]
    Busy {
        /// Jobs running.
        running: u32,
        /// Its limit.
        max: u32,
    },
    /// The master's admission policy refuses the job.
    #[error("not admitted by the master: {refusal}")]
    NotAdmitted {
        /// Why.
        refusal: Refusal,
    },
    /// The master refused the stream (bad module hash, protocol misuse…).
    #[error("refused by the master: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
}

/// Every message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Master -> register, first on the control stream.
    Hello(Hello),
    /// Register -> master: authenticated.
    Welcome(Welcome),
    /// Register -> master: not authenticated; the connection closes next.
    AuthFailed(AuthFailed),
    /// Operator -> register, first on the control stream.
    OperatorHello(OperatorHello),
    /// Operator -> register, first on a request stream.
    Request(Request),
    /// Register -> operator: the answer to a request.
    Reply(serde_json::Value),
    /// Register -> operator: one event of a job on one master.
    Routed {
        /// The master.
        master: String,
        /// The event.
        event: crate::remote::RemoteEvent,
    },
    /// Master -> register: the full service list (on connect and on change).
    Announce(Vec<ServiceInfo>),
    /// Master -> register: jobs running now that other registers opened
    /// (each register counts its own).
    Load(u32),
    /// Master -> register: its call and job statistics (when they changed).
    Stats(crate::stats::Stats),
    /// Either way on the control stream.
    Command(Command),
    /// Register -> master, first on a job stream.
    JobStart(JobStart),
    /// Master -> register: send the module bytes.
    NeedModule,
    /// Register -> master: the module bytes.
    Module(Vec<u8>),
    /// Master -> register: one emitted item (JSON text).
    Item(String),
    /// Master -> register: one log line of the job.
    Log {
        /// `trace` … `error`.
        level: String,
        /// The line.
        message: String,
    },
    /// Register -> master: one item for the job's `recv` (JSON text).
    Input(String),
    /// Register -> master: no more input.
    InputEnd,
    /// Master -> register: the job returned ok after `items` items.
    Done(u64),
    /// Master -> register: the job ended otherwise.
    Failed(JobFailure),
}

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const AUTH_FAILED: u8 = 0x03;
    pub const ANNOUNCE: u8 = 0x04;
    pub const LOAD: u8 = 0x05;
    pub const COMMAND: u8 = 0x06;
    pub const OPERATOR_HELLO: u8 = 0x07;
    pub const STATS: u8 = 0x08;
    pub const REQUEST: u8 = 0x20;
    pub const REPLY: u8 = 0x21;
    pub const ROUTED: u8 = 0x22;
    pub const ROUTED_ITEM: u8 = 0x23;
    pub const ROUTED_DONE: u8 = 0x24;
    pub const JOB_START: u8 = 0x10;
    pub const NEED_MODULE: u8 = 0x11;
    pub const MODULE: u8 = 0x12;
    pub const ITEM: u8 = 0x13;
    pub const LOG: u8 = 0x14;
    pub const INPUT: u8 = 0x15;
    pub const INPUT_END: u8 = 0x16;
    pub const DONE: u8 = 0x17;
    pub const FAILED: u8 = 0x18;
    pub const JOB_START_BIN: u8 = 0x19;
    pub const RUN_BIN: u8 = 0x25;
}

/// A message that cannot be decoded. Fatal for its stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame itself is invalid.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A kind byte no message has.
    #[error("unknown message kind 0x{0:02x}")]
    UnknownKind(u8),
    /// The body does not decode as the kind says.
    #[error("malformed {kind} message: {message}")]
    Malformed {
        /// The message's name.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: peer speaks {peer}, this side {ours}")]
    Version {
        /// The peer's version.
        peer: u32,
        /// Ours.
        ours: u32,
    },
    /// A message that may not come now (out of order, a second hello, a job
    /// message on the control stream…).
    #[error("unexpected {got} {state}")]
    Unexpected {
        /// The message's name.
        got: &'static str,
        /// Where it came.
        state: &'static str,
    },
}

fn json<T: Serialize>(out: &mut Vec<u8>, kind: u8, v: &T) {
    let at = frame::begin(out, kind);
    // Serializing these plain data types into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    frame::finish(out, at);
}

fn from_json<'a, T: Deserialize<'a>>(kind: &'static str, body: &'a [u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::Malformed { kind, message: e.to_string() })
}

fn text(kind: &'static str, body: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(body.to_vec()).map_err(|_| ProtocolError::Malformed { kind, message: "not UTF-8".into() })
}

fn empty(kind: &'static str, body: &[u8]) -> Result<(), ProtocolError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::Malformed { kind, message: format!("{} unexpected body bytes", body.len()) })
    }
}

/// Appends a frame of `kind` whose body `fill` writes; false (nothing
/// appended) when a field does not fit its binary form.
fn binary(out: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> bool {
    let at = frame::begin(out, kind);
    if fill(out).is_none() {
        out.truncate(at);
        return false;
    }
    frame::finish(out, at);
    true
}

/// A job's fields, as a start and a run request carry them: hash, size,
/// limits, signature, then the input.
fn job_fields(b: &mut Vec<u8>, sha256: &str, size: u64, limits: &JobLimits, signature: &Option<JobSignature>, input: &str) -> Option<()> {
    body::put_str16(b, sha256)?;
    b.extend_from_slice(&size.to_be_bytes());
    let deadline_ms = u64::try_from(limits.deadline.as_millis()).unwrap_or(u64::MAX);
    for v in [deadline_ms, limits.memory, limits.max_items, limits.max_bytes] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    match signature {
        None => b.push(0),
        Some(sig) => {
            b.push(1);
            body::put_str16(b, &sig.key)?;
            body::put_str16(b, &sig.sig)?;
        }
    }
    b.extend_from_slice(input.as_bytes());
    Some(())
}

/// A run request's target: 0 and the master's id, 1 (all), or 2, the
/// service and the retries.
fn run_target(b: &mut Vec<u8>, target: &RunTarget) -> Option<()> {
    match target {
        RunTarget::Master { id } => {
            b.push(0);
            body::put_str16(b, id)
        }
        RunTarget::All => {
            b.push(1);
            Some(())
        }
        RunTarget::Service { name, retries } => {
            b.push(2);
            body::put_str16(b, name)?;
            b.extend_from_slice(&retries.to_be_bytes());
            Some(())
        }
    }
}

fn read_run(bytes: &[u8]) -> Result<Request, ProtocolError> {
    let mut c = Cursor::new("run", bytes);
    let target = match c.u8("target")? {
        0 => RunTarget::Master { id: c.str16("master id")? },
        1 => RunTarget::All,
        2 => {
            let name = c.str16("service")?;
            let retries = c.u32("retries")?;
            RunTarget::Service { name, retries }
        }
        other => return Err(c.malformed(format!("target {other} (0, 1 or 2)"))),
    };
    let j = read_job_fields(c)?;
    Ok(Request::Run { target, sha256: j.sha256, size: j.size, input: j.input, limits: j.limits, signature: j.signature })
}

fn read_job_start(bytes: &[u8]) -> Result<JobStart, ProtocolError> {
    read_job_fields(Cursor::new("job-start", bytes))
}

fn read_job_fields(mut c: Cursor<'_>) -> Result<JobStart, ProtocolError> {
    let sha256 = c.str16("sha256")?;
    let size = c.u64("size")?;
    let limits = JobLimits {
        deadline: std::time::Duration::from_millis(c.u64("deadline")?),
        memory: c.u64("memory limit")?,
        max_items: c.u64("item limit")?,
        max_bytes: c.u64("byte limit")?,
    };
    let signature = match c.u8("signature flag")? {
        0 => None,
        1 => Some(JobSignature { key: c.str16("signature key")?, sig: c.str16("signature")? }),
        other => return Err(c.malformed(format!("signature flag {other} (0 or 1)"))),
    };
    Ok(JobStart { sha256, size, input: c.rest_str("input")?, limits, signature })
}

#[derive(Serialize, Deserialize)]
struct RoutedBody {
    master: String,
    event: crate::remote::RemoteEvent,
}

#[derive(Serialize, Deserialize)]
struct LogBody {
    level: String,
    message: String,
}

impl Message {
    /// The message's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::AuthFailed(_) => "auth-failed",
            Message::OperatorHello(_) => "operator-hello",
            Message::Request(_) => "request",
            Message::Reply(_) => "reply",
            Message::Routed { .. } => "routed",
            Message::Announce(_) => "announce",
            Message::Load(_) => "load",
            Message::Stats(_) => "stats",
            Message::Command(_) => "command",
            Message::JobStart(_) => "job-start",
            Message::NeedModule => "need-module",
            Message::Module(_) => "module",
            Message::Item(_) => "item",
            Message::Log { .. } => "log",
            Message::Input(_) => "input",
            Message::InputEnd => "input-end",
            Message::Done(_) => "done",
            Message::Failed(_) => "failed",
        }
    }

    /// Appends the message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Hello(h) => json(out, kind::HELLO, h),
            Message::Welcome(w) => json(out, kind::WELCOME, w),
            Message::AuthFailed(a) => json(out, kind::AUTH_FAILED, a),
            Message::OperatorHello(h) => json(out, kind::OPERATOR_HELLO, h),
            Message::Request(r) => {
                let binary = match r {
                    Request::Run { target, sha256, size, input, limits, signature } => binary(out, kind::RUN_BIN, |b| {
                        run_target(b, target)?;
                        job_fields(b, sha256, *size, limits, signature, input)
                    }),
                    _ => false,
                };
                if !binary {
                    json(out, kind::REQUEST, r);
                }
            }
            Message::Reply(v) => json(out, kind::REPLY, v),
            // A job's items and its done, the bulk of a run's relay, go
            // without JSON: the master's id, then the item's text or the count.
            Message::Routed { master, event } => {
                let binary = match event {
                    RemoteEvent::Item(item) => binary(out, kind::ROUTED_ITEM, |b| {
                        body::put_str16(b, master)?;
                        b.extend_from_slice(item.as_bytes());
                        Some(())
                    }),
                    RemoteEvent::Done { items } => binary(out, kind::ROUTED_DONE, |b| {
                        body::put_str16(b, master)?;
                        b.extend_from_slice(&items.to_be_bytes());
                        Some(())
                    }),
                    _ => false,
                };
                if !binary {
                    json(out, kind::ROUTED, &RoutedBody { master: master.clone(), event: event.clone() });
                }
            }
            Message::Announce(s) => json(out, kind::ANNOUNCE, s),
            Message::Load(n) => frame::write(out, kind::LOAD, &n.to_be_bytes()),
            Message::Stats(st) => json(out, kind::STATS, st),
            Message::Command(c) => json(out, kind::COMMAND, c),
            Message::JobStart(j) => {
                if !binary(out, kind::JOB_START_BIN, |b| job_fields(b, &j.sha256, j.size, &j.limits, &j.signature, &j.input)) {
                    json(out, kind::JOB_START, j);
                }
            }
            Message::NeedModule => frame::write(out, kind::NEED_MODULE, &[]),
            Message::Module(b) => frame::write(out, kind::MODULE, b),
            Message::Item(i) => frame::write(out, kind::ITEM, i.as_bytes()),
            Message::Log { level, message } => json(out, kind::LOG, &LogBody { level: level.clone(), message: message.clone() }),
            Message::Input(i) => frame::write(out, kind::INPUT, i.as_bytes()),
            Message::InputEnd => frame::write(out, kind::INPUT_END, &[]),
            Message::Done(n) => frame::write(out, kind::DONE, &n.to_be_bytes()),
            Message::Failed(f) => json(out, kind::FAILED, f),
        }
    }

    /// The message as a new frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one frame's kind and body.
    pub fn decode(kind_byte: u8, body: &[u8]) -> Result<Message, ProtocolError> {
        Ok(match kind_byte {
            kind::HELLO => {
                let h: Hello = from_json("hello", body)?;
                if h.version != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version { peer: h.version, ours: PROTOCOL_VERSION });
                }
                Message::Hello(h)
            }
            kind::WELCOME => {
                let w: Welcome = from_json("welcome", body)?;
                if w.version != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version { peer: w.version, ours: PROTOCOL_VERSION });
                }
                Message::Welcome(w)
            }
            kind::AUTH_FAILED => Message::AuthFailed(from_json("auth-failed", body)?),
            kind::OPERATOR_HELLO => {
                let h: OperatorHello = from_json("operator-hello", body)?;
                if h.version != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version { peer: h.version, ours: PROTOCOL_VERSION });
                }
                Message::OperatorHello(h)
            }
            kind::REQUEST => Message::Request(from_json("request", body)?),
            kind::RUN_BIN => Message::Request(read_run(body)?),
            kind::REPLY => Message::Reply(from_json("reply", body)?),
            kind::ROUTED => {
                let r: RoutedBody = from_json("routed", body)?;
                Message::Routed { master: r.master, event: r.event }
            }
            kind::ROUTED_ITEM => {
                let mut c = Cursor::new("routed-item", body);
                let master = c.str16("master id")?;
                Message::Routed { master, event: RemoteEvent::Item(c.rest_str("item")?) }
            }
            kind::ROUTED_DONE => {
                let mut c = Cursor::new("routed-done", body);
                let master = c.str16("master id")?;
                Message::Routed { master, event: RemoteEvent::Done { items: u64::from_be_bytes(c.rest_fixed("count")?) } }
            }
            kind::ANNOUNCE => Message::Announce(from_json("announce", body)?),
            kind::LOAD => Message::Load(u32::from_be_bytes(fixed("load", body)?)),
            kind::STATS => Message::Stats(from_json("stats", body)?),
            kind::COMMAND => Message::Command(from_json("command", body)?),
            kind::JOB_START => Message::JobStart(from_json("job-start", body)?),
            kind::JOB_START_BIN => Message::JobStart(read_job_start(body)?),
            kind::NEED_MODULE => {
                empty("need-module", body)?;
                Message::NeedModule
            }
            kind::MODULE => Message::Module(body.to_vec()),
            kind::ITEM => Message::Item(text("item", body)?),
            kind::LOG => {
                let l: LogBody = from_json("log", body)?;
                Message::Log { level: l.level, message: l.message }
            }
            kind::INPUT => Message::Input(text("input", body)?),
            kind::INPUT_END => {
                empty("input-end", body)?;
                Message::InputEnd
            }
            kind::DONE => Message::Done(u64::from_be_bytes(fixed("done", body)?)),
            kind::FAILED => Message::Failed(from_json("failed", body)?),
            other => return Err(ProtocolError::UnknownKind(other)),
        })
    }
}

fn fixed<const N: usize>(kind: &'static str, body: &[u8]) -> Result<[u8; N], ProtocolError> {
    body.try_into().map_err(|_| ProtocolError::Malformed { kind, message: format!("expected {N} bytes, got {}", body.len()) })
}

/// Accumulates bytes from a stream and yields whole messages. Bounded: it
/// never holds more than one frame's cap plus one read.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_frame: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder refusing frames over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), start: 0, max_frame }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let rest = &self.buf[self.start..];
        let Some(n) = frame::check(rest, self.max_frame)? else {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            return Ok(None);
        };
        let raw = frame::parse(&rest[..n]);
        let msg = Message::decode(raw.kind, raw.body);
        self.start += n;
        msg.map(Some)
    }

    /// Bytes received but not yet decoded (a stream ending with some is truncated).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Limit;
    use std::collections::BTreeMap;

    fn service() -> ServiceInfo {
        ServiceInfo {
            name: "hello-world".into(),
            version: "1.0.0".into(),
            interfaces: vec!["example:hello/greeter@1.0.0".into()],
            functions: vec!["greeter/say-hello: func() -> string".into()],
            metadata: BTreeMap::from([("team".into(), "core".into())]),
            instances: 1,
        }
    }

    fn every_message() -> Vec<Message> {
        vec![
            Message::Hello(Hello { version: PROTOCOL_VERSION, token: "t".into(), node_id: "m1".into(), max_jobs: 64, services: vec![service()] }),
            Message::Welcome(Welcome { version: PROTOCOL_VERSION, register_id: "r1".into() }),
            Message::AuthFailed(AuthFailed { reason: "wrong token".into() }),
            Message::Announce(vec![service(), service()]),
            Message::Load(7),
            Message::Stats(crate::stats::Stats::default()),
            Message::Request(Request::Stats),
            Message::Command(Command { cmd: "register".into(), payload: serde_json::json!({"registers": [{"host": "127.0.0.1", "port": 8011}]}) }),
            Message::JobStart(JobStart { sha256: "ab".repeat(32), size: 1234, input: "{\"name\":\"x\"}".into(), limits: JobLimits::default(), signature: None }),
            Message::JobStart(JobStart {
                sha256: "ab".repeat(32),
                size: 1,
                input: "1".into(),
                limits: JobLimits::default(),
                signature: Some(JobSignature { key: "01".repeat(32), sig: "02".repeat(64) }),
            }),
            Message::Failed(JobFailure::NotAdmitted { refusal: Refusal::Unsigned }),
            Message::NeedModule,
            Message::Module(vec![0, 97, 115, 109, 13, 0, 1, 0]),
            Message::Item("{\"a\":[1,2]}".into()),
            Message::Log { level: "info".into(), message: "hi".into() },
            Message::Input("\"x\"".into()),
            Message::InputEnd,
            Message::Done(u64::MAX),
            Message::Failed(JobFailure::Job { error: JobError::LimitExceeded { limit: Limit::Memory, detail: "64 MiB".into() } }),
            Message::Failed(JobFailure::Busy { running: 4, max: 4 }),
            Message::Failed(JobFailure::Refused { reason: "hash mismatch".into() }),
            Message::OperatorHello(OperatorHello { version: PROTOCOL_VERSION, token: "op".into() }),
            Message::Request(Request::Masters),
            Message::Request(Request::Tell { master: None, command: Command { cmd: "x".into(), payload: serde_json::json!(1) } }),
            Message::Request(Request::Run {
                target: RunTarget::Service { name: "hello-world".into(), retries: 2 },
                sha256: "00".repeat(32),
                size: 9,
                input: "{}".into(),
                limits: JobLimits::default(),
                signature: Some(JobSignature { key: "ab".repeat(32), sig: "cd".repeat(64) }),
            }),
            Message::Request(Request::Run { target: RunTarget::Master { id: "m1".into() }, sha256: "00".repeat(32), size: 9, input: "{\"a\":1}".into(), limits: JobLimits::default(), signature: None }),
            Message::Request(Request::Run { target: RunTarget::All, sha256: "00".repeat(32), size: 9, input: String::new(), limits: JobLimits::default(), signature: None }),
            Message::Reply(serde_json::json!({"masters": ["m1"]})),
            Message::Routed { master: "m1".into(), event: crate::remote::RemoteEvent::Item("[1]".into()) },
            Message::Routed { master: "".into(), event: crate::remote::RemoteEvent::Item("".into()) },
            Message::Routed { master: "m-é".into(), event: crate::remote::RemoteEvent::Done { items: 7 } },
            Message::Routed { master: "m1".into(), event: crate::remote::RemoteEvent::Log { level: "info".into(), message: "x".into() } },
            Message::Routed {
                master: "m1".into(),
                event: crate::remote::RemoteEvent::Failed(crate::remote::RemoteError::NoMaster { service: "s".into() }),
            },
        ]
    }

    #[test]
    fn floats_in_json_messages_round_trip_exactly() {
        // Found by the `messages` fuzz target: without serde_json's exact
        // float parsing this came back one unit in the last place off.
        let m = Message::Reply(serde_json::json!(0.11326434445538013));
        let mut d = Decoder::default();
        d.push(&m.to_frame());
        assert_eq!(d.next_message().unwrap(), Some(m));
    }

    #[test]
    fn every_message_round_trips() {
        for m in every_message() {
            let frame = m.to_frame();
            let mut d = Decoder::default();
            d.push(&frame);
            assert_eq!(d.next_message().unwrap(), Some(m.clone()), "{}", m.name());
            assert_eq!(d.next_message().unwrap(), None);
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn messages_split_at_every_byte_reassemble() {
        let mut stream = Vec::new();
        for m in every_message() {
            m.encode(&mut stream);
        }
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, every_message());
    }

    #[test]
    fn starts_and_routed_items_and_done_are_binary_and_their_bodies_are_checked() {
        let item = Message::Routed { master: "m1".into(), event: RemoteEvent::Item("{\"a\":\"\\\"\"}".into()) }.to_frame();
        assert_eq!(item[4], kind::ROUTED_ITEM);
        assert_eq!(&item[5..], b"\0\x02m1{\"a\":\"\\\"\"}", "the item's text as it is, no JSON escaping");
        let done = Message::Routed { master: "m1".into(), event: RemoteEvent::Done { items: 3 } }.to_frame();
        assert_eq!(done[4], kind::ROUTED_DONE);
        let start = JobStart { sha256: "ab".repeat(32), size: 9, input: "{\"x\":\"\\\"\"}".into(), limits: JobLimits::default(), signature: None };
        let frame = Message::JobStart(start.clone()).to_frame();
        assert_eq!(frame[4], kind::JOB_START_BIN);
        assert!(frame.ends_with(start.input.as_bytes()), "the input as it is, no JSON escaping");
        let mut no_input = Message::JobStart(JobStart { input: String::new(), ..start }).to_frame()[5..].to_vec();
        let flag = no_input.len() - 1;
        no_input[flag] = 2;
        let bad = [
            (kind::ROUTED_ITEM, vec![0], "master id: 2 bytes needed, 1 left"),
            (kind::ROUTED_ITEM, vec![0, 5, b'm'], "master id: 5 bytes needed, 1 left"),
            (kind::ROUTED_ITEM, vec![0, 1, 0xff], "master id is not UTF-8"),
            (kind::ROUTED_ITEM, vec![0, 1, b'm', 0xff], "item is not UTF-8"),
            (kind::ROUTED_DONE, vec![0, 1, b'm', 1, 2, 3], "count: expected 8 bytes, got 3"),
            (kind::JOB_START_BIN, vec![0, 2, b'a', b'b', 0, 0], "size: 8 bytes needed, 2 left"),
            (kind::JOB_START_BIN, no_input, "signature flag 2 (0 or 1)"),
            (kind::RUN_BIN, vec![7], "target 7 (0, 1 or 2)"),
            (kind::RUN_BIN, vec![2, 0, 1, b's', 0], "retries: 4 bytes needed, 1 left"),
        ];
        for (k, body, why) in bad {
            match Message::decode(k, &body) {
                Err(ProtocolError::Malformed { message, .. }) => assert!(message.contains(why), "{message}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_start_whose_fields_do_not_fit_the_binary_form_goes_as_json() {
        let start = Message::JobStart(JobStart { sha256: "a".repeat(70_000), size: 1, input: "1".into(), limits: JobLimits::default(), signature: None });
        let frame = start.to_frame();
        assert_eq!(frame[4], kind::JOB_START);
        let mut d = Decoder::new(1 << 20);
        d.push(&frame);
        assert_eq!(d.next_message().unwrap(), Some(start));
    }

    #[test]
    fn a_truncated_stream_leaves_pending_bytes_and_no_message() {
        let frame = Message::Done(3).to_frame();
        let mut d = Decoder::default();
        d.push(&frame[..frame.len() - 1]);
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.pending(), frame.len() - 1);
    }

    #[test]
    fn oversized_length_prefix_is_refused() {
        let mut d = Decoder::new(1024);
        d.push(&[0x7f, 0xff, 0xff, 0xff, kind::ITEM]);
        assert!(matches!(d.next_message(), Err(ProtocolError::Frame(FrameError::TooLarge { .. }))));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0, 1, 0xee],
            vec![0, 0, 0, 3, kind::HELLO, b'{', b'x'],
            vec![0, 0, 0, 3, kind::DONE, 1, 2],
            vec![0, 0, 0, 3, kind::ITEM, 0xff, 0xfe],
            vec![0, 0, 0, 2, kind::NEED_MODULE, 1],
            vec![0, 0, 0, 0],
        ];
        for bytes in cases {
            let mut d = Decoder::default();
            d.push(&bytes);
            assert!(d.next_message().is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn a_wrong_protocol_version_is_named() {
        let hello = Hello { version: 99, token: String::new(), node_id: String::new(), max_jobs: 1, services: vec![] };
        let mut frame = Vec::new();
        json(&mut frame, kind::HELLO, &hello);
        let mut d = Decoder::default();
        d.push(&frame);
        let err = d.next_message().unwrap_err();
        assert_eq!(err, ProtocolError::Version { peer: 99, ours: PROTOCOL_VERSION });
        assert_eq!(err.to_string(), "protocol version mismatch: peer speaks 99, this side 2");
    }

    #[test]
    fn decoder_memory_is_reclaimed_between_frames() {
        let mut d = Decoder::default();
        for i in 0..1000u64 {
            d.push(&Message::Done(i).to_frame());
            assert_eq!(d.next_message().unwrap(), Some(Message::Done(i)));
        }
        assert!(d.buf.capacity() < 1024, "buffer stays small: {}", d.buf.capacity());
    }
}
