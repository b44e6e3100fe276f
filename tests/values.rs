//! JSON <-> component values for every WIT type, through the real
//! `echo-types` component, and the mismatch errors (path + expected type).

mod common;

use regcenter::{CallError, ServiceRegistry};
use serde_json::{json, Value};

async fn echo() -> ServiceRegistry {
    common::registry_with(&["echo-types"]).await
}

async fn roundtrip(reg: &ServiceRegistry, method: &str, v: Value) -> Value {
    reg.execute("echo-types", method, &json!({ "v": v })).await.unwrap_or_else(|e| panic!("{method}({v}): {e}"))
}

#[tokio::test]
async fn every_type_round_trips() {
    let reg = echo().await;
    let cases: Vec<(&str, Value)> = vec![
        ("echo-bool", json!(true)),
        ("echo-s8", json!(-128)),
        ("echo-u8", json!(255)),
        ("echo-s16", json!(-32768)),
        ("echo-u16", json!(65535)),
        ("echo-s32", json!(-2147483648i64)),
        ("echo-u32", json!(4294967295u64)),
        ("echo-s64", json!(i64::MIN)),
        ("echo-u64", json!(u64::MAX)),
        ("echo-f32", json!(1.5)),
        ("echo-f64", json!(-2.25e-10)),
        ("echo-char", json!("é")),
        ("echo-string", json!("hello \u{1F600} \"quoted\"")),
        ("echo-list", json!([1, 2, 3])),
        ("echo-list", json!([])),
        ("echo-tuple", json!(["a", 7, false])),
        ("echo-record", json!({"x": -1, "y": 2})),
        ("echo-nested", json!({"name": "n", "points": [{"x": 1, "y": 2}], "tag": "t"})),
        ("echo-nested", json!({"name": "n", "points": [], "tag": null})),
        ("echo-variant", json!({"circle": 2.5})),
        ("echo-variant", json!({"rect": [1.5, 2.5]})),
        ("echo-variant", json!({"empty": null})),
        ("echo-enum", json!("green")),
        ("echo-option", json!(null)),
        ("echo-option", json!(42)),
        ("echo-option-option", json!(null)),
        ("echo-option-option", json!({"some": null})),
        ("echo-option-option", json!({"some": 5})),
        ("echo-results", json!([{"ok": "fine"}, {"err": 7}])),
        ("echo-flags", json!(["read", "exec"])),
        ("echo-flags", json!([])),
        ("echo-deep", json!([[{"x": 1, "y": 1}, null], [], [null]])),
    ];
    for (method, v) in cases {
        assert_eq!(roundtrip(&reg, method, v.clone()).await, v, "{method}");
    }
}

#[tokio::test]
async fn lenient_inputs_normalise_on_output() {
    let reg = echo().await;
    // camelCase / snake_case record fields, bare variant case, integral floats.
    assert_eq!(roundtrip(&reg, "echo-nested", json!({"Name": "n", "points": []})).await, json!({"name": "n", "points": [], "tag": null}));
    assert_eq!(roundtrip(&reg, "echo-variant", json!("empty")).await, json!({"empty": null}));
    assert_eq!(roundtrip(&reg, "echo-u8", json!(7.0)).await, json!(7));
    assert_eq!(roundtrip(&reg, "echo-option-option", json!(5)).await, json!({"some": 5}));
    assert_eq!(roundtrip(&reg, "echo-flags", json!(["read", "read"])).await, json!(["read"]));
}

#[tokio::test]
async fn special_floats_travel_as_strings() {
    let reg = echo().await;
    for s in ["NaN", "inf", "-inf"] {
        assert_eq!(roundtrip(&reg, "echo-f64", json!(s)).await, json!(s));
        assert_eq!(roundtrip(&reg, "echo-f32", json!(s)).await, json!(s));
    }
}

