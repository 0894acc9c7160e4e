//! Labelled synthetic traffic for the anomaly detectors: a background with a daily and weekly
//! rhythm over seven routes, thousands of clients of skewed activity and realistic statuses
//! and latencies, plus one injected anomaly per scenario with its ground-truth [`Label`].
//! Records come in time order from an iterator ([`Scenario::stream`]), so a week of traffic
//! needs no memory; they can be written to Parquet, fed to the detectors, or (their requests)
//! sent to a live gateway.

use ringway_telemetry::record::Method;

use crate::anomaly::Kind;
use crate::schema::Names;

mod score;
mod stream;

pub use score::{matches, score, Score};
pub use stream::Stream;

/// One route of the scenario gateway and its background behaviour.
#[derive(Debug, Clone, Copy)]
struct RouteProfile {
    name: &'static str,
    method: Method,
    /// Path prefix; ids or search terms are appended when it ends in `/` or `=`.
    path: &'static str,
    /// Share of the background requests.
    share: f64,
    /// Typical latency, µs.
    latency_us: u32,
    /// Shares of 5xx, 401 and 404 answers.
    err_share: f64,
    unauthorized_share: f64,
    not_found_share: f64,
}

const fn route(
    name: &'static str,
    method: Method,
    path: &'static str,
    share: f64,
    latency_us: u32,
    shares: [f64; 3],
) -> RouteProfile {
    RouteProfile {
        name,
        method,
        path,
        share,
        latency_us,
        err_share: shares[0],
        unauthorized_share: shares[1],
        not_found_share: shares[2],
    }
}

/// Routes of the scenario gateway; export carries no background traffic.
const ROUTES: [RouteProfile; 7] = [
    route(
        "users",
        Method::Get,
        "/users/",
        0.35,
        20_000,
        [0.002, 0.0, 0.01],
    ),
    route(
        "orders",
        Method::Get,
        "/orders/",
        0.15,
        40_000,
        [0.005, 0.0, 0.005],
    ),
    route(
        "products",
        Method::Get,
        "/products/",
        0.22,
        15_000,
        [0.001, 0.0, 0.005],
    ),
    route(
        "search",
        Method::Get,
        "/search?q=",
        0.12,
        60_000,
        [0.002, 0.0, 0.0],
    ),
    route(
        "login",
        Method::Post,
        "/login",
        0.06,
        80_000,
        [0.001, 0.05, 0.0],
    ),
    route(
        "health",
        Method::Get,
        "/healthz",
        0.10,
        500,
        [0.0, 0.0, 0.0],
    ),
    route(
        "export",
        Method::Get,
        "/export/",
        0.0,
        120_000,
        [0.0, 0.0, 0.0],
    ),
];
/// Background clients (addresses in 100.64.0.0/10, skewed activity).
const CLIENTS: u32 = 3000;
const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;
const DAY_US: i64 = 24 * HOUR_US;
/// Monday 2026-11-30 00:00 UTC, µs since the epoch.
const MONDAY_US: i64 = 1_795_996_800_000_000;

/// A scenario: what is injected into the background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Name (`ringway demo --scenario NAME`).
    pub name: &'static str,
    /// What happens.
    pub description: &'static str,
    /// The route it happens on.
    pub route: &'static str,
    /// The kind a detector should report first, then other kinds that describe it correctly.
    pub kinds: &'static [Kind],
    injection: Injection,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Injection {
    None,
    /// The route's background rate times this.
    RateFactor(f64),
    /// The route's latency times this.
    LatencyFactor(f64),
    /// The route's 5xx share becomes this.
    ErrorShare(f64),
    /// Extra requests per second from `clients` new addresses, each answered `status` with
    /// probability `share` (200 otherwise); `paths`: walk random unknown paths.
    Attack {
        rps: f64,
        clients: u32,
        status: u16,
        share: f64,
        paths: bool,
    },
    /// The (unused) export route starts receiving this many requests per second.
    NewRoute(f64),
}

