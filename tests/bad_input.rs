//! Bad input on the wire, over real QUIC on 127.0.0.1: garbage, cut and
//! oversized frames, a wrong protocol version, messages out of order, a
//! second hello, and wrong tokens of every shape. Each closes the offending
//! connection with a reason that names the fault; a well-behaved master on
//! the same register keeps serving jobs throughout. Failed attempts from one
//! address are delayed more and more, and a success clears the delay.

mod common;

use common::plugin;
use regcenter::master::{Master, MasterConfig};
use regcenter::protocol::message::{Hello, Message, OperatorHello, PROTOCOL_VERSION};
use regcenter::register::{JobModule, Register, RegisterConfig, RegisterEvent};
use regcenter::transport::tls::{client_config, TransportSettings, Trust};
use regcenter::JobLimits;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A QUIC client that trusts the register's CA but speaks whatever it is told.
fn raw_client(dir: &Path) -> quinn::Endpoint {
    let trust = Trust::from_pem(&regcenter::transport::datadir::DataDir::open(dir).unwrap().ca_cert_pem().unwrap()).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(client_config(&trust, TransportSettings::default()).unwrap());
    ep
}

/// Opens a connection, writes `bytes` on the control stream (then FIN when
/// `fin`), and returns why the register ended it: the auth-failed reason,
/// or the connection's close reason.
async fn attempt(ep: &quinn::Endpoint, addr: SocketAddr, bytes: &[u8], fin: bool) -> String {
    let conn = ep.connect(addr, "localhost").unwrap().await.expect("handshake");
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // The register may close before everything is written: that is fine.
    let _ = send.write_all(bytes).await;
    if fin {
        let _ = send.finish();
    }
    let reply = within("the register's answer", recv.read_to_end(1 << 16)).await.unwrap_or_default();
    let mut dec = regcenter::protocol::message::Decoder::default();
    dec.push(&reply);
    if let Ok(Some(Message::AuthFailed(f))) = dec.next_message() {
        within("close", conn.closed()).await;
        return f.reason;
    }
    within("close", conn.closed()).await.to_string()
}

fn hello(token: &str, version: u32) -> Vec<u8> {
    Message::Hello(Hello { version, token: token.into(), node_id: "intruder".into(), max_jobs: 1, services: vec![] }).to_frame()
}

async fn register(dir: &Path) -> Register {
    Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), dir)).await.unwrap()
}

async fn good_master(dir: &Path, reg: &Register) -> Master {
    master_named(dir, reg, "m-good", &["hello-world"]).await
}

/// An in-process master with `services`, once `reg` has it in its table.
async fn master_named(dir: &Path, reg: &Register, name: &str, services: &[&str]) -> Master {
    let mut cfg = MasterConfig::new(dir);
    cfg.node_id = Some(name.into());
    let master = Master::new(cfg, common::registry_with(services).await).unwrap();
    let mut ev = reg.events();
    master.connect("127.0.0.1", reg.local_addr().port());
    within(name, async {
        while reg.master(name).is_none() {
            let _ = ev.recv().await;
        }
    })
    .await;
    master
}

async fn good_job_runs(reg: &Register) {
    let job = JobModule::new(plugin("greet"));
    let (items, outcome) = within("a good job", reg.run_on_master("m-good", &job, "{}", JobLimits::default()).collect()).await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));
}

fn master_token(dir: &Path) -> String {
    regcenter::transport::datadir::DataDir::open(dir).unwrap().tokens(regcenter::transport::datadir::TokenKind::Master).unwrap()[0].clone()
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn malformed_frames_close_the_connection_with_the_fault_named() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let _good = good_master(dir.path(), &reg).await;
    let ep = raw_client(dir.path());
    let addr = reg.local_addr();

    // Someone speaking HTTP: "GET " read as a length is 1195725856.
    let garbage = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    let mut cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        ("garbage", garbage, true, "frame of 1195725856 bytes is over the 262144-byte limit"),
        ("unknown kind", vec![0, 0, 0, 3, 0x7f, 1, 2], true, "unknown message kind 0x7f"),
        ("zero length", vec![0, 0, 0, 0], true, "empty frame"),
        ("oversized length prefix", vec![0x7f, 0xff, 0xff, 0xff, 1], false, "frame of 2147483647 bytes is over the 262144-byte limit"),
        ("malformed hello body", vec![0, 0, 0, 3, 0x01, b'{', b'x'], true, "malformed hello message"),
        ("wrong protocol version", hello("whatever", PROTOCOL_VERSION + 1), true, "protocol version mismatch: peer speaks 3, this side 2"),
        ("load before hello", Message::Load(3).to_frame(), true, "unexpected load before hello"),
        ("job message before hello", Message::Item("1".into()).to_frame(), true, "unexpected item before hello"),
        ("stream ends before hello", Vec::new(), true, "the control stream ended before hello"),
    ];
    let mut cut = hello("t", PROTOCOL_VERSION);
    cut.truncate(cut.len() - 3);
    cases.push(("truncated hello", cut, true, "stream ended in the middle of a frame"));
    for (what, bytes, fin, expected) in cases {
        let reason = attempt(&ep, addr, &bytes, fin).await;
        assert!(reason.contains(expected), "{what}: got {reason:?}, expected it to contain {expected:?}");
        assert!(reg.master("intruder").is_none(), "{what}");
    }
    good_job_runs(&reg).await;
}

