//! Misbehaving job: unbounded recursion that overflows the wasm call stack.
//! Frames hold only scalars (no shadow-stack memory), so the engine's stack
//! guard, not linear memory, is what stops it.

struct DeepRecursion;

#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(n: u64) -> u64 {
    descend(std::hint::black_box(n + 1)).wrapping_add(n)
}

impl Guest for DeepRecursion {
    fn run(_input: String) -> Result<(), String> {
        Err(format!("unreachable: {}", descend(0)))
    }
}

job_sdk::job!(DeepRecursion);
