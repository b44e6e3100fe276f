//! Services written in Python (componentize-py) and JavaScript
//! (componentize-js), built from `plugins/python` and `plugins/js`, behave
//! exactly like the Rust ones: same results for the same calls, the same jobs
//! run unchanged against them, state persists, and typed imports bind by the
//! documented rule.

mod common;

use common::{registry_with, run, utc_today};
use regcenter::{JobLimits, ServiceOptions};
use serde_json::{json, Value};
use std::process::Command;

const HELLOS: [&str; 3] = ["hello-world", "hello_world_py", "hello_world_js"];
const USERS: [&str; 3] = ["user-service", "user_service_py", "user_service_js"];

/// `v` without its `date` field, after checking the date is today's.
fn undated(mut v: Value) -> Value {
    let date = v["date"].as_str().unwrap_or_else(|| panic!("no date in {v}")).to_string();
    assert!(date.starts_with(&utc_today()), "date {date} is not today");
    assert_eq!(date.len(), "YYYY-MM-DD HH:MM:SS".len(), "{date}");
    v.as_object_mut().unwrap().remove("date");
    v
}

#[tokio::test]
async fn hello_world_answers_the_same_in_rust_python_and_javascript() {
    let reg = registry_with(&HELLOS).await;
    let mut results = Vec::new();
    for name in HELLOS {
        let hello = reg.execute(name, "sayHello", &json!([])).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let hello = hello.as_str().unwrap();
        assert!(hello.starts_with(&format!("Hello, world! {}", utc_today())), "{name}: {hello:?}");
        assert!(hello.ends_with('\n'), "{name}: {hello:?}");
        let greeting = reg.execute(name, "say-hello2", &json!({"name": "Ada"})).await.unwrap();
        results.push(undated(greeting));
    }
    assert_eq!(results[0]["name"], "Ada");
    assert_eq!(results[0]["author"], "ReactPHP X");
    assert_eq!(results[1], results[0], "Python differs from Rust");
    assert_eq!(results[2], results[0], "JavaScript differs from Rust");
}

#[tokio::test]
async fn user_services_answer_the_same_and_keep_state_between_calls() {
    let reg = registry_with(&USERS).await;
    let mut transcripts = Vec::new();
    for name in USERS {
        let mut t = Vec::new();
        t.push(reg.execute(name, "getAllUsers", &json!([])).await.unwrap());
        t.push(reg.execute(name, "createUser", &json!({"name": "Carol", "email": "carol@example.com"})).await.unwrap());
        // State: the new user is there on the next calls.
        t.push(reg.execute(name, "getUser", &json!({"id": 3})).await.unwrap());
        t.push(reg.execute(name, "updateUser", &json!({"id": 3, "data": {"email": "c@example.com"}})).await.unwrap());
        t.push(reg.execute(name, "getAllUsers", &json!([])).await.unwrap());
        t.push(reg.execute(name, "getUser", &json!({"id": 42})).await.unwrap());
        let err = reg.execute(name, "updateUser", &json!({"id": 42, "data": {}})).await.expect_err("unknown id fails");
        t.push(json!(err.to_string()));
        transcripts.push(t);
    }
    let rust = &transcripts[0];
    assert_eq!(rust[0].as_array().unwrap().len(), 2);
    assert_eq!(rust[2], json!({"id": 3, "name": "Carol", "email": "carol@example.com"}));
    assert_eq!(rust[4].as_array().unwrap().len(), 3);
    assert_eq!(rust[4][2]["email"], "c@example.com");
    assert_eq!(rust[5], Value::Null);
    assert!(rust[6].as_str().unwrap().contains("User not found"), "{}", rust[6]);
    assert_eq!(&transcripts[1], rust, "Python differs from Rust");
    assert_eq!(&transcripts[2], rust, "JavaScript differs from Rust");
}

