//! JSON <-> component values, by one table (the README repeats it):
//!
//! | WIT | JSON |
//! |---|---|
//! | bool | `true` / `false` |
//! | s8 … u64 | integer, range-checked (u64/s64 exact); `2.0` is accepted as 2 |
//! | f32, f64 | number; NaN and infinities as `"NaN"`, `"inf"`, `"-inf"` |
//! | char | one-character string |
//! | string | string |
//! | list, fixed-length list, tuple | array (tuples and fixed lists: exact length) |
//! | map | object when keys are strings, else array of `[key, value]` |
//! | record | object with the WIT field names (camelCase / snake_case accepted on input; unknown fields rejected; absent `option` fields are none) |
//! | enum | the case name |
//! | variant | `{"case": payload}`; `{"case": null}` or `"case"` without payload |
//! | option | `null` or the value; `option<option<T>>` uses `{"some": …}` for the inner level |
//! | result | `{"ok": …}` / `{"err": …}` (`null` payload when the side has no type) |
//! | flags | array of flag names |
//! | resource, future, stream, error-context | unsupported: a clear error |
//!
//! Errors carry the JSON path (`$.data[2].name`) and the expected type.

use crate::limits::MAX_VALUE_DEPTH;
use serde_json::{Map, Number, Value};
use std::fmt;
use wasmtime::component::{Type, Val};

/// A JSON value that does not fit a WIT type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Where in the JSON document (`$`, `$.name`, `$[1]`).
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValueError {}

/// Two names match when equal, or equal ignoring case, `-` and `_`
/// (so `sayHello2`, `say_hello2` and `say-hello2` are one name).
pub fn names_match(wit: &str, given: &str) -> bool {
    wit == given || loose(wit).eq(loose(given))
}

/// The form [`names_match`] compares: no dashes or underscores, lowercase.
pub fn loose_key(s: &str) -> String {
    loose(s).collect()
}

/// [`loose_key`] of `given`, written into `buf` instead of allocating;
/// `None` when `given` is not ASCII or is longer than `buf`.
pub fn loose_key_in<'a>(given: &str, buf: &'a mut [u8; 64]) -> Option<&'a str> {
    if !given.is_ascii() || given.len() > buf.len() {
        return None;
    }
    // The same rule as `loose`: for ASCII it yields one ASCII char per kept byte.
    let mut n = 0;
    for c in loose(given) {
        buf[n] = c as u8;
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

fn loose(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase)
}

/// Converts `json` to a value of type `ty`.
pub fn to_val(json: &Value, ty: &Type) -> Result<Val, ValueError> {
    let mut path = String::from("$");
    decode(json, ty, &mut path, 0)
}

