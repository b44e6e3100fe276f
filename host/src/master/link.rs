//! One master -> register link: connect (with the seed's retry knobs),
//! authenticate, then serve: commands from the register, job streams it
//! opens, and announcements of services and load. Reconnects when the
//! connection closes unless told not to; an auth failure is final.

use crate::master::{exec, MasterEvent, MasterInner};
use crate::transport::stream::{self, codes, MessageReader};
use regcenter_protocol::message::{Hello, Message, PROTOCOL_VERSION};
use regcenter_protocol::session::MasterControl;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// How often changed statistics are pushed to each register.
const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Load reports to a register are at least this far apart: a change after a
/// quiet spell goes out at once, changes within the interval are coalesced
/// into one report of the latest count (a register also counts the jobs it
/// opened itself, so it is never blind to its own). Without this every job
/// cost two extra control messages.
const LOAD_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Why one connection attempt ended.
enum Ended {
    /// Could not connect; retry per the knobs.
    Retry(String),
    /// An authenticated session ended; reconnect if configured to.
    Closed,
    /// The register refused our credentials; do not retry.
    AuthFailed(String),
    /// We were told to stop.
    Stopped,
}

/// Where a link goes.
pub struct Target {
    /// `host:port`, the link's key.
    pub key: String,
    /// Host name or address.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// The link's number (tells it from a later link to the same key).
    pub serial: u64,
}

/// Runs the link to `target` until stopped or out of retries.
pub async fn run(inner: Arc<MasterInner>, target: Target, mut stop: watch::Receiver<bool>) {
    let Target { key, host, port, serial } = target;
    let mut attempt: u64 = 0;
    loop {
        if *stop.borrow() || inner.closed.load(Ordering::Acquire) {
            break;
        }
        attempt += 1;
        inner.emit(MasterEvent::Connecting { register: key.clone(), attempt });
        let ended = tokio::select! {
            e = connect_and_serve(&inner, &key, serial, &host, port, &mut attempt) => e,
            _ = stop.changed() => Ended::Stopped,
        };
        inner.set_connected(&key, serial, None);
        match ended {
            Ended::Stopped => break,
            Ended::AuthFailed(reason) => {
                inner.emit(MasterEvent::AuthFailed { register: key.clone(), reason });
                break;
            }
            Ended::Closed => {
                if !inner.cfg.reconnect_on_close {
                    break;
                }
            }
            Ended::Retry(reason) => {
                inner.emit(MasterEvent::Error { register: key.clone(), context: "connection".into(), message: reason });
                if inner.cfg.retry_attempts.is_some_and(|max| attempt >= max as u64) {
                    inner.emit(MasterEvent::RetriesExhausted { register: key.clone(), attempts: attempt });
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.cfg.retry_delay) => {}
            _ = stop.changed() => break,
        }
    }
    inner.forget_link(&key, serial);
}

async fn connect_and_serve(inner: &Arc<MasterInner>, key: &str, serial: u64, host: &str, port: u16, attempt: &mut u64) -> Ended {
    let addr = match tokio::net::lookup_host((host, port)).await.map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => return Ended::Retry(format!("{host} resolves to no address")),
        Err(e) => return Ended::Retry(format!("cannot resolve {host}: {e}")),
    };
    let endpoint = match inner.endpoint(addr.is_ipv6()) {
        Ok(e) => e,
        Err(e) => return Ended::Retry(e),
    };
    if inner.cfg.insecure {
        tracing::warn!(register = key, "connecting WITHOUT verifying the register's certificate (insecure mode)");
    }
    let server_name = if host.parse::<std::net::IpAddr>().is_ok() { "localhost" } else { host };
    let conn = match endpoint.connect_with(inner.client.clone(), addr, server_name) {
        Ok(c) => match c.await {
            Ok(c) => c,
            Err(e) => return Ended::Retry(e.to_string()),
        },
        Err(e) => return Ended::Retry(e.to_string()),
    };
    let (mut send, recv) = match conn.open_bi().await {
        Ok(s) => s,
        Err(e) => return Ended::Retry(e.to_string()),
    };
    // Watched from before the hello takes its service list: a change from
    // here on (even before the welcome) is announced once the session runs.
    let changes = (inner.announce.subscribe(), inner.registry.changes());
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        token: inner.token.clone(),
        node_id: inner.node_id.clone(),
        max_jobs: inner.cfg.max_jobs,
        services: inner.registry.all(),
    });
    if let Err(e) = stream::write(&mut send, &hello).await {
        return Ended::Retry(e.to_string());
    }
    let mut reader = MessageReader::new(recv, crate::register::MAX_CONTROL_FRAME);
    let mut state = MasterControl::default();
    let reply = tokio::time::timeout(crate::register::AUTH_TIMEOUT, reader.next()).await;
    match reply {
        Ok(Ok(Some(m))) => {
            if let Err(e) = state.accept(&m) {
                return Ended::Retry(e.to_string());
            }
            match m {
                Message::Welcome(w) => {
                    *attempt = 0;
                    inner.set_connected(key, serial, Some(conn.clone()));
                    inner.emit(MasterEvent::AuthSuccess { register: key.to_string(), register_id: w.register_id });
                }
                Message::AuthFailed(f) => return Ended::AuthFailed(f.reason),
                _ => return Ended::Retry("unexpected reply to hello".into()),
            }
        }
        Ok(Ok(None)) => return Ended::Retry("the register closed the control stream".into()),
        Ok(Err(e)) => {
            return match conn.close_reason() {
                Some(quinn::ConnectionError::ApplicationClosed(c)) if c.error_code == codes::AUTH_FAILED.into() => {
                    Ended::AuthFailed(String::from_utf8_lossy(&c.reason).into_owned())
                }
                _ => Ended::Retry(e.to_string()),
            }
        }
        Err(_) => return Ended::Retry("no answer to hello".into()),
    }
    let reason = serve(inner, key, &conn, &mut send, &mut reader, &mut state, changes).await;
    inner.emit(MasterEvent::Close { register: key.to_string(), reason });
    Ended::Closed
}

