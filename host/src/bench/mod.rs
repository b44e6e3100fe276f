//! `regcenter bench`: latency, throughput, cold start, fan-out and memory
//! figures, each next to a floor measured in the same run.
//!
//! Layout: one process on a tokio multi-thread runtime (one worker per core,
//! threads not pinned) holds the register, the masters, the operator and the
//! floor's echo server and relay, so job and floor samples pay the same
//! thread wake-ups. Only the memory figures run their servers in processes
//! of their own (this binary's `register` command, and a bare quinn server
//! as their floor), to read their RSS. Floor and job samples are taken in
//! alternating batches. Round trips have a bare quinn echo and relay as
//! their floor ([`floor`]); fan-out and throughput a bare quinn server
//! echoing through as many bare clients ([`spread`]). `--split --pin`
//! pins the two nodes' threads to two CPUs ([`pin`]).

mod call_floor;
mod cluster;
mod datagrams;
mod floor;
pub mod memory;
pub mod pin;
mod samples;
mod side;
mod spread;

pub use cluster::wait_optimized;

use crate::register::JobModule;
use crate::transport::datadir::DataDir;
use call_floor::CallFloor;
use cluster::{CallTimes, Cluster};
use datagrams::PerOp;
use floor::Floor;
use samples::Samples;
use side::MasterSide;
use spread::SpreadFloor;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How much to measure.
#[derive(Clone, Debug, Default)]
pub struct BenchOptions {
    /// Small counts: a smoke run of a few seconds (CI), not for figures.
    pub quick: bool,
    /// Worker threads of the runtime the bench runs on (for the report).
    pub threads: usize,
    /// Sections to run (empty: all): see [`SECTIONS`].
    pub only: Vec<String>,
    /// Masters (and the floor's echo server) on a single-threaded runtime
    /// of their own, on another thread: two nodes, as two processes.
    pub split: bool,
    /// With `split`: the register side's thread and the masters' thread
    /// each pinned to a CPU of its own (the first two the process may use).
    pub pin: bool,
}

/// The section names [`BenchOptions::only`] accepts.
pub const SECTIONS: &[&str] = &["rtt", "local", "throughput", "cold", "fanout", "memory", "langs"];

impl BenchOptions {
    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// Counts per section.
struct Plan {
    batches: usize,
    per_batch: usize,
    in_job_calls: u64,
    throughput_jobs: usize,
    in_flight: usize,
    cold_samples: usize,
    fanout: Vec<usize>,
    fanout_samples: usize,
    /// Fan-out samples of one kind (floor or job) taken in a row.
    fanout_batch: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self { batches: 4, per_batch: 25, in_job_calls: 500, throughput_jobs: 1000, in_flight: 128, cold_samples: 2, fanout: vec![1, 32, 100], fanout_samples: 3, fanout_batch: 3 }
        } else {
            Self {
                batches: 20,
                per_batch: 250,
                in_job_calls: 20_000,
                throughput_jobs: 40_000,
                in_flight: 512,
                cold_samples: 10,
                fanout: vec![1, 32, 1000],
                fanout_samples: 15,
                fanout_batch: 5,
            }
        }
    }
}

/// A failed benchmark step.
#[derive(Debug, thiserror::Error)]
#[error("bench: {0}")]
pub struct BenchError(pub String);

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> BenchError + '_ {
    move |e| BenchError(format!("{what}: {e}"))
}

/// Reads a built plugin.
fn plugin(name: &str) -> Result<Vec<u8>, BenchError> {
    let path = crate::plugins::path(name);
    std::fs::read(&path).map_err(|e| BenchError(format!("plugin {} missing ({e}); build the host first", path.display())))
}

/// A scratch data dir, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `bytes` with a custom section named after `tag` (its ASCII letters,
/// digits and dashes, at most 100), so its hash is new to every cache.
pub fn unique_module(bytes: &[u8], tag: &str) -> Vec<u8> {
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(100).collect();
    let name = format!("unique-{tag}");
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len()) as u8); // size (< 128: one LEB128 byte)
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out
}

