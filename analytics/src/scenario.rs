//! Labelled synthetic traffic for the anomaly detectors: a background with a daily and weekly
//! rhythm over seven routes, thousands of clients of skewed activity and realistic statuses
//! and latencies, plus one injected anomaly per scenario with its ground-truth [`Label`].
//! Records come in time order from an iterator ([`Scenario::stream`]), so a week of traffic
//! needs no memory; they can be written to Parquet, fed to the detectors, or (their requests)
//! sent to a live gateway.

use ringway_telemetry::record::{Inline, Method, Outcome, RequestRecord, NONE};

use crate::anomaly::Kind;
use crate::schema::Names;

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
            start_us: 1_796_025_600_000_000 + 8 * HOUR_US,
            duration_us: 3 * HOUR_US,
            inject_at_us: 2 * HOUR_US,
            inject_for_us: 15 * MINUTE_US,
            peak_rps: 30.0,
        }
    }
}

/// The daily shape of traffic, 0.1 at 03:00 to 1 at 15:00 UTC, and 70% on weekends.
fn rhythm(ts_us: i64) -> f64 {
    let day_frac = ts_us.rem_euclid(DAY_US) as f64 / DAY_US as f64;
    let s = ((std::f64::consts::TAU * (day_frac - 0.625)).cos() + 1.0) / 2.0;
    // 1970-01-01 was a Thursday: day 2 of the week counting from Monday = 0 is Saturday.
    let weekday = (ts_us.div_euclid(DAY_US) + 3).rem_euclid(7);
    let weekend = if weekday >= 5 { 0.7 } else { 1.0 };
    (0.1 + 0.9 * s * s) * weekend
}

