//! The seed's ServiceRegistryTest, against the real plugin components, plus
//! the registry's own rules (versions, metadata, aliases, cycles, recovery).

mod common;

use common::{plugin, registry, registry_with, utc_today};
use regcenter::{CallError, RegistryError, ServiceOptions};
use serde_json::{json, Value};

#[tokio::test]
async fn has_reports_registered_and_unknown_services() {
    let reg = registry_with(&["hello-world"]).await;
    assert!(reg.has("hello-world"));
    assert!(reg.has("hello-world@1.0.0"));
    assert!(!reg.has("unknown-service"));
    assert!(!reg.has("hello-world@9.0.0"));
}

#[tokio::test]
async fn say_hello_contains_greeting_and_todays_utc_date() {
    let reg = registry_with(&["hello-world"]).await;
    let out = reg.execute("hello-world", "sayHello", &Value::Null).await.unwrap();
    let text = out.as_str().expect("a string");
    assert!(text.contains("Hello, world!"), "{text}");
    assert!(text.contains(&utc_today()), "{text} lacks {}", utc_today());
}

#[tokio::test]
async fn say_hello2_returns_the_seed_fields() {
    let reg = registry_with(&["hello-world"]).await;
    let out = reg.execute("hello-world", "sayHello2", &json!({"name": "John Doe"})).await.unwrap();
    assert_eq!(out["name"], "John Doe");
    assert_eq!(out["version"], "1.0.0");
    assert_eq!(out["description"], "Hello, world!");
    assert_eq!(out["author"], "ReactPHP X");
    assert_eq!(out["email"], "support@reactphp-x.com");
    assert_eq!(out["url"], "https://github.com/reactphp-x");
    assert_eq!(out["license"], "MIT");
    assert!(out["date"].as_str().unwrap().starts_with(&utc_today()));
}

#[tokio::test]
async fn method_names_accept_kebab_camel_snake_and_interface_paths() {
    let reg = registry_with(&["hello-world"]).await;
    for m in ["say-hello2", "sayHello2", "say_hello2", "greeter/say-hello2", "example:hello/greeter/sayHello2"] {
        let out = reg.execute("hello-world", m, &json!({"name": "A"})).await.unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_eq!(out["name"], "A", "{m}");
    }
    let positional = reg.execute("hello-world", "sayHello2", &json!(["B"])).await.unwrap();
    assert_eq!(positional["name"], "B");
}

