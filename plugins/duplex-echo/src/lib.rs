//! The duplex stream: reads every item the requester sends and emits
//! `{"echo": item, "n": i}` for each, until the requester closes its side.

struct DuplexEcho;

impl Guest for DuplexEcho {
    fn run(_input: String) -> Result<(), String> {
        let mut n = 0u64;
        while let Some(item) = job_sdk::recv() {
            n += 1;
            job_sdk::emit(&format!("{{\"echo\":{item},\"n\":{n}}}"))?;
        }
        Ok(())
    }
}

job_sdk::job!(DuplexEcho);
