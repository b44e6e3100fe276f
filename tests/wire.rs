//! Registers and masters over real QUIC on 127.0.0.1, with the real plugin
//! components: the seed's Register, Master and tunnel tests, and beyond.
//! Waits use generous deadlines and assert outcomes, never durations.

mod common;

use common::{operator, plugin};
use regcenter::master::{Master, MasterConfig, MasterEvent};
use regcenter::protocol::message::Command;
use regcenter::register::{JobModule, RegisterConfig, RegisterEvent, RemoteError, RemoteEvent};
use regcenter::register::Register;
use regcenter::{JobError, JobLimits, Limit, ServiceOptions};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

/// Far longer than anything should take on loopback.
const PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn register(dir: &Path) -> Register {
    Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), dir)).await.expect("register starts")
}

fn master_cfg(dir: &Path, name: &str) -> MasterConfig {
    let mut cfg = MasterConfig::new(dir);
    cfg.node_id = Some(name.into());
    cfg.retry_delay = Duration::from_millis(100);
    cfg
}

async fn master_with(dir: &Path, name: &str, services: &[&str]) -> Master {
    let reg = common::registry_with(services).await;
    Master::new(master_cfg(dir, name), reg).expect("master")
}

async fn wait_event<E: Clone>(rx: &mut broadcast::Receiver<E>, what: &str, mut pred: impl FnMut(&E) -> bool) -> E {
    within(what, async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
}

/// A master `name` on a runtime of its own with `job_slots`, connected to `reg`.
async fn own_master(dir: &Path, reg: &Register, name: &str, job_slots: u32) -> (regcenter::Runtime, Master) {
    let runtime = common::own_runtime(job_slots);
    let master = Master::new(master_cfg(dir, name), regcenter::ServiceRegistry::new(runtime.clone())).expect("master");
    connected(reg, &master, reg.local_addr().port()).await;
    (runtime, master)
}

async fn connected(reg: &Register, master: &Master, port: u16) {
    let mut ev = reg.events();
    master.connect("127.0.0.1", port);
    if reg.master(master.node_id()).is_none() {
        let id = master.node_id().to_string();
        wait_event(&mut ev, "master authenticated", |e| matches!(e, RegisterEvent::MasterAuthenticated { id: i, .. } if *i == id)).await;
    }
}

#[tokio::test]
async fn register_reports_its_port_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    assert_ne!(reg.local_addr().port(), 0);
    assert!(reg.connected_masters().is_empty());
    assert!(reg.services_masters().is_empty());
}

#[tokio::test]
async fn binding_a_taken_port_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let a = register(dir.path()).await;
    let err = Register::start(RegisterConfig::new(a.local_addr(), dir.path())).await.err().expect("second bind fails");
    assert!(err.to_string().contains(&format!("cannot listen on {}", a.local_addr())), "{err}");
}

#[tokio::test]
async fn run_on_an_unknown_master_fails_with_master_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let (_, outcome) = reg.run_on_master("ghost", &JobModule::new(plugin("greet")), "{}", JobLimits::default()).collect().await;
    let err = outcome.unwrap_err();
    assert_eq!(err.to_string(), "Master not found: ghost");
}

