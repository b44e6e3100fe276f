//! One master's connection on the register: the TLS handshake once a
//! handshake slot is free, and authentication on the control stream (each
//! within the auth timeout; nothing else is read before it), then the
//! control loop (announcements, load, events from the master; commands to
//! it). Streams a master opens after authenticating are refused: only the
//! register opens job streams.

use crate::register::table::MasterConn;
use crate::register::{RegisterEvent, Shared};
use crate::transport::stream::{self, codes, MessageReader, StreamError};
use crate::transport::tls::token_matches;
use regcenter_protocol::frame;
use regcenter_protocol::message::{AuthFailed, Hello, Message, ProtocolError, Welcome, PROTOCOL_VERSION};
use regcenter_protocol::session::RegisterControl;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc;

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// Commands buffered per master before `write_raw_message_*` reports it full.
/// Boxed in the queue: the channel allocates its first block of slots with
/// the connection, and a slot of a box is 8 bytes where a command is 56.
const COMMAND_BUFFER: usize = 256;

/// Serves one incoming connection until it closes.
pub async fn serve(shared: Arc<Shared>, incoming: quinn::Incoming, slot: OwnedSemaphorePermit) {
    let address = incoming.remote_address();
    let conn = match shared.handshakes.handshake(incoming).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%address, error = %e, "no connection");
            return;
        }
    };
    let authed = tokio::time::timeout(shared.cfg.auth_timeout, authenticate(&shared, &conn)).await;
    // Authenticated or not, this connection no longer counts as authenticating.
    drop(slot);
    let (peer, mut send, reader, state) = match authed {
        Ok(Ok(a)) => {
            shared.backoff.succeeded(address.ip());
            a
        }
        Ok(Err(reason)) => {
            shared.backoff.failed(address.ip(), Instant::now());
            tracing::warn!(%address, %reason, "master authentication failed");
            let _ = shared.events.send(RegisterEvent::AuthFailed { address: address.to_string(), reason: reason.clone() });
            conn.close(codes::AUTH_FAILED.into(), reason.as_bytes());
            return;
        }
        Err(_) => {
            shared.backoff.failed(address.ip(), Instant::now());
            let reason = format!("no valid hello within {:?}", shared.cfg.auth_timeout);
            tracing::warn!(%address, %reason, "master authentication timed out");
            let _ = shared.events.send(RegisterEvent::AuthFailed { address: address.to_string(), reason: reason.clone() });
            conn.close(codes::AUTH_FAILED.into(), reason.as_bytes());
            return;
        }
    };
    if matches!(peer, Peer::Operator) {
        // Operators open one stream per run; masters (and peers that have not
        // authenticated) get only the control stream, so quinn keeps no
        // per-stream state for them.
        conn.set_max_concurrent_bi_streams(shared.cfg.transport.max_bidi_streams.into());
    }
    let welcome = Message::Welcome(Welcome { version: PROTOCOL_VERSION, register_id: shared.register_id.clone() });
    if stream::write(&mut send, &welcome).await.is_err() {
        return;
    }
    let hello = match peer {
        Peer::Master(h) => h,
        Peer::Operator => {
            tracing::info!(%address, "operator authenticated");
            let reason = super::operator::serve(shared.clone(), conn).await;
            tracing::debug!(%address, %reason, "operator disconnected");
            drop((send, reader, state));
            return;
        }
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_BUFFER);
    let master = Arc::new(MasterConn {
        id: hello.node_id.clone(),
        serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        conn: conn.clone(),
        address,
        connected_since: SystemTime::now(),
        services: RwLock::new(hello.services),
        reported: AtomicU32::new(0),
        open: AtomicU32::new(0),
        max_jobs: hello.max_jobs,
        commands: cmd_tx,
        stats: RwLock::default(),
        modules: Default::default(),
    });
    if let Some(old) = shared.masters.insert(master.clone()) {
        tracing::info!(master = %old.id, "a newer connection took over this node id");
        old.conn.close(codes::REPLACED.into(), b"replaced by a newer connection with the same node id");
    }
    tracing::info!(master = %master.id, %address, "master authenticated");
    let _ = shared.events.send(RegisterEvent::MasterAuthenticated { id: master.id.clone(), address: address.to_string() });

    let reason = control_loop(&shared, &master, send, reader, state, cmd_rx).await;
    if shared.masters.remove(&master.id, master.serial) {
        tracing::info!(master = %master.id, %reason, "master disconnected");
        let _ = shared.events.send(RegisterEvent::MasterDisconnected { id: master.id.clone(), reason });
    }
}

/// Who authenticated.
enum Peer {
    /// A master, with its hello.
    Master(Hello),
    /// An operator.
    Operator,
}

/// Reads and checks the hello. Errors are the reason sent to the peer.
/// An authenticated control stream: who, its two halves, and the session
/// state that has seen the hello (so a second hello is refused).
type Authed = (Peer, quinn::SendStream, MessageReader, RegisterControl);