/// Converts JSON arguments to a method's parameter values: an object of
/// named parameters (loose name matching), an array of positional ones, or
/// `null` for none. Absent `option` parameters are none.
pub fn args_to_vals(json: &Value, params: &[(String, Type)]) -> Result<Vec<Val>, ValueError> {
    let mut path = String::from("$");
    let missing = |name: &str, ty: &Type| ValueError {
        path: "$".into(),
        message: format!("missing parameter '{name}' (expected {})", describe(ty)),
    };
    match json {
        Value::Null => params
            .iter()
            .map(|(n, t)| if matches!(t, Type::Option(_)) { Ok(Val::Option(None)) } else { Err(missing(n, t)) })
            .collect(),
        Value::Object(map) => {
            if let Some(unknown) = map.keys().find(|k| !params.iter().any(|(n, _)| names_match(n, k))) {
                let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
                return Err(ValueError {
                    path: "$".into(),
                    message: format!("unknown parameter '{unknown}' (parameters: {})", list_or_none(&names)),
                });
            }
            params
                .iter()
                .map(|(name, ty)| match find_key(map, name) {
                    Some((key, v)) => {
                        let len = path.len();
                        path.push('.');
                        path.push_str(key);
                        let r = decode(v, ty, &mut path, 0);
                        path.truncate(len);
                        r
                    }
                    None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
                    None => Err(missing(name, ty)),
                })
                .collect()
        }
        Value::Array(items) => {
            if items.len() > params.len() {
                return Err(ValueError {
                    path: "$".into(),
                    message: format!("{} arguments given, the method takes {}", items.len(), params.len()),
                });
            }
            params
                .iter()
                .enumerate()
                .map(|(i, (name, ty))| match items.get(i) {
                    Some(v) => {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        let r = decode(v, ty, &mut path, 0);
                        path.truncate(len);
                        r
                    }
                    None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
                    None => Err(missing(name, ty)),
                })
                .collect()
        }
        other => Err(ValueError {
            path: "$".into(),
            message: format!("arguments must be an object of named parameters or an array, found {}", found(other)),
        }),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn find_key<'a>(map: &'a Map<String, Value>, wit_name: &str) -> Option<(&'a str, &'a Value)> {
    if let Some((k, v)) = map.get_key_value(wit_name) {
        return Some((k.as_str(), v));
    }
    map.iter().find(|(k, _)| names_match(wit_name, k)).map(|(k, v)| (k.as_str(), v))
}

fn err(path: &str, ty: &Type, json: &Value) -> ValueError {
    ValueError { path: path.to_string(), message: format!("expected {}, found {}", describe(ty), found(json)) }
}

fn err_msg(path: &str, message: String) -> ValueError {
    ValueError { path: path.to_string(), message }
}

fn decode(json: &Value, ty: &Type, path: &mut String, depth: usize) -> Result<Val, ValueError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(err_msg(path, format!("nested deeper than {MAX_VALUE_DEPTH} levels")));
    }
    let d = depth + 1;
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| err(path, ty, json))?),
        Type::S8 => Val::S8(int(json, ty, path)?),
        Type::U8 => Val::U8(int(json, ty, path)?),
        Type::S16 => Val::S16(int(json, ty, path)?),
        Type::U16 => Val::U16(int(json, ty, path)?),
        Type::S32 => Val::S32(int(json, ty, path)?),
        Type::U32 => Val::U32(int(json, ty, path)?),
        Type::S64 => Val::S64(int(json, ty, path)?),
        Type::U64 => Val::U64(int(json, ty, path)?),
        Type::Float32 => Val::Float32(float(json, ty, path)? as f32),
        Type::Float64 => Val::Float64(float(json, ty, path)?),
        Type::Char => {
            let s = json.as_str().ok_or_else(|| err(path, ty, json))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(err(path, ty, json)),
            }
        }
        Type::String => Val::String(json.as_str().ok_or_else(|| err(path, ty, json))?.to_string()),
        Type::List(list) => {
            let items = json.as_array().ok_or_else(|| err(path, ty, json))?;
            Val::List(decode_items(items, &list.ty(), path, d)?)
        }
        Type::FixedLengthList(list) => {
            let items = json.as_array().ok_or_else(|| err(path, ty, json))?;
            if items.len() != list.len() as usize {
                return Err(err_msg(path, format!("expected {} elements, found {}", list.len(), items.len())));
            }
            Val::FixedLengthList(decode_items(items, &list.ty(), path, d)?)
        }
        Type::Map(map) => {
            let (kt, vt) = (map.key(), map.value());
            let mut pairs = Vec::new();
            match json {
                Value::Object(obj) => {
                    for (k, v) in obj {
                        let len = path.len();
                        path.push('.');
                        path.push_str(k);
                        let key = decode(&Value::String(k.clone()), &kt, path, d)?;
                        let val = decode(v, &vt, path, d)?;
                        path.truncate(len);
                        pairs.push((key, val));
                    }
                }
                Value::Array(items) => {
                    for (i, pair) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        let Some([k, v]) = pair.as_array().map(Vec::as_slice).and_then(|s| <&[Value; 2]>::try_from(s).ok()) else {
                            return Err(err_msg(path, format!("expected a [key, value] pair, found {}", found(pair))));
                        };
                        let key = decode(k, &kt, path, d)?;
                        let val = decode(v, &vt, path, d)?;
                        path.truncate(len);
                        pairs.push((key, val));
                    }
                }
                _ => return Err(err(path, ty, json)),
            }
            Val::Map(pairs)
        }
        Type::Record(record) => {
            let obj = json.as_object().ok_or_else(|| err(path, ty, json))?;
            let fields: Vec<_> = record.fields().map(|f| (f.name.to_string(), f.ty)).collect();
            if let Some(unknown) = obj.keys().find(|k| !fields.iter().any(|(n, _)| names_match(n, k))) {
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                return Err(err_msg(path, format!("unknown field '{unknown}' (fields: {})", list_or_none(&names))));
            }
            let mut out = Vec::with_capacity(fields.len());
            for (name, fty) in fields {
                let v = match find_key(obj, &name) {
                    Some((key, v)) => {
                        let len = path.len();
                        path.push('.');
                        path.push_str(key);
                        let r = decode(v, &fty, path, d)?;
                        path.truncate(len);
                        r
                    }
                    None if matches!(fty, Type::Option(_)) => Val::Option(None),
                    None => return Err(err_msg(path, format!("missing field '{name}' (expected {})", describe(&fty)))),
                };
                out.push((name, v));
            }
            Val::Record(out)
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(|| err(path, ty, json))?;
            let types: Vec<Type> = tuple.types().collect();
            if items.len() != types.len() {
                return Err(err_msg(path, format!("expected a {}-element array for {}, found {} elements", types.len(), describe(ty), items.len())));
            }
            let mut out = Vec::with_capacity(types.len());
            for (i, (item, t)) in items.iter().zip(&types).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(decode(item, t, path, d)?);
                path.truncate(len);
            }
            Val::Tuple(out)
        }
        Type::Variant(variant) => {
            let (given, payload) = match json {
                Value::String(s) => (s.as_str(), None),
                Value::Object(obj) if obj.len() == 1 => {
                    let (k, v) = obj.iter().next().expect("one entry");
                    (k.as_str(), Some(v))
                }
                _ => return Err(err(path, ty, json)),
            };
            let case = variant
                .cases()
                .find(|c| names_match(c.name, given))
                .ok_or_else(|| err_msg(path, format!("unknown case '{given}' of {}", describe(ty))))?;
            let name = case.name.to_string();
            match (case.ty, payload) {
                (None, None | Some(Value::Null)) => Val::Variant(name, None),
                (None, Some(p)) => return Err(err_msg(path, format!("case '{name}' has no payload, found {}", found(p)))),
                (Some(t), Some(p)) => {
                    let len = path.len();
                    path.push('.');
                    path.push_str(&name);
                    let v = decode(p, &t, path, d)?;
                    path.truncate(len);
                    Val::Variant(name, Some(Box::new(v)))
                }
                (Some(t), None) => return Err(err_msg(path, format!("case '{name}' needs a payload of type {}", describe(&t)))),
            }
        }
        Type::Enum(en) => {
            let s = json.as_str().ok_or_else(|| err(path, ty, json))?;
            let name = en.names().find(|n| names_match(n, s)).ok_or_else(|| err(path, ty, json))?;
            Val::Enum(name.to_string())
        }
        Type::Option(opt) => {
            let inner = opt.ty();
            match json {
                Value::Null => Val::Option(None),
                Value::Object(obj) if matches!(inner, Type::Option(_)) && obj.len() == 1 && obj.contains_key("some") => {
                    let len = path.len();
                    path.push_str(".some");
                    let v = decode(&obj["some"], &inner, path, d)?;
                    path.truncate(len);
                    Val::Option(Some(Box::new(v)))
                }
                other => Val::Option(Some(Box::new(decode(other, &inner, path, d)?))),
            }
        }
        Type::Result(res) => {
            let obj = json.as_object().filter(|o| o.len() == 1).ok_or_else(|| err(path, ty, json))?;
            let (side, payload) = obj.iter().next().expect("one entry");
            let side_ty = match side.as_str() {
                "ok" => res.ok(),
                "err" => res.err(),
                _ => return Err(err(path, ty, json)),
            };
            let v = match (side_ty, payload) {
                (None, Value::Null) => None,
                (None, p) => return Err(err_msg(path, format!("'{side}' has no payload here, found {}", found(p)))),
                (Some(t), p) => {
                    let len = path.len();
                    path.push('.');
                    path.push_str(side);
                    let v = decode(p, &t, path, d)?;
                    path.truncate(len);
                    Some(Box::new(v))
                }
            };
            Val::Result(if side == "ok" { Ok(v) } else { Err(v) })
        }
        Type::Flags(flags) => {
            let items = json.as_array().ok_or_else(|| err(path, ty, json))?;
            let mut out: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().unwrap_or_default();
                let Some(name) = flags.names().find(|n| names_match(n, s)) else {
                    return Err(err_msg(&format!("{path}[{i}]"), format!("expected a flag of {}, found {}", describe(ty), found(item))));
                };
                if !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
            }
            Val::Flags(out)
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return Err(err_msg(path, format!("{} values cannot be passed as JSON", describe(ty))));
        }
    })
}

