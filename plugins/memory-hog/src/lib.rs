//! Misbehaving job: allocates 1 MiB blocks and keeps them, without end.

struct MemoryHog;

impl Guest for MemoryHog {
    fn run(_input: String) -> Result<(), String> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[0] = blocks.len() as u8;
            blocks.push(std::hint::black_box(block));
        }
    }
}

job_sdk::job!(MemoryHog);