async fn serve(
    inner: &Arc<MasterInner>,
    key: &str,
    conn: &quinn::Connection,
    send: &mut quinn::SendStream,
    reader: &mut MessageReader,
    state: &mut MasterControl,
    changes: (watch::Receiver<u64>, watch::Receiver<u64>),
) -> String {
    let (mut announce, mut services) = changes;
    let metrics = inner.registry.runtime().metrics().clone();
    let mut sent_version = u64::MAX;
    let mut stats_tick = tokio::time::interval(STATS_INTERVAL);
    let mut load = inner.load.subscribe();
    // A new session's entry on the register starts at zero. Armed
    // (`load_pending`) when the count of other registers' jobs changed:
    // fires when the next report may go; the first check is at once, for
    // jobs already running when this session began.
    let (mut load_sent_at, mut load_sent) = (tokio::time::Instant::now() - LOAD_INTERVAL, 0u32);
    let load_due = tokio::time::sleep_until(load_sent_at);
    tokio::pin!(load_due);
    let mut load_pending = true;
    let register: Arc<str> = key.into();
    // Job streams are accepted by a task of their own for the session: a new
    // stream wakes only that task, not this loop (whose select polls every
    // branch on each wake-up: the control stream, three watches and a timer).
    let mut acceptor = {
        let (inner, register, conn) = (inner.clone(), register.clone(), conn.clone());
        AbortOnDrop(tokio::spawn(async move {
            loop {
                match conn.accept_bi().await {
                    Ok((s, r)) => {
                        tokio::spawn(exec::serve(inner.clone(), register.clone(), s, r));
                    }
                    Err(e) => return e.to_string(),
                }
            }
        }))
    };
    let mut accept = std::pin::pin!(acceptor.ended());
    loop {
        tokio::select! {
            reason = &mut accept => return reason,
            msg = stream::next_control(reader, conn, |m| state.accept(m)) => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(reason) => return reason,
                };
                if let Message::Command(cmd) = msg {
                    inner.handle_command(key, cmd);
                }
            }
            changed = async {
                tokio::select! {
                    c = announce.changed() => c,
                    c = services.changed() => c,
                }
            } => {
                if changed.is_err() {
                    return "master closed".into();
                }
                if let Err(e) = stream::write(send, &Message::Announce(inner.registry.all())).await {
                    return e.to_string();
                }
            }
            _ = stats_tick.tick() => {
                let v = metrics.version();
                if v != sent_version {
                    sent_version = v;
                    if let Err(e) = stream::write(send, &Message::Stats(metrics.snapshot())).await {
                        return e.to_string();
                    }
                }
            }
            changed = load.changed(), if !load_pending => {
                if changed.is_err() {
                    return "master closed".into();
                }
                // This register's own jobs change nothing it is told.
                if load.borrow_and_update().others(&register) != load_sent {
                    load_due.as_mut().reset(load_sent_at + LOAD_INTERVAL);
                    load_pending = true;
                }
            }
            _ = &mut load_due, if load_pending => {
                load_pending = false;
                let n = load.borrow_and_update().others(&register);
                if load_sent != n {
                    if let Err(e) = stream::write(send, &Message::Load(n)).await {
                        return e.to_string();
                    }
                    (load_sent_at, load_sent) = (tokio::time::Instant::now(), n);
                }
            }
        }
    }
}

/// A task aborted when its handle is dropped (a session's acceptor ends with
/// its session).
struct AbortOnDrop(tokio::task::JoinHandle<String>);

impl AbortOnDrop {
    /// Why the task ended.
    async fn ended(&mut self) -> String {
        match (&mut self.0).await {
            Ok(reason) => reason,
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
