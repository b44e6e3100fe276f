//! One chunk of the seed's distributed task: the requester splits the data
//! across masters; each runs this job on its chunk with `async-service`
//! `processTask` and emits `{"chunk": i, "result": …}` for the merge.
//! Input: `{"chunk": 0, "taskId": "t1", "data": ["a", "b"]}`.

use serde_json::{json, Value};

struct ProcessChunk;

impl Guest for ProcessChunk {
    fn run(input: String) -> Result<(), String> {
        let input: Value = serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let chunk = input.get("chunk").and_then(Value::as_u64).unwrap_or(0);
        let task_id = input.get("taskId").and_then(Value::as_str).unwrap_or("task");
        let data = input.get("data").cloned().unwrap_or_else(|| json!([]));
        let args = json!({"taskId": format!("{task_id}-{chunk}"), "data": data}).to_string();
        let result = job_sdk::call_or_describe("async-service", "processTask", &args)?;
        let result: Value = serde_json::from_str(&result).map_err(|e| e.to_string())?;
        job_sdk::emit(&json!({"chunk": chunk, "result": result}).to_string())
    }
}

job_sdk::job!(ProcessChunk);
