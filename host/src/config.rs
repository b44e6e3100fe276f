//! The optional TOML config file (`--config FILE`): the same settings as the
//! flags, by flag name (`listen = "127.0.0.1:8010"`, `connect = ["a:1",
//! "b:2"]`, `max-jobs = 64`). Each key becomes the flag's environment
//! variable (`REGCENTER_<KEY>`) unless that is already set, so the order of
//! precedence is: command line, then environment, then file, then default.

use std::path::Path;

/// Why the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read config {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// It is not valid TOML, or a value has an unsupported type.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The environment variable of a config key: `max-jobs` -> `REGCENTER_MAX_JOBS`.
pub fn env_name(key: &str) -> String {
    format!("REGCENTER_{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// The (variable, value) pairs the file at `path` sets.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io { path: p.clone(), message: e.to_string() })?;
    parse(&text).map_err(|message| ConfigError::Invalid { path: p, message })
}

/// The (variable, value) pairs of a config text.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = Vec::new();
    for (key, value) in table {
        let v = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let parts: Result<Vec<String>, String> = items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) if !s.contains(',') => Ok(s),
                        other => Err(format!("`{key}`: list items must be strings without commas, found {}", other.type_str())),
                    })
                    .collect();
                parts?.join(",")
            }
            other => return Err(format!("`{key}`: unsupported value of type {}", other.type_str())),
        };
        out.push((env_name(&key), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_environment_variables() {
        let vars = parse("listen = \"127.0.0.1:9000\"\nmax-jobs = 8\nconnect = [\"a:1\", \"b:2\"]\ninsecure = true\n").unwrap();
        assert!(vars.contains(&("REGCENTER_LISTEN".into(), "127.0.0.1:9000".into())));
        assert!(vars.contains(&("REGCENTER_MAX_JOBS".into(), "8".into())));
        assert!(vars.contains(&("REGCENTER_CONNECT".into(), "a:1,b:2".into())));
        assert!(vars.contains(&("REGCENTER_INSECURE".into(), "true".into())));
    }

    #[test]
    fn bad_files_name_the_problem() {
        assert!(parse("listen = ").is_err());
        assert!(parse("x = { a = 1 }").unwrap_err().contains("`x`"));
        assert!(parse("connect = [1]").unwrap_err().contains("`connect`"));
    }
}
