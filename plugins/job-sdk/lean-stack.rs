//! Build script of lean jobs (`build = "../job-sdk/lean-stack.rs"`): links
//! the component with a 64 KiB stack instead of the toolchain's 1 MiB, so
//! its linear memory starts at 2 pages (128 KiB), not 17. Every instance of
//! the job then maps, and every reset after it scans, an eighth of the
//! pages. That stack holds only locals whose address is taken (formatting,
//! return areas); recursion runs on wasm's own stack. It sits below the
//! data (`--stack-first`), so overflowing it traps instead of overwriting.

fn main() {
    println!("cargo::rustc-link-arg-cdylib=-zstack-size=65536");
}
