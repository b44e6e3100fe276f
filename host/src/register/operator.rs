//! Operators on the register: after an `operator-hello` with an operator
//! token (master tokens are refused), each request comes on its own stream
//! the operator opens: queries, commands, and job runs relayed to masters
//! (the module crosses from the operator only when the register lacks it;
//! every master's events come back tagged with the master's id). Resetting a
//! run's stream cancels its jobs on the masters.

use crate::register::jobs::{JobModule, RemoteEvent, RemoteJob};
use crate::register::Shared;
use crate::runtime::sha256;
use crate::transport::stream::{self, codes, MessageReader};
use regcenter_protocol::admission::JobSignature;
use regcenter_protocol::limits::JobLimits;
use regcenter_protocol::message::{Message, Request, RunTarget};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Modules operators sent, kept so a repeated run does not send them again:
/// the last [`MODULES_KEPT`], and no more than [`MODULE_BYTES_KEPT`] bytes
/// (the oldest go first; the newest always stays).
#[derive(Default)]
pub struct ModuleStore {
    modules: HashMap<[u8; 32], JobModule>,
    order: VecDeque<[u8; 32]>,
    bytes: usize,
}

/// Modules kept per register.
const MODULES_KEPT: usize = 64;

/// Bytes of modules kept per register (64 modules of the 32 MiB a module
/// may have would be 2 GiB).
const MODULE_BYTES_KEPT: usize = 256 << 20;

impl ModuleStore {
    fn get(&self, sha: &[u8; 32]) -> Option<JobModule> {
        self.modules.get(sha).cloned()
    }

    fn put(&mut self, module: JobModule) {
        let sha = module.sha256();
        let size = module.bytes().len();
        if self.modules.insert(sha, module).is_some() {
            return;
        }
        self.order.push_back(sha);
        self.bytes += size;
        while self.order.len() > MODULES_KEPT || (self.bytes > MODULE_BYTES_KEPT && self.order.len() > 1) {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(m) = self.modules.remove(&old) {
                self.bytes -= m.bytes().len();
            }
        }
    }
}

/// Serves an authenticated operator's streams until its connection closes.
pub async fn serve(shared: Arc<Shared>, conn: quinn::Connection) -> String {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(request(shared.clone(), send, recv));
            }
            Err(e) => return e.to_string(),
        }
    }
}

async fn request(shared: Arc<Shared>, mut send: quinn::SendStream, recv: quinn::RecvStream) {
    let mut reader = MessageReader::new(recv, shared.cfg.max_job_frame);
    let req = match reader.next().await {
        Ok(Some(Message::Request(r))) => r,
        _ => {
            let _ = send.reset(codes::PROTOCOL.into());
            return;
        }
    };
    let reply = |v: serde_json::Value| Message::Reply(v);
    match req {
        Request::Masters => {
            let _ = stream::write(&mut send, &reply(serde_json::to_value(shared.connected_masters()).unwrap_or_default())).await;
        }
        Request::Services => {
            let _ = stream::write(&mut send, &reply(serde_json::to_value(shared.services_masters()).unwrap_or_default())).await;
        }
        Request::Stats => {
            let (masters, total) = shared.stats();
            let _ = stream::write(&mut send, &reply(serde_json::json!({ "masters": masters, "total": total }))).await;
        }
        Request::Tell { master, command } => {
            let sent = match master {
                Some(id) => usize::from(shared.send_command(&id, command)),
                None => shared.write_raw_message_to_all_masters(command),
            };
            let _ = stream::write(&mut send, &reply(serde_json::json!({ "sent": sent }))).await;
        }
        Request::Run { target, sha256: sha, size, input, limits, signature } => {
            run(&shared, &mut send, &mut reader, target, &sha, size, input, limits, signature).await;
            return;
        }
    }
    let _ = send.finish();
}

