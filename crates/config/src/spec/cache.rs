//! The edge cache's file shape: `cache` (the process's memory for it) and
//! `listeners[].routes[].cache` (opting a route in).

use serde::Deserialize;

use super::DurationSpec;

/// `cache`: memory for stored responses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CacheSpec {
    /// Bytes of stored responses for the whole process, split evenly between the workers.
    /// Default 268435456 (256 MiB).
    pub memory_bytes: u64,
}

impl Default for CacheSpec {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
        }
    }
}

/// `listeners[].routes[].cache`: store and serve this route's GET responses (RFC 9111).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RouteCacheSpec {
    /// Larger bodies, and bodies of unknown length, stream through unstored. Default 1048576.
    pub max_object_bytes: u64,
    /// Request header values added to the key (lowercase names). Default: none.
    pub key_headers: Vec<String>,
    /// Add the authenticated consumer to the key. Default `false`.
    pub key_consumer: bool,
    /// Store responses that set cookies (the cookie is replayed to every client). Default
    /// `false`.
    pub store_set_cookie: bool,
    /// Heuristic freshness for responses without any: this percent of the time since
    /// `Last-Modified` (RFC 9111 §4.2.2). Default 0 (none).
    pub heuristic_percent: u8,
    /// The cap of heuristic freshness. Default `1d`.
    pub heuristic_max: DurationSpec,
    /// Variants kept per key (`Vary`). Default 8.
    pub max_variants: usize,
    /// How long a request waits for another request's fetch of the same key on its core
    /// before going to the origin itself. Default `5s`.
    pub coalesce_wait: DurationSpec,
}

impl Default for RouteCacheSpec {
    fn default() -> Self {
        Self {
            max_object_bytes: 1 << 20,
            key_headers: Vec::new(),
            key_consumer: false,
            store_set_cookie: false,
            heuristic_percent: 0,
            heuristic_max: DurationSpec::new("1d"),
            max_variants: 8,
            coalesce_wait: DurationSpec::new("5s"),
        }
    }
}
