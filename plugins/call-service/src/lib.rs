//! `ServiceRegistry::execute` from afar: input
//! `{"service": "…", "method": "…", "args": …}`; emits the JSON result, or
//! ends with the call's error.

use serde_json::Value;

struct CallService;

impl Guest for CallService {
    fn run(input: String) -> Result<(), String> {
        let input: Value = serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let service = input.get("service").and_then(Value::as_str).ok_or("input needs `service`")?;
        let method = input.get("method").and_then(Value::as_str).ok_or("input needs `method`")?;
        let args = input.get("args").cloned().unwrap_or(Value::Null).to_string();
        job_sdk::emit(&job_sdk::call_or_describe(service, method, &args)?)
    }
}

job_sdk::job!(CallService);