#[tokio::test]
async fn a_master_that_cannot_connect_retries_then_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = master_cfg(dir.path(), "m-retry");
    cfg.retry_attempts = Some(3);
    // A handshake to a silent port ends at the idle timeout; keep it short here.
    cfg.transport.idle_timeout = Duration::from_millis(500);
    cfg.transport.keepalive = Duration::from_millis(200);
    let master = Master::new(cfg, common::registry()).unwrap();
    assert!(master.connected_centers().is_empty());
    let mut ev = master.events();
    // A port nothing listens on: bind one, note it, drop it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    master.connect("127.0.0.1", port);
    let mut attempts = 0;
    let mut errors = 0;
    loop {
        match wait_event(&mut ev, "retry events", |_| true).await {
            MasterEvent::Connecting { .. } => attempts += 1,
            MasterEvent::Error { .. } => errors += 1,
            MasterEvent::RetriesExhausted { attempts: n, .. } => {
                assert_eq!(n, 3);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((attempts, errors), (3, 3));
    assert!(master.connected_centers().is_empty());
}

#[tokio::test]
async fn masters_join_a_second_register_when_told_and_leave_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let a = register(dir.path()).await;
    let b = register(dir.path()).await;
    let master = master_with(dir.path(), "m-join", &["hello-world", "user-service"]).await;
    connected(&a, &master, a.local_addr().port()).await;
    let info = a.master("m-join").expect("in A's table");
    let names: Vec<&str> = info.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hello-world", "user-service"]);
    assert_eq!(a.services_masters()["hello-world"], ["m-join"]);

    let mut on_b = b.events();
    let registers = json!({"registers": [{"host": "127.0.0.1", "port": b.local_addr().port()}]});
    assert_eq!(a.write_raw_message_to_all_masters(Command { cmd: "register".into(), payload: registers.clone() }), 1);
    wait_event(&mut on_b, "master joins B", |e| matches!(e, RegisterEvent::MasterAuthenticated { id, .. } if id == "m-join")).await;
    assert_eq!(b.masters_with_service("user-service")[0].id, "m-join");
    within("both centers listed", async {
        while master.connected_centers().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    a.write_raw_message_to_all_masters(Command { cmd: "remove".into(), payload: registers });
    wait_event(&mut on_b, "master leaves B", |e| matches!(e, RegisterEvent::MasterDisconnected { id, .. } if id == "m-join")).await;
    assert!(b.connected_masters().is_empty());
    assert!(a.master("m-join").is_some(), "still on A");
}

#[tokio::test]
async fn a_job_streams_its_items_then_done() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-greet", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let job = JobModule::new(plugin("greet"));
    let (items, outcome) = within("greet", reg.run_on_master("m-greet", &job, r#"{"name":"John Doe"}"#, JobLimits::default()).collect()).await;
    assert_eq!(outcome, Ok(2));
    assert!(items[0].contains("Hello, world!"));
    let hello2: Value = serde_json::from_str(&items[1]).unwrap();
    assert_eq!(hello2["name"], "John Doe");

    let (items, outcome) = within("by service", reg.run_on_service("hello-world", &job, "{}", JobLimits::default()).collect()).await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));
    let (_, outcome) = reg.run_on_service("nope", &job, "{}", JobLimits::default()).collect().await;
    assert_eq!(outcome, Err(RemoteError::NoMaster { service: "nope".into() }));
    let all = reg.run_on_all_masters(&job, "{}", JobLimits::default());
    assert_eq!(all.len(), 1);
    for j in all {
        assert_eq!(within("all", j.collect()).await.1, Ok(2));
    }
}

#[tokio::test]
async fn failing_and_trapping_jobs_end_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-fail", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let (_, outcome) = within("fail", reg.run_on_master("m-fail", &JobModule::new(plugin("fail")), r#""it broke""#, JobLimits::default()).collect()).await;
    assert_eq!(outcome, Err(RemoteError::Job { error: JobError::Failed { message: "it broke".into() } }));
    let (items, outcome) = within("trap", reg.run_on_master("m-fail", &JobModule::new(plugin("trap")), "{}", JobLimits::default()).collect()).await;
    assert_eq!(items, [r#""before the trap""#]);
    assert!(matches!(outcome, Err(RemoteError::Job { error: JobError::Trapped { .. } })), "{outcome:?}");
    let limits = JobLimits { deadline: Duration::from_millis(500), ..JobLimits::default() };
    let (_, outcome) = within("spin", reg.run_on_master("m-fail", &JobModule::new(plugin("spin-forever")), "{}", limits).collect()).await;
    assert!(matches!(outcome, Err(RemoteError::Job { error: JobError::LimitExceeded { limit: Limit::Deadline, .. } })), "{outcome:?}");
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_job_on_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-cancel", &["test-fixture"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let mut job = reg.run_on_master("m-cancel", &JobModule::new(plugin("ticker")), "{}", JobLimits::default());
    let mut got = 0;
    while got < 2 {
        match within("ticks", job.next()).await {
            Some(RemoteEvent::Item(_)) => got += 1,
            other => panic!("{other:?}"),
        }
    }
    drop(job);
    within("job stopped on the master", async {
        while master.running_jobs() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let fixture = master.registry();
    let c1 = fixture.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c2 = fixture.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    assert_eq!(c1, c2, "the counter stopped growing");
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_a_reason_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let mut cfg = master_cfg(dir.path(), "m-bad");
    cfg.token = Some("not-the-token".into());
    let master = Master::new(cfg, common::registry_with(&["test-fixture"]).await).unwrap();
    let mut ev = master.events();
    let mut on_reg = reg.events();
    master.connect("127.0.0.1", reg.local_addr().port());
    let failed = wait_event(&mut ev, "auth failure", |e| matches!(e, MasterEvent::AuthFailed { .. })).await;
    assert!(matches!(&failed, MasterEvent::AuthFailed { reason, .. } if reason == "invalid token"), "{failed:?}");
    wait_event(&mut on_reg, "register saw it", |e| matches!(e, RegisterEvent::AuthFailed { .. })).await;
    assert!(reg.connected_masters().is_empty());
    assert!(master.connected_centers().is_empty());
    let (_, outcome) = reg.run_on_master("m-bad", &JobModule::new(plugin("ticker")), "{}", JobLimits::default()).collect().await;
    assert!(matches!(outcome, Err(RemoteError::MasterNotFound { .. })));
    let n = master.registry().execute("test-fixture", "counter", &Value::Null).await.unwrap();
    assert_eq!(n, json!(0), "no job ran");
}

#[tokio::test]
async fn an_unauthenticated_peer_cannot_send_commands_or_jobs() {
    use regcenter::protocol::message::Message;
    use regcenter::transport::tls::{client_config, TransportSettings, Trust};
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let mut on_reg = reg.events();
    let trust = Trust::from_pem(&reg.data_dir().ca_cert_pem().unwrap()).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(client_config(&trust, TransportSettings::default()).unwrap());
    let conn = ep.connect(reg.local_addr(), "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let cmd = Message::Command(Command { cmd: "register".into(), payload: json!({"registers": []}) });
    send.write_all(&cmd.to_frame()).await.unwrap();
    let reply = within("refusal", recv.read_to_end(1 << 16)).await.unwrap_or_default();
    let mut dec = regcenter::protocol::message::Decoder::default();
    dec.push(&reply);
    match dec.next_message() {
        Ok(Some(Message::AuthFailed(f))) => assert!(f.reason.contains("unexpected command before hello"), "{}", f.reason),
        other => panic!("{other:?}"),
    }
    within("connection closed", conn.closed()).await;
    let ev = wait_event(&mut on_reg, "auth failure event", |e| matches!(e, RegisterEvent::AuthFailed { .. })).await;
    assert!(matches!(ev, RegisterEvent::AuthFailed { reason, .. } if reason.contains("before hello")));
    assert!(reg.connected_masters().is_empty());
}

#[tokio::test]
async fn a_job_module_crosses_the_wire_once() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-once", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    // A module no cache in this process has seen.
    let bytes = common::unique(&plugin("greet"));
    let job = JobModule::new(bytes.clone());
    let sent = || reg.connection_stats("m-once").unwrap().udp_tx.bytes;
    let before = sent();
    assert_eq!(within("first", reg.run_on_master("m-once", &job, "{}", JobLimits::default()).collect()).await.1, Ok(2));
    let first = sent() - before;
    assert_eq!(within("second", reg.run_on_master("m-once", &job, "{}", JobLimits::default()).collect()).await.1, Ok(2));
    let second = sent() - before - first;
    assert!(first > bytes.len() as u64, "the first run carried the module: {first} bytes");
    assert!(second < (bytes.len() / 10) as u64, "the second run did not: {second} bytes");
}

#[tokio::test]
async fn a_masters_next_run_of_a_job_starts_on_the_fresh_spare_its_last_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let (runtime, _master) = own_master(dir.path(), &reg, "m-spare", 8).await;
    let job = JobModule::new(common::unique(&plugin("emit-flood")));
    let input = json!({"count": 1, "size": 1, "runs": true}).to_string();
    let run = || async {
        let (items, outcome) = within("a run", reg.run_on_master("m-spare", &job, input.clone(), JobLimits::default()).collect()).await;
        assert_eq!(outcome, Ok(1));
        // Each run's instance is fresh: its `run` was called once.
        assert_eq!(items, vec![r#"{"seq":0,"pad":"x","runs":1}"#.to_string()]);
    };
    run().await; // on baseline code
    let sha = regcenter::runtime::sha256(job.bytes());
    common::wait_optimized(&runtime, &sha).await;
    // The first optimized run finds the baseline code's spare stale (no
    // run holds that code any more); it leaves one of its own, and every
    // later run starts on the one its predecessor left.
    for taken in [0, 1, 2] {
        run().await;
        assert_eq!(runtime.spare().taken(), taken);
    }
}

#[tokio::test]
async fn concurrent_first_runs_of_a_new_module_move_and_compile_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let (runtime, _master) = own_master(dir.path(), &reg, "m-burst", 32).await;
    let job = JobModule::new(common::unique(&plugin("emit-flood")));
    let size = job.bytes().len() as u64;
    let sent = || reg.connection_stats("m-burst").unwrap().udp_tx.bytes;
    let before = sent();
    let runs: Vec<_> = (0..8).map(|i| reg.run_on_master("m-burst", &job, json!({"count": i + 1}).to_string(), JobLimits::default())).collect();
    let results = within("8 cold jobs", futures_join(runs.into_iter().map(|j| j.collect()).collect())).await;
    for (i, (items, outcome)) in results.into_iter().enumerate() {
        assert_eq!(outcome, Ok(i as u64 + 1));
        assert_eq!(items.len(), i + 1);
    }
    let carried = sent() - before;
    assert!(carried > size && carried < 2 * size, "the module crossed once: {carried} bytes for a {size}-byte module");
    assert_eq!(runtime.job_compiles(), 1, "eight first runs, one compile");
}

#[tokio::test]
async fn first_runs_of_a_new_module_read_one_after_another_in_reverse_all_complete() {
    // The register moves a job's stream only while its requester reads it:
    // the first job's module transfer waits until that job is read. The
    // second job, read first, must not wait on it for good.
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let (_runtime, _master) = own_master(dir.path(), &reg, "m-order", 8).await;
    let job = JobModule::new(common::unique(&plugin("emit-flood")));
    let first = reg.run_on_master("m-order", &job, json!({"count": 1}).to_string(), JobLimits::default());
    let second = reg.run_on_master("m-order", &job, json!({"count": 2}).to_string(), JobLimits::default());
    let (items, outcome) = within("the second job, read first", second.collect()).await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));
    let (items, outcome) = within("the first job, read second", first.collect()).await;
    assert_eq!((items.len(), outcome), (1, Ok(1)));
}

/// Frames that close a stream early, received and sent: (STOP_SENDING rx,
/// RESET_STREAM rx, STOP_SENDING tx, RESET_STREAM tx).
fn closing_frames(s: &quinn::ConnectionStats) -> (u64, u64, u64, u64) {
    (s.frame_rx.stop_sending, s.frame_rx.reset_stream, s.frame_tx.stop_sending, s.frame_tx.reset_stream)
}

#[tokio::test]
async fn a_warm_jobs_stream_closes_without_stop_sending_or_reset() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-clean", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let job = JobModule::new(plugin("greet"));
    // The first run carries the module; the warm ones end their side with the
    // start. The second run's packets carry whatever frames closing the first
    // run's stream left queued, so counting starts after it.
    for _ in 0..2 {
        assert_eq!(within("first runs", reg.run_on_master("m-clean", &job, "{}", JobLimits::default()).collect()).await.1, Ok(2));
    }
    let frames = || closing_frames(&reg.connection_stats("m-clean").unwrap());
    let before = frames();
    for i in 0..30 {
        assert_eq!(within("warm run", reg.run_on_master("m-clean", &job, "{}", JobLimits::default()).collect()).await.1, Ok(2), "run {i}");
    }
    // Each side read the other's end: no stream was stopped or reset.
    assert_eq!(frames(), before, "(stop_sending rx, reset_stream rx, stop_sending tx, reset_stream tx)");
}

#[tokio::test]
async fn broadcast_jobs_collected_by_other_tasks_close_their_streams_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-all", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let job = JobModule::new(plugin("greet"));
    // A broadcast takes no input items: its start carries the input's end.
    let mut all = reg.run_on_all_masters(&job, "{}", JobLimits::default());
    assert!(all[0].send("x").await.is_err(), "a broadcast job takes no input items");
    for j in all {
        assert_eq!(within("first broadcasts", j.collect()).await.1, Ok(2));
    }
    assert_eq!(within("second broadcast", reg.run_on_all_masters(&job, "{}", JobLimits::default()).remove(0).collect()).await.1, Ok(2));
    // Collected as a fan-out is: each job read by a task of its own, which
    // runs after the register has started writing the job.
    let frames = || closing_frames(&reg.connection_stats("m-all").unwrap());
    let before = frames();
    for i in 0..30 {
        let mut set = tokio::task::JoinSet::new();
        for j in reg.run_on_all_masters(&job, "{}", JobLimits::default()) {
            set.spawn(j.collect());
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(within("broadcast", async { r.unwrap() }).await.1, Ok(2), "run {i}");
        }
    }
    assert_eq!(frames(), before, "(stop_sending rx, reset_stream rx, stop_sending tx, reset_stream tx)");
}

/// Masters in one process may share a runtime (and its pool of job slots).
/// Each has one job of a broadcast, so none is alone by its own count; the
/// runtime's count decides whether a finished job's Store may wait for its
/// result to leave. Were each to wait, every finished Store would hold a
/// slot and the pool of 4 would refuse jobs (with the master's own count,
/// it did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masters_sharing_a_runtime_do_not_hold_a_slot_each_in_a_broadcast() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let runtime = common::own_runtime(4);
    let mut masters = Vec::new();
    for i in 0..24 {
        let m = Master::new(master_cfg(dir.path(), &format!("m-share-{i}")), regcenter::ServiceRegistry::new(runtime.clone())).expect("master");
        connected(&reg, &m, reg.local_addr().port()).await;
        masters.push(m);
    }
    let job = JobModule::new(plugin("emit-flood"));
    for round in 0..10 {
        let all = reg.run_on_all_masters(&job, r#"{"count": 1}"#, JobLimits::default());
        assert_eq!(all.len(), 24);
        for j in all {
            let master = j.master.clone();
            assert_eq!(within("shared broadcast", j.collect()).await.1, Ok(1), "round {round}, {master}");
        }
    }
}

#[tokio::test]
async fn a_hundred_concurrent_jobs_complete_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-many", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let job = JobModule::new(plugin("emit-flood"));
    let runs: Vec<_> = (0..100).map(|_| reg.run_on_master("m-many", &job, r#"{"count": 50, "size": 8}"#, JobLimits::default())).collect();
    let results = within("100 jobs", futures_join(runs.into_iter().map(|j| j.collect()).collect())).await;
    for (items, outcome) in results {
        assert_eq!(outcome, Ok(50));
        for (i, item) in items.iter().enumerate() {
            let v: Value = serde_json::from_str(item).unwrap();
            assert_eq!(v["seq"], i, "in order");
        }
    }
}

async fn futures_join<F: Future + Send + 'static>(futs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn duplex_items_travel_to_the_job_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-duplex", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let mut job = reg.run_on_master("m-duplex", &JobModule::new(plugin("duplex-echo")), "{}", JobLimits::default());
    for i in 1..=3 {
        job.send(json!({"i": i}).to_string()).await.unwrap();
    }
    let (items, outcome) = within("duplex", job.collect()).await;
    assert_eq!(outcome, Ok(3));
    let third: Value = serde_json::from_str(&items[2]).unwrap();
    assert_eq!(third, json!({"echo": {"i": 3}, "n": 3}));
}

#[tokio::test]
async fn duplex_input_beyond_its_buffer_flows_before_the_first_read() {
    // The job's stream is driven by its reader: sending is reading too, so
    // items past the input buffer (64) still reach the job.
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-duplex-many", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let mut job = reg.run_on_master("m-duplex-many", &JobModule::new(plugin("duplex-echo")), "{}", JobLimits::default());
    within("100 sends", async {
        for i in 1..=100 {
            job.send(json!({"i": i}).to_string()).await.unwrap();
        }
    })
    .await;
    let (items, outcome) = within("duplex", job.collect()).await;
    assert_eq!(outcome, Ok(100));
    let last: Value = serde_json::from_str(&items[99]).unwrap();
    assert_eq!(last, json!({"echo": {"i": 100}, "n": 100}));
}

#[tokio::test]
async fn a_restarted_register_gets_its_masters_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let addr = reg.local_addr();
    let master = master_with(dir.path(), "m-back", &["hello-world"]).await;
    connected(&reg, &master, addr.port()).await;
    reg.shutdown();
    drop(reg);
    let mut ev = master.events();
    wait_event(&mut ev, "close seen by the master", |e| matches!(e, MasterEvent::Close { .. })).await;
    let reg = within("rebind", async {
        loop {
            match Register::start(RegisterConfig::new(addr, dir.path())).await {
                Ok(r) => return r,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    let mut on_reg = reg.events();
    if reg.master("m-back").is_none() {
        wait_event(&mut on_reg, "master back", |e| matches!(e, RegisterEvent::MasterAuthenticated { id, .. } if id == "m-back")).await;
    }
    assert_eq!(reg.master("m-back").unwrap().services[0].name, "hello-world");
    let (_, outcome) = within("job after restart", reg.run_on_master("m-back", &JobModule::new(plugin("greet")), "{}", JobLimits::default()).collect()).await;
    assert_eq!(outcome, Ok(2));
}

#[tokio::test]
async fn announcements_follow_service_changes() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-announce", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    assert!(reg.master("m-announce").unwrap().services.is_empty());
    let mut ev = reg.events();
    let opts = ServiceOptions::with_metadata([("zone", "eu")]);
    // No explicit announce: changes to the registry are pushed by themselves.
    master.registry().register("user-service", plugin("user-service"), opts).await.unwrap();
    wait_event(&mut ev, "services changed", |e| matches!(e, RegisterEvent::ServicesChanged { .. })).await;
    assert_eq!(reg.masters_with_metadata("user-service", "zone", "eu").len(), 1);
    assert!(reg.masters_with_metadata("user-service", "zone", "us").is_empty());
    master.registry().remove("user-service");
    wait_event(&mut ev, "services changed again", |e| matches!(e, RegisterEvent::ServicesChanged { .. })).await;
    assert!(reg.master("m-announce").unwrap().services.is_empty());
}

#[tokio::test]
async fn commands_from_a_register_reach_the_master_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-cmd", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let mut ev = master.events();
    assert!(reg.send_command("m-cmd", Command { cmd: "reload".into(), payload: json!({"x": 1}) }));
    let got = wait_event(&mut ev, "custom command", |e| matches!(e, MasterEvent::Cmd { .. })).await;
    assert!(matches!(got, MasterEvent::Cmd { command, .. } if command.cmd == "reload" && command.payload == json!({"x": 1})));
    assert!(!reg.send_command("nobody", Command { cmd: "x".into(), payload: Value::Null }));
}

#[tokio::test]
async fn the_newest_connection_of_a_node_id_wins_and_the_older_jobs_end_as_master_lost() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let first = master_with(dir.path(), "m-twin", &["test-fixture"]).await;
    connected(&reg, &first, reg.local_addr().port()).await;
    let mut job = reg.run_on_master("m-twin", &JobModule::new(plugin("ticker")), "{}", JobLimits::default());
    assert!(matches!(within("tick", job.next()).await, Some(RemoteEvent::Item(_))));
    let mut ev = reg.events();
    let mut cfg = master_cfg(dir.path(), "m-twin");
    cfg.reconnect_on_close = false;
    let second = Master::new(cfg, common::registry_with(&["hello-world"]).await).unwrap();
    second.connect("127.0.0.1", reg.local_addr().port());
    wait_event(&mut ev, "the twin authenticates", |e| matches!(e, RegisterEvent::MasterAuthenticated { id, .. } if id == "m-twin")).await;
    let end = within("old job ends", async {
        loop {
            match job.next().await {
                Some(RemoteEvent::Item(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(matches!(end, Some(RemoteEvent::Failed(RemoteError::MasterLost { .. }))), "{end:?}");
    first.close();
    let info = reg.master("m-twin").unwrap();
    assert_eq!(info.services[0].name, "hello-world", "the table holds the newest connection");
}

#[tokio::test]
async fn ipv6_registers_work() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Register::start(RegisterConfig::new("[::1]:0".parse().unwrap(), dir.path())).await.unwrap();
    let master = master_with(dir.path(), "m-v6", &["hello-world"]).await;
    let mut ev = reg.events();
    let mut on_master = master.events();
    master.connect("::1", reg.local_addr().port());
    wait_event(&mut on_master, "v6 auth", |e| matches!(e, MasterEvent::AuthSuccess { .. })).await;
    assert_eq!(master.connected_centers(), [format!("[::1]:{}", reg.local_addr().port())]);
    assert!(master.remove_connection("::1", reg.local_addr().port()));
    wait_event(&mut ev, "v6 master leaves", |e| matches!(e, RegisterEvent::MasterDisconnected { .. })).await;
}

#[tokio::test]
async fn job_log_lines_travel_back_beside_the_items() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-log", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let mut job = reg.run_on_master("m-log", &JobModule::new(plugin("greet")), r#"{"name":"Ann"}"#, JobLimits::default());
    job.close_input();
    let mut events = Vec::new();
    while let Some(e) = within("events", job.next()).await {
        events.push(e);
    }
    assert!(events.iter().any(|e| matches!(e, RemoteEvent::Log { level, message } if level == "info" && message == "greeting Ann")), "{events:?}");
    assert_eq!(events.last(), Some(&RemoteEvent::Done { items: 2 }));
}

#[tokio::test]
async fn a_busy_master_refuses_at_once_and_retries_move_on_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let mut cfg = master_cfg(dir.path(), "m-a-busy");
    cfg.max_jobs = 0;
    let busy = Master::new(cfg, common::registry_with(&["hello-world"]).await).unwrap();
    connected(&reg, &busy, reg.local_addr().port()).await;
    let greet = JobModule::new(plugin("greet"));
    let (_, outcome) = within("busy", reg.run_on_service("hello-world", &greet, "{}", JobLimits::default()).collect()).await;
    assert!(matches!(outcome, Err(RemoteError::MasterBusy { ref master, running: 0, max: 0 }) if master == "m-a-busy"), "{outcome:?}");
    let free = master_with(dir.path(), "m-b-free", &["hello-world"]).await;
    connected(&reg, &free, reg.local_addr().port()).await;
    let (items, outcome) = within("retried", reg.run_on_service_with_retries("hello-world", &greet, "{}", JobLimits::default(), 1).collect()).await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));
    let (_, outcome) = within("no retries left", reg.run_on_service_with_retries("hello-world", &greet, "{}", JobLimits::default(), 0).collect()).await;
    assert!(matches!(outcome, Err(RemoteError::MasterBusy { .. })), "least loaded is still the busy one: {outcome:?}");
}

fn signer(dir: &Path) -> regcenter::admission::JobSigner {
    let der = regcenter::transport::datadir::DataDir::open(dir).unwrap().job_signing_key().unwrap();
    regcenter::admission::JobSigner::from_pkcs8(&der).unwrap()
}

#[tokio::test]
async fn a_master_that_trusts_a_key_runs_only_jobs_signed_with_it() {
    use regcenter::protocol::admission::Refusal;
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let (ours, theirs) = (signer(dir.path()), signer(other.path()));
    assert_ne!(ours.public_key_hex(), theirs.public_key_hex());
    let mut cfg = master_cfg(dir.path(), "m-signed");
    cfg.admission.keys = vec![regcenter::admission::parse_hex("key", &ours.public_key_hex()).unwrap()];
    let master = Master::new(cfg, common::registry_with(&["hello-world"]).await).unwrap();
    connected(&reg, &master, reg.local_addr().port()).await;

    let signed = JobModule::new(plugin("greet")).signed(&ours);
    let (items, outcome) = within("signed job", reg.run_on_master("m-signed", &signed, "{}", JobLimits::default()).collect()).await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));

    let refused = |refusal| Err(RemoteError::NotAdmitted { master: "m-signed".into(), refusal });
    // A module the master has never seen: refused before it is fetched.
    let unsigned = JobModule::new(common::unique(&plugin("greet")));
    let sent = || reg.connection_stats("m-signed").unwrap().udp_tx.bytes;
    let before = sent();
    let (items, outcome) = within("unsigned job", reg.run_on_master("m-signed", &unsigned, "{}", JobLimits::default()).collect()).await;
    assert_eq!((items.len(), outcome), (0, refused(Refusal::Unsigned)));
    let carried = sent() - before;
    assert!(carried < (unsigned.bytes().len() / 10) as u64, "the refused module was not sent: {carried} bytes");

    let foreign = JobModule::new(plugin("greet")).signed(&theirs);
    let (_, outcome) = within("foreign key", reg.run_on_master("m-signed", &foreign, "{}", JobLimits::default()).collect()).await;
    assert_eq!(outcome, refused(Refusal::UntrustedKey { key: theirs.public_key_hex() }));

    // A signature of one module does not admit another.
    let other_module = JobModule::new(plugin("list-users")).with_signature(signed.signature().cloned());
    let (_, outcome) = within("moved signature", reg.run_on_master("m-signed", &other_module, "{}", JobLimits::default()).collect()).await;
    assert_eq!(outcome, refused(Refusal::BadSignature { sha256: regcenter::runtime::hex(&other_module.sha256()) }));
}

