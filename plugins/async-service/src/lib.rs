//! The seed's `async-service`, exporting `example:tasks/tasks@1.0.0`.

wit_bindgen::generate!({
    inline: "
        package local:async-service;
        world async-service { export example:tasks/tasks@1.0.0; }
    ",
    path: "../../wit",
});

use exports::example::tasks::tasks::{Guest, TaskResult};
use std::time::Instant;

struct AsyncService;

impl Guest for AsyncService {
    fn process_task(task_id: String, data: Vec<String>) -> TaskResult {
        let start = Instant::now();
        let result = data.iter().map(|s| s.to_uppercase()).collect();
        TaskResult {
            task_id,
            result,
            processing_time: start.elapsed().as_secs_f64(),
            timestamp: guest_util::unix_now(),
        }
    }
}

export!(AsyncService);
