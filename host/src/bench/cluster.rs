//! The benchmark's nodes: one in-process register, a master hosting the Rust
//! hello-world (`bench-0`), as many service-less masters as fan-out needs,
//! and an operator; plus a register process for the memory figure.

use super::memory::{ServerProcess, SETTLE};
use super::samples::{time, Samples};
use super::side::MasterSide;
use super::{err, plugin, BenchError, CONNECT_PATIENCE};
use crate::client::{Operator, OperatorConfig};
use crate::master::{Master, MasterConfig};
use crate::protocol::message::RunTarget;
use crate::register::{JobModule, Register, RegisterConfig, RemoteEvent};
use crate::runtime::engine::EngineConfig;
use crate::runtime::job::RunningJob;
use crate::{JobLimits, Runtime, RuntimeConfig, ServiceOptions, ServiceRegistry};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The node id of the master hosting hello-world.
pub const MAIN: &str = "bench-0";

/// bench-0's job limit: above the throughput section's jobs in flight.
pub const THROUGHPUT_MAX_JOBS: u32 = 8192;

/// Register, masters and the shared job runtime of the masters.
pub struct Cluster {
    register: Arc<Register>,
    runtime: Runtime,
    main: Master,
    extra: Mutex<Vec<Master>>,
    data_dir: std::path::PathBuf,
    side: MasterSide,
}

fn master(dir: &Path, id: &str, registry: ServiceRegistry, max_jobs: u32) -> Result<Master, BenchError> {
    let mut cfg = MasterConfig::new(dir);
    cfg.node_id = Some(id.into());
    cfg.max_jobs = max_jobs;
    cfg.retry_delay = Duration::from_millis(100);
    Master::new(cfg, registry).map_err(|e| BenchError(format!("master {id}: {e}")))
}

/// Waits until `runtime` runs the job with hash `sha` on optimized code.
pub async fn wait_optimized(runtime: &Runtime, sha: &[u8; 32]) -> Result<(), BenchError> {
    wait_for("the optimizing compile", || runtime.job_is_optimized(sha) == Some(true)).await
}

