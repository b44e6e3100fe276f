//! A long-lived job for cancellation tests: calls `test-fixture` `tick` and
//! emits the counter value, without end, until it is stopped. Input may name
//! the fixture service: `{"service": "fixture"}`.

struct Ticker;

impl Guest for Ticker {
    fn run(input: String) -> Result<(), String> {
        let service = input
            .split("\"service\"")
            .nth(1)
            .and_then(|s| s.split('"').nth(1))
            .unwrap_or("test-fixture")
            .to_string();
        loop {
            let n = job_sdk::call_or_describe(&service, "tick", "{}")?;
            job_sdk::emit(&n)?;
        }
    }
}

job_sdk::job!(Ticker);