#[tokio::test]
async fn a_second_hello_and_garbage_after_authentication_drop_only_that_master() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let _good = good_master(dir.path(), &reg).await;
    let ep = raw_client(dir.path());
    let token = master_token(dir.path());
    for (what, after, expected) in [
        ("second hello", hello(&token, PROTOCOL_VERSION), "unexpected hello (a second hello)"),
        ("job message on the control stream", Message::Done(1).to_frame(), "unexpected done on the control stream"),
        ("garbage after hello", vec![0, 0, 0, 2, 0xee, 0], "unknown message kind 0xee"),
    ] {
        let mut events = reg.events();
        let conn = ep.connect(reg.local_addr(), "localhost").unwrap().await.unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(&hello(&token, PROTOCOL_VERSION)).await.unwrap();
        let mut dec = regcenter::protocol::message::Decoder::default();
        let mut buf = vec![0u8; 4096];
        let welcome = within("welcome", async {
            loop {
                if let Some(m) = dec.next_message().unwrap() {
                    return m;
                }
                let n = recv.read(&mut buf).await.unwrap().expect("welcome before the end");
                dec.push(&buf[..n]);
            }
        })
        .await;
        assert!(matches!(welcome, Message::Welcome(_)), "{what}: {welcome:?}");
        send.write_all(&after).await.unwrap();
        let closed = within("close", conn.closed()).await.to_string();
        assert!(closed.contains(expected), "{what}: {closed}");
        let gone = within("the register drops it", async {
            loop {
                if let Ok(RegisterEvent::MasterDisconnected { id, reason }) = events.recv().await {
                    if id == "intruder" {
                        return reason;
                    }
                }
            }
        })
        .await;
        assert!(gone.contains(expected), "{what}: {gone}");
        good_job_runs(&reg).await;
    }
}

#[tokio::test]
async fn wrong_tokens_of_every_shape_are_refused_and_repeated_failures_wait_longer() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let _good = good_master(dir.path(), &reg).await;
    let ep = raw_client(dir.path());
    let token = master_token(dir.path());
    assert_eq!(reg.auth_delay(LOCALHOST), Duration::ZERO);

    let cases = [
        ("wrong", "x".repeat(token.len()), "invalid token"),
        ("empty", String::new(), "invalid token"),
        ("correct prefix", token[..token.len() - 1].to_string(), "invalid token"),
        ("correct plus a byte", format!("{token}x"), "invalid token"),
        ("huge", "t".repeat(200 << 10), "invalid token"),
        ("over the hello limit", "t".repeat(300 << 10), "over the 262144-byte limit"),
    ];
    for (n, (what, tok, expected)) in cases.iter().enumerate() {
        let reason = attempt(&ep, reg.local_addr(), &hello(tok, PROTOCOL_VERSION), true).await;
        assert!(reason.contains(expected), "{what}: {reason}");
        assert_eq!(reg.auth_delay(LOCALHOST), regcenter::register::backoff::delay_for(n as u32 + 1), "after {what}");
    }
    // The master token is no operator token either.
    let op = Message::OperatorHello(OperatorHello { version: PROTOCOL_VERSION, token: token.clone() }).to_frame();
    let reason = attempt(&ep, reg.local_addr(), &op, true).await;
    assert!(reason.contains("invalid operator token"), "{reason}");

    // The next attempt is made to wait its delay before its token is checked.
    assert_eq!(reg.auth_delay(LOCALHOST), regcenter::register::backoff::delay_for(cases.len() as u32 + 1));
    let waits = reg.auth_waits();
    let reason = attempt(&ep, reg.local_addr(), &hello("nope", PROTOCOL_VERSION), true).await;
    assert!(reason.contains("invalid token"));
    assert_eq!(reg.auth_waits(), waits + 1, "the attempt waited");

    // An honest master from the same address still gets in, and clears the delay.
    let _honest = master_named(dir.path(), &reg, "m-honest", &[]).await;
    assert_eq!(reg.auth_delay(LOCALHOST), Duration::ZERO);
    good_job_runs(&reg).await;
}