/// Polls `f` until it holds or the patience runs out.
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) -> Result<(), BenchError> {
    let deadline = Instant::now() + CONNECT_PATIENCE;
    while !f() {
        if Instant::now() > deadline {
            return Err(BenchError(format!("timed out waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

impl Cluster {
    /// Waits until the masters' runtime has replaced the baseline code of
    /// `module` by optimized code.
    pub async fn wait_optimized(&self, module: &JobModule) -> Result<(), BenchError> {
        wait_optimized(&self.runtime, &module.sha256()).await
    }

    /// Starts the register and `bench-0`; the masters' runtime has `job_slots`
    /// pooling slots and no disk cache (so a new module really compiles).
    pub async fn start(dir: &Path, job_slots: usize, side: MasterSide) -> Result<Self, BenchError> {
        let engine = EngineConfig { cache_dir: None, job_slots: job_slots as u32, ..EngineConfig::default() };
        let runtime = Runtime::new(RuntimeConfig { engine, ..RuntimeConfig::default() }).map_err(|e| BenchError(e.to_string()))?;
        let register = Register::start(RegisterConfig::new(([127, 0, 0, 1], 0).into(), dir)).await.map_err(|e| BenchError(e.to_string()))?;
        let registry = ServiceRegistry::new(runtime.clone());
        registry.register("hello-world", plugin("hello-world")?, ServiceOptions::default()).await.map_err(|e| BenchError(e.to_string()))?;
        let main = master(dir, MAIN, registry, THROUGHPUT_MAX_JOBS)?;
        side.enter(|| main.connect("127.0.0.1", register.local_addr().port()));
        let register = Arc::new(register);
        let r = register.clone();
        wait_for("bench-0 to connect", || r.master(MAIN).is_some()).await?;
        Ok(Self { register, runtime, main, extra: Mutex::new(Vec::new()), data_dir: dir.to_path_buf(), side })
    }

    /// Where the masters run.
    pub fn side(&self) -> &MasterSide {
        &self.side
    }

    /// An operator connected to the register.
    pub async fn operator(&self) -> Result<Operator, BenchError> {
        let cfg = OperatorConfig { data_dir: self.data_dir.clone(), token: None, trust: None };
        Operator::connect(&self.register.local_addr().to_string(), &cfg).await.map_err(|e| BenchError(format!("operator: {e}")))
    }

    /// The register's API -> bench-0 -> done; the job must emit one item.
    pub async fn job_1hop(&self, module: &JobModule, input: &str) -> Result<(), BenchError> {
        let (items, outcome) = self.register.run_on_master(MAIN, module, input, JobLimits::default()).collect().await;
        check(items.len(), outcome.map_err(|e| e.to_string()))
    }

    /// Operator -> register -> bench-0 -> register -> operator.
    pub async fn job_2hop(&self, op: &Operator, module: &JobModule, input: &str) -> Result<(), BenchError> {
        let target = RunTarget::Master { id: MAIN.into() };
        let mut run = op.run(target, module, input.to_string(), JobLimits::default()).await.map_err(err("operator run"))?;
        let mut items = 0;
        while let Some((_, ev)) = run.next().await.map_err(err("operator run"))? {
            match ev {
                RemoteEvent::Item(_) => items += 1,
                RemoteEvent::Log { .. } => {}
                RemoteEvent::Done { items: n } => return check(items, Ok(n)),
                RemoteEvent::Failed(e) => return Err(BenchError(e.to_string())),
            }
        }
        Err(BenchError("operator stream ended without done".into()))
    }

    /// The runtime alone: look up the warm job, new Store, instantiate, run, drop.
    pub async fn local_jobs(&self, module: &JobModule, input: &str, n: usize) -> Result<Samples, BenchError> {
        let registry = self.main.registry();
        let lookup = registry.lookup();
        self.runtime.prepare_job(module.bytes(), &lookup).await.map_err(|e| BenchError(e.to_string()))?;
        let sha = module.sha256();
        // Warm means optimized code, as for the in-job calls.
        wait_optimized(&self.runtime, &sha).await?;
        let mut s = Samples::default();
        for _ in 0..n {
            let (dt, outcome) = time(async {
                let job = self.runtime.prepare_cached(&sha, &lookup).ok_or("job left the cache")?.map_err(|e| e.to_string())?;
                let (items, _, outcome) = self.runtime.start_job_inline(job, input.to_string(), JobLimits::default(), lookup.clone()).collect().await;
                check(items.len(), outcome.map_err(|e| e.to_string())).map_err(|e| e.0)
            })
            .await;
            outcome.map_err(BenchError)?;
            s.push(dt);
        }
        Ok(s)
    }

    /// The services of bench-0.
    pub fn registry(&self) -> &ServiceRegistry {
        self.main.registry()
    }

    /// Durations of `count` calls of `service`.sayHello from inside one job on bench-0.
    pub async fn in_job_calls(&self, service: &str, count: u64) -> Result<CallTimes, BenchError> {
        call_loop(self.main.registry(), service, count).await
    }

    /// `total` jobs through the register to bench-0 from `in_flight`
    /// requesters, each running its jobs one after another (a closed loop:
    /// a requester's next job starts in the same task turn as its last one
    /// ends).
    pub async fn throughput(&self, module: &JobModule, input: &str, total: usize, in_flight: usize) -> Result<(Duration, usize), BenchError> {
        let left = Arc::new(AtomicUsize::new(total));
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..in_flight.min(total) {
            let (register, module, input, left) = (self.register.clone(), module.clone(), input.to_string(), left.clone());
            set.spawn(async move {
                let mut done = 0usize;
                while left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                    let (items, outcome) = register.run_on_master(MAIN, &module, input.clone(), JobLimits::default()).collect().await;
                    check(items.len(), outcome.map_err(|e| e.to_string()))?;
                    done += 1;
                }
                Ok::<usize, BenchError>(done)
            });
        }
        let mut done = 0;
        while let Some(r) = set.join_next().await {
            done += r.map_err(|e| BenchError(e.to_string()))??;
        }
        Ok((t0.elapsed(), done))
    }

    /// Adds service-less masters until `n` are connected.
    pub async fn grow_masters(&self, n: usize) -> Result<(), BenchError> {
        let port = self.register.local_addr().port();
        {
            let mut extra = self.extra.lock().map_err(|_| BenchError("lock".into()))?;
            while extra.len() + 1 < n {
                let id = format!("bench-{}", extra.len() + 1);
                let m = master(&self.data_dir, &id, ServiceRegistry::new(self.runtime.clone()), MasterConfig::new(&self.data_dir).max_jobs)?;
                self.side.enter(|| m.connect("127.0.0.1", port));
                extra.push(m);
            }
        }
        let r = self.register.clone();
        wait_for(&format!("{n} masters to connect"), || r.connected_masters().len() >= n).await
    }

    /// run_on_all_masters of a one-item job until every stream is done.
    pub async fn fanout(&self, module: &JobModule, n: usize) -> Result<(), BenchError> {
        let jobs = self.register.run_on_all_masters(module, json!({"count": 1}).to_string(), JobLimits::default());
        if jobs.len() != n {
            return Err(BenchError(format!("fan-out reached {} masters, expected {n}", jobs.len())));
        }
        // A broadcast's jobs run in tasks of their own: read one after another.
        for job in jobs {
            let (items, outcome) = job.collect().await;
            check(items.len(), outcome.map_err(|e| e.to_string()))?;
        }
        Ok(())
    }

    /// Starts `regcenter register` as a child process, connects every master
    /// to it, and returns (RSS growth per master in bytes, masters).
    pub async fn register_bytes_per_master(&self, dir: &Path) -> Result<(u64, usize), BenchError> {
        let args = ["register".as_ref(), "--listen".as_ref(), "127.0.0.1:0".as_ref(), "--name".as_ref(), "rss".as_ref(), "--data-dir".as_ref(), dir.as_os_str()];
        let server = ServerProcess::start(&args, "register listening on ").await?;
        let (addr, port) = (server.addr.to_string(), server.addr.port());
        let before = server.rss_bytes()?;
        let extra = self.extra.lock().map_err(|_| BenchError("lock".into()))?.len();
        let masters = extra + 1;
        self.main.connect("127.0.0.1", port);
        for m in self.extra.lock().map_err(|_| BenchError("lock".into()))?.iter() {
            m.connect("127.0.0.1", port);
        }
        let cfg = OperatorConfig { data_dir: self.data_dir.clone(), token: None, trust: None };
        let op = Operator::connect(&addr, &cfg).await.map_err(err("operator"))?;
        let deadline = Instant::now() + CONNECT_PATIENCE;
        loop {
            let n = op.masters().await.map_err(err("masters"))?.len();
            if n >= masters {
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError(format!("only {n} of {masters} masters reached the register process")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(op);
        tokio::time::sleep(SETTLE).await;
        let after = server.rss_bytes()?;
        self.main.remove_connection("127.0.0.1", port);
        for m in self.extra.lock().map_err(|_| BenchError("lock".into()))?.iter() {
            m.remove_connection("127.0.0.1", port);
        }
        Ok((after.saturating_sub(before) / masters as u64, masters))
    }

    /// Closes every master and the register.
    pub fn close(&self) {
        self.main.close();
        if let Ok(extra) = self.extra.lock() {
            for m in extra.iter() {
                m.close();
            }
        }
        self.register.shutdown();
    }
}

/// A job's outcome must be done with exactly one item.
fn check(items: usize, outcome: Result<u64, String>) -> Result<(), BenchError> {
    match outcome {
        Ok(1) if items == 1 => Ok(()),
        Ok(n) => Err(BenchError(format!("job ended with {n} items ({items} received), expected 1"))),
        Err(e) => Err(BenchError(format!("job failed: {e}"))),
    }
}

/// Runs the call-loop job against `service` on `registry`: per-call durations.
async fn call_loop(registry: &ServiceRegistry, service: &str, count: u64) -> Result<CallTimes, BenchError> {
    let bytes = plugin("call-loop")?;
    // Measure on optimized code: compile, then wait for the background upgrade.
    registry.runtime().prepare_job(&bytes, &registry.lookup()).await.map_err(|e| BenchError(e.to_string()))?;
    wait_optimized(registry.runtime(), &crate::runtime::sha256(&bytes)).await?;
    let running = registry.run_job(&bytes, call_loop_input(service, count), JobLimits::default()).await.map_err(|e| BenchError(e.to_string()))?;
    call_times(running, service).await
}

/// `call-loop`'s input: `count` calls of `service`.sayHello, each timed.
pub fn call_loop_input(service: &str, count: u64) -> String {
    json!({"service": service, "method": "sayHello", "args": [], "count": count, "clock": true}).to_string()
}

/// What a `call-loop` job measured, once it is done.
pub async fn call_times(running: RunningJob, service: &str) -> Result<CallTimes, BenchError> {
    let (items, _, outcome) = running.collect().await;
    outcome.map_err(|e| BenchError(format!("call-loop on {service}: {e}")))?;
    let mut samples = items.iter().map(|item| {
        let nanos: Vec<u64> = serde_json::from_str(item).map_err(|e| BenchError(format!("call-loop emitted no durations: {e}")))?;
        let mut s = Samples::default();
        s.extend_nanos(nanos);
        Ok::<_, BenchError>(s)
    });
    let missing = || BenchError(format!("call-loop emitted {} item(s), not 2", items.len()));
    let calls = samples.next().ok_or_else(missing)??;
    let clock = samples.next().ok_or_else(missing)??;
    Ok(CallTimes { calls, clock })
}

/// What `call-loop` measured: each call, and an empty interval of the same
/// clock before it (two reads in a row: what the timer adds to a sample).
#[derive(Default)]
pub struct CallTimes {
    /// One service call per sample.
    pub calls: Samples,
    /// Nothing between the clock reads.
    pub clock: Samples,
}

impl CallTimes {
    /// Adds the samples of another run.
    pub fn append(&mut self, other: CallTimes) {
        self.calls.append(other.calls);
        self.clock.append(other.clock);
    }
}

/// In-job call latency to the same hello-world in Rust, Python and JavaScript
/// (a runtime with the disk cache, so the big guests compile once per machine).
pub async fn language_calls(count: u64) -> Result<Vec<(&'static str, Samples)>, BenchError> {
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| BenchError(e.to_string()))?;
    let registry = ServiceRegistry::new(runtime);
    let guests = [("rust", "hello-world"), ("python", "hello_world_py"), ("js", "hello_world_js")];
    for (_, name) in guests {
        registry.register(name, plugin(name)?, ServiceOptions::default()).await.map_err(|e| BenchError(format!("{name}: {e}")))?;
    }
    let mut out = Vec::new();
    for (lang, name) in guests {
        out.push((lang, call_loop(&registry, name, count).await?.calls));
    }
    Ok(out)
}
