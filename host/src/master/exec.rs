//! Running one job stream on the master: read the job header, refuse at
//! once when at the job limit, fetch the module only if it is not cached
//! (verifying its hash), run it through the runtime, stream items in order
//! and end with `Done` or `Failed`. A reset from the register cancels the
//! job; a job is never stopped by dropping it mid-service-call.

use crate::master::MasterInner;
use crate::runtime::compiling::PrepareError;
use crate::runtime::job::JobEvent;
use crate::runtime::sha256;
use crate::transport::stream::{self, codes, MessageReader, StreamError};
use regcenter_protocol::errors::JobError;
use regcenter_protocol::message::{JobFailure, JobStart, Message};
use regcenter_protocol::session::MasterJob;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Counts the job as running until it is over (see [`crate::master::load`]).
struct Running<'a>(&'a MasterInner, &'a Arc<str>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let (inner, register) = (self.0, self.1);
        inner.load.send_if_modified(|l| {
            l.end(register);
            inner.others_are_told(register)
        });
    }
}

/// Serves one job stream opened by `register` (`host:port` as dialled).
pub async fn serve(inner: Arc<MasterInner>, register: Arc<str>, mut send: quinn::SendStream, recv: quinn::RecvStream) {
    let max_frame = inner.registry.runtime().config().max_module_bytes + 4096;
    let mut reader = MessageReader::new(recv, max_frame);
    let mut state = MasterJob::default();
    let start = match next_checked(&mut reader, &mut state).await {
        Ok(Some(Message::JobStart(s))) => s,
        Ok(_) | Err(_) => {
            let _ = send.reset(codes::PROTOCOL.into());
            return;
        }
    };
    let mut running = 0;
    inner.load.send_if_modified(|l| {
        running = l.start(&register);
        inner.others_are_told(&register)
    });
    let _guard = Running(&inner, &register);
    if running > inner.cfg.max_jobs || inner.draining.load(Ordering::Acquire) {
        let failure = if inner.draining.load(Ordering::Acquire) {
            JobFailure::Refused { reason: "the master is draining".into() }
        } else {
            JobFailure::Busy { running: running - 1, max: inner.cfg.max_jobs }
        };
        finish(&mut send, &Message::Failed(failure).to_frame()).await;
        return;
    }
    let mut early_input = Vec::new();
    let prepared = match prepare(&inner, &register, &start, &mut send, &mut reader, &mut state, &mut early_input).await {
        Ok(p) => p,
        Err(failure) => {
            finish(&mut send, &Message::Failed(failure).to_frame()).await;
            return;
        }
    };
    let lookup = inner.registry.lookup();
    // The job runs in this task: no task of its own, no wake-up per event.
    let mut job = inner.registry.runtime().start_job_inline(prepared, start.input, start.limits, lookup);
    for msg in early_input {
        match msg {
            Message::Input(item) => {
                let _ = job.send(item).await;
            }
            _ => job.close_input(),
        }
    }
    let mut reading = true;
    // The register stopping the stream cancels the job. Its side may already
    // be finished (input closed), so the read side cannot tell.
    'run: {
        let stopped = send.stopped();
        tokio::pin!(stopped);
        loop {
            // The job first: a short job is done before the stream or the
            // stop signal is even looked at (each a poll of quinn's
            // connection state). A job that waits lets the others through.
            tokio::select! {
                biased;
                ev = job.next() => {
                    // Every event already waiting goes out in one write (one
                    // packet for a short job's items and its done).
                    let mut batch = Vec::new();
                    let mut next = ev;
                    let last = loop {
                        let msg = match next {
                            Some(JobEvent::Item(i)) => Message::Item(i),
                            Some(JobEvent::Log(level, message)) => Message::Log { level: format!("{level:?}").to_lowercase(), message },
                            Some(JobEvent::Done { items }) => break Some(Message::Done(items)),
                            Some(JobEvent::Failed(error)) => break Some(Message::Failed(JobFailure::Job { error })),
                            None => return,
                        };
                        batch.extend_from_slice(&msg.to_frame());
                        if batch.len() >= BATCH_BYTES {
                            break None;
                        }
                        next = match job.try_next() {
                            Some(ev) => Some(ev),
                            None => break None,
                        };
                    };
                    if let Some(last) = last {
                        batch.extend_from_slice(&last.to_frame());
                        finish(&mut send, &batch).await;
                        break 'run;
                    }
                    if send.write_all(&batch).await.is_err() {
                        // The register stopped the stream: the requester is gone.
                        job.cancel();
                        drain(&mut job).await;
                        return;
                    }
                }
                msg = next_checked(&mut reader, &mut state), if reading => match msg {
                    Ok(Some(Message::Input(item))) => {
                        let _ = job.send(item).await;
                    }
                    Ok(Some(Message::InputEnd)) => job.close_input(),
                    Ok(Some(_)) => {}
                    Ok(None) => reading = false,
                    Err(_) => {
                        // Reset (cancel), lost connection, or a protocol error: stop the job.
                        job.cancel();
                        drain(&mut job).await;
                        let _ = send.reset(codes::CANCELLED.into());
                        return;
                    }
                },
                _ = &mut stopped => {
                    job.cancel();
                    drain(&mut job).await;
                    return;
                }
            }
        }
    }
    // The result is written. The register's end of the stream has usually
    // arrived with the start: taken, so that dropping the reader sends no
    // STOP_SENDING. The stream's handles go now, so what closing it sends
    // leaves in the same packet as the result. A lone job's Store (a third
    // of a short job's CPU) goes after the connection has sent that packet:
    // the write woke its driver, which runs before this task is polled
    // again. With other jobs running on the runtime (this master's, or
    // those of other masters sharing it in one process), the packet waits
    // for their turns anyway, and the Store goes at once: its pool slot,
    // still in the cache, is the one the next job gets (slots are reused
    // last-in, first-out), where a yield would hold one slot per queued
    // job. The count is the runtime's, not this master's: in a broadcast
    // to many masters in one process each master has one job, and yielding
    // in every one of them kept hundreds of Stores alive, each in a slot
    // of its own gone cold.
    if reading {
        reader.take_end().await;
    }
    drop((send, reader));
    if inner.registry.runtime().runs_under_way() <= 1 {
        tokio::task::yield_now().await;
    }
    drop(job);
}