/// Runs every section and returns the report (insertion-ordered keys).
pub async fn run(opts: BenchOptions, mut progress: impl FnMut(&str) + Send) -> Result<Map<String, Value>, BenchError> {
    let plan = Plan::new(opts.quick);
    if let Some(bad) = opts.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        return Err(BenchError(format!("unknown section `{bad}` (sections: {})", SECTIONS.join(", "))));
    }
    let started = Instant::now();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let scratch = Scratch(std::env::temp_dir().join(format!("regcenter-bench-{}-{nanos}", std::process::id())));
    let dir = DataDir::open(&scratch.0).map_err(|e| BenchError(e.to_string()))?;
    let mut r = Map::new();
    r.insert("mode".into(), json!(if opts.quick { "quick" } else { "full" }));
    r.insert("cores".into(), json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)));
    let runtime = if opts.threads == 1 { "a single-threaded tokio runtime".to_string() } else { format!("a tokio runtime with {} worker threads", opts.threads) };
    if opts.pin && !opts.split {
        return Err(BenchError("pinning (--pin) needs the split layout (--split): one CPU per node".into()));
    }
    // The mask before pinning, to give the memory section's servers back.
    let mask = if opts.pin { Some(pin::allowed_cpus().map_err(err("--pin"))?) } else { None };
    let cpus = mask.as_deref().map(|m| pin::cpus_for(m, 2)).transpose().map_err(err("--pin"))?;
    let layout = if opts.split {
        let placement = match &cpus {
            Some(c) => format!("the register side's thread pinned to CPU {}, the masters' thread to CPU {} (threads the register side starts later, e.g. compile threads, inherit its CPU; the memory and languages sections run unpinned)", c[0], c[1]),
            None => "threads not pinned".to_string(),
        };
        format!("one process, two nodes: register, operator and floor relay on {runtime}; masters and floor echo on a single-threaded tokio runtime on another thread; {placement}; memory figures: the register and its floor (a bare quinn server) each in a process of its own")
    } else {
        format!("one process (register, masters, operator, floor echo and relay) on {runtime}, threads not pinned; memory figures: the register and its floor (a bare quinn server) each in a process of its own")
    };
    r.insert("layout".into(), json!(layout));

    let call_service = JobModule::new(plugin("call-service")?);
    let emit_one = JobModule::new(plugin("emit-flood")?);
    let call_input = json!({"service": "hello-world", "method": "sayHello", "args": []}).to_string();
    let max_masters = plan.fanout.iter().copied().max().unwrap_or(1);
    let side = if opts.split { MasterSide::split(cpus.as_ref().map(|c| c[1])).map_err(err("masters' runtime"))? } else { MasterSide::shared() };
    let cluster = Cluster::start(&scratch.0, max_masters + 64, side).await?;
    let floor = Floor::start(&dir, cluster.side()).await.map_err(err("floor"))?;
    let operator = cluster.operator().await?;
    // The fan-out and throughput floor; its first client stands for bench-0.
    let mut spread = SpreadFloor::start(&dir)?;
    if opts.wants("throughput") || opts.wants("fanout") {
        spread.grow(cluster.side(), 1, cluster::THROUGHPUT_MAX_JOBS).await?;
    }
    if let Some(c) = &cpus {
        // After setup, so that the engines' epoch and compile threads,
        // started with the process's whole mask, keep it.
        pin::pin_current_thread(c[0]).map_err(err("--pin"))?;
        r.insert("pinned_cpus".into(), json!({"register_side": c[0], "masters": c[1]}));
    }

    if opts.wants("rtt") {
        progress("round trips: floor and jobs in alternating batches");
        let (mut f1, mut f2, mut j1, mut j2) = (Samples::default(), Samples::default(), Samples::default(), Samples::default());
        // Warm: the module crosses once and runs on optimized code; then
        // both paths' connections and buffers settle.
        warm_job(&cluster, &call_service, &call_input).await?;
        for _ in 0..20 {
            cluster.job_1hop(&call_service, &call_input).await?;
            cluster.job_2hop(&operator, &call_service, &call_input).await?;
            floor.round_trip(1).await.map_err(err("floor"))?;
            floor.round_trip(2).await.map_err(err("floor"))?;
        }
        let (mut d_f1, mut d_j1, mut d_f2, mut d_j2) = (PerOp::default(), PerOp::default(), PerOp::default(), PerOp::default());
        let n = plan.per_batch;
        for _ in 0..plan.batches {
            d_f1.batch(n, async {
                for _ in 0..n {
                    f1.push(floor.round_trip(1).await.map_err(err("floor"))?);
                }
                Ok::<_, BenchError>(())
            })
            .await?;
            d_j1.batch(n, async {
                for _ in 0..n {
                    j1.timed(cluster.job_1hop(&call_service, &call_input)).await?;
                }
                Ok::<_, BenchError>(())
            })
            .await?;
            d_f2.batch(n, async {
                for _ in 0..n {
                    f2.push(floor.round_trip(2).await.map_err(err("floor"))?);
                }
                Ok::<_, BenchError>(())
            })
            .await?;
            d_j2.batch(n, async {
                for _ in 0..n {
                    j2.timed(cluster.job_2hop(&operator, &call_service, &call_input)).await?;
                }
                Ok::<_, BenchError>(())
            })
            .await?;
        }
        r.insert("quic_floor_p50_us".into(), json!(f1.p50_us()));
        r.insert("quic_floor_p99_us".into(), json!(f1.p99_us()));
        r.insert("quic_floor2_p50_us".into(), json!(f2.p50_us()));
        r.insert("job_rtt_1hop_p50_us".into(), json!(j1.p50_us()));
        r.insert("job_rtt_1hop_p99_us".into(), json!(j1.p99_us()));
        r.insert("job_rtt_1hop_ratio".into(), json!(ratio(j1.p50_us(), f1.p50_us())));
        r.insert("job_rtt_2hop_p50_us".into(), json!(j2.p50_us()));
        r.insert("job_rtt_2hop_ratio".into(), json!(ratio(j2.p50_us(), f2.p50_us())));
        // UDP datagrams per round trip (all hops, both directions, ACKs included).
        for (key, d) in [("udp_datagrams_floor", d_f1), ("udp_datagrams_job_1hop", d_j1), ("udp_datagrams_floor2", d_f2), ("udp_datagrams_job_2hop", d_j2)] {
            if let Some(v) = d.per_op() {
                r.insert(key.into(), json!(v));
            }
        }
    }

    if opts.wants("local") {
        progress("local jobs and in-job service calls");
        let local = cluster.local_jobs(&call_service, &call_input, plan.batches * plan.per_batch).await?;
        r.insert("local_job_p50_us".into(), json!(local.p50_us()));
        // The calls and their floor in alternating batches: the machine's
        // speed drifts over seconds (see BENCHMARKS.md).
        let floor = CallFloor::new(cluster.registry(), "hello-world", "sayHello").await?;
        let (mut calls, mut floor_calls) = (CallTimes::default(), CallTimes::default());
        let per_batch = (plan.in_job_calls / plan.batches as u64).max(1);
        for _ in 0..plan.batches {
            calls.append(cluster.in_job_calls("hello-world", per_batch).await?);
            floor_calls.append(floor.calls("hello-world", per_batch).await?);
        }
        r.insert("service_call_p50_us".into(), json!(calls.calls.p50_us()));
        r.insert("service_call_floor_p50_us".into(), json!(floor_calls.calls.p50_us()));
        let nanos = |s: &Samples| s.quantile(0.5).as_nanos() as f64;
        r.insert("service_call_ratio".into(), json!(ratio(nanos(&calls.calls), nanos(&floor_calls.calls))));
        r.insert("service_call_clock_p50_us".into(), json!(calls.clock.p50_us()));
    }

    if opts.wants("throughput") {
        progress("throughput");
        // Alone (`--only throughput`) the module would still be on baseline code.
        warm_job(&cluster, &call_service, &call_input).await?;
        spread.throughput(plan.in_flight, plan.in_flight).await?; // warm the floor's connection
        // Floor and jobs in alternating halves.
        let half = plan.throughput_jobs / 2;
        let (mut floor_time, mut floor_done, mut job_time, mut job_done) = (Duration::ZERO, 0, Duration::ZERO, 0);
        // UDP datagrams of each kind's halves, and receive-buffer drops of the jobs'.
        let (mut d_floor, mut d_jobs) = (PerOp::default(), PerOp::default());
        for _ in 0..2 {
            let (t, n) = d_floor.batch(half, spread.throughput(half, plan.in_flight)).await?;
            (floor_time, floor_done) = (floor_time + t, floor_done + n);
            let (t, n) = d_jobs.batch(half, cluster.throughput(&call_service, &call_input, half, plan.in_flight)).await?;
            (job_time, job_done) = (job_time + t, job_done + n);
        }
        for (key, d) in [("throughput_udp_datagrams_per_job", &d_jobs), ("throughput_floor_udp_datagrams_per_echo", &d_floor)] {
            if let Some(v) = d.per_op() {
                r.insert(key.into(), json!(v));
            }
        }
        if let Some(drops) = d_jobs.rcvbuf_drops() {
            r.insert("throughput_udp_rcvbuf_drops".into(), json!(drops));
        }
        let (jobs_per_s, floor_per_s) = (per_s(job_done, job_time), per_s(floor_done, floor_time));
        r.insert("throughput_jobs_per_s".into(), json!(jobs_per_s));
        r.insert("throughput_floor_per_s".into(), json!(floor_per_s));
        r.insert("throughput_ratio".into(), json!(ratio(floor_per_s, jobs_per_s)));
        r.insert("throughput_in_flight".into(), json!(plan.in_flight));
    }

    if opts.wants("cold") {
        progress("cold jobs");
        // A `std` job of ~100 KB (the lean `call-service` is a third of that):
        // one service call, one emitted item.
        let bytes = plugin("call-loop")?;
        let cold_input = json!({"service": "hello-world", "method": "sayHello", "args": [], "count": 1}).to_string();
        let (mut cold, mut warm, mut optimized) = (Samples::default(), Samples::default(), Samples::default());
        for i in 0..plan.cold_samples {
            let module = JobModule::new(unique_module(&bytes, &format!("{nanos}-{i}")));
            cold.timed(cluster.job_1hop(&module, &cold_input)).await?;
            warm.timed(cluster.job_1hop(&module, &cold_input)).await?;
            // The next sample starts once this module's background compile
            // is done, so each cold sample is a job arriving at an idle master.
            cluster.wait_optimized(&module).await?;
            cluster.job_1hop(&module, &cold_input).await?; // links the optimized code
            optimized.timed(cluster.job_1hop(&module, &cold_input)).await?;
        }
        r.insert("cold_job_bytes".into(), json!(bytes.len()));
        r.insert("cold_job_ms".into(), json!(cold.p50_ms()));
        r.insert("warm_after_cold_ms".into(), json!(warm.p50_ms()));
        r.insert("warm_optimized_ms".into(), json!(optimized.p50_ms()));
    }

    if opts.wants("fanout") {
        progress("fan-out");
        let (mut fanout, mut fanout_floor, mut fanout_ratio) = (Map::new(), Map::new(), Map::new());
        for &n in &plan.fanout {
            cluster.grow_masters(n).await?;
            spread.grow(cluster.side(), n, crate::master::MasterConfig::new(&scratch.0).max_jobs).await?;
            let (mut s, mut f) = (Samples::default(), Samples::default());
            cluster.fanout(&emit_one, n).await?; // warm the new masters
            cluster.wait_optimized(&emit_one).await?;
            cluster.fanout(&emit_one, n).await?; // link the optimized code
            spread.fanout(n).await?;
            // Floor and job samples in alternating batches: a sample pays
            // the delayed acknowledgements of the one before it, mostly of
            // its own kind then.
            for _ in 0..plan.fanout_samples.div_ceil(plan.fanout_batch) {
                for _ in 0..plan.fanout_batch {
                    f.timed(spread.fanout(n)).await?;
                }
                for _ in 0..plan.fanout_batch {
                    s.timed(cluster.fanout(&emit_one, n)).await?;
                }
            }
            fanout.insert(n.to_string(), json!(s.p50_ms()));
            fanout_floor.insert(n.to_string(), json!(f.p50_ms()));
            fanout_ratio.insert(n.to_string(), json!(ratio(s.p50_us(), f.p50_us())));
        }
        r.insert("fanout_p50_ms".into(), Value::Object(fanout));
        r.insert("fanout_floor_p50_ms".into(), Value::Object(fanout_floor));
        r.insert("fanout_ratio".into(), Value::Object(fanout_ratio));
    }
    if let Some(mask) = &mask {
        // The memory section's servers inherit this thread's mask, and a
        // server's worker count follows it.
        pin::set_current_thread(mask).map_err(err("--pin"))?;
    }
    if opts.wants("memory") {
        progress("register memory per master");
        // As many masters as the largest fan-out (1000 in a full run), also
        // when the fan-out section did not run and grow the cluster.
        cluster.grow_masters(max_masters).await?;
        let (bytes_per_master, masters) = cluster.register_bytes_per_master(&scratch.0).await?;
        let floor = memory::floor_bytes_per_connection(&scratch.0, masters).await?;
        r.insert("register_bytes_per_master".into(), json!(bytes_per_master));
        r.insert("register_rss_masters".into(), json!(masters));
        r.insert("quic_floor_bytes_per_connection".into(), json!(floor));
        r.insert("register_bytes_per_master_ratio".into(), json!(ratio(bytes_per_master as f64, floor as f64)));
    }

    if opts.wants("langs") {
        progress("service calls per guest language");
        let langs = cluster::language_calls(plan.in_job_calls.min(5000)).await?;
        for (lang, s) in langs {
            r.insert(format!("service_call_{lang}_p50_us"), json!(s.p50_us()));
        }
    }
    drop(operator);
    spread.close();
    cluster.close();
    r.insert("bench_seconds".into(), json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0));
    Ok(r)
}

