//! Emits items without end, or exactly `count` items when the input says so:
//! `{"count": 1000, "size": 64}` (size: bytes of padding per item). Each
//! item is `{"seq": n, "pad": "xxx…"}` so receivers can check order.

use serde_json::Value;

struct EmitFlood;

impl Guest for EmitFlood {
    fn run(input: String) -> Result<(), String> {
        let input: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
        let count = input.get("count").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let size = input.get("size").and_then(Value::as_u64).unwrap_or(16) as usize;
        let pad = "x".repeat(size);
        let mut seq = 0u64;
        while seq < count {
            job_sdk::emit(&format!("{{\"seq\":{seq},\"pad\":\"{pad}\"}}"))?;
            seq += 1;
        }
        Ok(())
    }
}

job_sdk::job!(EmitFlood);
