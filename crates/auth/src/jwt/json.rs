//! JSON objects parsed strictly: a duplicate member name is an error.
//!
//! RFC 7515 §4 lets a JWS parser either reject duplicate header parameter names or take the
//! last one; serde_json's `Map` silently keeps the last. Two parsers disagreeing about which
//! `alg` or `exp` counts is how confusion bugs start, so the header and the claims are both
//! refused when a top-level member repeats.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A top-level JSON object without duplicate member names.
pub(crate) struct StrictObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let value: Value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(StrictObject(map))
    }
}

/// Parses `bytes` as one JSON object with no repeated top-level member.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<StrictObject>(bytes)
        .ok()
        .map(|o| o.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness() {
        assert!(parse_object(br#"{"a":1,"b":{"c":2}}"#).is_some());
        assert!(parse_object(br#"{"alg":"none","alg":"RS256"}"#).is_none());
        assert!(parse_object(br#"["alg"]"#).is_none());
        assert!(parse_object(br#"{"a":1} x"#).is_none());
        assert!(parse_object(b"").is_none());
        assert!(parse_object(br#""str""#).is_none());
    }
}
