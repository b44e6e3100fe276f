//! Helpers shared by the integration tests: one runtime per test binary
//! (compiled components are cached across tests), plugin bytes, registries
//! with the seed's services, and a UTC date to compare against.
#![allow(dead_code)]

pub mod proc;

use regcenter::runtime::engine::EngineConfig;
use regcenter::{JobError, JobLimits, Runtime, RuntimeConfig, ServiceOptions, ServiceRegistry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The compile cache shared by every test process of this checkout.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("REGCENTER_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| regcenter::plugins::dir().join("..").join("test-cache"))
}

/// One runtime per test binary.
pub fn runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cfg = RuntimeConfig {
            engine: EngineConfig { cache_dir: Some(cache_dir()), job_slots: 200, ..EngineConfig::default() },
            ..RuntimeConfig::default()
        };
        Runtime::new(cfg).expect("runtime")
    })
    .clone()
}

/// A runtime of the calling test's own (with the shared disk cache), for
/// figures that other tests on the shared one would disturb.
pub fn own_runtime(job_slots: u32) -> Runtime {
    let cfg = RuntimeConfig { engine: EngineConfig { cache_dir: Some(cache_dir()), job_slots, ..EngineConfig::default() }, ..RuntimeConfig::default() };
    Runtime::new(cfg).expect("runtime")
}

/// The bytes of built plugin `name`.
pub fn plugin(name: &str) -> Vec<u8> {
    let path = regcenter::plugins::path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("plugin {} missing ({e}); build the host first", path.display()))
}

/// An empty registry on the shared runtime.
pub fn registry() -> ServiceRegistry {
    ServiceRegistry::new(runtime())
}

/// A registry with the given plugins, each registered under its crate name.
pub async fn registry_with(names: &[&str]) -> ServiceRegistry {
    let reg = registry();
    for name in names {
        reg.register(name, plugin(name), ServiceOptions::default()).await.expect("register");
    }
    reg
}

/// Runs built job `job` on `reg` and collects its items (as JSON) and outcome.
pub async fn run(reg: &ServiceRegistry, job: &str, input: Value, limits: JobLimits) -> (Vec<Value>, Result<u64, JobError>) {
    match reg.run_job(&plugin(job), input.to_string(), limits).await {
        Ok(running) => {
            let (items, _logs, outcome) = running.collect().await;
            (items.iter().map(|i| serde_json::from_str(i).expect("items are JSON")).collect(), outcome)
        }
        Err(e) => (Vec::new(), Err(e)),
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn utc_today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64 / 86_400;
    // Days since the epoch to a civil date (Hinnant).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `bytes` (a component) with a custom section appended that makes its hash
/// unique, so no cache anywhere has seen it.
pub fn unique(bytes: &[u8]) -> Vec<u8> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
    regcenter::bench::unique_module(bytes, &format!("{}-{nanos}-{n}", std::process::id()))
}

/// An operator connected to the register on 127.0.0.1:`port`, trusting and
/// authenticated by the data dir `dir`.
pub async fn operator(dir: &Path, port: u16) -> regcenter::client::Operator {
    let cfg = regcenter::client::OperatorConfig { data_dir: dir.to_path_buf(), token: None, trust: None };
    regcenter::client::Operator::connect(&format!("127.0.0.1:{port}"), &cfg).await.expect("operator connects")
}

/// Waits for the background compile of the job with hash `sha`.
pub async fn wait_optimized(runtime: &regcenter::Runtime, sha: &[u8; 32]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while runtime.job_is_optimized(sha) != Some(true) {
        assert!(std::time::Instant::now() < deadline, "the optimizing compile never finished");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