fn decode_items(items: &[Value], ty: &Type, path: &mut String, depth: usize) -> Result<Vec<Val>, ValueError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(decode(item, ty, path, depth)?);
        path.truncate(len);
    }
    Ok(out)
}

fn int<T: TryFrom<i128>>(json: &Value, ty: &Type, path: &str) -> Result<T, ValueError> {
    let n = json.as_number().ok_or_else(|| err(path, ty, json))?;
    let wide: i128 = if let Some(i) = n.as_i64() {
        i as i128
    } else if let Some(u) = n.as_u64() {
        u as i128
    } else {
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => f as i128,
            _ => return Err(err_msg(path, format!("expected {}, found {} (not an integer)", describe(ty), found(json)))),
        }
    };
    T::try_from(wide).map_err(|_| err_msg(path, format!("expected {}, found {} (out of range)", describe(ty), found(json))))
}

fn float(json: &Value, ty: &Type, path: &str) -> Result<f64, ValueError> {
    match json {
        Value::Number(n) => n.as_f64().ok_or_else(|| err(path, ty, json)),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(err(path, ty, json)),
        },
        _ => Err(err(path, ty, json)),
    }
}

/// Converts a component value to JSON (the table above, output side).
pub fn from_val(val: &Val) -> Value {
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        // Through the shortest decimal form, so 1.1f32 reads 1.1, not 1.100000023841858.
        Val::Float32(f) => float_json(f.to_string().parse::<f64>().unwrap_or(*f as f64)),
        Val::Float64(f) => float_json(*f),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => Value::Array(items.iter().map(from_val).collect()),
        Val::Map(pairs) => {
            if pairs.iter().all(|(k, _)| matches!(k, Val::String(_))) {
                Value::Object(
                    pairs
                        .iter()
                        .map(|(k, v)| (if let Val::String(s) = k { s.clone() } else { String::new() }, from_val(v)))
                        .collect(),
                )
            } else {
                Value::Array(pairs.iter().map(|(k, v)| Value::Array(vec![from_val(k), from_val(v)])).collect())
            }
        }
        Val::Record(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), from_val(v))).collect()),
        Val::Variant(case, payload) => {
            let mut m = Map::new();
            m.insert(case.clone(), payload.as_deref().map(from_val).unwrap_or(Value::Null));
            Value::Object(m)
        }
        Val::Enum(name) => Value::String(name.clone()),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match inner.as_ref() {
            nested @ Val::Option(_) => {
                let mut m = Map::new();
                m.insert("some".into(), from_val(nested));
                Value::Object(m)
            }
            other => from_val(other),
        },
        Val::Result(r) => {
            let (side, payload) = match r {
                Ok(v) => ("ok", v),
                Err(v) => ("err", v),
            };
            let mut m = Map::new();
            m.insert(side.into(), payload.as_deref().map(from_val).unwrap_or(Value::Null));
            Value::Object(m)
        }
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => Value::String("<unsupported value>".into()),
    }
}

