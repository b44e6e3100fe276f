//! The seed's `hello-world` service, exporting `example:hello/greeter@1.0.0`.

wit_bindgen::generate!({
    inline: "
        package local:hello-world;
        world hello-world {
            export example:hello/greeter@1.0.0;
        }
    ",
    path: "../../wit",
});

use exports::example::hello::greeter::{Greeting, Guest};

struct HelloWorld;

impl Guest for HelloWorld {
    fn say_hello() -> String {
        format!("Hello, world! {}\n", guest_util::utc_now())
    }

    fn say_hello2(name: String) -> Greeting {
        Greeting {
            date: guest_util::utc_now(),
            name,
            version: "1.0.0".into(),
            description: "Hello, world!".into(),
            author: "ReactPHP X".into(),
            email: "support@reactphp-x.com".into(),
            url: "https://github.com/reactphp-x".into(),
            license: "MIT".into(),
        }
    }
}

export!(HelloWorld);
