//! The WASI policy, probed from inside real guests (Rust std and Python's
//! stdlib): no filesystem, environment or sockets unless the master grants
//! them to a service, and how each denied call fails.

mod common;

use common::plugin;
use regcenter::runtime::wasi::WasiGrants;
use regcenter::ServiceOptions;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::Command;

const PROBES: [&str; 2] = ["sandbox-probe", "sandbox_probe_py"];

/// A directory holding `secret.txt`, and its path.
fn secret_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "top secret\n").unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    (dir, path)
}

#[tokio::test]
async fn without_grants_files_environment_and_sockets_are_denied() {
    let (_dir, host_dir) = secret_dir();
    // Something really listens, so a refusal comes from the sandbox.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::env::set_var("REGCENTER_PROBE_SECRET", "leaked");
    let reg = common::registry_with(&PROBES).await;
    for probe in PROBES {
        let err = |method: &str, args: Value| {
            let reg = reg.clone();
            let method = method.to_string();
            async move { reg.execute(probe, &method, &args).await.err().unwrap_or_else(|| panic!("{probe} {method} succeeded")).to_string() }
        };
        let e = err("readFile", json!([format!("{host_dir}/secret.txt")])).await;
        assert!(e.contains("No such file or directory"), "{probe}: {e}");
        let e = err("listDir", json!(["/"])).await;
        assert!(e.contains("No such file or directory"), "{probe}: {e}");
        let e = err("listDir", json!(["."])).await;
        assert!(e.contains("No such file or directory"), "{probe}: {e}");
        let e = err("connect", json!([addr])).await;
        assert!(e.contains("Permission denied") || e.contains("PermissionError"), "{probe}: {e}");
        for var in ["REGCENTER_PROBE_SECRET", "HOME", "PATH"] {
            assert_eq!(reg.execute(probe, "envVar", &json!([var])).await.unwrap(), Value::Null, "{probe} sees {var}");
        }
    }
}

#[tokio::test]
async fn granted_directories_and_variables_are_visible_and_nothing_else() {
    let (_dir, host_dir) = secret_dir();
    let reg = common::registry();
    for probe in PROBES {
        let grants = WasiGrants { env: vec![("GREETING".into(), "hi".into())], dirs: vec![(host_dir.clone().into(), "/data".into(), false)] };
        reg.register(probe, plugin(probe), ServiceOptions { grants, ..ServiceOptions::default() }).await.unwrap();
    }
    for probe in PROBES {
        assert_eq!(reg.execute(probe, "readFile", &json!(["/data/secret.txt"])).await.unwrap(), "top secret\n", "{probe}");
        assert_eq!(reg.execute(probe, "listDir", &json!(["/data"])).await.unwrap(), json!(["secret.txt"]), "{probe}");
        assert_eq!(reg.execute(probe, "envVar", &json!(["GREETING"])).await.unwrap(), "hi", "{probe}");
        assert_eq!(reg.execute(probe, "envVar", &json!(["HOME"])).await.unwrap(), Value::Null, "{probe}");
        // The host path itself is not reachable; only the guest mount point is.
        let e = reg.execute(probe, "readFile", &json!([format!("{host_dir}/secret.txt")])).await.expect_err("host path denied");
        assert!(e.to_string().contains("No such file or directory"), "{probe}: {e}");
        let e = reg.execute(probe, "readFile", &json!(["/data/../../etc/passwd"])).await.expect_err("escape denied");
        assert!(!e.to_string().contains("root:"), "{probe}: {e}");
    }
}

#[test]
fn the_cli_grants_only_what_its_flags_name() {
    let (_dir, host_dir) = secret_dir();
    let call = |extra: &[&str], method: &str, args: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_regcenter"));
        cmd.args(["local", "call", "--service", "sandbox-probe"]).args(extra).args(["sandbox-probe", method, args]);
        cmd.env("REGCENTER_CACHE_DIR", common::cache_dir()).output().expect("run regcenter")
    };
    let file = r#"["/data/secret.txt"]"#;
    let denied = call(&[], "read-file", file);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("No such file or directory"));
    let grant = format!("sandbox-probe:{host_dir}=/data");
    let granted = call(&["--grant-dir", &grant, "--grant-env", "sandbox-probe:MODE=test"], "read-file", file);
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&granted.stdout).unwrap(), "top secret\n");
    let env = call(&["--grant-env", "sandbox-probe:MODE=test"], "env-var", r#"["MODE"]"#);
    assert_eq!(serde_json::from_slice::<Value>(&env.stdout).unwrap(), "test");
    let bad = call(&["--grant-dir", "sandbox-probe:/no/such/dir=/data"], "env-var", r#"["MODE"]"#);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a directory"), "{}", String::from_utf8_lossy(&bad.stderr));
    let unknown = call(&["--grant-env", "other:MODE=test"], "env-var", r#"["MODE"]"#);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("name service 'other', which is not hosted"), "{}", String::from_utf8_lossy(&unknown.stderr));
}

#[tokio::test]
async fn a_job_reaches_no_file_variable_or_socket_even_beside_a_granted_service() {
    let (_dir, host_dir) = secret_dir();
    std::env::set_var("REGCENTER_PROBE_SECRET", "leaked");
    let reg = common::registry();
    // A service on the same runtime holds grants; they must not leak to jobs.
    let grants = WasiGrants { env: vec![("GREETING".into(), "hi".into())], dirs: vec![(host_dir.clone().into(), "/".into(), true)] };
    reg.register("sandbox-probe", plugin("sandbox-probe"), ServiceOptions { grants, ..ServiceOptions::default() }).await.unwrap();
    let (items, outcome) = common::run(&reg, "job-probe", json!({}), regcenter::JobLimits::default()).await;
    assert_eq!(outcome, Ok(8), "{items:?}");
    let result = |probe: &str| items.iter().find(|i| i["probe"] == probe).unwrap_or_else(|| panic!("{probe} missing: {items:?}"))["result"].as_str().unwrap().to_string();
    for path_probe in ["read /etc/passwd", "list /", "list .", "write /tmp/x"] {
        assert!(result(path_probe).contains("No such file or directory"), "{path_probe}: {}", result(path_probe));
    }
    assert_eq!(result("environment"), "empty");
    assert!(result("tcp 127.0.0.1:22").contains("Permission denied"), "{}", result("tcp 127.0.0.1:22"));
    assert!(result("udp bind").contains("Permission denied"), "{}", result("udp bind"));
    assert_ne!(result("lookup localhost"), "ALLOWED");
    assert!(items.iter().all(|i| !i["result"].as_str().unwrap().starts_with("ALLOWED")), "{items:?}");
}