#[tokio::test]
async fn hash_and_register_allow_lists_refuse_everything_else_by_name() {
    use regcenter::protocol::admission::Refusal;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (register(dir.path()).await, register(dir.path()).await);
    let greet = JobModule::new(plugin("greet"));
    let mut cfg = master_cfg(dir.path(), "m-allow");
    cfg.admission.hashes = [greet.sha256()].into();
    cfg.admission.registers = [format!("127.0.0.1:{}", a.local_addr().port())].into();
    let master = Master::new(cfg, common::registry_with(&["hello-world", "user-service"]).await).unwrap();
    connected(&a, &master, a.local_addr().port()).await;
    connected(&b, &master, b.local_addr().port()).await;

    assert_eq!(within("allowed", a.run_on_master("m-allow", &greet, "{}", JobLimits::default()).collect()).await.1, Ok(2));
    let list = JobModule::new(plugin("list-users"));
    let (_, outcome) = within("not listed", a.run_on_master("m-allow", &list, "{}", JobLimits::default()).collect()).await;
    let sha256 = regcenter::runtime::hex(&list.sha256());
    assert_eq!(outcome, Err(RemoteError::NotAdmitted { master: "m-allow".into(), refusal: Refusal::HashNotAllowed { sha256 } }));
    let (_, outcome) = within("other register", b.run_on_master("m-allow", &greet, "{}", JobLimits::default()).collect()).await;
    let register = format!("127.0.0.1:{}", b.local_addr().port());
    assert_eq!(outcome, Err(RemoteError::NotAdmitted { master: "m-allow".into(), refusal: Refusal::RegisterNotAllowed { register } }));
}

