//! Register B, the seed's `examples/register1.php`: listens on 8011; every 5 s
//! runs `greet` on all its masters and prints the service table.
//!
//! Run: `cargo run --release --example register1`.

mod common;

use regcenter::register::{Register, RegisterConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logs();
    let mut cfg = RegisterConfig::new("127.0.0.1:8011".parse()?, common::data_dir());
    cfg.name = "b".into();
    let reg = Register::start(cfg).await?;
    let print = common::printer();
    print(format!("register B listening on {}", reg.local_addr()));
    regcenter::demo::register_timeline("B", &reg, None, common::run_for(), print).await;
    Ok(())
}
