//! The seed's demo closure: `sayHello()` then `sayHello2(name)` on the
//! master's `hello-world`, each result emitted as one item.
//! Input: `{"name": "John Doe"}` (default "John Doe"), optionally
//! `{"service": "hello-world@1.0.0"}` to pick the service.

use job_sdk::{call_or_describe, emit};

struct Greet;

impl Guest for Greet {
    fn run(input: String) -> Result<(), String> {
        let input: serde_json::Value =
            serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let name = input.get("name").and_then(|v| v.as_str()).unwrap_or("John Doe");
        let service = input.get("service").and_then(|v| v.as_str()).unwrap_or("hello-world");
        job_sdk::log(job_sdk::Level::Info, &format!("greeting {name}"));
        emit(&call_or_describe(service, "sayHello", "{}")?)?;
        let args = serde_json::json!({ "name": name }).to_string();
        emit(&call_or_describe(service, "sayHello2", &args)?)?;
        Ok(())
    }
}

job_sdk::job!(Greet);
