//! Jobs from the register's side: one bidirectional stream per job, opened
//! on the master's connection. The module travels only when the master asks
//! for it; items stream back in order and the stream ends with exactly one
//! `Done` (its count checked) or `Failed`. Anything else — FIN alone, a reset,
//! a lost connection — ends the job with an error, never as done. Dropping
//! the [`RemoteJob`] resets the stream, which cancels the job on the master.

use crate::driven::{Driven, Driver};
use crate::register::table::MasterConn;
use crate::runtime::{hex, sha256};
use crate::transport::stream::{self, codes, MessageReader, StreamError};
pub use regcenter_protocol::remote::{RemoteError, RemoteEvent};
use regcenter_protocol::admission::JobSignature;
use regcenter_protocol::errors::JobError;
use regcenter_protocol::limits::JobLimits;
use regcenter_protocol::message::{JobFailure, JobStart, Message};
use regcenter_protocol::session::RegisterJob;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A job module, hashed once.
#[derive(Clone, Debug)]
pub struct JobModule {
    bytes: Arc<[u8]>,
    sha256: [u8; 32],
    signature: Option<JobSignature>,
}

impl JobModule {
    /// Wraps component bytes.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        let sha256 = sha256(&bytes);
        Self { bytes, sha256, signature: None }
    }

    /// The module carrying `signer`'s signature (for masters that require one).
    pub fn signed(self, signer: &crate::admission::JobSigner) -> Self {
        let signature = Some(signer.sign(&self.sha256));
        Self { signature, ..self }
    }

    /// The module carrying a signature made elsewhere (an operator's, passed on).
    pub fn with_signature(self, signature: Option<JobSignature>) -> Self {
        Self { signature, ..self }
    }

    /// The signature it carries, if any.
    pub fn signature(&self) -> Option<&JobSignature> {
        self.signature.as_ref()
    }

    /// SHA-256 of the bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The component bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A job running on a master. Dropping it cancels the job.
///
/// A single job's stream is driven inside the task that reads the job (its
/// `next`, `send` and `collect`; see [`crate::driven`]), not by a task of
/// its own: a job costs no spawn, and its events reach the reader without
/// a wake-up.
pub struct RemoteJob {
    /// The master it runs on (empty when none was found).
    pub master: String,
    events: Driven<RemoteEvent>,
    input: Option<mpsc::Sender<String>>,
}

/// Items buffered per job between the stream and the requester.
const EVENT_BUFFER: usize = 64;

impl RemoteJob {
    /// A job that failed before it started.
    pub fn failed(master: &str, error: RemoteError) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(RemoteEvent::Failed(error));
        Self { master: master.to_string(), events: Driven::new(rx, None), input: None }
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<RemoteEvent> {
        self.events.next().await
    }

    /// The next event if one is already waiting (never waits).
    pub fn try_next(&mut self) -> Option<RemoteEvent> {
        self.events.try_next()
    }

    /// Sends an item to the job's `recv`. While the input buffer is full,
    /// the stream keeps being driven (the job's events wait in their own
    /// buffer).
    pub async fn send(&mut self, item: impl Into<String>) -> Result<(), RemoteError> {
        let gone = RemoteError::Protocol { master: self.master.clone(), message: "the job's input is closed".into() };
        let Some(tx) = &self.input else { return Err(gone) };
        let permit = self.events.reserve(tx).await;
        permit.map(|p| p.send(item.into())).map_err(|_| gone)
    }

    /// Closes the job's input (its `recv` returns none).
    pub fn close_input(&mut self) {
        self.input = None;
    }

    /// Reads to the end: (items, outcome).
    pub async fn collect(mut self) -> (Vec<String>, Result<u64, RemoteError>) {
        self.close_input();
        let mut items = Vec::new();
        while let Some(ev) = self.next().await {
            match ev {
                RemoteEvent::Item(i) => items.push(i),
                RemoteEvent::Log { .. } => {}
                RemoteEvent::Done { items: n } => return (items, Ok(n)),
                RemoteEvent::Failed(e) => return (items, Err(e)),
            }
        }
        let master = self.master.clone();
        (items, Err(RemoteError::MasterLost { master, reason: "the job's stream ended".into() }))
    }
}

/// Runs on a master offering `service`, retrying on others when one is lost
/// or busy before any item arrived (see `Register::run_on_service_with_retries`).
pub fn with_retries(shared: Arc<crate::register::Shared>, service: String, module: JobModule, input: String, limits: JobLimits, retries: u32) -> RemoteJob {
    // Retried jobs take no input items: each start carries the input's end.
    let first = shared.run_on_service(&service, &module, input.clone(), limits, Input::Closed);
    if retries == 0 {
        return first;
    }
    let label = first.master.clone();
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    tokio::spawn(async move {
        let mut job = first;
        let mut tried = Vec::new();
        for attempt in 0..=retries {
            tried.push(job.master.clone());
            let mut emitted = false;
            loop {
                let Some(ev) = job.next().await else { return };
                let retryable = matches!(ev, RemoteEvent::Failed(RemoteError::MasterLost { .. } | RemoteError::MasterBusy { .. }));
                if retryable && !emitted && attempt < retries {
                    let note = RemoteEvent::Log { level: "warn".into(), message: format!("attempt {} on {}: {}; retrying on another master", attempt + 1, job.master, describe(&ev)) };
                    if tx.send(note).await.is_err() {
                        return;
                    }
                    break;
                }
                emitted |= matches!(ev, RemoteEvent::Item(_));
                let end = matches!(ev, RemoteEvent::Done { .. } | RemoteEvent::Failed(_));
                if tx.send(ev).await.is_err() || end {
                    return;
                }
            }
            job = shared.run_on_service_except(&service, &module, input.clone(), limits, Input::Closed, &tried);
        }
    });
    RemoteJob { master: label, events: Driven::new(rx, None), input: None }
}

