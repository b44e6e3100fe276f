//! The seed's `api-service` at version 1.0.0 (`example:api/api@1.0.0`).

wit_bindgen::generate!({
    inline: "
        package local:api-service-v1;
        world api-service { export example:api/api@1.0.0; }
    ",
    path: "../../wit",
});

use exports::example::api1_0_0::api::{Data, Guest};

struct ApiV1;

impl Guest for ApiV1 {
    fn get_data() -> Data {
        Data { version: "1.0.0".into(), data: "old format".into() }
    }
}

export!(ApiV1);