#[tokio::test]
async fn a_returned_err_is_a_service_error_with_its_payload() {
    let reg = echo().await;
    assert_eq!(roundtrip(&reg, "echo-result", json!({"ok": "yes"})).await, json!("yes"));
    let err = reg.execute("echo-types", "echo-result", &json!({"v": {"err": 404}})).await.unwrap_err();
    assert_eq!(err, CallError::ServiceError { payload: json!(404) });
    assert_eq!(roundtrip(&reg, "echo-result-empty", json!({"ok": null})).await, Value::Null);
    let err = reg.execute("echo-types", "echo-result-empty", &json!({"v": {"err": null}})).await.unwrap_err();
    assert_eq!(err, CallError::ServiceError { payload: Value::Null });
}

#[tokio::test]
async fn several_parameters_by_name_or_position() {
    let reg = echo().await;
    let named = reg.execute("echo-types", "echoMany", &json!({"a": 1, "b": "x", "c": "blue"})).await.unwrap();
    assert_eq!(named, json!([1, "x", "blue"]));
    let positional = reg.execute("echo-types", "echoMany", &json!([2, "y"])).await.unwrap();
    assert_eq!(positional, json!([2, "y", null]));
    let err = reg.execute("echo-types", "echoMany", &json!([1, "x", null, 4])).await.unwrap_err();
    assert!(err.to_string().contains("4 arguments given, the method takes 3"), "{err}");
}

#[tokio::test]
async fn mismatches_name_the_path_and_the_expected_type() {
    let reg = echo().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("echo-u8", json!(256), "at $.v: expected u8, found number 256 (out of range)"),
        ("echo-s8", json!(-129), "at $.v: expected s8, found number -129 (out of range)"),
        ("echo-u32", json!(-1), "at $.v: expected u32, found number -1 (out of range)"),
        ("echo-u64", json!(1.5), "at $.v: expected u64, found number 1.5 (not an integer)"),
        ("echo-bool", json!("true"), "at $.v: expected bool, found string \"true\""),
        ("echo-char", json!("ab"), "at $.v: expected char, found string \"ab\""),
        ("echo-string", json!(5), "at $.v: expected string, found number 5"),
        ("echo-list", json!([1, "two"]), "at $.v[1]: expected u32, found string \"two\""),
        ("echo-tuple", json!(["a", 1]), "at $.v: expected a 3-element array"),
        ("echo-record", json!({"x": 1}), "at $.v: missing field 'y' (expected s32)"),
        ("echo-record", json!({"x": 1, "y": 2, "z": 3}), "at $.v: unknown field 'z' (fields: x, y)"),
        ("echo-nested", json!({"name": "n", "points": [{"x": 1, "y": "no"}]}), "at $.v.points[0].y: expected s32"),
        ("echo-variant", json!({"triangle": 1}), "at $.v: unknown case 'triangle'"),
        ("echo-variant", json!({"circle": null}), "at $.v.circle: expected f64, found null"),
        ("echo-enum", json!("purple"), "at $.v: expected enum { red, green, blue }, found string \"purple\""),
        ("echo-option", json!("x"), "at $.v: expected u32"),
        ("echo-results", json!([{"maybe": 1}]), "at $.v[0]: expected result<string, u32>"),
        ("echo-flags", json!(["fly"]), "at $.v[0]: expected a flag of flags { read, write, exec }"),
        ("echo-deep", json!([[{"x": 1}]]), "at $.v[0][0]: missing field 'y'"),
    ];
    for (method, v, expected) in cases {
        let err = reg.execute("echo-types", method, &json!({ "v": v })).await.unwrap_err();
        assert!(matches!(err, CallError::InvalidArgs { .. }), "{method}: {err}");
        assert!(err.to_string().contains(expected), "{method}({v}): got `{err}`, want `{expected}`");
    }
}

#[tokio::test]
async fn json_nested_deeper_than_the_type_is_refused() {
    let reg = echo().await;
    let mut v = json!(1);
    for _ in 0..200 {
        v = json!([v]);
    }
    let err = reg.execute("echo-types", "echo-deep", &json!({ "v": v })).await.unwrap_err();
    assert!(err.to_string().contains("at $.v"), "{err}");
}
