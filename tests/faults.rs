//! Faults with real processes on loopback: a register process flooded with
//! bad connections (its memory stays bounded, its masters stay served), and
//! a register killed with SIGKILL while 1,000 jobs stream through it (every
//! job ends with all its items and done, or with a typed error; none hangs,
//! none is cut short silently; after a restart the master is back and new
//! jobs run). Deadlines are generous; the measured times are printed for
//! RELIABILITY.md, never asserted.

mod common;

use common::{operator, plugin};
use common::proc::{spawn, start_register, wait_line_within, Proc, PATIENCE, STARTUP_PATIENCE};
use regcenter::client::{ClientError, Operator};
use regcenter::protocol::message::{Hello, Message, RunTarget, PROTOCOL_VERSION};
use regcenter::register::{JobModule, RemoteError, RemoteEvent};
use regcenter::transport::tls::{client_config, TransportSettings, Trust};
use regcenter::JobLimits;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn start_master(dir: &Path, port: u16, name: &str, extra: &[&str]) -> Proc {
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["master", "--connect", &addr, "--name", name, "--data-dir", dir.to_str().unwrap(), "--retry-delay", "0.2"];
    args.extend(extra);
    let p = spawn(&args);
    wait_line_within(&p, "the master to connect", STARTUP_PATIENCE, |l| l.starts_with("connected to"));
    p
}

async fn greet_runs(op: &Operator, master: &str) {
    let mut run = op.run(RunTarget::Master { id: master.into() }, &JobModule::new(plugin("greet")), "{}".into(), JobLimits::default()).await.unwrap();
    let mut items = 0;
    let end = tokio::time::timeout(PATIENCE, async {
        loop {
            match run.next().await.unwrap() {
                Some((_, RemoteEvent::Item(_))) => items += 1,
                Some((_, RemoteEvent::Log { .. })) => {}
                Some((_, end)) => return end,
                None => panic!("the run ended without done"),
            }
        }
    })
    .await
    .expect("greet ends");
    assert_eq!((items, end), (2, RemoteEvent::Done { items: 2 }));
}

