//! A service exporting `example:probe/probe@0.1.0`: tries to read files, list
//! directories, read the environment and open a TCP connection through Rust
//! std (WASI p2 underneath) and reports what the sandbox answered.

wit_bindgen::generate!({
    inline: "
        package local:sandbox-probe;
        world sandbox-probe { export example:probe/probe@0.1.0; }
    ",
    path: "../../wit",
});

use exports::example::probe::probe::Guest;

struct Probe;

impl Guest for Probe {
    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
    }

    fn list_dir(path: String) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        Ok(names)
    }

    fn env_var(name: String) -> Option<String> {
        std::env::var(name).ok()
    }

    fn connect(addr: String) -> Result<(), String> {
        std::net::TcpStream::connect(addr.as_str()).map(drop).map_err(|e| format!("{addr}: {e}"))
    }
}

export!(Probe);
