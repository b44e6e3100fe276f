//! Builds the guest components in `plugins/` so that `cargo build`, `cargo
//! test` and `cargo run` of the host just work from a fresh clone.
//!
//! * Installs the `wasm32-wasip2` target with rustup when it is missing.
//! * Runs plain `cargo build --target wasm32-wasip2 --release` on the plugins
//!   workspace, with its own target dir (`<target>/plugins-build`: sharing the
//!   outer build's lock would deadlock) and a cleaned environment (no outer
//!   RUSTFLAGS, target dir, build target or jobserver).
//! * Copies every component atomically to `<target>/plugins/<crate>.wasm` and
//!   hands that directory to the crate as `REGCENTER_PLUGIN_DIR`.
//!
//! * Builds the Python and JavaScript guests in `plugins/python` and
//!   `plugins/js` from source ([`foreign`]).
//!
//! Set `REGCENTER_SKIP_GUEST_BUILD=1` to skip the guest build (clippy, fuzz,
//! IDEs); the directory is still exported and whatever it holds is used.
//! `REGCENTER_PLUGIN_DIR` names another directory of built components (the
//! fuzz crates point it at the main build's `target/plugins`).

#[path = "build/foreign.rs"]
mod foreign;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ has a parent").to_path_buf();
    let plugins = root.join("plugins");
    let wit = root.join("wit");
    let target_dir = outer_target_dir();
    println!("cargo:rerun-if-env-changed=REGCENTER_PLUGIN_DIR");
    let out = env::var_os("REGCENTER_PLUGIN_DIR").map(PathBuf::from).unwrap_or_else(|| target_dir.join("plugins"));

    println!("cargo:rustc-env=REGCENTER_PLUGIN_DIR={}", out.display());
    println!("cargo:rerun-if-env-changed=REGCENTER_SKIP_GUEST_BUILD");
    println!("cargo:rerun-if-changed={}", wit.display());
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.lock").display());
    // A member's whole directory: its sources, manifest and build script
    // (lean jobs share one in job-sdk).
    for member in guest_dirs(&plugins) {
        println!("cargo:rerun-if-changed={}", member.display());
    }
    for dir in foreign::watched(&root) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=PYTHON");

    if env::var_os("REGCENTER_SKIP_GUEST_BUILD").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=REGCENTER_SKIP_GUEST_BUILD is set: plugins were not rebuilt");
        return;
    }

    ensure_wasm_target();
    let build_dir = target_dir.join("plugins-build");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--target", WASM_TARGET, "--target-dir"])
        .arg(&build_dir);
    clean_env(&mut cmd);
    let status = cmd.status().unwrap_or_else(|e| panic!("could not run cargo for plugins/: {e}"));
    if !status.success() {
        panic!("building the guest components in plugins/ failed ({status}); see the output above");
    }

    fs::create_dir_all(&out).expect("create target/plugins");
    let built = build_dir.join(WASM_TARGET).join("release");
    for entry in fs::read_dir(&built).expect("read plugin build dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "wasm") {
            copy_atomically(&path, &out.join(path.file_name().expect("file name")));
        }
    }

    let errors = foreign::build_all(&foreign::Paths { root, build: build_dir, out });
    if !errors.is_empty() {
        panic!("building the Python/JavaScript guests failed:\n\n{}", errors.join("\n\n"));
    }
}

/// The outer build's target directory: OUT_DIR is `<target>/<profile>/build/<pkg>/out`.
fn outer_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    out_dir.ancestors().nth(4).expect("OUT_DIR has the usual depth").to_path_buf()
}

/// The member crates of the plugins workspace (every dir with a Cargo.toml).
fn guest_dirs(plugins: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(plugins)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("Cargo.toml").is_file());
    dirs.sort();
    dirs
}

fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == WASM_TARGET));
    match installed {
        Ok(true) => {}
        Ok(false) => {
            let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).status();
            if !status.is_ok_and(|s| s.success()) {
                panic!("`rustup target add {WASM_TARGET}` failed; install the target and build again");
            }
        }
        Err(_) => println!("cargo:warning=rustup not found; assuming the {WASM_TARGET} target is installed"),
    }
}

/// Removes what the outer cargo set for this build script, so the inner build
/// neither inherits flags meant for the host nor fights over its jobserver.
fn clean_env(cmd: &mut Command) {
    const KEEP: &[&str] = &["CARGO_HOME", "CARGO_NET_OFFLINE", "CARGO_HTTP_", "CARGO_NET_", "CARGO_REGISTRIES_", "CARGO_TERM_"];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_var = key.starts_with("CARGO_") && !KEEP.iter().any(|k| key.starts_with(k));
        let build_var = matches!(
            key,
            "RUSTFLAGS" | "RUSTC" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER" | "RUSTDOC" | "RUSTC_LINKER"
                | "TARGET" | "HOST" | "OUT_DIR" | "PROFILE" | "OPT_LEVEL" | "DEBUG" | "NUM_JOBS"
                | "MAKEFLAGS" | "MFLAGS" | "CARGO_MAKEFLAGS"
        );
        if cargo_var || build_var {
            cmd.env_remove(key);
        }
    }
}

/// Replaces `dst` with `src` through a temporary file and a rename, and only
/// when the bytes differ (so unchanged components keep their mtime).
fn copy_atomically(src: &Path, dst: &Path) {
    let bytes = fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    if fs::read(dst).is_ok_and(|old| old == bytes) {
        return;
    }
    let tmp = dst.with_extension(format!("wasm.tmp{}", std::process::id()));
    fs::write(&tmp, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    fs::rename(&tmp, dst).unwrap_or_else(|e| panic!("rename to {}: {e}", dst.display()));
}
