//! Ends with an error: the input string (a JSON string) is the message.

struct Fail;

impl Guest for Fail {
    fn run(input: String) -> Result<(), String> {
        Err(input.trim_matches('"').to_string())
    }
}

job_sdk::job!(Fail);
