//! Emits items without end, or exactly `count` items when the input says so:
//! `{"count": 1000, "size": 64}` (size: bytes of padding per item). Each
//! item is `{"seq": n, "pad": "xxx…"}` so receivers can check order. With
//! `"runs": true` each item also says how many times this instance's `run`
//! was called (`"runs": 1` on a fresh instance, as every run should get).
//!
//! A lean job (`#![no_std]`, no WASI imports): the benchmark's fan-out and
//! many tests run it, so it instantiates as fast as a job can.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use job_sdk::json::Object;

job_sdk::lean_runtime!();

struct EmitFlood;

/// Calls of `run` in this instance.
static RUNS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

impl Guest for EmitFlood {
    fn run(input: String) -> Result<(), String> {
        let runs = RUNS.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
        let input = Object::parse(&input).ok();
        let count = input.as_ref().and_then(|o| o.u64("count")).unwrap_or(u64::MAX);
        let size = input.as_ref().and_then(|o| o.u64("size")).unwrap_or(16);
        let size = usize::try_from(size).map_err(|_| format!("size {size} does not fit in memory"))?;
        let pad = "x".repeat(size);
        let tag = if input.as_ref().and_then(|o| o.raw("runs")) == Some("true") { format!(",\"runs\":{runs}") } else { String::new() };
        let mut seq = 0u64;
        while seq < count {
            job_sdk::emit(&format!("{{\"seq\":{seq},\"pad\":\"{pad}\"{tag}}}"))?;
            seq += 1;
        }
        Ok(())
    }
}

job_sdk::job!(EmitFlood);
