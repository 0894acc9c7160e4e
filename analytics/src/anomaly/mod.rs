//! Streaming anomaly detection over the traffic the gateway logs, per endpoint (route + method
//! + path template, so `/users/123` and `/users/456` are one).
//!
//! Requests go into buckets of 10 s per endpoint ([`Detector::observe`]); each closed bucket
//! is judged, with the one before it (a 20 s window), against the endpoint's baselines:
//!
//! * **traffic surge / drop**: the window's requests against the median of the last ten
//!   minutes' buckets and, once days of history exist, the time-of-day (then day-of-week)
//!   profile — the higher of the two for surges, the lower for drops;
//! * **5xx burst, auth-failure storm, rate-limit saturation**: the share of 5xx, 401/403 and
//!   429 against the endpoint's own share over the last hour, or their count against their
//!   usual rate (credential stuffing spread over many addresses raises the count even when
//!   the share moves less);
//! * **latency regression**: the window's p99 against the median of recent buckets' p99;
//! * **single-client dominance** (scraping): one client with most of the requests on an
//!   endpoint that normally has many;
//! * **scanning**: one client with 404s on many distinct paths;
//! * **new endpoint**: an endpoint first seen after the warm-up that starts receiving traffic.
//!
//! Counts are judged as Poisson (low volumes are not Gaussian) with a tiny false-alarm
//! probability ([`Config::alpha`]) *and* a minimum effect size and volume, so quiet endpoints
//! and night hours do not alarm. Nothing is judged before the warm-up, and an endpoint only
//! once it has its own history. An anomaly that lasts twenty minutes is **one finding** with a
//! start and an end: an episode stays open while its detector keeps firing and closes after a
//! few quiet buckets; its buckets are kept out of that kind's baselines, so the anomaly never
//! becomes the norm. A surge explained by one client or by refusals is reported as that.
//!
//! Time is the observations' own (plus [`Detector::advance`] for silence), never a clock read:
//! the live analytics thread and `ringway report` over the same logs find the same anomalies.

mod baseline;
mod bucket;
mod detect;
mod endpoint;
mod engine;
mod finding;
mod live;
mod series;
mod stats;

pub use endpoint::{observation_of, Endpoint, Observation, NOT_FOUND, UNROUTED};
pub use engine::Detector;
pub use finding::{ClientShare, Evidence, Finding, Kind, Severity};
pub use live::{Live, Snapshot};
pub use series::Point;

/// Hash maps of the detectors: their keys come from the traffic, so foldhash seeded per map
/// (fast, and not predictable by a client).
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The detectors' tunables. The defaults are the ones the evaluation in `docs/anomalies.md`
/// was measured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bucket length, µs.
    pub bucket_us: i64,
    /// Buckets judged together (the newest and the ones before it).
    pub window_buckets: usize,
    /// How long after its end a bucket waits for late records, µs.
    pub lateness_us: i64,
    /// Buckets of history the detector, and each endpoint, needs before judging.
    pub warmup_buckets: usize,
    /// Buckets of history kept per endpoint (the share baselines look this far back).
    pub history_buckets: usize,
    /// Buckets the short-term baselines look back.
    pub short_buckets: usize,
    /// Buckets the share baselines look back.
    pub share_history_buckets: usize,
    /// Quiet evaluations that end an episode (evaluations with too little traffic to judge
    /// the kind do not count).
    pub quiet_buckets: usize,
    /// An episode also ends this many buckets after its kind last fired, judged or not.
    pub max_gap_buckets: usize,
    /// Longer spans (buckets) judged when the window has too little traffic for a share or a
    /// drop: a quiet endpoint's 5xx burst or outage is found later, not never.
    pub long_windows: Vec<usize>,
    /// An episode's buckets are kept out of the baselines for this long at most: a change
    /// that lasts becomes the new normal, and its episode then ends.
    pub max_masked_buckets: usize,
    /// Largest Poisson tail probability that opens an episode.
    pub alpha: f64,
    /// Largest Poisson tail probability that continues an open episode (whose effect sizes
    /// and minimum counts are also halved).
    pub continue_alpha: f64,
    /// Fewest requests in a window for volume-based detectors.
    pub min_requests: u64,
    /// A surge is at least this many times the baseline.
    pub surge_ratio: f64,
    /// A drop leaves at most 1/this of the baseline.
    pub drop_ratio: f64,
    /// Fewest expected requests in a window before a drop can be judged.
    pub drop_min_expected: f64,
    /// Fewest 5xx/401/403/429 responses in a window to judge their share.
    pub min_events: u64,
    /// A share must exceed its baseline by at least this much (absolute).
    pub share_margin: f64,
    /// Fewest requests in a window to judge latency.
    pub latency_min_requests: u64,
    /// p99 must be at least this many times its baseline...
    pub latency_ratio: f64,
    /// ...and at least this much above it, µs.
    pub latency_min_delta_us: f64,
    /// Top client's share of requests that counts as dominance...
    pub dominance_share: f64,
    /// ...when it is also this many times its usual share.
    pub dominance_ratio: f64,
    /// Distinct 404 paths (and 404s) of one client in a window that count as scanning.
    pub scan_paths: u64,
    /// Requests in a window that make a new endpoint worth a finding.
    pub new_endpoint_requests: u64,
    /// How long (buckets) an endpoint counts as new.
    pub new_endpoint_buckets: usize,
    /// Endpoints tracked one by one; later ones share `{other}` per route and method.
    pub max_endpoints: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bucket_us: 10_000_000,
            window_buckets: 2,
            lateness_us: 5_000_000,
            warmup_buckets: 60,
            history_buckets: 360,
            short_buckets: 60,
            share_history_buckets: 360,
            quiet_buckets: 3,
            max_gap_buckets: 30,
            long_windows: vec![6, 30],
            max_masked_buckets: 180,
            alpha: 1e-9,
            continue_alpha: 1e-3,
            min_requests: 30,
            surge_ratio: 3.0,
            drop_ratio: 4.0,
            drop_min_expected: 30.0,
            min_events: 10,
            share_margin: 0.10,
            latency_min_requests: 20,
            latency_ratio: 2.0,
            latency_min_delta_us: 20_000.0,
            dominance_share: 0.5,
            dominance_ratio: 2.0,
            scan_paths: 20,
            new_endpoint_requests: 10,
            new_endpoint_buckets: 60,
            max_endpoints: 4096,
        }
    }
}

#[cfg(test)]
mod tests;
