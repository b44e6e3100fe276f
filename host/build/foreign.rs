//! Builds the Python and JavaScript guest components from source.
//!
//! * `plugins/python/<name>/` (`world.wit` + `app.py`) is built with
//!   componentize-py, pinned in `plugins/python/requirements.txt` and
//!   installed into a venv under the build dir (never the system Python),
//!   into `<out>/<name>_py.wasm`.
//! * `plugins/js/<name>/` (`world.wit` + `index.js`) is built with
//!   componentize-js through its JS API (`plugins/js/build.mjs`), installed by
//!   `npm ci` from the committed `package-lock.json`, into `<out>/<name>_js.wasm`.
//!
//! The world a guest targets is named like its directory. Every step is keyed
//! by a SHA-256 of its inputs (toolchain pin, guest sources, the shared WIT
//! packages) and skipped when the stamp matches and the output exists. A
//! missing tool or failing step fails the build with the tool's output: a
//! guest is never silently skipped.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One language's guests and how to build them.
struct Language {
    /// Directory under `plugins/`.
    dir: &'static str,
    /// Suffix of the output name (`hello_world_py`).
    suffix: &'static str,
    /// The guest's source file inside its directory.
    source: &'static str,
}

const PYTHON: Language = Language { dir: "python", suffix: "py", source: "app.py" };
const JS: Language = Language { dir: "js", suffix: "js", source: "index.js" };

/// Paths every step needs.
pub struct Paths {
    /// The repository root.
    pub root: PathBuf,
    /// Scratch space for toolchains and staging (`<target>/plugins-build`).
    pub build: PathBuf,
    /// Where components land (`<target>/plugins`).
    pub out: PathBuf,
}

/// The directories whose changes must re-run the build script.
pub fn watched(root: &Path) -> Vec<PathBuf> {
    vec![root.join("plugins").join(PYTHON.dir), root.join("plugins").join(JS.dir)]
}

/// Builds the Python and JavaScript guests (the two toolchains in parallel).
/// Returns every failure, each naming the guest and carrying the tool's output.
pub fn build_all(paths: &Paths) -> Vec<String> {
    std::thread::scope(|s| {
        let py = s.spawn(|| build_language(paths, &PYTHON, python_toolchain));
        let js = s.spawn(|| build_language(paths, &JS, js_toolchain));
        let mut errors = Vec::new();
        for handle in [py, js] {
            match handle.join() {
                Ok(errs) => errors.extend(errs),
                Err(_) => errors.push("a guest build thread panicked".into()),
            }
        }
        errors
    })
}

/// Prepares a toolchain and returns the command that builds one guest:
/// (guest dir, staged WIT dir, world, output file) -> command.
type Builder = Box<dyn Fn(&Path, &Path, &str, &Path) -> Command>;

fn build_language(paths: &Paths, lang: &Language, toolchain: fn(&Paths) -> Result<(Builder, String), String>) -> Vec<String> {
    let lang_dir = paths.root.join("plugins").join(lang.dir);
    let guests = guest_dirs(&lang_dir, lang.source);
    if guests.is_empty() {
        return Vec::new();
    }
    let (builder, tool_key) = match toolchain(paths) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let deps = paths.root.join("wit").join("deps");
    let mut errors = Vec::new();
    for guest in guests {
        let name = guest.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let out_name = format!("{}_{}", name.replace('-', "_"), lang.suffix);
        let out_file = paths.out.join(format!("{out_name}.wasm"));
        let mut h = Sha256::new();
        h.update(tool_key.as_bytes());
        hash_tree(&mut h, &guest);
        hash_tree(&mut h, &deps);
        let key = hex(&h.finalize());
        let stamp = paths.build.join("foreign").join(format!("{out_name}.stamp"));
        if out_file.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == key) {
            continue;
        }
        if let Err(e) = build_guest(paths, &guest, &name, &out_name, &deps, &out_file, &builder) {
            errors.push(e);
            continue;
        }
        if let Err(e) = fs::write(&stamp, &key) {
            errors.push(format!("write {}: {e}", stamp.display()));
        }
    }
    errors
}

