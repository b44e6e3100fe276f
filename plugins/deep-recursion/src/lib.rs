//! Misbehaving job: unbounded recursion, overflowing the wasm stack.

struct DeepRecursion;

#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(n: u64, pad: [u64; 16]) -> u64 {
    let pad = std::hint::black_box(pad);
    descend(n + 1, pad) + pad[(n % 16) as usize]
}

impl Guest for DeepRecursion {
    fn run(_input: String) -> Result<(), String> {
        Err(format!("unreachable: {}", descend(0, [1; 16])))
    }
}

job_sdk::job!(DeepRecursion);