/// A Poisson-distributed count with mean `m`.
fn poisson(rng: &mut fastrand::Rng, m: f64) -> u64 {
    if m <= 0.0 {
        return 0;
    }
    if m > 30.0 {
        // Normal approximation, continuity-corrected.
        let (u1, u2) = (1.0 - rng.f64(), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        return (m + z * m.sqrt() + 0.5).max(0.0) as u64;
    }
    let limit = (-m).exp();
    let (mut k, mut p) = (0, rng.f64());
    while p > limit {
        k += 1;
        p *= rng.f64();
    }
    k
}

/// A generated run: names, labels, and the records as an iterator in time order.
#[derive(Debug)]
pub struct Stream {
    scenario: Scenario,
    timing: Timing,
    rng: fastrand::Rng,
    /// Start of the next second to generate.
    next_second_us: i64,
    /// The current second's records, newest last, taken from the front.
    batch: std::collections::VecDeque<RequestRecord>,
    /// Cumulative background weights of the clients (Zipf-like).
    client_cdf: Vec<f64>,
    attackers: u32,
}

impl Scenario {
    /// The records of this scenario with `timing`, from `seed`.
    pub fn stream(self, timing: Timing, seed: u64) -> Stream {
        let mut cdf = Vec::with_capacity(CLIENTS as usize);
        let mut total = 0.0;
        for i in 0..CLIENTS {
            total += 1.0 / f64::from(i + 10).powf(1.1);
            cdf.push(total);
        }
        Stream {
            scenario: self,
            timing,
            rng: fastrand::Rng::with_seed(seed),
            next_second_us: timing.start_us,
            batch: std::collections::VecDeque::new(),
            client_cdf: cdf,
            attackers: 0,
        }
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

impl Stream {
    fn injecting(&self, ts_us: i64) -> bool {
        let from = self.timing.start_us + self.timing.inject_at_us;
        match self.scenario.injection {
            Injection::None => false,
            Injection::NewRoute(_) => ts_us >= from,
            _ => (from..from + self.timing.inject_for_us).contains(&ts_us),
        }
    }

    fn background_client(&mut self) -> u32 {
        let total = *self.client_cdf.last().unwrap_or(&1.0);
        let x = self.rng.f64() * total;
        self.client_cdf.partition_point(|&c| c < x) as u32
    }

    /// Generates the next second of traffic into the batch.
    fn second(&mut self) {
        let t0 = self.next_second_us;
        self.next_second_us += 1_000_000;
        let mut recs: Vec<RequestRecord> = Vec::new();
        let base = self.timing.peak_rps * rhythm(t0);
        let inj = self.injecting(t0);
        for (route, r) in ROUTES.iter().enumerate() {
            let mut rate = base * r.share;
            let (mut lat_factor, mut err_share) = (1.0, r.err_share);
            if inj && self.scenario.route == r.name {
                match self.scenario.injection {
                    Injection::RateFactor(f) => rate *= f,
                    Injection::LatencyFactor(f) => lat_factor = f,
                    Injection::ErrorShare(s) => err_share = s,
                    Injection::NewRoute(rps) => rate = rps,
                    Injection::Attack { .. } | Injection::None => {}
                }
            }
            for _ in 0..poisson(&mut self.rng, rate) {
                let client = self.background_client();
                let status = {
                    let x = self.rng.f64();
                    if x < err_share {
                        503
                    } else if x < err_share + r.unauthorized_share {
                        401
                    } else if x < err_share + r.unauthorized_share + r.not_found_share {
                        404
                    } else {
                        200
                    }
                };
                let lat = (f64::from(r.latency_us)
                    * lat_factor
                    * (0.3 + 1.4 * self.rng.f64().powi(3))) as u32;
                let id = self.rng.u32(..50_000);
                recs.push(self.record(t0, route, status, lat, client, id, false));
            }
        }
        if inj {
            if let Injection::Attack {
                rps,
                clients,
                status,
                share,
                paths,
            } = self.scenario.injection
            {
                let route = ROUTES
                    .iter()
                    .position(|r| r.name == self.scenario.route)
                    .unwrap_or(0);
                for _ in 0..poisson(&mut self.rng, rps) {
                    let client = CLIENTS + self.attackers % clients.max(1);
                    self.attackers = self.attackers.wrapping_add(1);
                    let st = if self.rng.f64() < share { status } else { 200 };
                    let id = self.rng.u32(..50_000);
                    let lat = ROUTES[route].latency_us;
                    recs.push(self.record(t0, route, st, lat, client, id, paths));
                }
            }
        }
        recs.sort_by_key(|r| r.ts_us);
        self.batch.extend(recs);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        t0: i64,
        route: usize,
        status: u16,
        total_us: u32,
        client: u32,
        id: u32,
        unknown_path: bool,
    ) -> RequestRecord {
        let r = &ROUTES[route];
        let path = if unknown_path {
            const WORDS: [&str; 8] = [
                "admin", "backup", "config", "old", "test", "wp", "api", "debug",
            ];
            format!(
                "{}{}-{}.php",
                r.path,
                WORDS[self.rng.usize(..WORDS.len())],
                self.rng.u32(..1_000_000)
            )
        } else if r.path.ends_with('/') {
            format!("{}{id}", r.path)
        } else if r.path.ends_with('=') {
            format!("{}term{}", r.path, id % 500)
        } else {
            r.path.to_owned()
        };
        let ip = 0x6440_0000u32 + client; // 100.64.0.0 + n
        RequestRecord {
            ts_us: t0 + self.rng.i64(0..1_000_000),
            listener: 0,
            route: route as u16,
            upstream: if r.name == "health" {
                NONE
            } else {
                route as u16
            },
            endpoint: if r.name == "health" { NONE } else { 0 },
            method: r.method,
            http_version: 11,
            status,
            outcome: Outcome::Ok,
            total_us,
            upstream_us: total_us.saturating_sub(300),
            ttfb_us: total_us.saturating_sub(300),
            request_bytes: 200,
            response_bytes: 800,
            client_ip: std::net::Ipv4Addr::from(ip).to_ipv6_mapped().octets(),
            path: Inline::new(path.as_bytes()),
            ..RequestRecord::default()
        }
    }
}

impl Iterator for Stream {
    type Item = RequestRecord;

    fn next(&mut self) -> Option<RequestRecord> {
        let end = self.timing.start_us + self.timing.duration_us;
        while self.batch.is_empty() {
            if self.next_second_us >= end {
                return None;
            }
            self.second();
        }
        self.batch.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_ordered_deterministic_and_carry_the_injection() {
        let timing = Timing {
            duration_us: 20 * MINUTE_US,
            inject_at_us: 10 * MINUTE_US,
            inject_for_us: 5 * MINUTE_US,
            ..Timing::standard()
        };
        let s = scenario("credential-stuffing").unwrap();
        let a: Vec<RequestRecord> = s.stream(timing, 1).collect();
        let b: Vec<RequestRecord> = s.stream(timing, 1).collect();
        assert_eq!(a.len(), b.len());
        assert!(a.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
        let label = &s.labels(&timing)[0];
        let in_attack = |r: &&RequestRecord| (label.start_us..label.end_us).contains(&r.ts_us);
        let failures = |rs: &[RequestRecord], during: bool| {
            rs.iter()
                .filter(|r| in_attack(r) == during && r.status == 401)
                .count()
        };
        // 25 a second for 5 minutes, against a few background failures.
        assert!(failures(&a, true) > 6_000, "{}", failures(&a, true));
        assert!(failures(&a, false) < 200, "{}", failures(&a, false));
        assert!(scenario("background").unwrap().labels(&timing).is_empty());
    }

    #[test]
    fn poisson_counts_have_their_mean() {
        let mut rng = fastrand::Rng::with_seed(3);
        for m in [0.5, 4.0, 80.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| poisson(&mut rng, m)).sum();
            let mean = sum as f64 / f64::from(n);
            assert!((mean - m).abs() < 0.05 * m + 0.02, "{m}: {mean}");
        }
    }
}
