//! Misbehaving job: spins forever without calling the host.

struct Spin;

impl Guest for Spin {
    fn run(_input: String) -> Result<(), String> {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

job_sdk::job!(Spin);
