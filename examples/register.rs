//! Register A, the seed's `examples/register.php`: listens on 8010; every 5 s
//! runs `greet` on the masters offering hello-world and prints the service
//! table; at 10 s tells masters to join register B (8011), at 20 s to leave.
//!
//! Run: `cargo run --release --example register` (then `register1`, `master`).

mod common;

use regcenter::register::{Register, RegisterConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logs();
    let reg = Register::start(RegisterConfig::new("127.0.0.1:8010".parse()?, common::data_dir())).await?;
    let print = common::printer();
    print(format!("register A listening on {}", reg.local_addr()));
    regcenter::demo::register_timeline("A", &reg, Some(8011), common::run_for(), print).await;
    Ok(())
}
