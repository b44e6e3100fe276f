//! The operator CLI end to end: `regcenter register` and `regcenter master`
//! processes, driven by `masters`, `services`, `run`, `call`, `tell` and
//! `token`, as a user would.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::proc::{spawn, wait_line, wait_line_within, Proc, PATIENCE, STARTUP_PATIENCE};

fn start_register(dir: &Path) -> (Proc, u16) {
    common::proc::start_register(dir, "127.0.0.1:0")
}

fn start_master(dir: &Path, port: u16, name: &str, services: &[&str]) -> Proc {
    start_master_with(dir, port, name, services, &[])
}

fn start_master_with(dir: &Path, port: u16, name: &str, services: &[&str], extra: &[&str]) -> Proc {
    let mut args = vec!["master", "--connect", "", "--name", name, "--data-dir", dir.to_str().unwrap(), "--retry-delay", "0.2"];
    let addr = format!("127.0.0.1:{port}");
    args[2] = &addr;
    for s in services {
        args.extend(["--service", s]);
    }
    args.extend(extra);
    let p = spawn(&args);
    wait_line_within(&p, "the master to connect", STARTUP_PATIENCE, |l| l.starts_with("connected to"));
    p
}

fn cli(dir: &Path, port: u16, args: &[&str]) -> Output {
    let addr = format!("127.0.0.1:{port}");
    Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(args)
        .args(["--register", &addr, "--data-dir", dir.to_str().unwrap()])
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .output()
        .expect("run regcenter")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn masters_json(dir: &Path, port: u16) -> Vec<Value> {
    let out = cli(dir, port, &["masters", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("masters --json is a JSON array")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn operators_list_run_call_and_tell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_reg, port) = start_register(d);
    let (_reg2, port2) = start_register(d);
    let _m = start_master(d, port, "m1", &["hello-world", "user-service"]);

    let masters = masters_json(d, port);
    assert_eq!(masters.len(), 1);
    assert_eq!(masters[0]["id"], "m1");
    let names: Vec<&str> = masters[0]["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hello-world", "user-service"]);
    let out = cli(d, port, &["services", "--json"]);
    let services: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(services["user-service"], serde_json::json!(["m1"]));
    let table = text(&cli(d, port, &["masters"]).stdout);
    assert!(table.starts_with("ID") && table.contains("m1") && table.contains("hello-world@1.0.0"), "{table}");

    let out = cli(d, port, &["run", "--job", "greet", "--all", "--input", r#"{"name":"Ann"}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("m1: \"Hello, world!"), "{lines:?}");
    assert!(lines[1].starts_with("m1: {") && lines[1].contains("\"name\":\"Ann\""), "{lines:?}");
    assert!(text(&out.stderr).contains("[1/1 masters done]"), "{}", text(&out.stderr));

    let out = cli(d, port, &["run", "--job", "list-users", "--service", "user-service", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Value = serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["item"][0]["name"], "Alice");

    let out = cli(d, port, &["run", "--job", "greet", "--service", "nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no master offers service 'nope'"), "{}", text(&out.stderr));

    let out = cli(d, port, &["call", "user-service", "getUser", r#"{"id":1}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["name"], "Alice");
    let out = cli(d, port, &["call", "user-service", "updateUser", r#"{"id":999,"data":{}}"#]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("User not found"), "{}", text(&out.stderr));

    let payload = format!(r#"{{"registers":[{{"host":"127.0.0.1","port":{port2}}}]}}"#);
    let out = cli(d, port, &["tell", "register", &payload]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "sent to 1 master(s)");
    wait_until("m1 on the second register", || masters_json(d, port2).iter().any(|m| m["id"] == "m1"));
    let out = cli(d, port, &["tell", "remove", &payload]);
    assert!(out.status.success());
    wait_until("m1 off the second register", || masters_json(d, port2).is_empty());
}

#[test]
fn operator_credentials_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_reg, port) = start_register(d);
    let out = cli(d, port, &["masters", "--token", "wrong"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("authentication with the register failed"), "{}", text(&out.stderr));
    let master_token = std::fs::read_to_string(d.join("master.tokens")).unwrap();
    let out = cli(d, port, &["masters", "--token", master_token.trim()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("master tokens cannot act as operators"), "{}", text(&out.stderr));
    let out = cli(d, port, &["masters", "--insecure"]);
    assert!(out.status.success(), "insecure still authenticates with the data dir's operator token: {}", text(&out.stderr));
    let cert = std::fs::read_to_string(d.join("register-main.pem")).unwrap();
    let fp = regcenter::transport::tls::fingerprint(&cert).unwrap();
    let out = cli(d, port, &["masters", "--fingerprint", &fp]);
    assert!(out.status.success(), "pinned: {}", text(&out.stderr));
    let out = cli(d, port, &["masters", "--fingerprint", &"0".repeat(64)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("does not match the pinned"), "{}", text(&out.stderr));
    let ca = d.join("ca.pem");
    let out = cli(d, port, &["masters", "--trust", ca.to_str().unwrap()]);
    assert!(out.status.success(), "trusted CA: {}", text(&out.stderr));
    let token_file = d.join("op.token");
    std::fs::write(&token_file, "wrong\n").unwrap();
    let out = cli(d, port, &["masters", "--token-file", token_file.to_str().unwrap()]);
    assert!(!out.status.success(), "the token file is used");
}

#[test]
fn operator_tokens_can_be_given_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = spawn(&["register", "--listen", "127.0.0.1:0", "--operator-token", "op-secret", "--data-dir", d.to_str().unwrap()]);
    let line = wait_line(&p, "the register's address", |l| l.starts_with("register listening on"));
    let port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    assert!(cli(d, port, &["masters", "--token", "op-secret"]).status.success());
    assert!(!cli(d, port, &["masters"]).status.success(), "the data dir's operator token is not accepted now");
}

#[test]
fn a_token_added_to_a_running_register_lets_a_master_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_reg, port) = start_register(d);
    let out = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["token", "add", "fresh-token-1", "--data-dir", d.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["token", "list", "--data-dir", d.to_str().unwrap()]).output().unwrap();
    assert!(text(&list.stdout).lines().any(|l| l == "fresh-token-1"));
    let addr = format!("127.0.0.1:{port}");
    let p = spawn(&["master", "--connect", &addr, "--name", "m-fresh", "--token", "fresh-token-1", "--data-dir", d.to_str().unwrap()]);
    wait_line(&p, "the master with the new token", |l| l.starts_with("connected to"));
    let out = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["token", "remove", "fresh-token-1", "--data-dir", d.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let p2 = spawn(&["master", "--connect", &addr, "--name", "m-late", "--token", "fresh-token-1", "--data-dir", d.to_str().unwrap()]);
    wait_line(&p2, "the refusal", |l| l.contains("authentication with") && l.contains("invalid token"));
}

#[test]
fn stats_and_prometheus_metrics_count_calls_per_master() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg = spawn(&["register", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir", d.to_str().unwrap()]);
    let line = wait_line(&reg, "the register's address", |l| l.starts_with("register listening on"));
    let port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    let metrics = wait_line(&reg, "the metrics address", |l| l.starts_with("metrics on http://"));
    let metrics_addr = metrics.trim_start_matches("metrics on http://").trim_end_matches("/metrics").to_string();
    let _m = start_master(d, port, "m-stats", &["user-service"]);
    for _ in 0..3 {
        assert!(cli(d, port, &["call", "user-service", "getUser", r#"{"id":1}"#]).status.success());
    }
    assert!(!cli(d, port, &["call", "user-service", "updateUser", r#"{"id":9,"data":{}}"#]).status.success());
    wait_until("stats to arrive", || {
        let out = cli(d, port, &["stats", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["total"]["calls"]["user-service.get-user"]["calls"] == 3 && v["total"]["calls"]["user-service.update-user"]["errors"] == 1
    });
    let out = cli(d, port, &["stats", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["masters"]["m-stats"]["jobs"]["calls"], 4, "one job per call");
    assert_eq!(v["masters"]["m-stats"]["jobs"]["errors"], 1);
    let table = text(&cli(d, port, &["stats"]).stdout);
    assert!(table.contains("user-service.get-user") && table.contains("TOTAL"), "{table}");

    let mut sock = std::net::TcpStream::connect(&metrics_addr).unwrap();
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    sock.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("regcenter_masters_connected 1"), "{body}");
    assert!(body.contains(r#"regcenter_service_calls_total{master="m-stats",service="user-service",method="get-user"} 3"#), "{body}");
    assert!(body.contains(r#"regcenter_service_calls_errors_total{master="m-stats",service="user-service",method="update-user"} 1"#), "{body}");
    assert!(body.contains(r#"regcenter_jobs_total{master="m-stats"} 4"#), "{body}");
}

#[test]
fn a_config_file_holds_the_same_settings_as_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg_cfg = d.join("register.toml");
    std::fs::write(&reg_cfg, format!("listen = \"127.0.0.1:0\"\ndata-dir = {:?}\n", d.to_str().unwrap())).unwrap();
    let reg = spawn(&["register", "--config", reg_cfg.to_str().unwrap()]);
    let line = wait_line(&reg, "the register's address", |l| l.starts_with("register listening on 127.0.0.1:"));
    let port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    let master_cfg = d.join("master.toml");
    std::fs::write(
        &master_cfg,
        format!(
            "connect = [\"127.0.0.1:{port}\"]\nservice = [\"hello-world\", \"user-service\"]\nnode-name = \"m-cfg\"\nmax-jobs = 7\ndata-dir = {:?}\n",
            d.to_str().unwrap()
        ),
    )
    .unwrap();
    let m = spawn(&["master", "--config", master_cfg.to_str().unwrap()]);
    wait_line_within(&m, "the configured master", STARTUP_PATIENCE, |l| l.starts_with("connected to"));
    let masters = masters_json(d, port);
    assert_eq!(masters[0]["id"], "m-cfg");
    assert_eq!(masters[0]["max_jobs"], 7);
    assert_eq!(masters[0]["services"].as_array().unwrap().len(), 2);
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "listen = ").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["register", "--config", bad.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid config"), "{}", text(&out.stderr));
}

#[test]
fn one_master_serves_rust_python_and_javascript_services_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_reg, port) = start_register(d);
    let _m = start_master(d, port, "polyglot", &["hello-world", "hello_world_py", "user_service_js"]);
    let names: Vec<String> =
        masters_json(d, port)[0]["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["hello-world", "hello_world_py", "user_service_js"]);

    let mut greetings = Vec::new();
    for service in ["hello-world", "hello_world_py"] {
        let out = cli(d, port, &["call", service, "sayHello2", r#"{"name":"Lin"}"#]);
        assert!(out.status.success(), "{service}: {}", text(&out.stderr));
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["date"].as_str().unwrap().starts_with(&common::utc_today()), "{v}");
        v.as_object_mut().unwrap().remove("date");
        greetings.push(v);
    }
    assert_eq!(greetings[0]["name"], "Lin");
    assert_eq!(greetings[1], greetings[0]);

    // The JS service keeps state across calls arriving over the network.
    let out = cli(d, port, &["call", "user_service_js", "createUser", r#"{"name":"Zed","email":"z@x"}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"], 3);
    let out = cli(d, port, &["run", "--job", "list-users", "--service", "user_service_js", "--input", r#"{"service":"user_service_js"}"#, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Value = serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    let users: Vec<&str> = first["item"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(users, ["Alice", "Bob", "Zed"]);
    let out = cli(d, port, &["call", "user_service_js", "updateUser", r#"{"id":99,"data":{}}"#]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("User not found"), "{}", text(&out.stderr));
}

#[test]
fn a_master_given_a_job_key_runs_only_jobs_signed_by_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_reg, port) = start_register(d);
    let out = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["job-key", "--data-dir", d.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_string();
    assert_eq!(key.len(), 64, "{key}");
    let mode = std::fs::metadata(d.join("job-signing.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let _m = start_master_with(d, port, "m-signed", &["hello-world"], &["--trust-job-key", &key]);

    let out = cli(d, port, &["run", "--job", "greet", "--master", "m-signed", "--sign"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let out = cli(d, port, &["run", "--job", "greet", "--master", "m-signed"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("this master runs only signed jobs and the job is unsigned"), "{}", text(&out.stderr));

    let bad = Command::new(env!("CARGO_BIN_EXE_regcenter")).args(["master", "--connect", "127.0.0.1:1", "--trust-job-key", "xyz", "--data-dir", d.to_str().unwrap()]).output().unwrap();
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--trust-job-key: expected 32 bytes as hex"), "{}", text(&bad.stderr));
}

/// `regcenter ARGS…` whose stdout is read up to the line matching `pred` and
/// then closed, as `| head -1` would; killed when the test ends.
fn spawn_then_close_stdout(args: &[&str], pred: impl Fn(&str) -> bool) -> (Proc, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(args)
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn regcenter");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (_tx, lines) = std::sync::mpsc::channel();
    let proc = Proc { child, lines };
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "stdout ended before the expected line");
        if pred(line.trim_end()) {
            break;
        }
    }
    drop(out);
    (proc, line.trim_end().to_string())
}

#[test]
fn a_register_and_a_master_keep_serving_after_their_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ds = d.to_str().unwrap();
    let (mut reg, first) = spawn_then_close_stdout(&["register", "--listen", "127.0.0.1:0", "--data-dir", ds], |l| l.starts_with("register listening on"));
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    // The register prints "master m1 authenticated" into the closed pipe.
    let addr = format!("127.0.0.1:{port}");
    let (mut master, _) = spawn_then_close_stdout(
        &["master", "--connect", &addr, "--name", "m1", "--data-dir", ds, "--service", "hello-world"],
        |l| l.starts_with("connected to"),
    );
    wait_until("m1 listed", || masters_json(d, port).iter().any(|m| m["id"] == "m1"));
    // The master prints "command from …" into its closed pipe.
    let out = cli(d, port, &["tell", "custom-note", r#"{"n":1}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "sent to 1 master(s)");
    // Its stdout is gone, so give the master a moment to print the command.
    std::thread::sleep(Duration::from_millis(300));
    // Both still serve: a job runs on the master through the register.
    let out = cli(d, port, &["run", "--job", "greet", "--master", "m1", "--input", r#"{"name":"Ann"}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"name\":\"Ann\""), "{}", text(&out.stdout));
    assert!(reg.child.try_wait().unwrap().is_none(), "the register exited");
    assert!(master.child.try_wait().unwrap().is_none(), "the master exited");
}
