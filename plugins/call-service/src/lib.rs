//! `ServiceRegistry::execute` from afar: input
//! `{"service": "…", "method": "…", "args": …}`; emits the JSON result, or
//! ends with the call's error.
//!
//! A lean job (`#![no_std]`, no WASI imports): it runs for every `regcenter
//! call`, so it is kept to the fewest imports to instantiate.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use job_sdk::json::Object;

job_sdk::lean_runtime!();

struct CallService;

impl Guest for CallService {
    fn run(input: String) -> Result<(), String> {
        let input = Object::parse(&input).map_err(|e| format!("input is not a JSON object: {e}"))?;
        let service = input.str("service").ok_or("input needs `service` (a string)")?;
        let method = input.str("method").ok_or("input needs `method` (a string)")?;
        let args = input.raw("args").unwrap_or("null");
        job_sdk::emit(&job_sdk::call_or_describe(&service, &method, args)?)
    }
}

job_sdk::job!(CallService);
