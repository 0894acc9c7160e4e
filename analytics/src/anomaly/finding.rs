//! What the detectors report: one [`Finding`] per episode, with its evidence and top clients.

use serde::Serialize;

use super::endpoint::Endpoint;

/// The kinds of anomaly the detectors look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Far more requests than the endpoint's baseline.
    TrafficSurge,
    /// Far fewer requests than the endpoint's baseline.
    TrafficDrop,
    /// A burst of 5xx responses.
    ErrorBurst,
    /// Many 401/403 responses: credential stuffing, from one address or many.
    AuthFailureStorm,
    /// Many 429 responses: clients pressing against a rate limit.
    RateLimitSaturation,
    /// p99 latency well above its baseline.
    LatencyRegression,
    /// One client sends most of an endpoint's requests (scraping).
    SingleClientDominance,
    /// A client walks through paths that do not exist (404s on many distinct paths).
    Scanning,
    /// An endpoint never seen before starts receiving traffic.
    NewEndpoint,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 9] = [
        Kind::TrafficSurge,
        Kind::TrafficDrop,
        Kind::ErrorBurst,
        Kind::AuthFailureStorm,
        Kind::RateLimitSaturation,
        Kind::LatencyRegression,
        Kind::SingleClientDominance,
        Kind::Scanning,
        Kind::NewEndpoint,
    ];

    /// The stable name used in reports, JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TrafficSurge => "traffic_surge",
            Kind::TrafficDrop => "traffic_drop",
            Kind::ErrorBurst => "error_burst",
            Kind::AuthFailureStorm => "auth_failure_storm",
            Kind::RateLimitSaturation => "rate_limit_saturation",
            Kind::LatencyRegression => "latency_regression",
            Kind::SingleClientDominance => "single_client_dominance",
            Kind::Scanning => "scanning",
            Kind::NewEndpoint => "new_endpoint",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely to matter.
    Medium,
    /// Act soon.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity of a deviation `ratio` times the baseline (or above it, for shares).
    pub(crate) fn of_ratio(ratio: f64) -> Severity {
        match ratio {
            r if r >= 20.0 => Severity::Critical,
            r if r >= 8.0 => Severity::High,
            r if r >= 4.0 => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

/// The numbers behind a finding, at its peak window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// What was measured (`requests per 10 s`, `5xx share`, `p99 µs`, ...).
    pub metric: &'static str,
    /// What the baseline expected.
    pub baseline: f64,
    /// What was observed.
    pub observed: f64,
    /// How surprising it was under the baseline (a Poisson tail probability; 0 where the
    /// detector uses a fixed rule instead).
    pub p_value: f64,
}

/// A client's part in a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientShare {
    /// The client id, or the address as text.
    pub client: String,
    /// Its requests to the endpoint during the finding (the ones the finding is about: its
    /// 401/403s for an auth storm, its 404s for scanning).
    pub requests: u64,
}

/// One anomaly episode on one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of anomaly.
    pub kind: Kind,
    /// Where.
    pub endpoint: Endpoint,
    /// When it started (µs since the Unix epoch; the start of its first anomalous bucket).
    pub start_us: i64,
    /// When the detector first reported it: the stream time (the newest record's, or what
    /// [`Detector::advance`](super::Detector::advance) was told) at which its first bucket
    /// was judged.
    pub detected_us: i64,
    /// When it ended (the end of its last anomalous bucket), or the latest bucket judged while
    /// it is still open.
    pub end_us: i64,
    /// Whether it is still going on.
    pub open: bool,
    /// How serious.
    pub severity: Severity,
    /// The numbers at its peak.
    pub evidence: Evidence,
    /// Requests to the endpoint during the episode.
    pub requests: u64,
    /// The clients with the most requests of concern, most first (at most 5).
    pub top_clients: Vec<ClientShare>,
    /// Distinct clients of concern seen during the episode (at most what was tracked).
    pub distinct_clients: u64,
}

impl Finding {
    /// The finding as a JSON object.
    pub fn to_json(&self) -> String {
        // Plain data (strings, finite numbers): serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