/// Every scenario, the background alone first.
pub const SCENARIOS: [Scenario; 11] = [
    Scenario {
        name: "background",
        description: "normal traffic only",
        route: "",
        kinds: &[],
        injection: Injection::None,
    },
    Scenario {
        name: "surge",
        description: "products traffic ×8 from ordinary clients",
        route: "products",
        kinds: &[Kind::TrafficSurge],
        injection: Injection::RateFactor(8.0),
    },
    Scenario {
        name: "drop",
        description: "orders traffic falls to 5%",
        route: "orders",
        kinds: &[Kind::TrafficDrop],
        injection: Injection::RateFactor(0.05),
    },
    Scenario {
        name: "credential-stuffing",
        description: "one address posts 25 failing logins a second",
        route: "login",
        kinds: &[
            Kind::AuthFailureStorm,
            Kind::SingleClientDominance,
            Kind::TrafficSurge,
        ],
        injection: Injection::Attack {
            rps: 25.0,
            clients: 1,
            status: 401,
            share: 0.98,
            paths: false,
        },
    },
    Scenario {
        name: "credential-stuffing-spread",
        description: "500 addresses post 25 failing logins a second between them",
        route: "login",
        kinds: &[Kind::AuthFailureStorm, Kind::TrafficSurge],
        injection: Injection::Attack {
            rps: 25.0,
            clients: 500,
            status: 401,
            share: 0.98,
            paths: false,
        },
    },
    Scenario {
        name: "scraping",
        description: "one address reads 20 products a second",
        route: "products",
        kinds: &[Kind::SingleClientDominance, Kind::TrafficSurge],
        injection: Injection::Attack {
            rps: 20.0,
            clients: 1,
            status: 200,
            share: 1.0,
            paths: false,
        },
    },
    Scenario {
        name: "latency",
        description: "users latency ×6",
        route: "users",
        kinds: &[Kind::LatencyRegression],
        injection: Injection::LatencyFactor(6.0),
    },
    Scenario {
        name: "errors",
        description: "35% of orders answered 503",
        route: "orders",
        kinds: &[Kind::ErrorBurst],
        injection: Injection::ErrorShare(0.35),
    },
    Scenario {
        name: "scanning",
        description: "one address probes 6 unknown user paths a second",
        route: "users",
        kinds: &[
            Kind::Scanning,
            Kind::SingleClientDominance,
            Kind::TrafficSurge,
        ],
        injection: Injection::Attack {
            rps: 6.0,
            clients: 1,
            status: 404,
            share: 1.0,
            paths: true,
        },
    },
    Scenario {
        name: "rate-limited",
        description: "one address hammers search and is refused 429",
        route: "search",
        kinds: &[
            Kind::RateLimitSaturation,
            Kind::SingleClientDominance,
            Kind::TrafficSurge,
        ],
        injection: Injection::Attack {
            rps: 30.0,
            clients: 1,
            status: 429,
            share: 0.85,
            paths: false,
        },
    },
    Scenario {
        name: "new-endpoint",
        description: "the export route, unused so far, starts receiving traffic",
        route: "export",
        kinds: &[Kind::NewEndpoint],
        injection: Injection::NewRoute(2.0),
    },
];

/// The scenario with this name.
pub fn scenario(name: &str) -> Option<Scenario> {
    SCENARIOS.into_iter().find(|s| s.name == name)
}

/// Where and when an anomaly was injected: the ground truth a finding is scored against.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    /// The scenario.
    pub scenario: &'static str,
    /// The route.
    pub route: &'static str,
    /// The kind that should be reported first, then other correct descriptions.
    pub kinds: Vec<Kind>,
    /// Start, µs since the epoch.
    pub start_us: i64,
    /// End, µs since the epoch.
    pub end_us: i64,
}

/// How a run is laid out in time.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// First request, µs since the epoch.
    pub start_us: i64,
    /// Length of the run, µs.
    pub duration_us: i64,
    /// When the anomaly starts, µs after `start_us`.
    pub inject_at_us: i64,
    /// How long it lasts, µs.
    pub inject_for_us: i64,
    /// Background requests per second at the daily peak.
    pub peak_rps: f64,
}

impl Timing {
    /// Three hours from Monday 2026-11-30 08:00 UTC, the anomaly from 10:00 for 15 minutes,
    /// 30 requests a second at the daily peak.
    pub fn standard() -> Timing {
        Timing {
            start_us: MONDAY_US + 8 * HOUR_US,
            duration_us: 3 * HOUR_US,
            inject_at_us: 2 * HOUR_US,
            inject_for_us: 15 * MINUTE_US,
            peak_rps: 30.0,
        }
    }
}

impl Scenario {
    /// The records of this scenario with `timing`, from `seed`.
    pub fn stream(self, timing: Timing, seed: u64) -> Stream {
        Stream::new(self, timing, seed)
    }

    /// Writes the records of this scenario to Parquet through the gateway's own writer,
    /// rotating files by the records' time; returns the writer's statistics.
    pub fn write_parquet(
        self,
        timing: Timing,
        seed: u64,
        sink: crate::SinkConfig,
    ) -> crate::Result<crate::Stats> {
        let mut w = crate::ParquetSink::new(sink, names())?;
        for rec in self.stream(timing, seed) {
            let now = std::time::UNIX_EPOCH
                + std::time::Duration::from_micros(u64::try_from(rec.ts_us).unwrap_or(0));
            w.push(&rec, now)?;
        }
        w.close()
    }

    /// The ground truth of a run with `timing` (none for the background).
    pub fn labels(&self, timing: &Timing) -> Vec<Label> {
        if self.kinds.is_empty() {
            return Vec::new();
        }
        let start_us = timing.start_us + timing.inject_at_us;
        let end_us = match self.injection {
            // A new endpoint stays in use: it is new for as long as the detector says.
            Injection::NewRoute(_) => start_us + 10 * MINUTE_US,
            _ => start_us + timing.inject_for_us,
        };
        vec![Label {
            scenario: self.name,
            route: self.route,
            kinds: self.kinds.to_vec(),
            start_us,
            end_us,
        }]
    }
}

/// The names of the scenario gateway: listener `public`, its routes, one upstream per route.
pub fn names() -> Names {
    Names {
        listeners: vec!["public".to_owned()],
        routes: vec![ROUTES.iter().map(|r| r.name.to_owned()).collect()],
        upstreams: ROUTES.iter().map(|r| format!("{}-svc", r.name)).collect(),
        endpoints: ROUTES
            .iter()
            .map(|_| vec!["10.1.0.1:8080".to_owned()])
            .collect(),
    }
}
