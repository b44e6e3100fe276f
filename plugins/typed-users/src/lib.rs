//! A job that imports the users interface itself: the master links the
//! import to a service exporting a compatible `example:users/users@1.x`.
//! Creates a user from the input's `name`/`email` (if given), then emits
//! each user as `id:name:email`.

wit_bindgen::generate!({
    inline: "
        package local:typed-users;
        world typed-users {
            include regcenter:job/job@0.1.0;
            import example:users/users@1.0.0;
        }
    ",
    path: "../../wit",
    generate_all,
});

use example::users::users;
use regcenter::job::channel::emit;

struct TypedUsers;

fn field<'a>(input: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\"");
    input.split(pat.as_str()).nth(1)?.split('"').nth(1)
}

impl Guest for TypedUsers {
    fn run(input: String) -> Result<(), String> {
        if let (Some(name), Some(email)) = (field(&input, "name"), field(&input, "email")) {
            users::create_user(name, email);
        }
        for u in users::get_all_users() {
            emit(&format!("\"{}:{}:{}\"", u.id, u.name, u.email))?;
        }
        match users::update_user(999, &users::UserPatch { name: None, email: None }) {
            Err(e) => emit(&format!("\"update 999: {e}\"")),
            Ok(_) => Err("update of user 999 should have failed".into()),
        }
    }
}

export!(TypedUsers);
