//! JSON -> component values against every parameter type of the `echo-types`
//! component (every WIT value type: records, variants, flags, nested
//! options, results, lists of lists…): any JSON text is accepted or refused
//! with a typed error, never a panic; an accepted value renders back to JSON
//! that is accepted again and renders the same (floats aside: NaN and
//! infinities have no JSON form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regcenter::runtime::exports::Exports;
use regcenter::runtime::values::{args_to_vals, from_val, to_val};
use std::sync::OnceLock;
use wasmtime::component::{Component, Type};

fn params() -> &'static Vec<Vec<(String, Type)>> {
    static P: OnceLock<Vec<Vec<(String, Type)>>> = OnceLock::new();
    P.get_or_init(|| {
        let path = std::env::var("REGCENTER_ECHO_TYPES")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/plugins/echo_types.wasm").to_string());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (build the host first)"));
        let engine = wasmtime::Engine::default();
        let component = Component::new(&engine, &bytes).expect("echo-types compiles");
        Exports::of(&component, &engine).funcs.into_iter().map(|f| f.params).collect()
    })
}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f.fract() != 0.0) || (!n.is_i64() && !n.is_u64()),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(text) else { return };
    let all = params();
    let params = &all[usize::from(pick) % all.len()];
    let Ok(vals) = args_to_vals(&json, params) else { return };
    for (val, (_, ty)) in vals.iter().zip(params) {
        let rendered = from_val(val);
        if has_float(&rendered) {
            continue;
        }
        let again = to_val(&rendered, ty).unwrap_or_else(|e| panic!("{rendered} was rendered from an accepted value but is refused: {e}"));
        assert_eq!(from_val(&again), rendered, "render, accept, render is stable");
    }
});
