//! The seed's test fixture (`example:fixture/fixture@1.0.0`): data
//! processing, parameters with defaults, a stateful key/value store, plus a
//! `counter` tests read to see whether a cancelled job's calls stopped and a
//! `forward` that calls another service through the master.

wit_bindgen::generate!({
    inline: "
        package local:test-fixture;
        world test-fixture {
            import regcenter:job/services@0.1.0;
            export example:fixture/fixture@1.0.0;
        }
    ",
    path: "../../wit",
    generate_all,
});

use exports::example::fixture::fixture::{DataView, Guest, ParamsResult, Processed, Stats};
use regcenter::job::services::call;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

thread_local! {
    static DATA: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

struct Fixture;

impl Guest for Fixture {
    fn process_data(data: Vec<String>) -> Processed {
        Processed { processed: true, count: data.len() as u32, data, timestamp: guest_util::unix_now() }
    }

    fn multiple_params(a: i64, b: i64, c: Option<String>) -> ParamsResult {
        ParamsResult { a, b, c: c.unwrap_or_else(|| "default".into()), sum: a + b }
    }

    fn add_data(key: String, value: String) {
        DATA.with(|d| d.borrow_mut().insert(key, value));
    }

    fn get_data(key: Option<String>) -> DataView {
        DATA.with(|d| {
            let d = d.borrow();
            match key {
                Some(k) => DataView::One(d.get(&k).cloned()),
                None => DataView::All(d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            }
        })
    }

    fn get_stats() -> Stats {
        DATA.with(|d| {
            let d = d.borrow();
            Stats {
                count: d.len() as u32,
                keys: d.keys().cloned().collect(),
                memory: d.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum(),
            }
        })
    }

    fn clear_data() {
        DATA.with(|d| d.borrow_mut().clear());
    }

    fn tick() -> u64 {
        COUNTER.with(|c| {
            c.set(c.get() + 1);
            c.get()
        })
    }

    fn counter() -> u64 {
        COUNTER.with(|c| c.get())
    }

    fn forward(service: String, method: String, args: String) -> Result<String, String> {
        call(&service, &method, &args).map_err(|e| format!("{e:?}"))
    }

    fn crash() {
        unreachable!("test-fixture crash requested")
    }
}

export!(Fixture);