fn build_guest(
    paths: &Paths,
    guest: &Path,
    world: &str,
    out_name: &str,
    deps: &Path,
    out_file: &Path,
    builder: &Builder,
) -> Result<(), String> {
    // componentize-py and componentize-js resolve a world from one directory
    // holding it and its `deps/`: stage the guest's world with the shared deps.
    let staged = paths.build.join("foreign").join(out_name);
    let wit = staged.join("wit");
    let _ = fs::remove_dir_all(&staged);
    copy_tree(deps, &wit.join("deps")).map_err(|e| format!("{out_name}: staging WIT: {e}"))?;
    fs::copy(guest.join("world.wit"), wit.join("world.wit"))
        .map_err(|e| format!("{out_name}: {}/world.wit: {e}", guest.display()))?;
    fs::create_dir_all(&paths.out).map_err(|e| format!("create {}: {e}", paths.out.display()))?;
    let tmp = staged.join(format!("{out_name}.wasm"));
    let mut cmd = builder(guest, &wit, world, &tmp);
    run(&mut cmd, &format!("building guest {out_name} from {}", guest.display()))?;
    fs::rename(&tmp, out_file).or_else(|_| fs::copy(&tmp, out_file).map(|_| ()))
        .map_err(|e| format!("{out_name}: move to {}: {e}", out_file.display()))
}

/// A venv with the pinned componentize-py, re-created when the pin changes.
fn python_toolchain(paths: &Paths) -> Result<(Builder, String), String> {
    let reqs = paths.root.join("plugins/python/requirements.txt");
    let pin = fs::read(&reqs).map_err(|e| format!("read {}: {e}", reqs.display()))?;
    let key = hex(&Sha256::digest(&pin));
    let venv = paths.build.join("python-venv");
    let stamp = venv.join(".regcenter-stamp");
    let tool = venv.join("bin").join("componentize-py");
    if !(tool.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == key)) {
        let _ = fs::remove_dir_all(&venv);
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&python).args(["-m", "venv"]).arg(&venv), &format!("creating a venv with `{python} -m venv` (Python 3 is needed to build plugins/python; set PYTHON to choose one)"))?;
        run(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--disable-pip-version-check", "--no-input", "-r"])
                .arg(&reqs),
            "installing componentize-py from PyPI",
        )?;
        fs::write(&stamp, &key).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    }
    let builder: Builder = Box::new(move |guest, wit, world, out| {
        let mut c = Command::new(&tool);
        // No __pycache__ in the source tree (it would re-trigger this build).
        c.env("PYTHONDONTWRITEBYTECODE", "1");
        c.arg("-d").arg(wit).args(["-w", world, "componentize", "app", "-p"]).arg(guest).arg("-o").arg(out);
        c
    });
    Ok((builder, key))
}

/// `npm ci` of the pinned componentize-js into the build dir, redone when the
/// lock file or the build script changes.
fn js_toolchain(paths: &Paths) -> Result<(Builder, String), String> {
    let src = paths.root.join("plugins/js");
    let tools = paths.build.join("js-tools");
    let files = ["package.json", "package-lock.json", "build.mjs"];
    let mut h = Sha256::new();
    for f in files {
        let bytes = fs::read(src.join(f)).map_err(|e| format!("read plugins/js/{f}: {e}"))?;
        h.update(f.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let key = hex(&h.finalize());
    let stamp = tools.join(".regcenter-stamp");
    if !(tools.join("node_modules").is_dir() && fs::read_to_string(&stamp).is_ok_and(|s| s == key)) {
        let _ = fs::remove_dir_all(&tools);
        fs::create_dir_all(&tools).map_err(|e| format!("create {}: {e}", tools.display()))?;
        for f in files {
            fs::copy(src.join(f), tools.join(f)).map_err(|e| format!("copy plugins/js/{f}: {e}"))?;
        }
        run(
            Command::new("npm").current_dir(&tools).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]),
            "installing componentize-js with `npm ci` (Node.js and npm are needed to build plugins/js)",
        )?;
        fs::write(&stamp, &key).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    }
    let script = tools.join("build.mjs");
    let builder: Builder = Box::new(move |guest, wit, world, out| {
        let mut c = Command::new("node");
        c.arg(&script).arg(guest.join(JS.source)).arg(wit).arg(world).arg(out);
        c
    });
    Ok((builder, key))
}

/// Runs `cmd`; on failure returns `what` with the exit status and output.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    for var in ["RUSTFLAGS", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"] {
        cmd.env_remove(var);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{what} failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{what}: could not start {:?}: {e}", cmd.get_program())),
    }
}

/// Guest directories of a language: subdirectories holding `world.wit` and the source.
fn guest_dirs(lang_dir: &Path, source: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(lang_dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("world.wit").is_file() && d.join(source).is_file());
    dirs.sort();
    dirs
}

/// Feeds every file under `dir` (relative path, length, bytes; sorted) into `h`.
fn hash_tree(h: &mut Sha256, dir: &Path) {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort();
    for f in files {
        let bytes = fs::read(&f).unwrap_or_default();
        h.update(f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "__pycache__" || n == "node_modules") {
                continue;
            }
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        let dest = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            fs::copy(&path, &dest)?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
