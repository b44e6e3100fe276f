//! The master, the seed's `examples/master.php`: hosts hello-world,
//! user-service, async-service and product-service; connects to register A
//! (127.0.0.1:8010) with unlimited retries every 3 s; joins and leaves
//! register B when A says so; prints every event.
//!
//! Run: `cargo run --release --example master`.

mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logs();
    let registry = regcenter::demo::seed_services().await?;
    let master = regcenter::demo::master(&common::data_dir(), registry)?;
    let print = common::printer();
    print(format!("master {} connecting to 127.0.0.1:8010", master.node_id()));
    master.connect("127.0.0.1", 8010);
    regcenter::demo::master_log(&master, common::run_for(), print).await;
    Ok(())
}
