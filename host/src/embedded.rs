//! Components embedded in the binary at build time (from `target/plugins`),
//! so `regcenter demo` and `regcenter call` need no files.

macro_rules! plugin {
    ($file:literal) => {
        include_bytes!(concat!(env!("REGCENTER_PLUGIN_DIR"), "/", $file))
    };
}

/// The seed's services, by registered name.
pub const SERVICES: [(&str, &[u8]); 4] = [
    ("hello-world", plugin!("hello_world.wasm")),
    ("user-service", plugin!("user_service.wasm")),
    ("async-service", plugin!("async_service.wasm")),
    ("product-service", plugin!("product_service.wasm")),
];

/// The demo's job: `sayHello` then `sayHello2`.
pub const GREET: &[u8] = plugin!("greet.wasm");

/// The built-in job behind `regcenter call`: one dynamic service call.
pub const CALL_SERVICE: &[u8] = plugin!("call_service.wasm");
