//! Where the guest components built from `plugins/` are: the build script
//! puts them in `target/plugins/<crate_name>.wasm` and bakes that directory
//! in; `REGCENTER_PLUGIN_DIR` at run time overrides it.

use std::path::PathBuf;

/// The directory holding the built components.
pub fn dir() -> PathBuf {
    std::env::var_os("REGCENTER_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("REGCENTER_PLUGIN_DIR")))
}

/// The component built from crate `name` (`hello-world` or `hello_world`).
pub fn path(name: &str) -> PathBuf {
    dir().join(format!("{}.wasm", name.replace('-', "_")))
}

/// Resolves a component argument: an existing file as is, else the built
/// plugin of that name (so `greet` means `target/plugins/greet.wasm`).
pub fn resolve(arg: &str) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.exists() || arg.contains('/') || arg.ends_with(".wasm") {
        p
    } else {
        path(arg)
    }
}
