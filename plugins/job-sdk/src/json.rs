//! A job's JSON input read without serde: the whole text is validated as
//! JSON (RFC 8259, nesting bounded by [`MAX_DEPTH`]), and the top-level
//! fields of an object are kept as raw JSON text, to be decoded on demand
//! ([`Object::str`], [`Object::u64`]) or passed on as they are
//! ([`Object::raw`], e.g. a service call's arguments). Lean jobs use it in
//! place of `serde_json`, whose `std` feature (turned on by any other crate in
//! the same build) would pull `std` into them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// How deeply arrays and objects may nest.
pub const MAX_DEPTH: usize = 128;

/// Why a text is not what was expected, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What was wrong.
    pub what: &'static str,
    /// Byte offset in the text.
    pub at: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// The top-level fields of a JSON object, each value as raw JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<'a> {
    fields: Vec<(String, &'a str)>,
}

impl<'a> Object<'a> {
    /// Parses `text`, which must be one JSON object (surrounding whitespace
    /// allowed).
    pub fn parse(text: &'a str) -> Result<Self, Error> {
        let mut p = Parser { text, i: 0 };
        p.ws();
        if p.peek() != Some(b'{') {
            return Err(p.error(if p.peek().is_none() { "empty input" } else { "expected a JSON object" }));
        }
        let mut fields = Vec::new();
        p.object(0, Some(&mut fields))?;
        p.ws();
        if p.peek().is_some() {
            return Err(p.error("trailing characters after the object"));
        }
        Ok(Self { fields })
    }

    /// The raw JSON text of field `key` (the last one, if repeated).
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Field `key` if it is a string, decoded.
    pub fn str(&self, key: &str) -> Option<String> {
        let raw = self.raw(key).filter(|raw| raw.starts_with('"'))?;
        let mut out = String::new();
        Parser { text: raw, i: 0 }.string(Some(&mut out)).ok()?;
        Some(out)
    }

    /// Field `key` if it is a non-negative integer that fits in a `u64`.
    pub fn u64(&self, key: &str) -> Option<u64> {
        let raw = self.raw(key)?;
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok()
    }
}

