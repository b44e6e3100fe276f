//! The seed's `user-service`, exporting `example:users/users@1.0.0`.
//! Users live in the instance's memory and persist between calls.

wit_bindgen::generate!({
    inline: "
        package local:user-service;
        world user-service { export example:users/users@1.0.0; }
    ",
    path: "../../wit",
});

use exports::example::users::users::{Guest, User, UserPatch};
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static USERS: RefCell<BTreeMap<u32, User>> = RefCell::new(seed_users());
}

fn seed_users() -> BTreeMap<u32, User> {
    let mut users = BTreeMap::new();
    for (id, name, email) in [(1, "Alice", "alice@example.com"), (2, "Bob", "bob@example.com")] {
        users.insert(id, User { id, name: name.into(), email: email.into() });
    }
    users
}

struct UserService;

impl Guest for UserService {
    fn get_user(id: u32) -> Option<User> {
        USERS.with(|u| u.borrow().get(&id).cloned())
    }

    fn get_all_users() -> Vec<User> {
        USERS.with(|u| u.borrow().values().cloned().collect())
    }

    fn create_user(name: String, email: String) -> User {
        USERS.with(|u| {
            let mut users = u.borrow_mut();
            let id = users.keys().next_back().copied().unwrap_or(0) + 1;
            let user = User { id, name, email };
            users.insert(id, user.clone());
            user
        })
    }

    fn update_user(id: u32, data: UserPatch) -> Result<User, String> {
        USERS.with(|u| {
            let mut users = u.borrow_mut();
            let user = users.get_mut(&id).ok_or_else(|| "User not found".to_string())?;
            if let Some(name) = data.name {
                user.name = name;
            }
            if let Some(email) = data.email {
                user.email = email;
            }
            Ok(user.clone())
        })
    }
}

export!(UserService);