#[tokio::test]
async fn process_data_reports_count_and_timestamp() {
    let reg = registry_with(&["test-fixture"]).await;
    let out = reg.execute("test-fixture", "processData", &json!({"data": ["a", "b", "c"]})).await.unwrap();
    assert_eq!(out["processed"], true);
    assert_eq!(out["data"], json!(["a", "b", "c"]));
    assert_eq!(out["count"], 3);
    assert!(out["timestamp"].as_u64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn unknown_service_and_method_have_the_seed_messages() {
    let reg = registry_with(&["test-fixture"]).await;
    let err = reg.execute("nope", "x", &Value::Null).await.unwrap_err();
    assert_eq!(err.to_string(), "Service 'nope' not found");
    let err = reg.execute("test-fixture", "nonExistentMethod", &Value::Null).await.unwrap_err();
    assert!(matches!(err, CallError::MethodNotFound { .. }));
    assert_eq!(err.to_string(), "Method 'nonExistentMethod' not found in service 'test-fixture'");
}

#[tokio::test]
async fn multiple_params_defaults_the_optional_parameter() {
    let reg = registry_with(&["test-fixture"]).await;
    let out = reg.execute("test-fixture", "multipleParams", &json!({"a": 10, "b": 20})).await.unwrap();
    assert_eq!(out["sum"], 30);
    assert_eq!(out["c"], "default");
    let out = reg.execute("test-fixture", "multipleParams", &json!({"a": 5, "b": 15, "c": "custom"})).await.unwrap();
    assert_eq!(out["sum"], 20);
    assert_eq!(out["c"], "custom");
}

#[tokio::test]
async fn missing_and_unknown_parameters_are_named() {
    let reg = registry_with(&["test-fixture"]).await;
    let err = reg.execute("test-fixture", "multipleParams", &json!({"a": 1})).await.unwrap_err();
    assert!(matches!(err, CallError::InvalidArgs { .. }));
    assert!(err.to_string().contains("missing parameter 'b'"), "{err}");
    let err = reg.execute("test-fixture", "multipleParams", &json!({"a": 1, "b": 2, "zz": 3})).await.unwrap_err();
    assert!(err.to_string().contains("unknown parameter 'zz'"), "{err}");
    let err = reg.execute("test-fixture", "multipleParams", &json!({"a": "x", "b": 2})).await.unwrap_err();
    assert!(err.to_string().contains("at $.a: expected s64, found string \"x\""), "{err}");
}

#[tokio::test]
async fn all_counts_every_registered_service() {
    let reg = registry_with(&["hello-world", "user-service", "test-fixture"]).await;
    let all = reg.all();
    assert_eq!(all.len(), 3);
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hello-world", "user-service", "test-fixture"]);
    assert_eq!(all[0].interfaces, ["example:hello/greeter@1.0.0"]);
}

#[tokio::test]
async fn registering_the_same_name_and_version_replaces_the_entry() {
    let reg = registry();
    let v1 = ServiceOptions { version: Some("1.0.0".into()), ..ServiceOptions::default() };
    reg.register("svc", plugin("test-fixture"), v1.clone()).await.unwrap();
    assert!(reg.execute("svc", "processData", &json!({"data": []})).await.is_ok());
    reg.register("svc", plugin("hello-world"), v1).await.unwrap();
    assert_eq!(reg.all().len(), 1);
    assert!(reg.execute("svc", "sayHello", &Value::Null).await.is_ok());
    let err = reg.execute("svc", "processData", &json!({"data": []})).await.unwrap_err();
    assert!(matches!(err, CallError::MethodNotFound { .. }), "{err}");
}

#[tokio::test]
async fn stateful_service_keeps_data_between_calls() {
    let reg = registry_with(&["test-fixture"]).await;
    reg.execute("test-fixture", "addData", &json!({"key": "k1", "value": "v1"})).await.unwrap();
    reg.execute("test-fixture", "addData", &json!({"key": "k2", "value": "value2"})).await.unwrap();
    let one = reg.execute("test-fixture", "getData", &json!({"key": "k1"})).await.unwrap();
    assert_eq!(one, json!({"one": "v1"}));
    let all = reg.execute("test-fixture", "getData", &json!({})).await.unwrap();
    assert_eq!(all, json!({"all": [["k1", "v1"], ["k2", "value2"]]}));
    let stats = reg.execute("test-fixture", "getStats", &Value::Null).await.unwrap();
    assert_eq!(stats, json!({"count": 2, "keys": ["k1", "k2"], "memory": 12}));
    reg.execute("test-fixture", "clearData", &Value::Null).await.unwrap();
    let stats = reg.execute("test-fixture", "getStats", &Value::Null).await.unwrap();
    assert_eq!(stats["count"], 0);
}

#[tokio::test]
async fn versioned_services_pick_exact_or_newest() {
    let reg = registry();
    reg.register("api-service", plugin("api-service-v1"), ServiceOptions::default()).await.unwrap();
    reg.register("api-service", plugin("api-service-v2"), ServiceOptions::default()).await.unwrap();
    assert_eq!(reg.all().len(), 2);
    let old = reg.execute("api-service@1.0.0", "getData", &Value::Null).await.unwrap();
    assert_eq!(old, json!({"version": "1.0.0", "data": "old format"}));
    let new = reg.execute("api-service@2.0.0", "getData", &Value::Null).await.unwrap();
    assert_eq!(new["version"], "2.0.0");
    assert_eq!(new["data"], json!({"id": 1, "name": "new format"}));
    let default = reg.execute("api-service", "getData", &Value::Null).await.unwrap();
    assert_eq!(default["version"], "2.0.0");
    assert!(reg.remove("api-service@2.0.0"));
    let default = reg.execute("api-service", "getData", &Value::Null).await.unwrap();
    assert_eq!(default["version"], "1.0.0");
}

#[tokio::test]
async fn metadata_can_be_set_and_queried() {
    let reg = registry();
    let opts = ServiceOptions::with_metadata([("team", "core"), ("region", "eu")]);
    reg.register("hello-world", plugin("hello-world"), opts).await.unwrap();
    reg.register("user-service", plugin("user-service"), ServiceOptions::default()).await.unwrap();
    assert_eq!(reg.find_by_metadata("team", "core").len(), 1);
    reg.set_metadata("user-service", "team", "core").unwrap();
    let names: Vec<String> = reg.find_by_metadata("team", "core").into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["hello-world", "user-service"]);
    assert_eq!(reg.get("hello-world").unwrap().metadata["region"], "eu");
    assert_eq!(reg.set_metadata("ghost", "a", "b"), Err(RegistryError::NotFound("ghost".into())));
    assert_eq!(reg.find_by_interface("example:users/users@1.0.0")[0].name, "user-service");
}

#[tokio::test]
async fn remove_unregisters() {
    let reg = registry_with(&["hello-world"]).await;
    assert!(reg.remove("hello-world"));
    assert!(!reg.has("hello-world"));
    assert!(!reg.remove("hello-world"));
}

#[tokio::test]
async fn service_errors_carry_their_payload() {
    let reg = registry_with(&["user-service", "product-service"]).await;
    let err = reg.execute("user-service", "updateUser", &json!({"id": 999, "data": {"name": "X"}})).await.unwrap_err();
    assert_eq!(err, CallError::ServiceError { payload: json!("User not found") });
    assert_eq!(err.to_string(), "User not found");
    let err = reg.execute("product-service", "updateProduct", &json!({"id": 0, "data": {}})).await.unwrap_err();
    assert_eq!(err.to_string(), "Invalid product ID");
    let ok = reg.execute("product-service", "activateProduct", &json!({"id": 3})).await.unwrap();
    assert_eq!(ok["status"], "active");
    let user = reg.execute("user-service", "createUser", &json!({"name": "Carol", "email": "c@x"})).await.unwrap();
    assert_eq!(user["id"], 3);
    let updated = reg.execute("user-service", "updateUser", &json!({"id": 3, "data": {"email": "carol@x"}})).await.unwrap();
    assert_eq!(updated, json!({"id": 3, "name": "Carol", "email": "carol@x"}));
}

#[tokio::test]
async fn async_service_uppercases_task_data() {
    let reg = registry_with(&["async-service"]).await;
    let out = reg.execute("async-service", "processTask", &json!({"taskId": "t1", "data": ["a", "bc"]})).await.unwrap();
    assert_eq!(out["task-id"], "t1");
    assert_eq!(out["result"], json!(["A", "BC"]));
    assert!(out["processing-time"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn a_call_cycle_between_services_is_refused() {
    let reg = registry();
    reg.register("fixture-a", plugin("test-fixture"), ServiceOptions::default()).await.unwrap();
    reg.register("fixture-b", plugin("test-fixture"), ServiceOptions::default()).await.unwrap();
    // a.forward -> b.forward -> a.tick: a is still busy in the outer call.
    let inner = json!({"service": "fixture-a", "method": "tick", "args": "{}"}).to_string();
    let outer = json!({"service": "fixture-b", "method": "forward", "args": inner});
    let out = reg.execute("fixture-a", "forward", &outer).await.unwrap_err();
    let text = out.to_string();
    assert!(text.contains("call cycle fixture-a -> fixture-b -> fixture-a"), "{text}");
    // Both still serve afterwards.
    assert_eq!(reg.execute("fixture-a", "tick", &Value::Null).await.unwrap(), json!(1));
    let ok = reg.execute("fixture-a", "forward", &json!({"service": "fixture-b", "method": "tick", "args": ""})).await.unwrap();
    assert_eq!(ok, json!("1"));
}

#[tokio::test]
async fn a_trapped_instance_is_recreated_and_keeps_serving() {
    let reg = registry_with(&["test-fixture"]).await;
    reg.execute("test-fixture", "addData", &json!({"key": "k", "value": "v"})).await.unwrap();
    let err = reg.execute("test-fixture", "crash", &Value::Null).await.unwrap_err();
    assert!(matches!(err, CallError::Trapped { .. }), "{err}");
    assert!(err.to_string().contains("state was lost"), "{err}");
    let stats = reg.execute("test-fixture", "getStats", &Value::Null).await.unwrap();
    assert_eq!(stats["count"], 0, "fresh instance");
    assert_eq!(reg.execute("test-fixture", "tick", &Value::Null).await.unwrap(), json!(1));
}

#[tokio::test]
async fn invalid_names_versions_and_components_are_refused() {
    let reg = registry();
    let bad = reg.register("no spaces", plugin("hello-world"), ServiceOptions::default()).await.unwrap_err();
    assert!(matches!(bad, RegistryError::InvalidName(_)));
    let opts = ServiceOptions { version: Some("one".into()), ..ServiceOptions::default() };
    let bad = reg.register("x", plugin("hello-world"), opts).await.unwrap_err();
    assert!(bad.to_string().contains("invalid version 'one'"), "{bad}");
    let bad = reg.register("x", b"not wasm".to_vec(), ServiceOptions::default()).await.unwrap_err();
    assert!(bad.to_string().contains("invalid WebAssembly"), "{bad}");
    let bad = reg.register("x", plugin("greet"), ServiceOptions::default()).await.unwrap_err();
    assert!(bad.to_string().contains("unsatisfied import"), "{bad}");
}

#[tokio::test]
async fn a_stateless_pool_round_robins_over_instances() {
    let reg = registry();
    let opts = ServiceOptions { instances: 3, ..ServiceOptions::default() };
    reg.register("pool", plugin("test-fixture"), opts).await.unwrap();
    assert_eq!(reg.get("pool").unwrap().instances, 3);
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(reg.execute("pool", "tick", &Value::Null).await.unwrap().as_u64().unwrap());
    }
    // Each of the three instances counts on its own: 1,1,1,2,2,2.
    assert_eq!(seen, [1, 1, 1, 2, 2, 2]);
}
