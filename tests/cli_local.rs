//! The `regcenter` binary's network-free commands, run as a user would.

mod common;

use std::process::{Command, Output};

fn regcenter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(args)
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .output()
        .expect("run regcenter")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn local_run_prints_each_item_as_a_json_line() {
    let out = regcenter(&["local", "run", "--service", "hello-world", "--job", "greet", "--input", r#"{"name":"John Doe"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].as_str().unwrap().starts_with("Hello, world!"));
    assert_eq!(lines[1]["name"], "John Doe");
}

#[test]
fn local_run_accepts_explicit_files() {
    let hello = regcenter::plugins::path("hello-world");
    let greet = regcenter::plugins::path("greet");
    let spec = format!("hello-world={}", hello.display());
    let out = regcenter(&["local", "run", "--service", &spec, "--job", greet.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
}

#[test]
fn local_call_prints_the_json_result() {
    let out = regcenter(&["local", "call", "--service", "user-service", "user-service", "getUser", r#"{"id":1}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["name"], "Alice");
}

#[test]
fn local_call_errors_exit_non_zero_with_the_message() {
    let out = regcenter(&["local", "call", "--service", "user-service", "user-service", "updateUser", r#"{"id":999,"data":{}}"#]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("User not found"), "{}", stderr(&out));
    let out = regcenter(&["local", "call", "--service", "user-service", "user-service", "getUser", "{not json"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ARGS_JSON is not valid JSON"), "{}", stderr(&out));
    let out = regcenter(&["local", "call", "--service", "ghost=/nonexistent.wasm", "ghost", "x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read /nonexistent.wasm"), "{}", stderr(&out));
}

#[test]
fn local_run_reports_a_failing_job() {
    let out = regcenter(&["local", "run", "--job", "spin-forever", "--timeout", "0.5"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("deadline"), "{}", stderr(&out));
}

#[test]
fn inspect_lists_exports_with_signatures() {
    let out = regcenter(&["inspect", "hello-world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("export example:hello/greeter@1.0.0 {"), "{text}");
    assert!(text.contains("say-hello2: func(name: string) -> record { date: string"), "{text}");
    let out = regcenter(&["inspect", "greet"]);
    assert!(stdout(&out).contains("export run: func(input: string) -> result<_, string>"), "{}", stdout(&out));
    assert!(stdout(&out).contains("import regcenter:job/services@0.1.0 {"), "{}", stdout(&out));
}

#[test]
fn the_split_bench_measures_jobs_and_floors_across_two_nodes() {
    let out = regcenter(&["bench", "--quick", "--split", "--only", "rtt", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert!(r["layout"].as_str().unwrap().contains("two nodes"), "{}", r["layout"]);
    for key in ["quic_floor_p50_us", "quic_floor2_p50_us", "job_rtt_1hop_p50_us", "job_rtt_2hop_p50_us", "job_rtt_1hop_ratio", "job_rtt_2hop_ratio"] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {}", r[key]);
    }
    assert!(r.get("throughput_jobs_per_s").is_none(), "only the rtt section ran");
}

#[test]
fn the_split_bench_pins_its_two_nodes_to_two_cpus_on_request() {
    let out = regcenter(&["bench", "--quick", "--pin", "--only", "rtt"]);
    assert!(!out.status.success(), "--pin alone is refused");
    assert!(stderr(&out).contains("--split"), "the error names what --pin needs: {}", stderr(&out));
    let out = regcenter(&["bench", "--quick", "--split", "--pin", "--only", "rtt", "--json"]);
    // available_parallelism counts the CPUs of this process's affinity mask.
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        assert!(!out.status.success());
        assert!(stderr(&out).contains("pinning needs 2 CPUs"), "{}", stderr(&out));
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    let (reg, masters) = (r["pinned_cpus"]["register_side"].as_u64(), r["pinned_cpus"]["masters"].as_u64());
    assert!(reg.is_some() && masters.is_some() && reg != masters, "{}", r["pinned_cpus"]);
    let layout = r["layout"].as_str().unwrap();
    assert!(layout.contains(&format!("pinned to CPU {}", reg.unwrap())) && layout.contains(&format!("to CPU {}", masters.unwrap())), "{layout}");
    assert!(r["job_rtt_1hop_ratio"].as_f64().is_some_and(|v| v > 0.0), "{}", r["job_rtt_1hop_ratio"]);
}

#[test]
fn the_fanout_and_throughput_benches_measure_jobs_next_to_bare_quic_floors() {
    let out = regcenter(&["bench", "--quick", "--only", "fanout,throughput", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    // Every master count has a job figure, a floor figure and their ratio.
    for n in ["1", "32", "100"] {
        for key in ["fanout_p50_ms", "fanout_floor_p50_ms", "fanout_ratio"] {
            assert!(r[key][n].as_f64().is_some_and(|v| v > 0.0), "{key}[{n}]: {}", r[key]);
        }
    }
    for key in ["throughput_jobs_per_s", "throughput_floor_per_s", "throughput_ratio"] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {}", r[key]);
    }
    assert!(r.get("job_rtt_1hop_p50_us").is_none(), "only the fan-out and throughput sections ran");
}

#[test]
fn the_local_bench_times_jobs_and_in_job_calls_next_to_their_bare_floor_and_the_guest_clock() {
    let out = regcenter(&["bench", "--quick", "--only", "local", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    for key in ["local_job_p50_us", "service_call_p50_us", "service_call_floor_p50_us", "service_call_ratio"] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {}", r[key]);
    }
    // Two clock reads in a row may round to 0.0 µs on a fast machine.
    assert!(r["service_call_clock_p50_us"].as_f64().is_some_and(|v| v >= 0.0), "{}", r["service_call_clock_p50_us"]);
    assert!(r.get("throughput_jobs_per_s").is_none(), "only the local section ran");
}

#[test]
fn the_memory_bench_measures_the_register_and_a_bare_quic_floor_in_their_own_processes() {
    let out = regcenter(&["bench", "--quick", "--only", "memory", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    // Small counts: page-sized growth may round to 0, so only presence is checked;
    // a floor server that did not start, print its address or hold its
    // connections fails the run above.
    for key in ["register_bytes_per_master", "quic_floor_bytes_per_connection", "register_bytes_per_master_ratio"] {
        assert!(r[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {}", r[key]);
    }
    // As many masters as the quick plan's largest fan-out, though the fan-out
    // section did not run.
    assert_eq!(r["register_rss_masters"].as_u64(), Some(100), "{}", r["register_rss_masters"]);
}
