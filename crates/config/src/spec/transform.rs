//! The file shape of aggregate routes (`listeners[].routes[].aggregate`) and response
//! reshaping (`listeners[].routes[].reshape`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::DurationSpec;

/// `routes[].aggregate`: answer GET and HEAD with one JSON object made of several upstream
/// responses fetched at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AggregateSpec {
    /// The sub-requests, at most 16. Required.
    pub backends: Vec<AggregateBackendSpec>,
    /// `grouped` (each body under its backend's name) or `flat` (the members of every body in
    /// one object; on a shared name the later backend wins). Default `grouped`.
    pub merge: String,
    /// The whole aggregate's deadline; each backend's `timeout` fits inside it. Default `10s`.
    pub timeout: DurationSpec,
    /// Largest body accepted from one backend (a larger one fails that backend). Default
    /// 1048576.
    pub max_body_bytes: u64,
    /// Client request headers passed on to every backend (lowercase names). Default: none
    /// (the request id, trace context and `X-Forwarded-*` always go).
    pub forward_headers: Vec<String>,
}

impl Default for AggregateSpec {
    fn default() -> Self {
        Self {
            backends: Vec::new(),
            merge: "grouped".to_owned(),
            timeout: DurationSpec::new("10s"),
            max_body_bytes: 1 << 20,
            forward_headers: Vec::new(),
        }
    }
}

/// `aggregate.backends[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AggregateBackendSpec {
    /// The member name of its body (`grouped`) and its label. Default: the upstream's name.
    pub name: Option<String>,
    /// The upstream group. Required.
    pub upstream: String,
    /// The path requested (the client's query string is appended). Required.
    pub path: String,
    /// This backend's deadline. Default: the aggregate's `timeout`.
    pub timeout: Option<DurationSpec>,
    /// Its failure fails the whole request (502, or 504 on a timeout) instead of leaving its
    /// part out. Default `false`.
    pub required: bool,
}

/// `routes[].reshape`: rewrite JSON response bodies (allow-list, renames, wrapper, in that
/// order); other bodies pass unchanged and are counted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReshapeSpec {
    /// Fields kept, as dotted paths (`id`, `user.email`; a path into an array applies to each
    /// of its objects). Default: all fields.
    pub allow: Option<Vec<String>>,
    /// Top-level renames, `old: new`. Default: none.
    pub rename: BTreeMap<String, String>,
    /// Wrap the result in an object under this name. Default: none.
    pub wrap: Option<String>,
    /// Larger bodies (or of unknown length beyond it) pass unchanged. Default 1048576.
    pub max_body_bytes: u64,
}

impl Default for ReshapeSpec {
    fn default() -> Self {
        Self {
            allow: None,
            rename: BTreeMap::new(),
            wrap: None,
            max_body_bytes: 1 << 20,
        }
    }
}
