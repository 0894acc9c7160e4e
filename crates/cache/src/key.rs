//! Cache keys. The primary key is the scheme, the host (lowercased) and the request target
//! as received (path and query, exact bytes), plus the route's configured extras (header
//! values, the consumer). The store indexes a keyed 64-bit hash of it; the key's bytes are
//! kept with the entry and compared on every lookup, so a hash collision is a miss, never
//! another resource's response.
//!
//! `Vary` (RFC 9111 §4.1) selects among the variants of one primary key by the request
//! header values it names.

use std::hash::{BuildHasher, Hasher};

/// Builds primary keys with a per-process random hash key (no crafted collisions).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    state: std::collections::hash_map::RandomState,
}

/// A primary key: its bytes and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryKey {
    /// What the store indexes.
    pub hash: u64,
    /// `scheme NUL host NUL target (NUL extra)*`: compared on lookup.
    pub bytes: Vec<u8>,
}

impl Keys {
    /// A new key builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of `scheme://host` + `target` with the route's `extras`.
    pub fn primary(
        &self,
        scheme: &[u8],
        host: &[u8],
        target: &[u8],
        extras: &[&[u8]],
    ) -> PrimaryKey {
        let mut bytes = Vec::with_capacity(scheme.len() + host.len() + target.len() + 8);
        bytes.extend_from_slice(scheme);
        bytes.push(0);
        bytes.extend(host.iter().map(u8::to_ascii_lowercase));
        bytes.push(0);
        bytes.extend_from_slice(target);
        for e in extras {
            bytes.push(0);
            bytes.extend_from_slice(e);
        }
        PrimaryKey {
            hash: self.hash(&bytes),
            bytes,
        }
    }

    /// The hash of `bytes` under this builder's key.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = self.state.build_hasher();
        h.write(bytes);
        h.finish()
    }
}

/// The field names a response's `Vary` lists, lowercased, or `None` for `Vary: *`.
pub fn vary_names<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for v in values {
        for name in v.split(|&b| b == b',') {
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            if name == "*" {
                return None;
            }
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    Some(names)
}

/// The request's values of the `Vary` names (each field's lines joined by `, `, whitespace
/// around them trimmed; absent is distinct from empty): what a variant is matched on.
pub fn vary_values<'a>(
    names: &[String],
    mut field: impl FnMut(&str) -> Vec<&'a [u8]>,
) -> Vec<Option<Vec<u8>>> {
    names
        .iter()
        .map(|n| {
            let lines = field(n);
            if lines.is_empty() {
                return None;
            }
            let mut joined = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(l.trim_ascii());
            }
            Some(joined)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_case_insensitive_the_target_exact() {
        let keys = Keys::new();
        let a = keys.primary(b"https", b"API.example.com", b"/a?x=1", &[]);
        let b = keys.primary(b"https", b"api.example.com", b"/a?x=1", &[]);
        assert_eq!(a, b);
        for other in [
            keys.primary(b"http", b"api.example.com", b"/a?x=1", &[]),
            keys.primary(b"https", b"api.example.com", b"/a?x=2", &[]),
            keys.primary(b"https", b"api.example.com", b"/A?x=1", &[]),
            keys.primary(b"https", b"api.example.com", b"/a?x=1", &[b"acme"]),
        ] {
            assert_ne!(a.bytes, other.bytes);
        }
        // The separator keeps parts apart: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            keys.primary(b"h", b"ab", b"c", &[]).bytes,
            keys.primary(b"h", b"a", b"bc", &[]).bytes
        );
    }

    #[test]
    fn vary_names_and_values() {
        assert_eq!(
            vary_names([
                b"Accept-Encoding, accept-language".as_slice(),
                b" Accept-Encoding"
            ]),
            Some(vec![
                "accept-encoding".to_string(),
                "accept-language".to_string()
            ])
        );
        assert_eq!(vary_names([b"accept, *".as_slice()]), None);
        let names = vec!["accept".to_string(), "x-missing".to_string()];
        let values = vary_values(&names, |n| match n {
            "accept" => vec![b" text/html".as_slice(), b"application/json "],
            _ => vec![],
        });
        assert_eq!(
            values,
            vec![Some(b"text/html, application/json".to_vec()), None]
        );
    }
}
