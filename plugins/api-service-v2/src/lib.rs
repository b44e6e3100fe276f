//! The seed's `api-service` at version 2.0.0 (`example:api/api@2.0.0`).

wit_bindgen::generate!({
    inline: "
        package local:api-service-v2;
        world api-service { export example:api/api@2.0.0; }
    ",
    path: "../../wit",
});

use exports::example::api2_0_0::api::{Data, Guest, Item, Meta};

struct ApiV2;

impl Guest for ApiV2 {
    fn get_data() -> Data {
        Data {
            version: "2.0.0".into(),
            data: Item { id: 1, name: "new format".into() },
            metadata: Meta { timestamp: guest_util::unix_now() },
        }
    }
}

export!(ApiV2);
