//! Benchmark job: input `{"service": "…", "method": "…", "args": …, "count": N}`
//! (N at most 100,000). Calls the method N times, timing each call with the
//! WASI monotonic clock, and emits one item: the durations in nanoseconds.
//! With `"clock": true` it also times an empty interval before each call
//! (two clock reads in a row: what the timer itself adds to a sample) and
//! emits those durations as a second item.

use serde_json::Value;
use std::time::Instant;

const MAX_COUNT: u64 = 100_000;

struct CallLoop;

impl Guest for CallLoop {
    fn run(input: String) -> Result<(), String> {
        let input: Value = serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let service = input.get("service").and_then(Value::as_str).ok_or("input needs `service`")?;
        let method = input.get("method").and_then(Value::as_str).ok_or("input needs `method`")?;
        let args = input.get("args").cloned().unwrap_or(Value::Null).to_string();
        let count = input.get("count").and_then(Value::as_u64).unwrap_or(1000).min(MAX_COUNT);
        let clock = input.get("clock").and_then(Value::as_bool).unwrap_or(false);
        let mut nanos = Vec::with_capacity(count as usize);
        let mut empty = Vec::with_capacity(if clock { count as usize } else { 0 });
        for _ in 0..count {
            if clock {
                let e0 = Instant::now();
                empty.push(e0.elapsed().as_nanos() as u64);
            }
            let t0 = Instant::now();
            job_sdk::call_or_describe(service, method, &args)?;
            nanos.push(t0.elapsed().as_nanos() as u64);
        }
        job_sdk::emit(&serde_json::to_string(&nanos).map_err(|e| e.to_string())?)?;
        if clock {
            job_sdk::emit(&serde_json::to_string(&empty).map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }
}

job_sdk::job!(CallLoop);