/// Samples `p`'s resident memory until told to stop; returns the peak (KiB).
fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(common::proc::rss_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_connections_keeps_register_memory_bounded_and_masters_served() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (reg, port) = start_register(d, "127.0.0.1:0");
    let _master = start_master(d, port, "m-good", &["--service", "hello-world"]);
    let op = operator(d, port).await;
    greet_runs(&op, "m-good").await;
    let baseline = reg.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_rss(reg.child.id(), stop.clone());

    let trust = Trust::from_pem(&regcenter::transport::datadir::DataDir::open(d).unwrap().ca_cert_pem().unwrap()).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(client_config(&trust, TransportSettings::default()).unwrap());
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Phase 1: 2,000 connections of garbage, oversized and cut frames, 32 at a time.
    let (closed_with_reason, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut cut = Message::Hello(Hello { version: PROTOCOL_VERSION, token: "t".repeat(1000), node_id: "x".into(), max_jobs: 1, services: vec![] }).to_frame();
    cut.truncate(500);
    let payloads: Arc<Vec<Vec<u8>>> = Arc::new(vec![b"GET / HTTP/1.1\r\n\r\n".to_vec(), vec![0x7f, 0xff, 0xff, 0xff, 1], vec![0, 0, 0, 0], cut]);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..32usize {
        let (ep, payloads, closed_with_reason, refused) = (ep.clone(), payloads.clone(), closed_with_reason.clone(), refused.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..(2000 / 32 + 1) {
                let bytes = &payloads[(w + i) % payloads.len()];
                let conn = match ep.connect(addr, "localhost").unwrap().await {
                    Ok(c) => c,
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let Ok((mut send, _recv)) = conn.open_bi().await else { continue };
                let _ = send.write_all(bytes).await;
                let _ = send.finish();
                if let quinn::ConnectionError::ApplicationClosed(c) = conn.closed().await {
                    if !c.reason.is_empty() {
                        closed_with_reason.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        tokio::time::timeout(Duration::from_secs(120), w).await.expect("phase 1 ends").unwrap();
    }
    let phase1 = started.elapsed();

    // Phase 2: the most unauthenticated peers can make the register hold:
    // 32 nearly complete 256 KiB hellos (every large-hello permit) and 500
    // nearly complete 16 KiB ones, all held open; a 33rd large hello is
    // refused with a reason; the master and operator are served meanwhile.
    let almost = |token_len: usize| {
        let mut f = Message::Hello(Hello { version: PROTOCOL_VERSION, token: "t".repeat(token_len), node_id: "x".into(), max_jobs: 1, services: vec![] }).to_frame();
        f.truncate(f.len() - 10);
        f
    };
    let (large, small) = (almost(250 << 10), almost((16 << 10) - 200));
    let mut held = Vec::new();
    for i in 0..532 {
        let conn = ep.connect(addr, "localhost").unwrap().await.expect("a slot is free");
        let (mut send, recv) = conn.open_bi().await.unwrap();
        send.write_all(if i < 32 { &large } else { &small }).await.unwrap();
        held.push((conn, send, recv));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = {
        let conn = ep.connect(addr, "localhost").unwrap().await.expect("a slot is free");
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let _ = send.write_all(&large).await;
        let reply = recv.read_to_end(1 << 16).await.unwrap_or_default();
        let mut dec = regcenter::protocol::message::Decoder::default();
        dec.push(&reply);
        match dec.next_message() {
            Ok(Some(Message::AuthFailed(f))) => f.reason,
            other => format!("{other:?}"),
        }
    };
    let during_hold = reg.rss_kib();
    greet_runs(&op, "m-good").await;
    drop(held);
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let growth_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
    eprintln!(
        "flood: phase 1 {} connections in {phase1:?} ({} closed with a reason, {} refused at the handshake); \
         phase 2: 32 large + 500 small hellos held, the next large one refused ({busy}); register RSS baseline {baseline} KiB, \
         during hold {during_hold} KiB, peak {peak} KiB (growth {growth_mib:.1} MiB)",
        32 * (2000 / 32 + 1),
        closed_with_reason.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    assert!(closed_with_reason.load(Ordering::Relaxed) > 1000, "the register named its reason when closing");
    assert!(busy.contains("register busy: too many hellos over 16384 bytes"), "{busy}");
    assert!(growth_mib < 50.0, "register RSS grew {growth_mib:.1} MiB during the flood");
    let masters = op.masters().await.unwrap();
    assert!(masters.iter().any(|m| m.id == "m-good"), "the master stayed connected");
}

/// How one streamed job ended, as the operator saw it.
#[derive(Debug)]
enum Ending {
    /// Done, with every item in order.
    Done,
    /// A typed error.
    Failed(String),
    /// The stream ended without done or error (must never happen).
    Truncated(u64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_register_mid_stream_ends_every_job_and_the_master_comes_back() {
    const JOBS: usize = 1000;
    const ITEMS: u64 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut reg, port) = start_register(d, "127.0.0.1:0");
    let _master = start_master(d, port, "m-flood", &["--max-jobs", "1000", "--service", "hello-world"]);
    let op = Arc::new(operator(d, port).await);
    let module = Arc::new(JobModule::new(plugin("emit-flood")));
    let received = Arc::new(AtomicU64::new(0));
    let input = format!(r#"{{"count":{ITEMS},"size":32}}"#);

    let mut jobs = Vec::new();
    for _ in 0..JOBS {
        let (op, module, received, input) = (op.clone(), module.clone(), received.clone(), input.clone());
        jobs.push(tokio::spawn(async move {
            let mut run = match op.run(RunTarget::Master { id: "m-flood".into() }, &module, input, JobLimits::default()).await {
                Ok(r) => r,
                Err(e) => return (Ending::Failed(e.to_string()), Instant::now()),
            };
            let mut next_seq = 0u64;
            loop {
                match run.next().await {
                    Ok(Some((_, RemoteEvent::Item(item)))) => {
                        let v: serde_json::Value = serde_json::from_str(&item).unwrap();
                        assert_eq!(v["seq"], next_seq, "items arrive in order");
                        next_seq += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some((_, RemoteEvent::Log { .. }))) => {}
                    Ok(Some((_, RemoteEvent::Done { items }))) => {
                        assert_eq!((items, next_seq), (ITEMS, ITEMS), "done reports every item, and every item arrived");
                        return (Ending::Done, Instant::now());
                    }
                    Ok(Some((_, RemoteEvent::Failed(e)))) => {
                        assert!(matches!(e, RemoteError::MasterLost { .. } | RemoteError::Job { .. }), "{e:?}");
                        return (Ending::Failed(e.to_string()), Instant::now());
                    }
                    Ok(None) => return (Ending::Truncated(next_seq), Instant::now()),
                    Err(e @ ClientError::Stream(_)) => return (Ending::Failed(e.to_string()), Instant::now()),
                    Err(e) => panic!("untyped end: {e:?}"),
                }
            }
        }));
    }
    // Kill once items are flowing and before the jobs can have finished.
    tokio::time::timeout(Duration::from_secs(120), async {
        while received.load(Ordering::Relaxed) < (JOBS as u64 * ITEMS) / 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("items flow");
    reg.kill9();
    let killed = Instant::now();
    let at_kill = received.load(Ordering::Relaxed);

    let mut done = 0;
    let mut failed = Vec::new();
    let mut truncated = Vec::new();
    let mut last_end = killed;
    for j in jobs {
        let (ending, at) = tokio::time::timeout(Duration::from_secs(120), j).await.expect("no job hangs").unwrap();
        last_end = last_end.max(at);
        match ending {
            Ending::Done => done += 1,
            Ending::Failed(e) => failed.push(e),
            Ending::Truncated(items) => truncated.push(items),
        }
    }
    let detection = last_end.saturating_duration_since(killed);
    assert!(truncated.is_empty(), "jobs ended without done or a typed error after these item counts: {truncated:?}");
    assert_eq!(done + failed.len(), JOBS);
    assert!(!failed.is_empty(), "the kill happened mid-stream");

    // Restart on the same port: the master comes back by itself.
    let restarted = Instant::now();
    let (_reg2, port2) = start_register(d, &format!("127.0.0.1:{port}"));
    assert_eq!(port2, port);
    let op2 = operator(d, port).await;
    tokio::time::timeout(Duration::from_secs(60), async {
        while !op2.masters().await.unwrap().iter().any(|m| m.id == "m-flood") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the master reconnects to the restarted register");
    let reconnect = restarted.elapsed();
    // It announced its services again.
    assert_eq!(op2.services().await.unwrap().get("hello-world"), Some(&vec!["m-flood".to_string()]));
    let mut run = op2.run(RunTarget::Master { id: "m-flood".into() }, &module, r#"{"count":3}"#.into(), JobLimits::default()).await.unwrap();
    let mut items = 0;
    loop {
        match tokio::time::timeout(PATIENCE, run.next()).await.expect("new job ends").unwrap() {
            Some((_, RemoteEvent::Item(_))) => items += 1,
            Some((_, RemoteEvent::Done { items: n })) => {
                assert_eq!((n, items), (3, 3));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let mut reasons: Vec<&String> = failed.iter().collect();
    reasons.sort();
    reasons.dedup();
    eprintln!(
        "register kill: {JOBS} jobs x {ITEMS} items; {at_kill} items before the kill; {done} done (all items, in order), \
         {} typed errors, 0 hung, {} truncated; every stream ended {detection:?} after the kill; \
         master back {reconnect:?} after the restart; error kinds: {reasons:?}",
        failed.len(),
        truncated.len()
    );
}

async fn in_process_master(dir: &Path, name: &str, services: &[&str]) -> regcenter::master::Master {
    let mut cfg = regcenter::master::MasterConfig::new(dir);
    cfg.node_id = Some(name.into());
    cfg.retry_delay = Duration::from_millis(100);
    regcenter::master::Master::new(cfg, common::registry_with(services).await).unwrap()
}

async fn wait_master(reg: &regcenter::register::Register, id: &str) {
    tokio::time::timeout(PATIENCE, async {
        while reg.master(id).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_two_registers_dies_the_master_keeps_serving_the_other() {
    use regcenter::master::MasterEvent;
    use regcenter::register::{Register, RegisterConfig};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut a, port_a) = start_register(d, "127.0.0.1:0");
    let b = Arc::new(Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), d)).await.unwrap());
    let master = in_process_master(d, "m-two", &["hello-world"]).await;
    let mut events = master.events();
    master.connect("127.0.0.1", port_a);
    master.connect("127.0.0.1", b.local_addr().port());
    wait_master(&b, "m-two").await;
    tokio::time::timeout(PATIENCE, async {
        while master.connected_centers().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("connected to both");

    // Jobs through B run without pause while A is killed and its loss noticed.
    let stop = Arc::new(AtomicBool::new(false));
    let through_b = {
        let (b, stop) = (b.clone(), stop.clone());
        tokio::spawn(async move {
            let greet = JobModule::new(plugin("greet"));
            let (mut ok, mut failed) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match b.run_on_master("m-two", &greet, "{}", JobLimits::default()).collect().await {
                    (items, Ok(2)) if items.len() == 2 => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill9();
    let killed = Instant::now();
    let a_key = format!("127.0.0.1:{port_a}");
    let noticed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Ok(MasterEvent::Close { register, .. }) if register == a_key => return killed.elapsed(),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the master notices A is gone");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = tokio::time::timeout(PATIENCE, through_b).await.expect("B's jobs end").unwrap();
    eprintln!("two registers: A killed; the master noticed after {noticed:?}; {ok} jobs through B meanwhile, {} failed", failed.len());
    assert!(failed.is_empty(), "jobs through B failed: {failed:?}");
    assert!(ok > 0);
    assert_eq!(master.connected_centers(), [format!("127.0.0.1:{}", b.local_addr().port())]);
}

/// A UDP relay between a master and a register that can drop a share of
/// the packets (either way) or all of them (a stalled link).
struct Relay {
    addr: std::net::SocketAddr,
    drop_permille: Arc<std::sync::atomic::AtomicU32>,
    dropped: Arc<AtomicU64>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        let drop_permille = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (permille, count) = (drop_permille.clone(), dropped.clone());
        tokio::spawn(async move {
            let mut client = None;
            let mut buf = vec![0u8; 65536];
            let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let to = if from == upstream {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    upstream
                };
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if (rng % 1000) < u64::from(permille.load(Ordering::Relaxed)) {
                    count.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let _ = sock.send_to(&buf[..n], to).await;
            }
        });
        Self { addr, drop_permille, dropped }
    }

    fn set_loss(&self, permille: u32) {
        self.drop_permille.store(permille, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_link_loses_no_items_and_a_stalled_one_is_detected_and_recovered() {
    use regcenter::register::{Register, RegisterConfig, RegisterEvent};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg = Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), d)).await.unwrap();
    let relay = Relay::start(reg.local_addr()).await;
    let master = in_process_master(d, "m-lossy", &["test-fixture"]).await;
    master.connect("127.0.0.1", relay.addr.port());
    wait_master(&reg, "m-lossy").await;

    // 5 % of the packets lost each way: jobs still deliver every item, in order.
    relay.set_loss(50);
    let flood = JobModule::new(plugin("emit-flood"));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..20 {
        let job = reg.run_on_master("m-lossy", &flood, r#"{"count":2000,"size":100}"#, JobLimits::default());
        handles.push(tokio::spawn(async move {
            let (items, outcome) = job.collect().await;
            let in_order = items.iter().enumerate().all(|(i, it)| serde_json::from_str::<serde_json::Value>(it).unwrap()["seq"] == i);
            (items.len(), outcome, in_order)
        }));
    }
    for h in handles {
        let (n, outcome, in_order) = tokio::time::timeout(Duration::from_secs(120), h).await.expect("lossy jobs end").unwrap();
        assert_eq!((n, outcome, in_order), (2000, Ok(2000), true));
    }
    let lossy = started.elapsed();
    let dropped = relay.dropped.load(Ordering::Relaxed);
    assert!(dropped > 0, "the relay dropped packets");

    // A stalled link: a running job ends as master lost, both sides notice,
    // and the master is back once packets flow again.
    relay.set_loss(0);
    let mut events = reg.events();
    let mut ticker = reg.run_on_master("m-lossy", &JobModule::new(plugin("ticker")), "{}", JobLimits::default());
    match tokio::time::timeout(PATIENCE, ticker.next()).await.expect("ticks") {
        Some(RemoteEvent::Item(_)) => {}
        other => panic!("{other:?}"),
    }
    relay.set_loss(1000);
    let stalled = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match ticker.next().await {
                Some(RemoteEvent::Item(_)) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("the running job ends instead of hanging");
    assert!(matches!(end, Some(RemoteEvent::Failed(RemoteError::MasterLost { .. }))), "{end:?}");
    let detected = stalled.elapsed();
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(RegisterEvent::MasterDisconnected { id, .. }) = events.recv().await {
                if id == "m-lossy" {
                    return;
                }
            }
        }
    })
    .await
    .expect("the register drops the master");
    relay.set_loss(0);
    let healed = Instant::now();
    wait_master(&reg, "m-lossy").await;
    let recovered = healed.elapsed();
    let (items, outcome) = tokio::time::timeout(PATIENCE, reg.run_on_master("m-lossy", &flood, r#"{"count":10}"#, JobLimits::default()).collect())
        .await
        .expect("a job after recovery");
    assert_eq!((items.len(), outcome), (10, Ok(10)));
    eprintln!(
        "lossy link: 20 jobs x 2000 items at 5 % loss each way in {lossy:?} ({dropped} packets dropped), 0 items lost; \
         stalled link detected after {detected:?}; master back {recovered:?} after the link healed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_of_a_1_gib_job_bounds_register_and_master_memory_and_the_job_completes() {
    const ITEMS: u64 = 135_000;
    const SIZE: u64 = 8000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (reg, port) = start_register(d, "127.0.0.1:0");
    let master = start_master(d, port, "m-big", &["--job-deadline", "600", "--job-max-emit-mib", "2048"]);
    let op = operator(d, port).await;
    // Warm up (the module is compiled), then take the baselines.
    let module = JobModule::new(plugin("emit-flood"));
    let limits = JobLimits { deadline: Duration::from_secs(600), max_bytes: 2 << 30, ..JobLimits::default() };
    let mut warm = op.run(RunTarget::Master { id: "m-big".into() }, &module, r#"{"count":10}"#.into(), limits).await.unwrap();
    while let Some((_, ev)) = warm.next().await.unwrap() {
        assert!(!matches!(ev, RemoteEvent::Failed(_)), "{ev:?}");
    }
    let (reg_base, master_base) = (reg.rss_kib(), master.rss_kib());
    let stop = Arc::new(AtomicBool::new(false));
    let (reg_peak, master_peak) = (watch_rss(reg.child.id(), stop.clone()), watch_rss(master.child.id(), stop.clone()));

    let input = format!(r#"{{"count":{ITEMS},"size":{SIZE}}}"#);
    let mut run = op.run(RunTarget::Master { id: "m-big".into() }, &module, input, limits).await.unwrap();
    let started = Instant::now();
    let (mut items, mut bytes) = (0u64, 0u64);
    let end = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            match run.next().await.unwrap() {
                Some((_, RemoteEvent::Item(i))) => {
                    bytes += i.len() as u64;
                    items += 1;
                    // The slow reader: a pause every 16 items (at most ~128 MB/s).
                    if items % 16 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Some((_, RemoteEvent::Log { .. })) => {}
                Some((_, end)) => return end,
                None => panic!("the run ended without done"),
            }
        }
    })
    .await
    .expect("the big job completes");
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (reg_peak, master_peak) = (reg_peak.join().unwrap(), master_peak.join().unwrap());
    let mib = |peak: u64, base: u64| peak.saturating_sub(base) as f64 / 1024.0;
    let (reg_growth, master_growth) = (mib(reg_peak, reg_base), mib(master_peak, master_base));
    eprintln!(
        "slow consumer: {items} items, {:.2} GiB in {took:?} ({:.0} MB/s); RSS growth register {reg_growth:.1} MiB, master {master_growth:.1} MiB",
        bytes as f64 / (1u64 << 30) as f64,
        bytes as f64 / took.as_secs_f64() / 1e6,
    );
    assert_eq!(end, RemoteEvent::Done { items: ITEMS });
    assert_eq!(items, ITEMS);
    assert!(bytes >= 1 << 30, "{bytes} bytes flowed");
    assert!(reg_growth < 64.0, "register RSS grew {reg_growth:.1} MiB");
    assert!(master_growth < 64.0, "master RSS grew {master_growth:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_that_goes_away_cancels_its_silent_jobs_at_once() {
    use regcenter::register::{Register, RegisterConfig};
    use regcenter::runtime::engine::EngineConfig;
    use regcenter::{Runtime, RuntimeConfig, ServiceRegistry};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg = Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), d)).await.unwrap();
    // Jobs here may run ten minutes: only cancellation can end them within the test.
    let long = JobLimits { deadline: Duration::from_secs(600), ..JobLimits::default() };
    let engine = EngineConfig { cache_dir: Some(common::cache_dir()), job_slots: 16, ..EngineConfig::default() };
    let runtime = Runtime::new(RuntimeConfig { engine, job_limits: long, ..RuntimeConfig::default() }).unwrap();
    let mut cfg = regcenter::master::MasterConfig::new(d);
    cfg.node_id = Some("m-silent".into());
    let master = regcenter::master::Master::new(cfg, ServiceRegistry::new(runtime)).unwrap();
    master.connect("127.0.0.1", reg.local_addr().port());
    wait_master(&reg, "m-silent").await;
    let spin = JobModule::new(plugin("spin-forever"));
    // Both views: the register's (the jobs it has open) and the master's own
    // count (the job really ended there, not only on the register).
    let in_flight = |n: u32| {
        let (reg, master) = (&reg, &master);
        async move {
            tokio::time::timeout(PATIENCE, async {
                while reg.master("m-silent").map(|m| m.in_flight) != Some(n) || master.running_jobs() != n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("m-silent never had {n} job(s) in flight"))
        }
    };

    // The operator drops one run but keeps its connection.
    let op = operator(d, reg.local_addr().port()).await;
    let run = op.run(RunTarget::Master { id: "m-silent".into() }, &spin, "{}".into(), long).await.unwrap();
    in_flight(1).await;
    drop(run);
    in_flight(0).await;

    // The operator's whole connection goes away.
    let run = op.run(RunTarget::Master { id: "m-silent".into() }, &spin, "{}".into(), long).await.unwrap();
    in_flight(1).await;
    drop((run, op));
    in_flight(0).await;
}
