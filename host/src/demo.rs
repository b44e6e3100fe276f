//! The seed's demo timeline, shared by `examples/register.rs`,
//! `examples/register1.rs`, `examples/master.rs` and `regcenter demo`:
//!
//! - register A (8010) and register B (8011); one master hosting the seed's
//!   services, connecting to A with unlimited retries and a 3 s delay;
//! - every 5 s, A runs `greet` on every master offering `hello-world`, B runs
//!   it on all its masters; both print the results and their service tables;
//! - at 10 s, A broadcasts `register` {127.0.0.1:B}: the master joins B;
//! - at 20 s, A broadcasts `remove` {127.0.0.1:B}: the master leaves B.

use crate::master::{Master, MasterConfig};
use crate::node::{describe_master_event, describe_register_event};
use crate::register::{JobModule, Register, RemoteEvent};
use crate::registry::{ServiceOptions, ServiceRegistry};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::{JobLimits, RegistryError};
use regcenter_protocol::message::Command;
use std::path::Path;
use std::time::Duration;
use tokio::time::{interval_at, Instant};

/// Counts what happened, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Jobs that ended with done.
    pub done: u32,
    /// Jobs that failed.
    pub failed: u32,
    /// Items received.
    pub items: u32,
}

/// The seed's services in a fresh registry.
pub async fn seed_services() -> Result<ServiceRegistry, RegistryError> {
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|error| RegistryError::Load { service: "runtime".into(), error })?;
    let registry = ServiceRegistry::new(runtime);
    for (name, bytes) in crate::embedded::SERVICES {
        registry.register(name, bytes.to_vec(), ServiceOptions::with_metadata([("demo", "seed")])).await?;
    }
    Ok(registry)
}

/// The demo master: the seed's services, unlimited retries, 3 s delay.
pub fn master(data_dir: &Path, registry: ServiceRegistry) -> Result<Master, crate::master::MasterError> {
    let mut cfg = MasterConfig::new(data_dir);
    cfg.node_id = Some("demo-master".into());
    cfg.retry_delay = Duration::from_secs(3);
    Master::new(cfg, registry)
}

/// Prints the master's events until `run_for` passes.
pub async fn master_log(master: &Master, run_for: Duration, print: impl Fn(String)) {
    let mut events = master.events();
    let end = tokio::time::sleep(run_for);
    tokio::pin!(end);
    loop {
        tokio::select! {
            _ = &mut end => return,
            ev = events.recv() => match ev {
                Ok(e) => print(format!("[master] {}", describe_master_event(&e))),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
        }
    }
}

/// Register A's (or B's) side of the timeline for `run_for`. With
/// `b_port`, this is A: it greets masters offering hello-world and tells
/// them to join B at 10 s and leave at 20 s. Without, it is B: it greets all
/// its masters, half a period later (so its rounds never race the 20 s leave).
pub async fn register_timeline(label: &str, reg: &Register, b_port: Option<u16>, run_for: Duration, print: impl Fn(String)) -> Tally {
    let greet = JobModule::new(crate::embedded::GREET.to_vec());
    let start = Instant::now();
    let first = if b_port.is_some() { Duration::from_secs(5) } else { Duration::from_millis(7500) };
    let mut tick = interval_at(start + first, Duration::from_secs(5));
    let mut events = reg.events();
    let mut tally = Tally::default();
    let mut joined = false;
    let mut left = false;
    let end = tokio::time::sleep_until(start + run_for);
    tokio::pin!(end);
    loop {
        tokio::select! {
            // The end wins a tie with the round due at the same instant, so
            // every run reports the same rounds.
            biased;
            _ = &mut end => return tally,
            ev = events.recv() => {
                if let Ok(e) = ev {
                    print(format!("[{label}] {}", describe_register_event(&e)));
                }
            }
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                if let Some(port) = b_port {
                    let registers = serde_json::json!({"registers": [{"host": "127.0.0.1", "port": port}]});
                    if !joined && elapsed >= Duration::from_secs(10) {
                        joined = true;
                        let n = reg.write_raw_message_to_all_masters(Command { cmd: "register".into(), payload: registers.clone() });
                        print(format!("[{label}] 10 s: told {n} master(s) to join 127.0.0.1:{port}"));
                    }
                    if !left && elapsed >= Duration::from_secs(20) {
                        left = true;
                        let n = reg.write_raw_message_to_all_masters(Command { cmd: "remove".into(), payload: registers });
                        print(format!("[{label}] 20 s: told {n} master(s) to leave 127.0.0.1:{port}"));
                    }
                }
                greet_round(label, reg, &greet, b_port.is_some(), &mut tally, &print).await;
            }
        }
    }
}