fn float_json(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// A short WIT-like rendering of a type, for messages and `inspect`.
pub fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", describe(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", describe(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", describe(&m.key()), describe(&m.value())),
        Type::Record(r) => {
            let fields: Vec<String> = r.fields().map(|f| format!("{}: {}", f.name, describe(&f.ty))).collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => format!("tuple<{}>", t.types().map(|t| describe(&t)).collect::<Vec<_>>().join(", ")),
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, describe(&t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", describe(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", describe(&ok)),
            (None, Some(e)) => format!("result<_, {}>", describe(&e)),
            (Some(ok), Some(e)) => format!("result<{}, {}>", describe(&ok), describe(&e)),
        },
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}

/// Whether a type holds a resource, future, stream or error-context anywhere
/// (such values cannot cross between Stores or into JSON).
pub fn holds_handles(ty: &Type) -> bool {
    match ty {
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => true,
        Type::List(l) => holds_handles(&l.ty()),
        Type::FixedLengthList(l) => holds_handles(&l.ty()),
        Type::Map(m) => holds_handles(&m.key()) || holds_handles(&m.value()),
        Type::Record(r) => r.fields().any(|f| holds_handles(&f.ty)),
        Type::Tuple(t) => t.types().any(|t| holds_handles(&t)),
        Type::Variant(v) => v.cases().any(|c| c.ty.as_ref().is_some_and(holds_handles)),
        Type::Option(o) => holds_handles(&o.ty()),
        Type::Result(r) => r.ok().as_ref().is_some_and(holds_handles) || r.err().as_ref().is_some_and(holds_handles),
        _ => false,
    }
}

/// A short description of a JSON value, for messages.
fn found(json: &Value) -> String {
    match json {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 32 => format!("string \"{}…\"", s.chars().take(32).collect::<String>()),
        Value::String(s) => format!("string \"{s}\""),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(o) => format!("an object with {} key(s)", o.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_key_in_agrees_with_loose_key() {
        let mut buf = [0u8; 64];
        for given in ["sayHello2", "get_all_users", "SAY-HELLO", "say-hell", "-_", ""] {
            assert_eq!(loose_key_in(given, &mut buf).map(str::to_string), Some(loose_key(given)), "{given}");
        }
        assert_eq!(loose_key_in("SAY-HELLO", &mut buf), Some("sayhello"));
        assert_eq!(loose_key_in("Stra-ße", &mut buf), None, "not ASCII: the caller allocates");
        assert_eq!(loose_key_in(&"a".repeat(65), &mut buf), None, "longer than the buffer");
    }

    #[test]
    fn names_match_across_case_styles() {
        assert!(names_match("say-hello2", "sayHello2"));
        assert!(names_match("get-all-users", "get_all_users"));
        assert!(names_match("task-id", "taskId"));
        assert!(!names_match("say-hello", "sayHello2"));
    }

    #[test]
    fn floats_encode_specials_as_strings() {
        assert_eq!(float_json(f64::NAN), Value::String("NaN".into()));
        assert_eq!(float_json(f64::NEG_INFINITY), Value::String("-inf".into()));
        assert_eq!(from_val(&Val::Float32(1.1)), serde_json::json!(1.1));
    }

    #[test]
    fn nested_options_use_some_objects() {
        let v = Val::Option(Some(Box::new(Val::Option(None))));
        assert_eq!(from_val(&v), serde_json::json!({"some": null}));
        let v = Val::Option(Some(Box::new(Val::U32(3))));
        assert_eq!(from_val(&v), serde_json::json!(3));
    }
}