#[allow(clippy::too_many_arguments)]
async fn run(
    shared: &Arc<Shared>,
    send: &mut quinn::SendStream,
    reader: &mut MessageReader,
    target: RunTarget,
    sha: &str,
    size: u64,
    input: String,
    limits: JobLimits,
    signature: Option<JobSignature>,
) {
    let refuse = |message: String| Message::Reply(serde_json::json!({ "error": message }));
    let Some(sha_bytes) = crate::runtime::unhex::<32>(sha) else {
        let _ = stream::write(send, &refuse("run carries no valid SHA-256".into())).await;
        let _ = send.finish();
        return;
    };
    let cached = shared.modules.lock().ok().and_then(|m| m.get(&sha_bytes));
    let module = match cached {
        Some(m) => m,
        None => {
            if size as usize > shared.cfg.max_job_frame {
                let _ = stream::write(send, &refuse(format!("module of {size} bytes is over the {}-byte limit", shared.cfg.max_job_frame))).await;
                let _ = send.finish();
                return;
            }
            if stream::write(send, &Message::NeedModule).await.is_err() {
                return;
            }
            let bytes = match reader.next().await {
                Ok(Some(Message::Module(b))) => b,
                // The operator ended its side, sure we held the module: it
                // runs again on a new stream with the module.
                Ok(None) => {
                    let _ = send.finish();
                    return;
                }
                _ => {
                    let _ = send.reset(codes::PROTOCOL.into());
                    return;
                }
            };
            if bytes.len() as u64 != size || sha256(&bytes) != sha_bytes {
                let _ = stream::write(send, &refuse("the module does not match its announced SHA-256 and size".into())).await;
                let _ = send.finish();
                return;
            }
            let module = JobModule::new(bytes);
            if let Ok(mut store) = shared.modules.lock() {
                store.put(module.clone());
            }
            module
        }
    };
    // The signature is the operator's, per request; masters check it.
    let module = module.with_signature(signature);
    let jobs: Vec<RemoteJob> = match &target {
        // The relay never sends input items: the start carries the input's end.
        RunTarget::Master { id } => vec![shared.run_on_master(id, &module, input, limits, crate::register::jobs::Input::Closed)],
        RunTarget::All => shared.run_on_all_masters(&module, input, limits),
        RunTarget::Service { name, retries } => {
            vec![crate::register::jobs::with_retries(shared.clone(), name.clone(), module.clone(), input, limits, *retries)]
        }
    };
    let masters: Vec<String> = jobs.iter().map(|j| j.master.clone()).collect();
    // The reply goes with the first events when they come soon (a short
    // job's reply, items, done and end in one packet), else alone.
    let mut reply = Some(Message::Reply(serde_json::json!({ "masters": masters })).to_frame());
    let reply_due = tokio::time::sleep(REPLY_WAIT);
    tokio::pin!(reply_due);
    let mut events = Events::new(jobs);
    // The operator dropping its run (STOP_SENDING) or its connection ends the
    // relay at once, even while the jobs are silent.
    let stopped = send.stopped();
    tokio::pin!(stopped);
    let mut reading = true;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = &mut reply_due, if reply.is_some() => {
                if send.write_all(&reply.take().unwrap_or_default()).await.is_err() {
                    break;
                }
            }
            ev = events.next() => {
                // Every event already waiting goes out in one write, and the
                // stream's end with the last (one packet for a short job).
                let mut batch = reply.take().unwrap_or_default();
                let mut next = ev;
                let ended = loop {
                    match next {
                        Some((master, event)) => batch.extend_from_slice(&Message::Routed { master, event }.to_frame()),
                        None => break true,
                    }
                    if batch.len() >= BATCH_BYTES {
                        break false;
                    }
                    match events.try_next() {
                        Some(more) => next = more,
                        None => break false,
                    }
                };
                if send.write_all(&batch).await.is_err() {
                    break;
                }
                if ended {
                    let _ = send.finish();
                    break;
                }
            },
            gone = reader.next(), if reading => match gone {
                // The operator finished its side: keep streaming.
                Ok(None) => reading = false,
                // A reset (cancel), a lost connection or a stray frame: stop.
                _ => break,
            },
        }
    }
    // Dropping the jobs (here or in their forwarders) cancels those still
    // running on their masters.
    events.abort();
}