fn describe(ev: &RemoteEvent) -> String {
    match ev {
        RemoteEvent::Failed(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// Whether a job started by [`start`] takes input items after its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Open until the requester closes it ([`RemoteJob::send`] works).
    Open,
    /// Closed from the start: the start and the input's end leave in one
    /// packet.
    Closed,
}

/// What drives a job's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pump {
    /// Whoever reads the [`RemoteJob`] (see there).
    Reader,
    /// A task of its own (a broadcast's jobs, which their requester may
    /// read one after another).
    Task,
}

impl Drop for RemoteJob {
    fn drop(&mut self) {
        // A pump that has not returned sees the requester gone and resets
        // the stream, which cancels the job on the master.
        self.events.finish_in_task();
    }
}

/// Counts a job as open on its master from its start until its pump is
/// dropped (returned, or never polled).
struct Open(Arc<MasterConn>);

impl Open {
    fn new(master: Arc<MasterConn>) -> Self {
        master.open.fetch_add(1, Ordering::Relaxed);
        Self(master)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts `module` on `master`: the job counts as open on the master at once
/// (least-loaded choices see it) and its start is written before this
/// returns. Driven by its reader, a job waiting for its module, or for room
/// for its items, waits until it is read.
pub fn start(master: Arc<MasterConn>, module: JobModule, input: String, limits: JobLimits, max_frame: usize, items: Input, driven_by: Pump) -> RemoteJob {
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    // A job without input items (a plain run) needs no input channel.
    let (in_tx, in_rx) = match items {
        Input::Open => {
            let (in_tx, in_rx) = mpsc::channel(EVENT_BUFFER);
            (Some(in_tx), Some(in_rx))
        }
        Input::Closed => (None, None),
    };
    let id = master.id.clone();
    let open = Open::new(master);
    let driver: Driver = Box::pin(async move {
        let outcome = pump(&open.0, &module, input, limits, max_frame, &tx, in_rx).await;
        drop(open);
        if let Some(last) = outcome {
            let _ = tx.send(last).await;
        }
    });
    if driven_by == Pump::Task {
        tokio::spawn(driver);
        return RemoteJob { master: id, events: Driven::new(rx, None), input: in_tx };
    }
    // Its first poll opens the stream and writes the start.
    let mut events = Driven::new(rx, Some(driver));
    events.poll_once();
    RemoteJob { master: id, events, input: in_tx }
}

/// The event a job's last message (done, failed or a stray one) becomes,
/// after `items` items arrived.
fn final_event(master: &str, items: u64, msg: Message) -> RemoteEvent {
    let protocol = |message: String| RemoteEvent::Failed(RemoteError::Protocol { master: master.to_string(), message });
    match msg {
        Message::Done(n) if n == items => RemoteEvent::Done { items },
        Message::Done(n) => protocol(format!("done reports {n} items, {items} arrived")),
        Message::Failed(JobFailure::Job { error }) => RemoteEvent::Failed(RemoteError::Job { error }),
        Message::Failed(JobFailure::Busy { running, max }) => RemoteEvent::Failed(RemoteError::MasterBusy { master: master.to_string(), running, max }),
        Message::Failed(JobFailure::NotAdmitted { refusal }) => RemoteEvent::Failed(RemoteError::NotAdmitted { master: master.to_string(), refusal }),
        Message::Failed(JobFailure::Refused { reason }) => protocol(format!("refused: {reason}")),
        other => protocol(format!("unexpected {}", other.name())),
    }
}

/// The next input item; `None` once the input is closed (or never opened).
async fn next_input(input: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match input {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

/// Frames coalesced into a job's first write at most.
const FIRST_WRITE_BYTES: usize = 64 << 10;

/// Runs the stream; returns the final event (`None` when the requester left).
async fn pump(
    master: &MasterConn,
    module: &JobModule,
    input: String,
    limits: JobLimits,
    max_frame: usize,
    tx: &mpsc::Sender<RemoteEvent>,
    mut in_rx: Option<mpsc::Receiver<String>>,
) -> Option<RemoteEvent> {
    let lost = |reason: String| RemoteEvent::Failed(RemoteError::MasterLost { master: master.id.clone(), reason });
    let protocol = |message: String| RemoteEvent::Failed(RemoteError::Protocol { master: master.id.clone(), message });
    let start = Message::JobStart(JobStart { sha256: hex(&module.sha256), size: module.bytes.len() as u64, input, limits, signature: module.signature.clone() });
    // Input already queued (or already closed, as for a plain run) goes out
    // with the start, in one write.
    let mut first = start.to_frame();
    let mut input_open = true;
    while first.len() < FIRST_WRITE_BYTES {
        match in_rx.as_mut().map_or(Err(mpsc::error::TryRecvError::Disconnected), mpsc::Receiver::try_recv) {
            Ok(item) => first.extend_from_slice(&Message::Input(item).to_frame()),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                first.extend_from_slice(&Message::InputEnd.to_frame());
                input_open = false;
                break;
            }
            Err(mpsc::error::TryRecvError::Empty) => break,
        }
    }
    // With the input closed and the module known to be there, this side
    // ends with the start (or with the input's end, if that comes later):
    // the master then ends the stream cleanly. Everything this side sent is
    // kept (up to FIRST_WRITE_BYTES) to run the job again with the module
    // should the master have dropped it.
    let mut sent = first;
    let mut replayable = true;
    let mut end_early = !input_open && master.modules.contains(&module.sha256);
    // The requester leaving is watched by one waiter for the whole job, not
    // one registered and removed on every message.
    let requester_gone = tx.closed();
    tokio::pin!(requester_gone);
    'attempt: loop {
        let (mut send, recv) = match master.conn.open_bi().await {
            Ok(s) => s,
            Err(e) => return Some(lost(e.to_string())),
        };
        if let Err(e) = send.write_all(&sent).await {
            return Some(lost(e.to_string()));
        }
        if end_early {
            let _ = send.finish();
        }
        let mut reader = MessageReader::new(recv, max_frame);
        let mut state = RegisterJob::default();
        let mut items = 0u64;
        let mut module_sent = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut requester_gone => {
                    let _ = send.reset(codes::CANCELLED.into());
                    reader.stop(codes::CANCELLED);
                    return None;
                }
                msg = reader.next() => {
                    let msg = match msg {
                        Ok(Some(m)) => m,
                        Ok(None) => {
                            return Some(match master.conn.close_reason() {
                                Some(reason) => lost(reason.to_string()),
                                None => protocol("the job stream ended without done".into()),
                            });
                        }
                        Err(StreamError::Protocol(e)) => {
                            let _ = send.reset(codes::PROTOCOL.into());
                            return Some(protocol(e.to_string()));
                        }
                        Err(e) => return Some(lost(e.to_string())),
                    };
                    if let Err(e) = state.accept(&msg) {
                        let _ = send.reset(codes::PROTOCOL.into());
                        return Some(protocol(e.to_string()));
                    }
                    // Any sign that the job ran means the master holds the module.
                    let ran = match &msg {
                        Message::Item(_) | Message::Log { .. } | Message::Done(_) => true,
                        Message::Failed(JobFailure::Job { error }) => !matches!(error, JobError::Rejected(_)),
                        _ => false,
                    };
                    if ran {
                        master.modules.insert(module.sha256);
                    }
                    let end = match msg {
                        Message::NeedModule if end_early => {
                            // The master no longer holds it: again, with the module.
                            master.modules.remove(&module.sha256);
                            end_early = false;
                            reader.stop(codes::CANCELLED);
                            continue 'attempt;
                        }
                        Message::NeedModule => {
                            // A failed write shows up on the read side (reset or lost).
                            let _ = stream::write(&mut send, &Message::Module(module.bytes.to_vec())).await;
                            module_sent = true;
                            None
                        }
                        Message::Item(item) => {
                            items += 1;
                            if tx.send(RemoteEvent::Item(item)).await.is_err() {
                                let _ = send.reset(codes::CANCELLED.into());
                                reader.stop(codes::CANCELLED);
                                return None;
                            }
                            None
                        }
                        Message::Log { level, message } => {
                            let _ = tx.send(RemoteEvent::Log { level, message }).await;
                            None
                        }
                        last => Some(final_event(&master.id, items, last)),
                    };
                    if let Some(end) = end {
                        // The master finished its side with the last message.
                        reader.take_end().await;
                        return Some(end);
                    }
                }
                item = next_input(&mut in_rx), if input_open => {
                    let msg = match item {
                        Some(i) => Message::Input(i),
                        None => {
                            input_open = false;
                            Message::InputEnd
                        }
                    };
                    // The job may already have ended and stopped reading; its
                    // outcome still arrives on the read side.
                    let frame = msg.to_frame();
                    if send.write_all(&frame).await.is_err() {
                        input_open = false;
                        continue;
                    }
                    replayable = replayable && sent.len() + frame.len() <= FIRST_WRITE_BYTES;
                    if replayable {
                        sent.extend_from_slice(&frame);
                    }
                    if !input_open && (module_sent || (replayable && master.modules.contains(&module.sha256))) {
                        let _ = send.finish();
                        end_early = !module_sent;
                    }
                }
            }
        }
    }
}