/// Ships `module` to bench-0 and waits until it runs there on optimized
/// code (one more run links that code).
async fn warm_job(cluster: &Cluster, module: &JobModule, input: &str) -> Result<(), BenchError> {
    cluster.job_1hop(module, input).await?;
    cluster.wait_optimized(module).await?;
    cluster.job_1hop(module, input).await
}

/// Operations per second, rounded.
fn per_s(done: usize, elapsed: Duration) -> f64 {
    (done as f64 / elapsed.as_secs_f64().max(1e-9)).round()
}

/// `a / b` to two decimals (0 when there is no floor).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        (a / b * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// The targets of the issue, for the table (`<=` unless noted).
const TARGETS: &[(&str, &str)] = &[
    ("job_rtt_1hop_ratio", "<= 1.5"),
    ("job_rtt_2hop_ratio", "<= 1.5"),
    ("local_job_p50_us", "<= 20"),
    ("service_call_p50_us", "<= 2"),
    ("throughput_jobs_per_s", ">= 50000"),
    ("cold_job_ms", "<= 50"),
    ("register_bytes_per_master", "<= 20000"),
];

/// The report as an aligned text table.
pub fn table(r: &Map<String, Value>) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for (k, v) in r {
        match v {
            Value::Object(m) => {
                for (n, x) in m {
                    let target = match (k.as_str(), n.as_str()) {
                        ("fanout_p50_ms", "32") => "<= 1",
                        ("fanout_p50_ms", "1000") => "<= 30",
                        _ => "",
                    };
                    rows.push((format!("{k}[{n}]"), x.to_string(), target.into()));
                }
            }
            Value::String(s) if k == "layout" => rows.push((k.clone(), s.clone(), String::new())),
            other => {
                let target = TARGETS.iter().find(|(name, _)| name == k).map(|(_, t)| *t).unwrap_or("");
                rows.push((k.clone(), other.to_string().trim_matches('"').to_string(), target.into()));
            }
        }
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
    let w1 = rows.iter().filter(|r| r.0 != "layout").map(|r| r.1.len()).max().unwrap_or(0).max(5);
    let mut out = format!("{:<w0$}  {:>w1$}  target\n", "metric", "value");
    for (k, v, t) in rows {
        if k == "layout" {
            out.push_str(&format!("{k:<w0$}  {v}\n"));
        } else {
            out.push_str(&format!("{k:<w0$}  {v:>w1$}  {t}\n"));
        }
    }
    out
}

/// How long to wait for masters to connect before giving up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(120);