#[tokio::test]
async fn the_same_jobs_run_unchanged_against_python_and_javascript_services() {
    let reg = registry_with(&[&HELLOS[..], &USERS[..]].concat()).await;
    let mut greets = Vec::new();
    let mut lists = Vec::new();
    for (hello, users) in HELLOS.iter().zip(USERS) {
        let (items, outcome) = run(&reg, "greet", json!({"name": "Ada", "service": hello}), JobLimits::default()).await;
        assert_eq!(outcome, Ok(2), "greet on {hello}: {items:?}");
        assert!(items[0].as_str().unwrap().starts_with("Hello, world!"));
        greets.push(undated(items[1].clone()));
        let (items, outcome) = run(&reg, "list-users", json!({"service": users}), JobLimits::default()).await;
        assert_eq!(outcome, Ok(1), "list-users on {users}");
        lists.push(items[0].clone());
    }
    assert_eq!(greets[1], greets[0]);
    assert_eq!(greets[2], greets[0]);
    assert_eq!(lists[0][0]["name"], "Alice");
    assert_eq!(lists[1], lists[0]);
    assert_eq!(lists[2], lists[0]);
}

#[tokio::test]
async fn typed_imports_bind_to_python_and_javascript_services_by_the_documented_rule() {
    // One registry, three services exporting example:users/users@1.0.0: the
    // interface versions tie, so typed-users binds to the first registered
    // (Python here) unless the input's `$bind` names another.
    let reg = common::registry();
    for name in ["user_service_py", "user-service", "user_service_js"] {
        reg.register(name, common::plugin(name), ServiceOptions::default()).await.unwrap();
    }
    let (items, outcome) = run(&reg, "typed-users", json!({"name": "Py", "email": "py@x"}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(4), "{items:?}");
    assert_eq!(items[0], "1:Alice:alice@example.com");
    assert_eq!(items[2], "3:Py:py@x");
    assert_eq!(items[3], "update 999: User not found");
    let input = json!({"$bind": {"example:users/users": "user_service_js"}, "name": "Js", "email": "js@x"});
    let (items, outcome) = run(&reg, "typed-users", input, JobLimits::default()).await;
    assert_eq!(outcome, Ok(4), "{items:?}");
    assert_eq!(items[2], "3:Js:js@x");
    let third = |v: Value| v["name"].as_str().map(str::to_string);
    let py = third(reg.execute("user_service_py", "getUser", &json!({"id": 3})).await.unwrap());
    let rs = third(reg.execute("user-service", "getUser", &json!({"id": 3})).await.unwrap());
    let js = third(reg.execute("user_service_js", "getUser", &json!({"id": 3})).await.unwrap());
    assert_eq!((py.as_deref(), rs.as_deref(), js.as_deref()), (Some("Py"), None, Some("Js")));

}

#[test]
fn local_call_prints_the_same_json_for_every_language() {
    let mut outputs = Vec::new();
    for name in HELLOS {
        let out = Command::new(env!("CARGO_BIN_EXE_regcenter"))
            .args(["local", "call", "--service", name, name, "say-hello2", r#"["Grace"]"#])
            .env("REGCENTER_CACHE_DIR", common::cache_dir())
            .output()
            .expect("run regcenter");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("local call prints JSON");
        outputs.push(undated(v));
    }
    assert_eq!(outputs[0]["name"], "Grace");
    assert_eq!(outputs[1], outputs[0]);
    assert_eq!(outputs[2], outputs[0]);
}

#[test]
fn the_python_and_javascript_components_compile_without_async_and_import_only_wasi_p2() {
    for name in ["hello_world_py", "user_service_py", "hello_world_js", "user_service_js"] {
        let out = Command::new(env!("CARGO_BIN_EXE_regcenter"))
            .args(["inspect", regcenter::plugins::path(name).to_str().unwrap()])
            .env("REGCENTER_CACHE_DIR", common::cache_dir())
            .output()
            .expect("run regcenter");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let imports: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("import ")).collect();
        assert!(!imports.is_empty(), "{name} imports nothing?\n{text}");
        for import in imports {
            assert!(import.starts_with("wasi:") && import.contains("@0.2."), "{name} imports {import}");
        }
        assert!(text.contains("export example:"), "{name}:\n{text}");
    }
}
