//! The resilience parts of an upstream group's file shape: `health_check`,
//! `outlier_detection`, `circuit_breakers`.

use serde::Deserialize;

use super::DurationSpec;

/// `upstreams.<name>.health_check`: an active probe of every endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct HealthCheckSpec {
    /// `http` (a GET whose status must be expected) or `tcp` (a connect, and the TLS
    /// handshake for a TLS group). Default `http`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `http`: the request target. Default `/`.
    pub path: String,
    /// `http`: the `Host` sent. Default: the endpoint's `ip:port`.
    pub host: Option<String>,
    /// Time between probes of an endpoint. Default `5s`.
    pub interval: DurationSpec,
    /// A probe not answered within this fails. Default `1s`; below `interval`.
    pub timeout: DurationSpec,
    /// Up to this much is added at random to each interval. Default `0s`.
    pub jitter: DurationSpec,
    /// Passing probes in a row that make an endpoint healthy again. Default 2.
    pub healthy_threshold: u32,
    /// Failing probes in a row that make an endpoint unhealthy. Default 3.
    pub unhealthy_threshold: u32,
    /// `http`: statuses that pass, as codes or ranges (`200`, `200-399`). Default `200-399`.
    pub expected_statuses: Vec<String>,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            kind: "http".to_owned(),
            path: "/".to_owned(),
            host: None,
            interval: DurationSpec::new("5s"),
            timeout: DurationSpec::new("1s"),
            jitter: DurationSpec::new("0s"),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_statuses: vec!["200-399".to_owned()],
        }
    }
}

/// `upstreams.<name>.outlier_detection`: passive ejection of endpoints that fail in a row.
/// On by default for connect errors and timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OutlierDetectionSpec {
    /// Connect errors and timeouts in a row that eject; 0 turns it off. Default 5.
    pub consecutive_local_failures: u32,
    /// 5xx responses in a row that eject; 0 (the default) turns it off.
    pub consecutive_5xx: u32,
    /// The first ejection's length; the n-th lasts n times this. Default `30s`.
    pub base_ejection_time: DurationSpec,
    /// Longest ejection. Default `300s`.
    pub max_ejection_time: DurationSpec,
    /// Most of the group ejected at once, percent (one endpoint always may be). Default 10.
    pub max_ejection_percent: u32,
    /// Each interval without an ejection counts one fewer past ejection. Default `10s`.
    pub interval: DurationSpec,
}

impl Default for OutlierDetectionSpec {
    /// The resilience crate's defaults (Envoy's).
    fn default() -> Self {
        let d = ringway_resilience::OutlierDetection::default();
        Self {
            consecutive_local_failures: d.consecutive_local_failures.unwrap_or(0),
            consecutive_5xx: d.consecutive_5xx.unwrap_or(0),
            base_ejection_time: millis(d.base_ejection_time),
            max_ejection_time: millis(d.max_ejection_time),
            max_ejection_percent: u32::from(d.max_ejection_percent),
            interval: millis(d.interval),
        }
    }
}

/// `upstreams.<name>.adaptive_concurrency`: a per-core limit on requests in flight that
/// follows the upstream's latency (Envoy's gradient controller); over it, 503.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AdaptiveConcurrencySpec {
    /// Each window's median latency moves the limit. Default `100ms`.
    pub sample_window: DurationSpec,
    /// How often the unloaded latency is measured again. Default `60s`.
    pub min_rtt_interval: DurationSpec,
    /// Requests measured (at `min_limit` concurrency) for the unloaded latency. Default 50.
    pub min_rtt_samples: u32,
    /// Lowest limit per core, and the limit while measuring. Default 3.
    pub min_limit: u32,
    /// Highest limit per core. Default 1000.
    pub max_limit: u32,
    /// Latency above the unloaded one tolerated, percent. Default 25.
    pub buffer_percent: u32,
}

impl Default for AdaptiveConcurrencySpec {
    /// The resilience crate's defaults (Envoy's).
    fn default() -> Self {
        let d = ringway_resilience::AdaptiveSettings::default();
        Self {
            sample_window: millis(d.sample_window),
            min_rtt_interval: millis(d.min_rtt_interval),
            min_rtt_samples: d.min_rtt_samples,
            min_limit: d.min_limit,
            max_limit: d.max_limit,
            buffer_percent: d.buffer_percent,
        }
    }
}

/// `upstreams.<name>.circuit_breakers`: limits over all cores; past one, a request is answered
/// 503 `upstream_overloaded` with `Retry-After` (its client connection stays open).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CircuitBreakersSpec {
    /// Upstream connections open, pooled ones included. Default 1024.
    pub max_connections: u32,
    /// Requests waiting for a connection while `max_connections` are open. Default 1024.
    pub max_pending_requests: u32,
    /// Requests in flight. Default 1024.
    pub max_requests: u32,
    /// Retries in flight (past it, a request is not retried). Default 3.
    pub max_retries: u32,
    /// How long a pending request waits for a connection. Default `1s`.
    pub max_wait: DurationSpec,
}

impl Default for CircuitBreakersSpec {
    /// The resilience crate's defaults (Envoy's).
    fn default() -> Self {
        let d = ringway_resilience::BreakerLimits::default();
        Self {
            max_connections: d.max_connections,
            max_pending_requests: d.max_pending_requests,
            max_requests: d.max_requests,
            max_retries: d.max_retries,
            max_wait: millis(d.max_wait),
        }
    }
}

/// A duration as file text, in milliseconds.
fn millis(d: std::time::Duration) -> DurationSpec {
    DurationSpec::new(&format!("{}ms", d.as_millis()))
}