async fn next_checked(reader: &mut MessageReader, state: &mut MasterJob) -> Result<Option<Message>, StreamError> {
    let msg = reader.next().await?;
    if let Some(m) = &msg {
        state.accept(m)?;
    }
    Ok(msg)
}

/// The prepared job: from the cache, or after fetching and checking the module.
async fn prepare(
    inner: &MasterInner,
    register: &str,
    start: &JobStart,
    send: &mut quinn::SendStream,
    reader: &mut MessageReader,
    state: &mut MasterJob,
    early_input: &mut Vec<Message>,
) -> Result<Arc<crate::runtime::job::PreparedJob>, JobFailure> {
    let refused = |reason: String| JobFailure::Refused { reason };
    let sha = crate::runtime::unhex::<32>(&start.sha256).ok_or_else(|| refused("job-start carries no valid SHA-256".into()))?;
    // Admission comes first: a refused job costs no module transfer or compile.
    inner.cfg.admission.check(register, &sha, start.signature.as_ref()).map_err(|refusal| JobFailure::NotAdmitted { refusal })?;
    let runtime = inner.registry.runtime();
    let lookup = inner.registry.lookup();
    let rejected = |e| JobFailure::Job { error: JobError::Rejected(e) };
    // Only the first of the jobs asking for one new module at the same time
    // fetches it; the others wait for its compile (see runtime::compiling).
    let fetch = move || async move {
        let max = runtime.config().max_module_bytes;
        if start.size as usize > max {
            return Err(rejected(crate::error::LoadError::TooLarge { size: start.size as usize, max }));
        }
        stream::write(send, &Message::NeedModule).await.map_err(|e| refused(e.to_string()))?;
        state.requested_module();
        // Input may arrive before the module; keep it for the job.
        let bytes = loop {
            match next_checked(reader, state).await {
                Ok(Some(Message::Module(b))) => break b,
                Ok(Some(m @ (Message::Input(_) | Message::InputEnd))) => early_input.push(m),
                Ok(_) => return Err(refused("the stream ended before the module".into())),
                Err(e) => return Err(refused(e.to_string())),
            }
        };
        if bytes.len() as u64 != start.size || sha256(&bytes) != sha {
            return Err(refused("the module does not match its announced SHA-256 and size".into()));
        }
        Ok(Arc::<[u8]>::from(bytes))
    };
    runtime.prepare_once(sha, &lookup, fetch).await.map_err(|e| match e {
        PrepareError::Fetch(failure) => failure,
        PrepareError::Load(e) => rejected(e),
    })
}

/// Events batched into one write at most (then the next write starts).
const BATCH_BYTES: usize = 64 << 10;

/// Writes the stream's last frames and ends it.
async fn finish(send: &mut quinn::SendStream, frames: &[u8]) {
    let _ = send.write_all(frames).await;
    let _ = send.finish();
}

async fn drain(job: &mut crate::runtime::job::RunningJob) {
    while job.next().await.is_some() {}
}
