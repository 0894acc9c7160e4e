//! The file shape of a fleet-wide limit's shared store (`rate_limits[].store`).

use serde::Deserialize;

use super::DurationSpec;

/// `rate_limits[].store`: count the limit over every gateway sharing the store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LimitStoreSpec {
    /// The store's kind: `redis` (Redis or Valkey). Default `redis`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `redis://host:port[/db]`. Required.
    pub url: String,
    /// Longest wait for one store call (connect, or a pipeline of leases). Default `50ms`.
    pub timeout: DurationSpec,
    /// While the store is down: `deny` (503) or `allow` (with `fallback`). Default `deny`.
    pub on_failure: String,
    /// With `on_failure: allow`: the limit each gateway applies alone while the store is
    /// down. Required then.
    pub fallback: Option<FallbackRateSpec>,
    /// `lease` (default: exact to a lease) or `sync` (approximate: local counts flushed
    /// every `sync_interval`).
    pub mode: String,
    /// With `mode: sync`: how often counts are flushed. Default `100ms`.
    pub sync_interval: Option<DurationSpec>,
}

impl Default for LimitStoreSpec {
    fn default() -> Self {
        Self {
            kind: "redis".to_owned(),
            url: String::new(),
            timeout: DurationSpec::new("50ms"),
            on_failure: "deny".to_owned(),
            fallback: None,
            mode: "lease".to_owned(),
            sync_interval: None,
        }
    }
}

/// `store.fallback`: a rate like a rate limit's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct FallbackRateSpec {
    /// Requests per period. Required, not zero.
    pub requests: u64,
    /// The period. Default `1s`.
    pub per: Option<DurationSpec>,
    /// Requests admitted at once from idle. Default: `requests`.
    pub burst: Option<u64>,
}