#[tokio::test]
async fn an_authenticated_master_can_neither_open_streams_nor_send_requests() {
    use regcenter::protocol::limits::JobLimits as Limits;
    use regcenter::protocol::message::Request;
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let _good = good_master(dir.path(), &reg).await;
    let ep = raw_client(dir.path());
    let token = master_token(dir.path());
    let conn = ep.connect(reg.local_addr(), "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&hello(&token, PROTOCOL_VERSION)).await.unwrap();
    let mut first = [0u8; 5];
    within("welcome", recv.read_exact(&mut first)).await.unwrap();
    assert_eq!(first[4], 0x02, "welcome");
    // No stream credit beyond the control stream: a master cannot open a
    // request stream at all (the register never raises a master's limit).
    assert!(tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await.is_err(), "a second stream opened");
    // A run request on the control stream closes the connection.
    let run = Message::Request(Request::Run {
        target: regcenter::protocol::message::RunTarget::Master { id: "m-good".into() },
        sha256: regcenter::runtime::hex(&regcenter::runtime::sha256(&plugin("greet"))),
        size: plugin("greet").len() as u64,
        input: "{}".into(),
        limits: Limits::default(),
        signature: None,
    });
    send.write_all(&run.to_frame()).await.unwrap();
    let closed = within("close", conn.closed()).await.to_string();
    assert!(closed.contains("unexpected request on the control stream"), "{closed}");
    good_job_runs(&reg).await;
}

/// The first datagram of a real client dialling `localhost` (a QUIC Initial
/// carrying its TLS ClientHello), caught on a socket that never answers.
async fn captured_initial(dir: &Path) -> Vec<u8> {
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ep = raw_client(dir);
    let _connecting = ep.connect(sink.local_addr().unwrap(), "localhost").unwrap();
    let mut buf = vec![0u8; 4096];
    let n = within("a client's Initial", sink.recv(&mut buf)).await.unwrap();
    buf.truncate(n);
    buf
}

/// The type of a QUIC v1 long-header packet (0 Initial, 1 0-RTT, 2
/// Handshake, 3 Retry); `None` for a short header.
fn long_header_type(datagram: &[u8]) -> Option<u8> {
    let first = *datagram.first()?;
    (first & 0x80 != 0).then_some((first >> 4) & 0x3)
}

const INITIAL: u8 = 0;
const RETRY: u8 = 3;

/// Sends `datagram` from a new socket that never answers; returns that
/// socket and the type of the register's first answer.
async fn send_silently(addr: SocketAddr, datagram: &[u8]) -> (tokio::net::UdpSocket, Option<u8>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(datagram, addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = within("the register's answer", socket.recv(&mut buf)).await.unwrap();
    (socket, long_header_type(&buf[..n]))
}

#[tokio::test]
async fn with_every_handshake_slot_taken_unproven_addresses_get_a_retry_and_real_peers_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RegisterConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    cfg.max_handshakes = 1;
    // The silent peer's handshake holds the slot this long: the next steps
    // must happen within it, on however busy a machine.
    cfg.auth_timeout = Duration::from_secs(3);
    let reg = Register::start(cfg).await.unwrap();
    let addr = reg.local_addr();
    // A peer that goes silent after its Initial takes the only slot: the
    // register answers with its own Initial (the handshake has started).
    let (_silent, answer) = send_silently(addr, &captured_initial(dir.path()).await).await;
    assert_eq!(answer, Some(INITIAL), "the first peer's handshake starts");
    // Another such peer while the slot is held (its source address could be
    // forged): a stateless Retry, and no handshake state.
    let (_forged, answer) = send_silently(addr, &captured_initial(dir.path()).await).await;
    assert_eq!(answer, Some(RETRY), "an unproven address is asked to prove it first");
    // A real peer answers the Retry and queues. Its wait for the slot and its
    // handshake each have the auth timeout: it gets in once the silent
    // peer's handshake has timed out. (The pause keeps its own wait from
    // ending in the same timer tick as the silent peer's handshake.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = within("a real peer's handshake", raw_client(dir.path()).connect(addr, "localhost").unwrap()).await;
    assert!(conn.is_ok(), "queued behind the silent peer: {:?}", conn.err());
    // Masters connect and run jobs as before.
    let _m = good_master(dir.path(), &reg).await;
    good_job_runs(&reg).await;
}

#[tokio::test]
async fn with_every_authentication_slot_taken_new_handshakes_are_refused_until_one_frees() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RegisterConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    cfg.max_unauthenticated = 4;
    let reg = Register::start(cfg).await.unwrap();
    let ep = raw_client(dir.path());
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(ep.connect(reg.local_addr(), "localhost").unwrap().await.expect("a free slot"));
    }
    let refused = ep.connect(reg.local_addr(), "localhost").unwrap().await;
    assert!(refused.is_err(), "a fifth handshake while four authenticate");
    held.pop().unwrap().close(0u32.into(), b"done");
    within("a slot frees", async {
        loop {
            if let Ok(c) = ep.connect(reg.local_addr(), "localhost").unwrap().await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
