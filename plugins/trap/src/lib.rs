//! Misbehaving job: emits one item, then traps (wasm `unreachable`).

struct Trap;

impl Guest for Trap {
    fn run(_input: String) -> Result<(), String> {
        job_sdk::emit("\"before the trap\"")?;
        std::process::abort()
    }
}

job_sdk::job!(Trap);
