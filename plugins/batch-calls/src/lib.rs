//! The seed's batched calls (`ServiceCaller`): runs each call of the input
//! and emits `{"success": true, "result": …, "call": …}` or
//! `{"success": false, "error": "…", "call": …}` per call, in order.
//! Input: `{"calls": [{"service": "…", "method": "…", "params": {…}}, …]}`;
//! without `calls`, a default batch including a failing `updateUser`.

use serde_json::{json, Value};

struct BatchCalls;

fn default_calls() -> Value {
    json!([
        {"service": "user-service", "method": "getUser", "params": {"id": 1}},
        {"service": "hello-world", "method": "sayHello2", "params": {"name": "Alice"}},
        {"service": "user-service", "method": "updateUser", "params": {"id": 999, "data": {"name": "Updated Name"}}},
    ])
}

impl Guest for BatchCalls {
    fn run(input: String) -> Result<(), String> {
        let input: Value = serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let calls = input.get("calls").cloned().unwrap_or_else(default_calls);
        let calls = calls.as_array().ok_or("`calls` must be an array")?;
        for c in calls {
            let service = c.get("service").and_then(Value::as_str).unwrap_or_default();
            let method = c.get("method").and_then(Value::as_str).unwrap_or_default();
            let params = c.get("params").cloned().unwrap_or(Value::Null).to_string();
            let item = match job_sdk::call(service, method, &params) {
                Ok(result) => {
                    let result: Value = serde_json::from_str(&result).unwrap_or(Value::String(result));
                    json!({"success": true, "result": result, "call": c})
                }
                Err(e) => json!({"success": false, "error": job_sdk::describe(&e), "call": c}),
            };
            job_sdk::emit(&item.to_string())?;
        }
        Ok(())
    }
}

job_sdk::job!(BatchCalls);