/// A cursor over the text being validated.
struct Parser<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn error(&self, what: &'static str) -> Error {
        Error { what, at: self.i }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Error> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(if self.peek().is_none() { "unexpected end of input" } else { what }))
        }
    }

    /// One value of any kind, after optional whitespace.
    fn value(&mut self, depth: usize) -> Result<(), Error> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(depth, None),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(None),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a JSON value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    /// An object at the cursor; with `fields`, its members are collected.
    fn object(&mut self, depth: usize, mut fields: Option<&mut Vec<(String, &'a str)>>) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.i += 1; // `{`
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(if self.peek().is_none() { "unexpected end of input" } else { "expected a string key" }));
            }
            let mut key = String::new();
            self.string(fields.is_some().then_some(&mut key))?;
            self.ws();
            self.expect(b':', "expected `:`")?;
            self.ws();
            let start = self.i;
            self.value(depth + 1)?;
            if let Some(fields) = fields.as_deref_mut() {
                fields.push((key, &self.text[start..self.i]));
            }
            self.ws();
            if self.peek() == Some(b',') {
                self.i += 1;
                continue;
            }
            return self.expect(b'}', "expected `,` or `}`");
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.i += 1; // `[`
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            self.ws();
            if self.peek() == Some(b',') {
                self.i += 1;
                continue;
            }
            return self.expect(b']', "expected `,` or `]`");
        }
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Error> {
        if self.text[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        Ok(())
    }

    /// A string at the cursor (its opening quote); with `out`, decoded into it.
    fn string(&mut self, mut out: Option<&mut String>) -> Result<(), Error> {
        self.i += 1; // `"`
        let mut run = self.i; // start of the current run of plain characters
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    if let Some(out) = out.as_deref_mut() {
                        out.push_str(&self.text[run..self.i]);
                    }
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    if let Some(out) = out.as_deref_mut() {
                        out.push_str(&self.text[run..self.i]);
                    }
                    self.i += 1;
                    let c = self.escape()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.push(c);
                    }
                    run = self.i;
                }
                0x00..=0x1f => return Err(self.error("control character in a string")),
                _ => self.i += 1,
            }
        }
    }

    /// The escape after a backslash.
    fn escape(&mut self) -> Result<char, Error> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                return self.unicode_escape();
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.i += 1;
        Ok(c)
    }

    /// The code point of `\uXXXX` (the cursor after the `u`), joining a
    /// surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let at = self.i;
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.text[self.i..].starts_with("\\u") {
                    return Err(Error { what: "unpaired surrogate", at });
                }
                self.i += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Error { what: "unpaired surrogate", at });
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Error { what: "unpaired surrogate", at }),
            c => c,
        };
        char::from_u32(code).ok_or(Error { what: "invalid code point", at })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("expected four hex digits")),
            };
            v = v * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn top_level_fields_come_back_raw_and_decoded() {
        let text = r#" { "service" : "user-service", "method":"getUser",
            "args": {"id": [1, 2.5e3, -0.1, true, null, "x\"}"]}, "count": 12 } "#;
        let o = Object::parse(text).unwrap();
        assert_eq!(o.str("service").as_deref(), Some("user-service"));
        assert_eq!(o.str("method").as_deref(), Some("getUser"));
        assert_eq!(o.raw("args"), Some(r#"{"id": [1, 2.5e3, -0.1, true, null, "x\"}"]}"#));
        assert_eq!(o.u64("count"), Some(12));
        assert_eq!(o.raw("missing"), None);
        // A field of another kind is not a string or a count.
        assert_eq!(o.str("args"), None);
        assert_eq!(o.u64("service"), None);
    }

    #[test]
    fn escapes_and_surrogate_pairs_are_decoded() {
        let o = Object::parse(r#"{"s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00é", "k\u0041": 1}"#).unwrap();
        assert_eq!(o.str("s").as_deref(), Some("a\"b\\c/d\n\té😀é"));
        assert_eq!(o.u64("kA"), Some(1));
    }

    #[test]
    fn the_last_of_repeated_keys_wins_as_in_serde_json() {
        let o = Object::parse(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(o.u64("a"), Some(2));
    }

    #[test]
    fn counts_are_non_negative_integers_that_fit() {
        let o = Object::parse(r#"{"a": -1, "b": 1.0, "c": 1e3, "d": 18446744073709551615, "e": 18446744073709551616}"#).unwrap();
        for k in ["a", "b", "c", "e"] {
            assert_eq!(o.u64(k), None, "{k}");
        }
        assert_eq!(o.u64("d"), Some(u64::MAX));
    }

    #[test]
    fn malformed_text_is_refused_with_what_and_where() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "empty input", 0),
            ("  ", "empty input", 2),
            ("[1]", "expected a JSON object", 0),
            ("{", "unexpected end of input", 1),
            ("{\"a\" 1}", "expected `:`", 5),
            ("{\"a\": 1,}", "expected a string key", 8),
            ("{\"a\": 1 \"b\": 2}", "expected `,` or `}`", 8),
            ("{\"a\": [1 2]}", "expected `,` or `]`", 9),
            ("{\"a\": tru}", "expected a JSON value", 6),
            ("{\"a\": 01}", "expected `,` or `}`", 7),
            ("{\"a\": -}", "expected a digit", 7),
            ("{\"a\": 1.}", "expected a digit after `.`", 8),
            ("{\"a\": 1e}", "expected a digit in the exponent", 8),
            ("{\"a\": \"x}", "unterminated string", 9),
            ("{\"a\": \"\\x\"}", "invalid escape", 8),
            ("{\"a\": \"\\u12\"}", "expected four hex digits", 11),
            ("{\"a\": \"\\ud800\"}", "unpaired surrogate", 9),
            ("{\"a\": \"\\udc00\"}", "unpaired surrogate", 9),
            ("{\"a\": \"\n\"}", "control character in a string", 7),
            ("{} x", "trailing characters after the object", 3),
            ("{\"a\": 1} {}", "trailing characters after the object", 9),
        ];
        for (text, what, at) in cases {
            let err = Object::parse(text).unwrap_err();
            assert_eq!((err.what, err.at), (*what, *at), "{text:?}");
        }
        assert_eq!(Object::parse("{\"a\" 1}").unwrap_err().to_string(), "expected `:` at byte 5");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = alloc::format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(Object::parse(&ok).is_ok());
        let deep = alloc::format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(Object::parse(&deep).unwrap_err().what, "nested too deeply");
        // Far deeper than the bound: refused, not a stack overflow.
        let bomb = alloc::format!("{{\"a\": {}", "[".repeat(1_000_000));
        assert_eq!(Object::parse(&bomb).unwrap_err().what, "nested too deeply");
    }
}
