//! Emits the master's users (`user-service` `getAllUsers`) as one item.
//! Input may name the service: `{"service": "user-service"}`.

struct ListUsers;

impl Guest for ListUsers {
    fn run(input: String) -> Result<(), String> {
        let service = if input.contains("\"service\"") {
            input.split("\"service\"").nth(1).and_then(|s| s.split('"').nth(1)).unwrap_or("user-service")
        } else {
            "user-service"
        };
        job_sdk::emit(&job_sdk::call_or_describe(service, "getAllUsers", "{}")?)
    }
}

job_sdk::job!(ListUsers);