/// Runs `job` to its end, counting items without keeping them.
async fn count_to_end(mut job: regcenter::register::RemoteJob) -> (u64, Result<u64, RemoteError>) {
    job.close_input();
    let mut items = 0;
    while let Some(ev) = job.next().await {
        match ev {
            RemoteEvent::Item(_) => items += 1,
            RemoteEvent::Log { .. } => {}
            RemoteEvent::Done { items: n } => return (items, Ok(n)),
            RemoteEvent::Failed(e) => return (items, Err(e)),
        }
    }
    (items, Err(RemoteError::Protocol { master: String::new(), message: "the stream ended without done".into() }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_jobs_over_the_wire_end_with_typed_errors_while_good_jobs_all_complete() {
    let dir = tempfile::tempdir().unwrap();
    let reg = std::sync::Arc::new(register(dir.path()).await);
    let master = master_with(dir.path(), "m-mixed", &["hello-world"]).await;
    connected(&reg, &master, reg.local_addr().port()).await;

    let good = {
        let reg = reg.clone();
        tokio::spawn(async move {
            let greet = JobModule::new(plugin("greet"));
            let mut failures = Vec::new();
            for _ in 0..200 {
                let (items, outcome) = reg.run_on_master("m-mixed", &greet, "{}", JobLimits::default()).collect().await;
                if outcome != Ok(2) || items.len() != 2 {
                    failures.push(format!("{outcome:?} after {} items", items.len()));
                }
            }
            failures
        })
    };
    let short = JobLimits { deadline: Duration::from_secs(3), ..JobLimits::default() };
    let core_module = vec![0, b'a', b's', b'm', 1, 0, 0, 0];
    // (name, module, input, limits, what the error must say)
    let bad: Vec<(&str, Vec<u8>, &str, JobLimits, &str)> = vec![
        ("spin-forever", plugin("spin-forever"), "{}", short, "deadline limit"),
        ("memory-hog", plugin("memory-hog"), "{}", JobLimits::default(), "memory limit"),
        ("deep-recursion", plugin("deep-recursion"), "{}", JobLimits::default(), "stack"),
        ("trap", plugin("trap"), "{}", JobLimits::default(), "job trapped"),
        ("emit-flood", plugin("emit-flood"), r#"{"size":0}"#, JobLimits::default(), "item count limit"),
        // 2,000,000 items of ~600 bytes: 1.2 GiB if nothing stopped it.
        ("emit 1 GiB", plugin("emit-flood"), r#"{"count":2000000,"size":600}"#, JobLimits::default(), "emitted bytes limit"),
        ("unsatisfiable import", plugin("typed-users"), "{}", JobLimits::default(), "example:users/users@1.0.0"),
        ("invalid bytes", b"\0asm garbage".to_vec(), "{}", JobLimits::default(), "invalid WebAssembly"),
        ("core module", core_module, "{}", JobLimits::default(), "core wasm module"),
        ("wrong world", plugin("hello-world"), "{}", JobLimits::default(), "wrong world"),
        ("oversized", vec![0u8; 40 << 20], "{}", JobLimits::default(), "over the"),
    ];
    let mut handles = Vec::new();
    for (what, bytes, input, limits, want) in bad {
        let reg = reg.clone();
        handles.push(tokio::spawn(async move {
            let job = JobModule::new(bytes);
            let (items, outcome) = count_to_end(reg.run_on_master("m-mixed", &job, input, limits)).await;
            (what, want, items, outcome)
        }));
    }
    for h in handles {
        let (what, want, items, outcome) = within("a misbehaving job ends", h).await.unwrap();
        let err = outcome.expect_err(what);
        assert!(matches!(err, RemoteError::Job { .. }), "{what}: a job error, got {err:?}");
        assert!(err.to_string().contains(want), "{what}: `{err}` does not name `{want}`");
        if what == "emit 1 GiB" {
            assert!(items > 100_000, "{what}: items up to the limit arrived ({items})");
        }
    }
    let failures = within("the good jobs", good).await.unwrap();
    assert!(failures.is_empty(), "good jobs failed beside the bad ones: {failures:?}");
}

#[tokio::test]
async fn another_register_sees_the_load_rise_and_fall_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (register(dir.path()).await, register(dir.path()).await);
    let master = master_with(dir.path(), "m-load", &[]).await;
    connected(&a, &master, a.local_addr().port()).await;
    connected(&b, &master, b.local_addr().port()).await;
    let seen_on = |reg: &Register, n: u32| {
        let reg = reg.clone();
        within("a register to see the master's load", async move {
            while reg.master("m-load").map(|m| m.in_flight) != Some(n) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Two jobs through A: B never opened them, so it knows of them only
    // from the master's (coalesced) load reports.
    let module = JobModule::new(plugin("duplex-echo"));
    let mut jobs = vec![a.run_on_master("m-load", &module, "{}", JobLimits::default()), a.run_on_master("m-load", &module, "{}", JobLimits::default())];
    seen_on(&b, 2).await;
    // A counts its own jobs once: the master tells each register only of
    // the jobs other registers opened (by now those reports have gone out).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.master("m-load").map(|m| m.in_flight), Some(2));
    // A job through B: A learns of it from the master, B counts it itself.
    let mut from_b = b.run_on_master("m-load", &module, "{}", JobLimits::default());
    seen_on(&a, 3).await;
    seen_on(&b, 3).await;
    // All ended back to back: the last reports must still say zero.
    from_b.close_input();
    for job in &mut jobs {
        job.close_input();
    }
    for job in jobs.into_iter().chain([from_b]) {
        assert_eq!(within("job end", job.collect()).await.1, Ok(0));
    }
    seen_on(&a, 0).await;
    seen_on(&b, 0).await;
}

#[tokio::test]
async fn a_module_the_master_dropped_from_its_cache_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    // A master that keeps one compiled job: running B evicts A.
    let cfg = regcenter::RuntimeConfig {
        engine: regcenter::runtime::engine::EngineConfig { cache_dir: Some(common::cache_dir()), job_slots: 8, ..Default::default() },
        job_cache_entries: 1,
        ..Default::default()
    };
    let registry = regcenter::ServiceRegistry::new(regcenter::Runtime::new(cfg).expect("runtime"));
    let master = Master::new(master_cfg(dir.path(), "m-evict"), registry).expect("master");
    connected(&reg, &master, reg.local_addr().port()).await;
    let a = JobModule::new(common::unique(&plugin("emit-flood")));
    let b = JobModule::new(common::unique(&plugin("emit-flood")));
    let size = a.bytes().len() as u64;
    let sent = || reg.connection_stats("m-evict").unwrap().udp_tx.bytes;
    let mut carried = Vec::new();
    for (module, count) in [(&a, 3u64), (&a, 4), (&b, 5), (&a, 6)] {
        let before = sent();
        let job = reg.run_on_master("m-evict", module, json!({"count": count}).to_string(), JobLimits::default());
        let (items, outcome) = within("job", job.collect()).await;
        assert_eq!(outcome, Ok(count));
        assert_eq!(items.len() as u64, count);
        carried.push(sent() - before > size);
    }
    // A crosses, A is warm, B crosses (evicting A), and A crosses again: the
    // register believed the master still held A, ended its side of the
    // stream early, was asked for the module and ran the job again with it.
    assert_eq!(carried, [true, false, true, true]);
}

#[tokio::test]
async fn dropping_a_silent_job_whose_input_was_closed_cancels_it_on_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    // Jobs here may run ten minutes: only cancellation can end them within the test.
    let long = JobLimits { deadline: Duration::from_secs(600), ..JobLimits::default() };
    let engine = regcenter::runtime::engine::EngineConfig { cache_dir: Some(common::cache_dir()), job_slots: 8, ..Default::default() };
    let runtime = regcenter::Runtime::new(regcenter::RuntimeConfig { engine, job_limits: long, ..Default::default() }).expect("runtime");
    let master = Master::new(master_cfg(dir.path(), "m-silent-drop"), regcenter::ServiceRegistry::new(runtime)).expect("master");
    connected(&reg, &master, reg.local_addr().port()).await;
    let spin = JobModule::new(plugin("spin-forever"));
    // A first run that hits its deadline shows the register the master holds
    // the module, so the next run ends the register's side with the start.
    let short = JobLimits { deadline: Duration::from_millis(200), ..JobLimits::default() };
    let (_, outcome) = within("short spin", reg.run_on_master("m-silent-drop", &spin, "{}", short).collect()).await;
    assert!(matches!(outcome, Err(RemoteError::Job { error: JobError::LimitExceeded { limit: Limit::Deadline, .. } })), "{outcome:?}");
    let mut job = reg.run_on_master("m-silent-drop", &spin, "{}", long);
    job.close_input();
    within("the job to start", async {
        while master.running_jobs() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    drop(job);
    within("job stopped on the master", async {
        while master.running_jobs() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Runs `module` through `op` on `master` and returns its items' count.
async fn operator_run(op: &regcenter::client::Operator, master: &str, module: &JobModule, count: u64) -> u64 {
    use regcenter::protocol::message::RunTarget;
    let mut run = op.run(RunTarget::Master { id: master.into() }, module, json!({"count": count}).to_string(), JobLimits::default()).await.expect("run starts");
    let mut items = 0;
    within("operator run", async {
        loop {
            match run.next().await.expect("run streams") {
                Some((_, RemoteEvent::Item(_))) => items += 1,
                Some((_, RemoteEvent::Log { .. })) => {}
                Some((_, RemoteEvent::Done { items: n })) => return assert_eq!(n, items),
                Some((_, other)) => panic!("run failed: {other:?}"),
                None => panic!("the run ended without done"),
            }
        }
    })
    .await;
    items
}

#[tokio::test]
async fn a_warm_operator_runs_stream_closes_without_stop_sending_or_reset() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-op-clean", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let op = operator(dir.path(), reg.local_addr().port()).await;
    let module = JobModule::new(plugin("emit-flood"));
    // The first run carries the module (its stream may close with a stop and
    // a reset, sent with the next run's packets): counting starts after the second.
    for _ in 0..2 {
        assert_eq!(operator_run(&op, "m-op-clean", &module, 1).await, 1);
    }
    let frames = || closing_frames(&op.connection_stats());
    let before = frames();
    for _ in 0..30 {
        assert_eq!(operator_run(&op, "m-op-clean", &module, 1).await, 1);
    }
    // Operator and register each read the other's end of every run's stream.
    assert_eq!(frames(), before, "(stop_sending rx, reset_stream rx, stop_sending tx, reset_stream tx)");
}

#[tokio::test]
async fn an_operator_runs_again_with_the_module_when_the_register_dropped_it() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(dir.path()).await;
    let master = master_with(dir.path(), "m-op-evict", &[]).await;
    connected(&reg, &master, reg.local_addr().port()).await;
    let op = operator(dir.path(), reg.local_addr().port()).await;
    let first = JobModule::new(common::unique(&plugin("emit-flood")));
    assert_eq!(operator_run(&op, "m-op-evict", &first, 2).await, 2);
    // Warm: the operator ends its side with the request.
    assert_eq!(operator_run(&op, "m-op-evict", &first, 3).await, 3);
    // Another operator's 64 modules push it out of the register's store (64 kept).
    let op2 = operator(dir.path(), reg.local_addr().port()).await;
    for _ in 0..64 {
        let other = JobModule::new(common::unique(&plugin("emit-flood")));
        assert_eq!(operator_run(&op2, "m-op-evict", &other, 1).await, 1);
    }
    // The operator still believes the register holds it: the register asks,
    // ends the stream, and the run goes again with the module.
    assert_eq!(operator_run(&op, "m-op-evict", &first, 4).await, 4);
}
