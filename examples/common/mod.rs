//! Shared by the examples: logging, the data dir they share (so the master
//! trusts and authenticates to the registers with no flags), how long to run.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

/// Logs to stderr (`RUST_LOG` overrides the `info` default).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// `$REGCENTER_HOME`, else the user's data directory: the same for all three examples.
pub fn data_dir() -> PathBuf {
    regcenter::transport::datadir::DataDir::default_path()
}

/// `REGCENTER_DEMO_SECS` or a day.
pub fn run_for() -> Duration {
    std::env::var("REGCENTER_DEMO_SECS").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs).unwrap_or(Duration::from_secs(86_400))
}

/// Prints a line with the time since start.
pub fn printer() -> impl Fn(String) + Copy {
    let start = std::time::Instant::now();
    move |line| println!("[{:>5.1}s] {line}", start.elapsed().as_secs_f64())
}
