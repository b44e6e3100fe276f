//! The lean jobs' JSON reader (`plugins/job-sdk/src/json.rs`), compiled for
//! the host so that its unit tests run with the host's test suite (the
//! plugins workspace builds for wasm32-wasip2, where tests do not run).

extern crate alloc;

#[path = "../plugins/job-sdk/src/json.rs"]
mod json;

use json::Object;
use serde_json::Value;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// JSON-like text: mostly valid, with the tricky tokens of the grammar.
fn text(rng: &mut Rng, depth: usize, out: &mut String) {
    let scalars = [
        "0", "-0", "12", "-7", "1.5", "2e10", "-3.25E-2", "18446744073709551615", "18446744073709551616", "01", "1.", "-", "true",
        "false", "null", "tru", "\"\"", "\"a b\"", "\"\\u00e9\\n\\\"\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\x\"", "\"é😀\"",
    ];
    match if depth > 4 { 2 } else { rng.below(3) } {
        0 => {
            out.push('{');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(&[" ", "", "\n"]));
                out.push_str(rng.pick(&["\"a\"", "\"b\"", "\"a\\u0062\"", "\"\"", "\"count\""]));
                out.push_str(rng.pick(&[":", " : "]));
                text(rng, depth + 1, out);
            }
            out.push('}');
        }
        1 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                text(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => out.push_str(rng.pick(&scalars)),
    }
}

/// Deletes, duplicates or inserts one character.
fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut out: Vec<char> = s.chars().collect();
    let i = rng.below(out.len() + 1);
    match rng.below(3) {
        0 if i < out.len() => {
            out.remove(i);
        }
        1 if i < out.len() => out.insert(i, out[i]),
        _ => out.insert(i, rng.pick(&["{", "}", "[", "]", ",", ":", "\"", "\\", " ", "1", "\u{1}"]).chars().next().unwrap_or(' ')),
    }
    out.into_iter().collect()
}

#[test]
fn the_reader_agrees_with_serde_json_on_generated_and_mutated_text() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut objects, mut refused) = (0, 0);
    for case in 0..20_000 {
        let mut s = String::new();
        text(&mut rng, 0, &mut s);
        if case % 2 == 1 {
            s = mutate(&mut rng, &s);
        }
        let ours = Object::parse(&s);
        let serde = serde_json::from_str::<Value>(&s).ok().filter(Value::is_object);
        match (&ours, &serde) {
            (Ok(o), Some(Value::Object(map))) => {
                objects += 1;
                for (k, v) in map {
                    let raw = o.raw(k).unwrap_or_else(|| panic!("{s:?}: field {k:?} missing"));
                    assert_eq!(&serde_json::from_str::<Value>(raw).expect("raw value is JSON"), v, "{s:?}: field {k:?}");
                    assert_eq!(o.str(k).as_deref(), v.as_str(), "{s:?}: field {k:?} as a string");
                    assert_eq!(o.u64(k), v.as_u64(), "{s:?}: field {k:?} as a count");
                }
            }
            (Err(_), None) => refused += 1,
            _ => panic!("{s:?}: ours {ours:?}, serde_json {serde:?}"),
        }
    }
    // Both kinds of case occurred often enough to mean something.
    assert!(objects > 1_000 && refused > 1_000, "{objects} objects, {refused} refused");
}
