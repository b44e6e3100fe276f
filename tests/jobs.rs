//! Jobs against real services: the seed's closures as components, typed
//! imports, duplex input, misbehaving jobs beside a well-behaved one,
//! cancellation during a service call, and rejection before running.

mod common;

use common::{plugin, registry_with, run};
use regcenter::runtime::imports::Level;
use regcenter::{JobError, JobEvent, JobLimits, Limit, LoadError, ServiceOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn greet_emits_say_hello_then_say_hello2() {
    let reg = registry_with(&["hello-world"]).await;
    let (items, outcome) = run(&reg, "greet", json!({"name": "John Doe"}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(2));
    assert!(items[0].as_str().unwrap().starts_with("Hello, world!"));
    assert_eq!(items[1]["name"], "John Doe");
    assert_eq!(items[1]["author"], "ReactPHP X");
}

#[tokio::test]
async fn list_users_returns_the_seed_users() {
    let reg = registry_with(&["user-service"]).await;
    let (items, outcome) = run(&reg, "list-users", json!({}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(1));
    assert_eq!(items[0], json!([{"id": 1, "name": "Alice", "email": "alice@example.com"}, {"id": 2, "name": "Bob", "email": "bob@example.com"}]));
}

#[tokio::test]
async fn batch_calls_report_each_success_and_failure() {
    let reg = registry_with(&["hello-world", "user-service"]).await;
    let (items, outcome) = run(&reg, "batch-calls", json!({}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(3));
    assert_eq!(items[0]["success"], true);
    assert_eq!(items[0]["result"]["name"], "Alice");
    assert_eq!(items[1]["result"]["name"], "Alice");
    assert_eq!(items[2]["success"], false);
    assert!(items[2]["error"].as_str().unwrap().contains("User not found"), "{}", items[2]);
}

#[tokio::test]
async fn distributed_chunks_merge_to_the_whole_task() {
    let reg = registry_with(&["async-service"]).await;
    let data = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let mut merged = Vec::new();
    for (i, chunk) in data.chunks(2).enumerate() {
        let (items, outcome) = run(&reg, "process-chunk", json!({"chunk": i, "taskId": "t", "data": chunk}), JobLimits::default()).await;
        assert_eq!(outcome, Ok(1));
        assert_eq!(items[0]["chunk"], i);
        merged.extend(items[0]["result"]["result"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    }
    assert_eq!(merged, ["ALPHA", "BETA", "GAMMA", "DELTA", "EPSILON"]);
}

#[tokio::test]
async fn the_call_service_job_is_execute_from_afar() {
    let reg = registry_with(&["user-service"]).await;
    let (items, outcome) = run(&reg, "call-service", json!({"service": "user-service", "method": "getUser", "args": {"id": 1}}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(1));
    assert_eq!(items[0]["name"], "Alice");
    let (_, outcome) = run(&reg, "call-service", json!({"service": "user-service", "method": "updateUser", "args": {"id": 999, "data": {}}}), JobLimits::default()).await;
    match outcome {
        Err(JobError::Failed { message }) => assert!(message.contains("User not found"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_call_whose_arguments_are_over_the_limit_is_refused_and_the_service_serves_on() {
    let reg = registry_with(&["hello-world"]).await;
    // A JSON string of MAX_ARGS_BYTES characters: two bytes over with its quotes.
    let big = "x".repeat(regcenter::limits::MAX_ARGS_BYTES);
    let (items, outcome) = run(&reg, "call-service", json!({"service": "hello-world", "method": "sayHello2", "args": [big]}), JobLimits::default()).await;
    assert!(items.is_empty());
    match outcome {
        Err(JobError::Failed { message }) => {
            let want = format!("arguments are {} bytes, over the {}-byte limit", regcenter::limits::MAX_ARGS_BYTES + 4, regcenter::limits::MAX_ARGS_BYTES);
            assert!(message.contains(&want), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let (items, outcome) = run(&reg, "call-service", json!({"service": "hello-world", "method": "sayHello2", "args": ["Ann"]}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(1));
    assert_eq!(items[0]["name"], "Ann");
}

#[tokio::test]
async fn lean_jobs_read_escaped_input_name_bad_input_and_report_their_panics() {
    let reg = registry_with(&["hello-world"]).await;
    // call-service is a lean (no_std) job: job_sdk::json decodes the escaped
    // service name and passes the raw args on untouched.
    let name = "Jo \"é\" 😀\\";
    let input = format!(r#"{{ "service": "hello\u002dworld", "method" : "sayHello2", "args": {} }}"#, json!({ "name": name }));
    let running = reg.run_job(&plugin("call-service"), input, JobLimits::default()).await.unwrap();
    let (items, _, outcome) = running.collect().await;
    assert_eq!(outcome, Ok(1));
    assert_eq!(serde_json::from_str::<Value>(&items[0]).unwrap()["name"], name);

    for (input, want) in [
        (json!([1]), "input is not a JSON object: expected a JSON object at byte 0"),
        (json!({"service": 1, "method": "sayHello"}), "input needs `service` (a string)"),
        (json!({"service": "hello-world"}), "input needs `method` (a string)"),
    ] {
        let (_, outcome) = run(&reg, "call-service", input, JobLimits::default()).await;
        assert_eq!(outcome, Err(JobError::Failed { message: want.into() }));
    }
    let running = reg.run_job(&plugin("call-service"), "{\"service\": \"x\"", JobLimits::default()).await.unwrap();
    let (_, _, outcome) = running.collect().await;
    assert_eq!(outcome, Err(JobError::Failed { message: "input is not a JSON object: unexpected end of input at byte 15".into() }));

    // The reader at its nesting bound (128, counting the input object) lets
    // the call go ahead; one level more is refused by the bound. (Lean jobs
    // link with a 64 KiB stack in linear memory, which holds only locals
    // whose address is taken; the reader's recursion runs on wasm's own
    // stack, bounded by the engine.)
    let nested = |levels: usize| format!(r#"{{"service": "hello-world", "method": "sayHello", "pad": {}1{}}}"#, "[".repeat(levels), "]".repeat(levels));
    let running = reg.run_job(&plugin("call-service"), nested(127), JobLimits::default()).await.unwrap();
    let (items, _, outcome) = running.collect().await;
    assert_eq!((items.len(), outcome), (1, Ok(1)));
    let running = reg.run_job(&plugin("call-service"), nested(128), JobLimits::default()).await.unwrap();
    let (_, _, outcome) = running.collect().await;
    let at = r#"{"service": "hello-world", "method": "sayHello", "pad": "#.len() + 127;
    assert_eq!(outcome, Err(JobError::Failed { message: format!("input is not a JSON object: nested too deeply at byte {at}") }));

    // A lean job's panic (here: a padding too large for a 32-bit address
    // space) reaches the requester as an error log line, and the job ends
    // trapped, never silently.
    let running = reg.run_job(&plugin("emit-flood"), json!({"count": 1, "size": 3_000_000_000u64}).to_string(), JobLimits::default()).await.unwrap();
    let (items, logs, outcome) = running.collect().await;
    assert!(items.is_empty(), "{items:?}");
    assert!(matches!(outcome, Err(JobError::Trapped { .. })), "{outcome:?}");
    assert!(
        logs.iter().any(|(l, m)| *l == Level::Error && m.starts_with("job panicked at ") && m.ends_with(": capacity overflow")),
        "{logs:?}"
    );
    // The registry serves the next job as before.
    let (items, outcome) = run(&reg, "emit-flood", json!({"count": 2, "size": 1}), JobLimits::default()).await;
    assert_eq!((items, outcome), (vec![json!({"seq": 0, "pad": "x"}), json!({"seq": 1, "pad": "x"})], Ok(2)));
}

#[tokio::test]
async fn typed_users_binds_its_import_to_the_user_service() {
    let reg = registry_with(&["user-service"]).await;
    let (items, outcome) = run(&reg, "typed-users", json!({"name": "Carol", "email": "carol@example.com"}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(4), "{items:?}");
    assert_eq!(items[0], "1:Alice:alice@example.com");
    assert_eq!(items[2], "3:Carol:carol@example.com");
    assert_eq!(items[3], "update 999: User not found");
    // The typed call changed the service's state.
    let user = reg.execute("user-service", "getUser", &json!({"id": 3})).await.unwrap();
    assert_eq!(user["name"], "Carol");
}

#[tokio::test]
async fn typed_calls_are_counted_in_the_statistics_like_json_calls() {
    // The runtime (and its statistics) is shared by this file's tests: a
    // service name of its own keeps the counts apart.
    let reg = common::registry();
    reg.register("users-counted", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    let input = json!({"$bind": {"example:users/users": "users-counted"}, "name": "C", "email": "c@x"});
    let (_, outcome) = run(&reg, "typed-users", input, JobLimits::default()).await;
    assert_eq!(outcome, Ok(4));
    reg.execute("users-counted", "getUser", &json!({"id": 3})).await.unwrap();
    // The job's create, list and failed update, then the JSON get.
    let stats = reg.runtime().metrics().snapshot();
    let count = |m: &str| stats.calls.get(&format!("users-counted.{m}")).map(|c| (c.calls, c.errors));
    assert_eq!(count("create-user"), Some((1, 0)), "{:?}", stats.calls.keys());
    assert_eq!(count("get-all-users"), Some((1, 0)));
    assert_eq!(count("update-user"), Some((1, 1)));
    assert_eq!(count("get-user"), Some((1, 0)));
}

#[tokio::test]
async fn a_job_with_an_unsatisfiable_import_is_rejected_before_running() {
    let reg = registry_with(&["hello-world"]).await;
    let (_, outcome) = run(&reg, "typed-users", json!({}), JobLimits::default()).await;
    match outcome {
        Err(JobError::Rejected(LoadError::UnsatisfiedImport { import, .. })) => assert_eq!(import, "example:users/users@1.0.0"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_modules_are_rejected_with_the_cause() {
    let reg = registry_with(&["hello-world"]).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"garbage".to_vec(), "invalid WebAssembly"),
        (vec![0, b'a', b's', b'm', 1, 0, 0, 0], "core wasm module"),
        (plugin("hello-world"), "wrong world"),
        (vec![0u8; 40 << 20], "over the"),
    ];
    for (bytes, want) in cases {
        let err = reg.run_job(&bytes, "{}", JobLimits::default()).await.err().expect("rejected");
        assert!(matches!(err, JobError::Rejected(_)), "{err}");
        assert!(err.to_string().contains(want), "got `{err}`, want `{want}`");
    }
}

#[tokio::test]
async fn a_job_returning_an_error_ends_with_its_message() {
    let reg = registry_with(&[]).await;
    let (_, outcome) = run(&reg, "fail", json!("bad input"), JobLimits::default()).await;
    assert_eq!(outcome, Err(JobError::Failed { message: "bad input".into() }));
}

#[tokio::test]
async fn duplex_items_from_the_requester_come_back_transformed() {
    let reg = registry_with(&[]).await;
    let mut job = reg.run_job(&plugin("duplex-echo"), "{}", JobLimits::default()).await.unwrap();
    for i in 1..=3 {
        job.send(json!({"i": i}).to_string()).await.unwrap();
    }
    job.close_input();
    let (items, _, outcome) = job.collect().await;
    assert_eq!(outcome, Ok(3));
    let items: Vec<Value> = items.iter().map(|i| serde_json::from_str(i).unwrap()).collect();
    assert_eq!(items[0], json!({"echo": {"i": 1}, "n": 1}));
    assert_eq!(items[2], json!({"echo": {"i": 3}, "n": 3}));
}

#[tokio::test]
async fn misbehaving_jobs_end_with_typed_errors_while_a_good_job_completes() {
    let reg = registry_with(&["hello-world"]).await;
    let tight = JobLimits { deadline: Duration::from_secs(2), memory: 32 << 20, max_items: 1000, max_bytes: 1 << 20 };
    let good = {
        let reg = reg.clone();
        tokio::spawn(async move {
            let mut done = 0;
            for _ in 0..20 {
                let (items, outcome) = run(&reg, "greet", json!({"name": "ok"}), JobLimits::default()).await;
                assert_eq!(outcome, Ok(2));
                assert_eq!(items.len(), 2);
                done += 1;
            }
            done
        })
    };
    let bad = ["spin-forever", "memory-hog", "deep-recursion", "trap", "emit-flood"].map(|job| {
        let reg = reg.clone();
        tokio::spawn(async move { (job, run(&reg, job, json!({}), tight).await) })
    });
    for handle in bad {
        let (job, (items, outcome)) = handle.await.unwrap();
        let err = outcome.expect_err(job);
        match job {
            "spin-forever" => assert!(matches!(err, JobError::LimitExceeded { limit: Limit::Deadline, .. }), "{job}: {err}"),
            "memory-hog" => assert!(matches!(err, JobError::LimitExceeded { limit: Limit::Memory, .. }), "{job}: {err}"),
            "deep-recursion" => {
                assert!(matches!(err, JobError::Trapped { .. }), "{job}: {err}");
                assert!(err.to_string().contains("stack"), "{job}: {err}");
            }
            "trap" => {
                assert!(matches!(err, JobError::Trapped { .. }), "{job}: {err}");
                assert_eq!(items, [json!("before the trap")]);
            }
            "emit-flood" => {
                assert!(matches!(err, JobError::LimitExceeded { limit: Limit::Items, .. }), "{job}: {err}");
                assert_eq!(items.len(), 1000);
                assert!(items.iter().enumerate().all(|(i, v)| v["seq"] == i), "in order");
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(good.await.unwrap(), 20);
}

#[tokio::test]
async fn cancelling_a_job_mid_call_leaves_the_stateful_service_intact() {
    let reg = registry_with(&["test-fixture"]).await;
    reg.execute("test-fixture", "addData", &json!({"key": "keep", "value": "me"})).await.unwrap();
    let mut job = reg.run_job(&plugin("ticker"), "{}", JobLimits::default()).await.unwrap();
    let mut got = 0;
    while got < 2 {
        if let Some(JobEvent::Item(_)) = job.next().await {
            got += 1;
        }
    }
    job.cancel();
    let mut last = None;
    while let Some(ev) = job.next().await {
        last = Some(ev);
    }
    assert_eq!(last, Some(JobEvent::Failed(JobError::Cancelled)));
    drop(job);
    let c1 = reg.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c2 = reg.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    assert_eq!(c1, c2, "the counter stopped growing");
    assert!(c1.as_u64().unwrap() >= 2);
    assert_eq!(reg.execute("test-fixture", "getData", &json!({"key": "keep"})).await.unwrap(), json!({"one": "me"}));
}

#[tokio::test]
async fn dropping_the_handle_cancels_the_job() {
    let reg = registry_with(&["test-fixture"]).await;
    let mut job = reg.run_job(&plugin("ticker"), "{}", JobLimits::default()).await.unwrap();
    assert!(matches!(job.next().await, Some(JobEvent::Item(_))));
    drop(job);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c1 = reg.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reg.execute("test-fixture", "counter", &Value::Null).await.unwrap(), c1);
}

#[tokio::test]
async fn a_warm_job_is_neither_recompiled_nor_relinked() {
    let reg = registry_with(&["hello-world"]).await;
    let lookup = reg.lookup();
    let bytes = plugin("greet");
    reg.runtime().prepare_job(&bytes, &lookup).await.unwrap();
    common::wait_optimized(reg.runtime(), &regcenter::runtime::sha256(&bytes)).await; // the one planned relink
    let a = reg.runtime().prepare_job(&bytes, &lookup).await.unwrap();
    let b = reg.runtime().prepare_job(&bytes, &lookup).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(reg.runtime().has_job(&a.sha256));
    // A change of services relinks (new generation) but keeps the compiled code.
    reg.register("user-service", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    // greet calls its services by name: its link does not depend on them,
    // so a change of services keeps it.
    let c = reg.runtime().prepare_job(&bytes, &lookup).await.unwrap();
    assert!(Arc::ptr_eq(&a, &c));
    // A job with a typed import is relinked by a change of services (new
    // generation), keeping its compiled code.
    let typed = plugin("typed-users");
    let d = reg.runtime().prepare_job(&typed, &lookup).await.unwrap();
    reg.register("list-users-host", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    let e = reg.runtime().prepare_job(&typed, &lookup).await.unwrap();
    assert!(!Arc::ptr_eq(&d, &e));
    assert!(e.generation > d.generation);
}

#[tokio::test]
async fn a_job_linked_against_one_registry_is_never_run_against_another_on_the_same_runtime() {
    // Two registries on one runtime, each with its own user-service, their
    // service-set generations equal in count (one registration each).
    let (a, b) = (common::registry(), common::registry());
    for reg in [&a, &b] {
        reg.register("user-service", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    }
    b.execute("user-service", "createUser", &json!({"name": "OnlyInB", "email": "b@x"})).await.unwrap();
    let typed = plugin("typed-users");
    let on_a = a.runtime().prepare_job(&typed, &a.lookup()).await.unwrap();
    let on_b = b.runtime().prepare_job(&typed, &b.lookup()).await.unwrap();
    assert!(!Arc::ptr_eq(&on_a, &on_b), "b got a's link");
    assert_ne!(on_a.generation, on_b.generation);
    // The typed call reaches b's service: its list has b's extra user.
    let (items, outcome) = run(&b, "typed-users", json!({"name": "Carol", "email": "carol@example.com"}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(5), "{items:?}");
    assert!(items.iter().any(|i| i.as_str().is_some_and(|s| s.contains("OnlyInB"))), "{items:?}");
}

#[tokio::test]
async fn requester_limits_cannot_exceed_the_runtime_ceiling() {
    let reg = registry_with(&[]).await;
    let huge = JobLimits { max_items: u64::MAX, ..JobLimits::default() };
    let (items, outcome) = run(&reg, "emit-flood", json!({"count": 10}), huge).await;
    assert_eq!(outcome, Ok(10));
    assert_eq!(items.len(), 10);
}

#[tokio::test]
async fn typed_imports_bind_to_the_first_registered_unless_the_input_names_one() {
    let reg = common::registry();
    reg.register("users-a", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    reg.register("users-b", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    reg.register("hello-world", plugin("hello-world"), ServiceOptions::default()).await.unwrap();
    let (_, outcome) = run(&reg, "typed-users", json!({"name": "A", "email": "a@x"}), JobLimits::default()).await;
    assert_eq!(outcome, Ok(4));
    let input = json!({"$bind": {"example:users/users": "users-b"}, "name": "B", "email": "b@x"});
    let (items, outcome) = run(&reg, "typed-users", input, JobLimits::default()).await;
    assert_eq!(outcome, Ok(4));
    assert_eq!(items[2], "3:B:b@x");
    let a = reg.execute("users-a", "getUser", &json!({"id": 3})).await.unwrap();
    let b = reg.execute("users-b", "getUser", &json!({"id": 3})).await.unwrap();
    assert_eq!((a["name"].as_str(), b["name"].as_str()), (Some("A"), Some("B")));
    let bad = json!({"$bind": {"example:users/users@1.0.0": "hello-world"}});
    let (_, outcome) = run(&reg, "typed-users", bad, JobLimits::default()).await;
    match outcome {
        Err(JobError::Rejected(LoadError::UnsatisfiedImport { reason, .. })) => assert!(reason.contains("no compatible interface"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn askers_of_one_new_job_at_the_same_time_share_one_compile() {
    let runtime = common::own_runtime(16);
    let reg = regcenter::ServiceRegistry::new(runtime.clone());
    let bytes: Arc<[u8]> = common::unique(&plugin("emit-flood")).into();
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (reg, bytes) = (reg.clone(), bytes.clone());
            tokio::spawn(async move { reg.runtime().prepare_job(&bytes, &reg.lookup()).await })
        })
        .collect();
    let mut prepared = Vec::new();
    for ask in asks {
        let job = ask.await.unwrap().expect("prepared");
        assert_eq!(job.sha256, regcenter::runtime::sha256(&bytes));
        prepared.push(job);
    }
    assert_eq!(runtime.job_compiles(), 1, "eight askers, one compile");
    let job = prepared.pop().unwrap();
    let (items, _, outcome) = runtime.start_job(job, json!({"count": 2}).to_string(), JobLimits::default(), reg.lookup()).collect().await;
    assert_eq!((items.len(), outcome), (2, Ok(2)));

    // A failure is not shared as a result: each asker of a bad module tries
    // in turn and gets the error.
    let before = runtime.job_compiles();
    let bad: Arc<[u8]> = Arc::from(&b"not WebAssembly at all"[..]);
    let asks: Vec<_> = (0..3)
        .map(|_| {
            let (reg, bad) = (reg.clone(), bad.clone());
            tokio::spawn(async move { reg.runtime().prepare_job(&bad, &reg.lookup()).await })
        })
        .collect();
    for ask in asks {
        let err = match ask.await.unwrap() {
            Ok(_) => panic!("a bad module prepared"),
            Err(e) => e,
        };
        assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
    }
    assert_eq!(runtime.job_compiles() - before, 3);
}

#[tokio::test]
async fn a_cold_job_runs_on_baseline_code_until_its_optimized_code_is_ready() {
    let reg = registry_with(&["hello-world"]).await;
    let (runtime, lookup) = (reg.runtime().clone(), reg.lookup());
    // Unique bytes: other tests on this shared runtime run greet too, and
    // may have had it upgraded already.
    let bytes = common::unique(&plugin("greet"));
    let sha = regcenter::runtime::sha256(&bytes);
    let input = json!({"name": "Tier"}).to_string();
    let run_prepared = |job| {
        let running = runtime.start_job(job, input.clone(), JobLimits::default(), lookup.clone());
        async move {
            let (items, _, outcome) = running.collect().await;
            (items, outcome)
        }
    };

    let cold = runtime.prepare_job(&bytes, &lookup).await.expect("prepare");
    assert!(!cold.optimized, "a job seen for the first time runs on baseline code");
    let (baseline_items, outcome) = run_prepared(cold).await;
    assert_eq!(outcome, Ok(2));

    common::wait_optimized(&runtime, &sha).await;
    let warm = runtime.prepare_job(&bytes, &lookup).await.expect("prepare");
    assert!(warm.optimized, "after the background compile the job runs on optimized code");
    let (optimized_items, outcome) = run_prepared(warm).await;
    assert_eq!(outcome, Ok(2));
    let parse = |items: &[String]| -> Vec<Value> { items.iter().map(|i| serde_json::from_str(i).expect("json")).collect() };
    let (mut baseline, mut optimized) = (parse(&baseline_items), parse(&optimized_items));
    assert_eq!(baseline[1]["name"], "Tier");
    for items in [&mut baseline, &mut optimized] {
        items[1].as_object_mut().expect("a greeting record").remove("date"); // the clock moves on
    }
    assert_eq!(optimized[1], baseline[1], "both tiers compute the same greeting");
    for items in [&baseline, &optimized] {
        assert!(items[0].as_str().expect("a greeting").starts_with("Hello, world!"), "{items:?}");
    }
}

/// A job run inside the task awaiting its handle (the master's way).
async fn start_inline(reg: &regcenter::ServiceRegistry, job: &str) -> regcenter::RunningJob {
    let lookup = reg.lookup();
    let prepared = reg.runtime().prepare_job(&plugin(job), &lookup).await.unwrap();
    reg.runtime().start_job_inline(prepared, "{}".into(), JobLimits::default(), lookup)
}

#[tokio::test]
async fn an_inline_job_reads_more_input_than_its_inbox_holds_while_its_owner_only_sends() {
    let reg = registry_with(&[]).await;
    let mut job = start_inline(&reg, "duplex-echo").await;
    // More than the inbox (64) holds: sending must run the job, or it waits forever.
    let n = 100;
    tokio::time::timeout(Duration::from_secs(60), async {
        for i in 1..=n {
            job.send(json!({"i": i}).to_string()).await.unwrap();
        }
    })
    .await
    .expect("sending to an inline job drives it");
    job.close_input();
    let (items, _, outcome) = job.collect().await;
    assert_eq!(outcome, Ok(n));
    assert_eq!(serde_json::from_str::<Value>(&items[99]).unwrap(), json!({"echo": {"i": 100}, "n": 100}));
}

#[tokio::test]
async fn dropping_an_inline_job_mid_call_stops_it_and_leaves_the_service_intact() {
    let reg = registry_with(&["test-fixture"]).await;
    reg.execute("test-fixture", "addData", &json!({"key": "keep", "value": "me"})).await.unwrap();
    let mut job = start_inline(&reg, "ticker").await;
    assert!(matches!(job.next().await, Some(JobEvent::Item(_))));
    drop(job);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c1 = reg.execute("test-fixture", "counter", &Value::Null).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reg.execute("test-fixture", "counter", &Value::Null).await.unwrap(), c1, "the counter stopped growing");
    assert_eq!(reg.execute("test-fixture", "getData", &json!({"key": "keep"})).await.unwrap(), json!({"one": "me"}));
}

#[tokio::test]
async fn a_job_whose_handle_is_dropped_at_its_last_event_returns_its_pool_slot() {
    // Two slots: a Store kept past the job's last event (dropped once the
    // result is out) must still come back, or the third job cannot start.
    // Pooled (optimized) code from the start: baseline code is not pooled.
    let engine = regcenter::runtime::engine::EngineConfig { cache_dir: Some(common::cache_dir()), job_slots: 2, baseline_jobs: false, ..Default::default() };
    let runtime = regcenter::Runtime::new(regcenter::RuntimeConfig { engine, ..Default::default() }).expect("runtime");
    let reg = regcenter::ServiceRegistry::new(runtime);
    reg.register("hello-world", plugin("hello-world"), ServiceOptions::default()).await.unwrap();
    let lookup = reg.lookup();
    let prepared = reg.runtime().prepare_job(&plugin("greet"), &lookup).await.unwrap();
    for round in 0..20 {
        // As the master does: read to the last event, then drop the handle.
        let mut job = reg.runtime().start_job_inline(prepared.clone(), r#"{"name":"x"}"#.into(), JobLimits::default(), lookup.clone());
        let last = loop {
            match job.next().await {
                Some(JobEvent::Done { items }) => break Ok(items),
                Some(JobEvent::Failed(e)) => break Err(e),
                Some(_) => {}
                None => panic!("round {round}: no last event"),
            }
        };
        assert_eq!(last, Ok(2), "round {round}");
        drop(job);
    }
}

#[tokio::test]
async fn a_job_whose_last_event_was_taken_without_waiting_drops_its_store_with_its_handle() {
    // The master reads a short job's first event with `next` and the rest,
    // its done included, with `try_next`. Dropping the handle then must drop
    // the Store at once, not in a task queued behind every other: the Store
    // holds a clone of the lookup, so the count shows where it is.
    let reg = registry_with(&["hello-world"]).await;
    let lookup = reg.lookup();
    let prepared = reg.runtime().prepare_job(&plugin("greet"), &lookup).await.unwrap();
    let before = Arc::strong_count(&lookup);
    let mut job = reg.runtime().start_job_inline(prepared, r#"{"name":"x"}"#.into(), JobLimits::default(), lookup.clone());
    let first = job.next().await;
    assert!(matches!(first, Some(JobEvent::Log(..))), "greet logs first: {first:?}");
    let mut rest = Vec::new();
    while let Some(ev) = job.try_next() {
        rest.push(ev);
    }
    assert!(matches!(rest.as_slice(), [JobEvent::Item(_), JobEvent::Item(_), JobEvent::Done { items: 2 }]), "{rest:?}");
    assert!(Arc::strong_count(&lookup) > before, "the Store is alive until the handle goes");
    drop(job);
    assert_eq!(Arc::strong_count(&lookup), before, "the Store went with the handle");
}

/// Counts wake-ups of the task it stands for.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn reading_an_inline_job_does_not_wake_its_own_task() {
    // The run's sends happen inside the owner's poll; a waker registered on
    // the event channel would be woken by them, and tokio would re-queue the
    // owner and wake another worker for every such event.
    let reg = registry_with(&["hello-world"]).await;
    let lookup = reg.lookup();
    let prepared = reg.runtime().prepare_job(&plugin("greet"), &lookup).await.unwrap();
    let counter = Arc::new(CountingWaker(Default::default()));
    let waker = std::task::Waker::from(counter.clone());
    let runs = 20;
    for _ in 0..runs {
        let job = reg.runtime().start_job_inline(prepared.clone(), r#"{"name":"x"}"#.into(), JobLimits::default(), lookup.clone());
        let mut collect = std::pin::pin!(job.collect());
        let (items, _, outcome) = loop {
            match std::future::Future::poll(collect.as_mut(), &mut std::task::Context::from_waker(&waker)) {
                std::task::Poll::Ready(r) => break r,
                std::task::Poll::Pending => tokio::task::yield_now().await,
            }
        };
        assert_eq!((items.len(), outcome), (2, Ok(2)));
    }
    // A reader woken by the channel is woken at least twice per run. An
    // epoch tick may make a run yield once (wasmtime wakes itself then), so
    // the bound is below one per run, not zero.
    let wakes = counter.0.load(std::sync::atomic::Ordering::Relaxed);
    assert!(wakes < runs, "{wakes} wake-ups in {runs} runs");
}
