//! Configuration errors: each with the path of the offending value in the file.

use std::fmt;

/// One problem in a configuration, at a path such as
/// `listeners[0].routes[3].proxy.upstream`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Where: keys joined by `.`, list indices in brackets (`.` is the whole document; for a
    /// file that cannot be read, the file's path).
    pub path: String,
    /// What is wrong, with the offending value; parse errors end with their line and column.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in a configuration (never empty when returned as an error). Displayed
/// one per line, `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in the order found (roughly file order).
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records an error.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(path, message));
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Appends a map key to a path: `parent.key`, or `parent["odd key"]` when the key is not a
/// plain identifier-like name (so that the path stays unambiguous).
pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

/// `parent.key` as a new string.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    let mut path = parent.to_owned();
    push_key(&mut path, key);
    path
}

/// `parent[index]` as a new string.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_one_error_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("listeners", "at least one listener is required"),
            ConfigError::new(
                "upstreams.users.endpoints",
                "at least one endpoint is required",
            ),
        ]);
        assert_eq!(
            errors.to_string(),
            "listeners: at least one listener is required\n\
             upstreams.users.endpoints: at least one endpoint is required"
        );
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(key_path("", "upstreams"), "upstreams");
        assert_eq!(key_path("upstreams", "users"), "upstreams.users");
        assert_eq!(key_path("upstreams", "a.b"), "upstreams[\"a.b\"]");
        assert_eq!(index_path("listeners", 2), "listeners[2]");
    }
}