async fn authenticate(shared: &Shared, conn: &quinn::Connection) -> Result<Authed, String> {
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| format!("no control stream: {e}"))?;
    let mut state = RegisterControl::default();
    let msg = match read_hello(shared, &mut recv).await {
        Ok(m) => m,
        Err(HelloError::Ended) => return Err("the control stream ended before hello".into()),
        Err(HelloError::Refused(reason)) => return Err(refuse(&mut send, reason).await),
    };
    // The rest of the stream is read with the control-stream cap.
    let reader = MessageReader::new(recv, shared.cfg.max_control_frame);
    // An address that failed before waits before its credentials are checked.
    let wait = shared.backoff.delay(conn.remote_address().ip(), Instant::now());
    if !wait.is_zero() {
        tracing::debug!(address = %conn.remote_address(), ?wait, "delaying an address with failed authentications");
        shared.backoff.waited();
        tokio::time::sleep(wait).await;
    }
    if let Err(e) = state.accept(&msg) {
        return Err(refuse(&mut send, e.to_string()).await);
    }
    match msg {
        Message::Hello(hello) => {
            if !token_matches(&hello.token, &shared.master_tokens()) {
                return Err(refuse(&mut send, "invalid token".into()).await);
            }
            if hello.node_id.is_empty() || hello.node_id.len() > 128 {
                return Err(refuse(&mut send, "invalid node id (1-128 bytes)".into()).await);
            }
            Ok((Peer::Master(hello), send, reader, state))
        }
        Message::OperatorHello(h) => {
            if !token_matches(&h.token, &shared.operator_tokens()) {
                return Err(refuse(&mut send, "invalid operator token (master tokens cannot act as operators)".into()).await);
            }
            Ok((Peer::Operator, send, reader, state))
        }
        _ => Err(refuse(&mut send, "expected hello".into()).await),
    }
}

/// Why no hello could be read.
enum HelloError {
    /// The stream ended before any byte.
    Ended,
    /// What to tell the peer.
    Refused(String),
}

/// Reads exactly the first frame of a control stream. Its length is known
/// from the prefix before any body is buffered: over the hello cap it is
/// refused at once, and a body over [`SMALL_HELLO`](super::SMALL_HELLO)
/// bytes is read only with one of the few large-hello permits.
async fn read_hello(shared: &Shared, recv: &mut quinn::RecvStream) -> Result<Message, HelloError> {
    // `before`: bytes of the frame already read when this read started.
    let cut = |e: quinn::ReadExactError, before: usize| match e {
        quinn::ReadExactError::FinishedEarly(0) if before == 0 => HelloError::Ended,
        quinn::ReadExactError::FinishedEarly(n) => HelloError::Refused(StreamError::Truncated(before + n).to_string()),
        quinn::ReadExactError::ReadError(e) => HelloError::Refused(e.to_string()),
    };
    let mut prefix = [0u8; frame::LEN_BYTES];
    recv.read_exact(&mut prefix).await.map_err(|e| cut(e, 0))?;
    frame::check(&prefix, shared.cfg.max_hello_frame).map_err(|e| HelloError::Refused(ProtocolError::from(e).to_string()))?;
    let len = u32::from_be_bytes(prefix) as usize;
    let _permit = if len > super::SMALL_HELLO {
        let busy = || HelloError::Refused(format!("register busy: too many hellos over {} bytes being received; retry", super::SMALL_HELLO));
        Some(shared.large_hellos.try_acquire().map_err(|_| busy())?)
    } else {
        None
    };
    // `check` refused a zero length: the body holds at least the kind byte.
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await.map_err(|e| cut(e, frame::LEN_BYTES))?;
    Message::decode(body[0], &body[1..]).map_err(|e| HelloError::Refused(e.to_string()))
}

/// Tells the master why it is refused; returns the reason.
async fn refuse(send: &mut quinn::SendStream, reason: String) -> String {
    let _ = stream::write(send, &Message::AuthFailed(AuthFailed { reason: reason.clone() })).await;
    let _ = send.finish();
    // Give the frame a moment to leave before the connection closes.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    reason
}

async fn control_loop(
    shared: &Shared,
    master: &Arc<MasterConn>,
    mut send: quinn::SendStream,
    mut reader: MessageReader,
    mut state: RegisterControl,
    mut commands: mpsc::Receiver<Box<regcenter_protocol::message::Command>>,
) -> String {
    loop {
        tokio::select! {
            msg = stream::next_control(&mut reader, &master.conn, |m| state.accept(m)) => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(reason) => return reason,
                };
                match msg {
                    Message::Announce(services) => {
                        if let Ok(mut s) = master.services.write() {
                            *s = services;
                        }
                        let _ = shared.events.send(RegisterEvent::ServicesChanged { id: master.id.clone() });
                    }
                    Message::Load(n) => master.reported.store(n, Ordering::Relaxed),
                    Message::Stats(st) => {
                        if let Ok(mut s) = master.stats.write() {
                            *s = st;
                        }
                    }
                    Message::Command(c) => {
                        let _ = shared.events.send(RegisterEvent::Cmd { id: master.id.clone(), command: c });
                    }
                    _ => {}
                }
            }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return "register shut down".into() };
                if let Err(e) = stream::write(&mut send, &Message::Command(*cmd)).await {
                    return e.to_string();
                }
            }
            stray = master.conn.accept_bi() => {
                match stray {
                    Ok((mut s, mut r)) => {
                        let _ = s.reset(codes::PROTOCOL.into());
                        let _ = r.stop(codes::PROTOCOL.into());
                    }
                    Err(e) => return e.to_string(),
                }
            }
        }
    }
}
