//! Two builds of one job, compared in one process: the bench's warm local
//! job (a fresh Store, instantiate, run, drop) for each, alternating in
//! batches of 50 samples so that both builds see the same machine. On a
//! shared VM whose speed drifts by 2x between minutes, separate runs cannot
//! tell a few percent apart; this can.
//!
//! Run: `cargo run --release --example compare_jobs -- A.wasm B.wasm
//! [--input JSON] [--samples N]` (default input: call-service's, against
//! the built hello-world; default samples: 20,000 per build). Each build's
//! optimized code is measured (the baseline compile is waited out).

use anyhow::{bail, Context};
use regcenter::{JobLimits, Runtime, RuntimeConfig, ServiceOptions, ServiceRegistry};
use std::time::Instant;

const BATCH: usize = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let (mut paths, mut input, mut samples) = (Vec::new(), r#"{"service":"hello-world","method":"sayHello","args":[]}"#.to_string(), 20_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--input" => input = args.next().context("--input needs a JSON value")?,
            "--samples" => samples = args.next().context("--samples needs a number")?.parse().context("--samples")?,
            _ => paths.push(a),
        }
    }
    let [a, b] = paths.as_slice() else { bail!("usage: compare_jobs A.wasm B.wasm [--input JSON] [--samples N]") };
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
    serde_json::from_str::<serde_json::Value>(&input).context("--input is not JSON")?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let registry = ServiceRegistry::new(runtime.clone());
    let hello = regcenter::plugins::path("hello-world");
    registry.register("hello-world", std::fs::read(&hello).with_context(|| format!("{} (build the host first)", hello.display()))?, ServiceOptions::default()).await?;
    let lookup = registry.lookup();
    let mut shas = Vec::new();
    for path in [a, b] {
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        runtime.prepare_job(&bytes, &lookup).await.with_context(|| format!("compiling {path}"))?;
        let sha = regcenter::runtime::sha256(&bytes);
        regcenter::bench::wait_optimized(&runtime, &sha).await.with_context(|| path.clone())?;
        shas.push(sha);
    }
    if shas[0] == shas[1] {
        eprintln!("note: both files are the same module");
    }
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut wins = [0usize; 2];
    for round in 0..samples.div_ceil(BATCH) {
        let mut batch = [0f64; 2];
        // Alternate which build goes first.
        for k in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            let mut ts = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let t0 = Instant::now();
                let job = runtime.prepare_cached(&shas[k], &lookup).context("the job left the cache")??;
                let (_, _, outcome) = runtime.start_job_inline(job, input.clone(), JobLimits::default(), lookup.clone()).collect().await;
                outcome.map_err(|e| anyhow::anyhow!("{}: {e}", [a, b][k]))?;
                ts.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            batch[k] = median(&mut ts);
            times[k].extend(ts);
        }
        wins[usize::from(batch[1] < batch[0])] += 1;
    }
    for (k, path) in [a, b].into_iter().enumerate() {
        let t = &mut times[k];
        t.sort_by(f64::total_cmp);
        println!("{} {path}: p10 {:.2} us, p50 {:.2} us, p90 {:.2} us", ["A", "B"][k], t[t.len() / 10], t[t.len() / 2], t[t.len() * 9 / 10]);
    }
    println!("B/A p50 {:.3}; batches where B was faster: {} of {}", times[1][times[1].len() / 2] / times[0][times[0].len() / 2], wins[1], wins[0] + wins[1]);
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