async fn greet_round(label: &str, reg: &Register, greet: &JobModule, by_service: bool, tally: &mut Tally, print: &impl Fn(String)) {
    let table = reg.services_masters();
    print(format!("[{label}] services: {}", if table.is_empty() { "(none)".to_string() } else { format!("{table:?}") }));
    let targets: Vec<String> = if by_service {
        reg.masters_with_service("hello-world").into_iter().map(|m| m.id).collect()
    } else {
        reg.connected_masters().into_iter().map(|m| m.id).collect()
    };
    for id in targets {
        let mut job = reg.run_on_master(&id, greet, r#"{"name":"John Doe"}"#, JobLimits::default());
        job.close_input();
        while let Some(ev) = job.next().await {
            match ev {
                RemoteEvent::Item(item) => {
                    tally.items += 1;
                    print(format!("[{label}] {id}: {}", item.trim()));
                }
                RemoteEvent::Log { .. } => {}
                RemoteEvent::Done { items } => {
                    tally.done += 1;
                    print(format!("[{label}] {id}: done ({items} items)"));
                }
                RemoteEvent::Failed(e) => {
                    tally.failed += 1;
                    print(format!("[{label}] {id}: failed: {e}"));
                }
            }
        }
    }
}

/// What `regcenter demo` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Register A's jobs.
    pub a: Tally,
    /// Register B's jobs.
    pub b: Tally,
}

/// The whole demo in one process: two registers, one master, the timeline,
/// a temporary data dir. `ports` of 0 pick free ports.
pub async fn run(run_for: Duration, ports: (u16, u16)) -> Result<Summary, crate::node::NodeError> {
    use crate::register::RegisterConfig;
    let dir = std::env::temp_dir().join(format!("regcenter-demo-{}", crate::transport::datadir::random_token()));
    let started = Instant::now();
    let print = move |line: String| println!("[{:>5.1}s] {line}", started.elapsed().as_secs_f64());
    let a = Register::start(RegisterConfig::new(([127, 0, 0, 1], ports.0).into(), &dir)).await?;
    let mut b_cfg = RegisterConfig::new(([127, 0, 0, 1], ports.1).into(), &dir);
    b_cfg.name = "b".into();
    let b = Register::start(b_cfg).await?;
    print(format!("register A listening on {}", a.local_addr()));
    print(format!("register B listening on {}", b.local_addr()));
    let registry = seed_services().await.map_err(crate::hosting::HostError::from)?;
    let m = master(&dir, registry)?;
    print(format!("master {} hosts {:?}", m.node_id(), m.registry().all().iter().map(|s| s.name.clone()).collect::<Vec<_>>()));
    m.connect("127.0.0.1", a.local_addr().port());
    let (ta, tb, ()) = tokio::join!(
        register_timeline("A", &a, Some(b.local_addr().port()), run_for, print),
        register_timeline("B", &b, None, run_for, print),
        master_log(&m, run_for, print),
    );
    m.close();
    a.shutdown();
    b.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    print(format!(
        "summary: A ran {} job(s) ({} done, {} failed, {} items); B ran {} job(s) ({} done, {} failed, {} items)",
        ta.done + ta.failed,
        ta.done,
        ta.failed,
        ta.items,
        tb.done + tb.failed,
        tb.done,
        tb.failed,
        tb.items
    ));
    Ok(Summary { a: ta, b: tb })
}