/// How long a run's reply waits for the first events to go with.
const REPLY_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Routed events relayed per write at most.
const BATCH_BYTES: usize = 64 << 10;

/// The events of a run's jobs, tagged with their master: a single job is
/// read directly, several through one forwarder task each into a channel.
struct Events {
    source: Source,
    /// Jobs whose last event (done or failed) has not come yet.
    pending: usize,
}

enum Source {
    One(RemoteJob),
    Many { rx: mpsc::Receiver<(String, RemoteEvent)>, forwarders: Vec<tokio::task::JoinHandle<()>> },
}

impl Events {
    fn new(mut jobs: Vec<RemoteJob>) -> Self {
        let pending = jobs.len();
        // Every run's jobs were started with their input closed.
        if let (1, Some(job)) = (jobs.len(), jobs.pop()) {
            return Self { source: Source::One(job), pending };
        }
        let (tx, rx) = mpsc::channel::<(String, RemoteEvent)>(64);
        let forwarders = jobs
            .into_iter()
            .map(|mut job| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let master = job.master.clone();
                    while let Some(ev) = job.next().await {
                        if tx.send((master.clone(), ev)).await.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self { source: Source::Many { rx, forwarders }, pending }
    }

    /// The next event; `None` once every job ended.
    async fn next(&mut self) -> Option<(String, RemoteEvent)> {
        if self.pending == 0 {
            return None;
        }
        let ev = match &mut self.source {
            Source::One(job) => job.next().await.map(|ev| (job.master.clone(), ev)),
            Source::Many { rx, .. } => rx.recv().await,
        };
        self.count(ev)
    }

    /// `Some(event)` if one is waiting, `Some(None)` once every job ended,
    /// `None` while jobs run and nothing is waiting.
    fn try_next(&mut self) -> Option<Option<(String, RemoteEvent)>> {
        if self.pending == 0 {
            return Some(None);
        }
        let ev = match &mut self.source {
            Source::One(job) => Some(job.try_next()?).map(|ev| (job.master.clone(), ev)),
            Source::Many { rx, .. } => match rx.try_recv() {
                Ok(ev) => Some(ev),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => return None,
            },
        };
        Some(self.count(ev))
    }

    /// Counts a job's last event; a source that ran dry ends every job.
    fn count(&mut self, ev: Option<(String, RemoteEvent)>) -> Option<(String, RemoteEvent)> {
        match &ev {
            Some((_, RemoteEvent::Done { .. } | RemoteEvent::Failed(_))) => self.pending = self.pending.saturating_sub(1),
            Some(_) => {}
            None => self.pending = 0,
        }
        ev
    }

    fn abort(self) {
        if let Source::Many { forwarders, .. } = self.source {
            for f in forwarders {
                f.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(tag: u8, size: usize) -> JobModule {
        JobModule::new(vec![tag; size])
    }

    #[test]
    fn the_store_keeps_the_newest_modules_within_count_and_bytes() {
        let mut store = ModuleStore::default();
        for tag in 0..=MODULES_KEPT as u8 {
            store.put(module(tag, 10));
        }
        assert!(store.get(&module(0, 10).sha256()).is_none(), "the oldest went over the count");
        assert!(store.get(&module(1, 10).sha256()).is_some());
        assert_eq!(store.bytes, MODULES_KEPT * 10);
        // A module putting the store over its bytes pushes out the oldest.
        let big = MODULE_BYTES_KEPT - 20;
        store.put(module(200, big));
        assert!(store.get(&module(200, big).sha256()).is_some(), "the newest stays");
        assert!(store.bytes <= MODULE_BYTES_KEPT, "{} bytes kept", store.bytes);
        assert_eq!(store.order.len(), 3, "two small modules fit beside it");
        // The same module again changes nothing.
        store.put(module(200, big));
        assert_eq!((store.order.len(), store.modules.len()), (3, 3));
    }
}
