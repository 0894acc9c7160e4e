//! Every detector on synthetic series (flat, spike, step, slow drift, noise, daily rhythm, low
//! counts), with time taken from the observations: nothing here reads a clock.

use super::*;

const BUCKET: i64 = 10_000_000;
/// A Monday, 00:00 UTC.
const T0: i64 = 1_795_478_400_000_000;
const MIN: i64 = 60_000_000;
const HOUR: i64 = 60 * MIN;

/// What one request of a series looks like.
#[derive(Clone, Copy)]
struct Req {
    status: u16,
    total_us: u32,
    /// Client index (`c<i>`); `u32::MAX` for a client drawn from a crowd of 200.
    client: u32,
    /// A path suffix (the id in `/users/{id}`); `u32::MAX` for a random id.
    path: u32,
}

const NORMAL: Req = Req {
    status: 200,
    total_us: 20_000,
    client: u32::MAX,
    path: u32::MAX,
};

/// One generated request.
struct Event {
    ts_us: i64,
    route: &'static str,
    path: String,
    status: u16,
    total_us: u32,
    client: String,
}

/// Generates requests for `[from, to)` at `rate(t)` requests per bucket (a Poisson process),
/// each shaped by `shape(t, rng)`, on `route`.
fn feed(
    out: &mut Vec<Event>,
    rng: &mut fastrand::Rng,
    route: &'static str,
    from: i64,
    to: i64,
    rate: impl Fn(i64) -> f64,
    shape: impl Fn(i64, &mut fastrand::Rng) -> Req,
) {
    let mut t = from;
    while t < to {
        let per_bucket = rate(t).max(0.0);
        // Exponential gaps: a Poisson process at `per_bucket` per bucket.
        let gap = if per_bucket > 0.0 {
            (-(1.0 - rng.f64()).ln() / per_bucket * BUCKET as f64) as i64
        } else {
            BUCKET
        };
        t += gap.max(1);
        if t >= to || per_bucket <= 0.0 {
            continue;
        }
        let r = shape(t, rng);
        let client = if r.client == u32::MAX {
            format!("10.0.{}.{}", rng.u32(0..2), rng.u32(0..100))
        } else {
            format!("c{}", r.client)
        };
        let id = if r.path == u32::MAX {
            rng.u32(..100_000)
        } else {
            r.path
        };
        out.push(Event {
            ts_us: t,
            route,
            path: format!("/{route}/{id}"),
            status: r.status,
            total_us: (f64::from(r.total_us) * (0.5 + rng.f64())) as u32,
            client,
        });
    }
}

/// Generates a whole series, feeds it in time order, and returns every finding.
fn run(series: impl FnOnce(&mut Vec<Event>, &mut fastrand::Rng), end: i64) -> Vec<Finding> {
    let mut d = Detector::new(Config::default());
    let mut rng = fastrand::Rng::with_seed(7);
    let mut events = Vec::new();
    series(&mut events, &mut rng);
    events.sort_by_key(|e| e.ts_us);
    for e in &events {
        d.observe(&Observation {
            ts_us: e.ts_us,
            route: e.route,
            method: "GET",
            path: e.path.as_bytes(),
            status: e.status,
            total_us: e.total_us,
            client: &e.client,
        });
    }
    // Judge every bucket up to the end of the traffic (not beyond: silence after it would be
    // a drop).
    d.advance(end + d.config().lateness_us);
    d.finish()
}

fn kinds(f: &[Finding]) -> Vec<(Kind, String)> {
    f.iter()
        .map(|f| (f.kind, f.endpoint.route.clone()))
        .collect()
}

/// Exactly one finding, of `kind` on `route`, overlapping `[from, to)` and starting within
/// 30 s of `from`.
#[track_caller]
fn assert_one(f: &[Finding], kind: Kind, route: &str, from: i64, to: i64) {
    assert_eq!(f.len(), 1, "{:#?}", kinds(f));
    let f = &f[0];
    assert_eq!((f.kind, f.endpoint.route.as_str()), (kind, route), "{f:#?}");
    assert!(f.start_us < to && f.end_us > from, "{f:#?}");
    assert!(
        (f.start_us - from).abs() <= 30_000_000,
        "starts {} s after the anomaly",
        (f.start_us - from) / 1_000_000
    );
}

fn flat(_: i64) -> f64 {
    20.0
}

fn normal(_: i64, _: &mut fastrand::Rng) -> Req {
    NORMAL
}

#[test]
fn flat_traffic_finds_nothing() {
    let end = T0 + 3 * HOUR;
    let f = run(|d, rng| feed(d, rng, "users", T0, end, flat, normal), end);
    assert!(f.is_empty(), "{:#?}", kinds(&f));
}

#[test]
fn a_spike_is_one_surge_finding() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 20 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let rate = |t: i64| if (from..to).contains(&t) { 200.0 } else { 20.0 };
            feed(d, rng, "users", T0, end, rate, normal);
        },
        end,
    );
    assert_one(&f, Kind::TrafficSurge, "users", from, to);
    assert!(f[0].severity >= Severity::High, "{:?}", f[0].severity);
    // One finding for the whole 20 minutes, ending with the surge.
    assert!((f[0].end_us - to).abs() <= 30_000_000, "{:#?}", f[0]);
}

#[test]
fn a_drop_is_one_drop_finding() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 10 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let rate = |t: i64| if (from..to).contains(&t) { 1.0 } else { 40.0 };
            feed(d, rng, "orders", T0, end, rate, normal);
        },
        end,
    );
    assert_one(&f, Kind::TrafficDrop, "orders", from, to);
}

#[test]
fn a_lasting_step_is_one_finding_then_the_new_normal() {
    let (from, end) = (T0 + HOUR, T0 + 4 * HOUR);
    let f = run(
        |d, rng| {
            let rate = |t: i64| if t >= from { 100.0 } else { 20.0 };
            feed(d, rng, "users", T0, end, rate, normal);
        },
        end,
    );
    assert_eq!(f.len(), 1, "{:#?}", kinds(&f));
    assert_eq!(f[0].kind, Kind::TrafficSurge);
    assert!(
        f[0].end_us < end - HOUR,
        "the new level became the baseline: {:#?}",
        f[0]
    );
}

#[test]
fn slow_drift_and_noise_find_nothing() {
    let end = T0 + 6 * HOUR;
    // 10 -> 60 per bucket over six hours, and bursty: some buckets twice the rate.
    let f = run(
        |d, rng| {
            let rate = |t: i64| {
                let base = 10.0 + 50.0 * (t - T0) as f64 / (6 * HOUR) as f64;
                if (t / BUCKET) % 7 == 3 {
                    base * 2.0
                } else {
                    base
                }
            };
            feed(d, rng, "search", T0, end, rate, normal);
        },
        end,
    );
    assert!(f.is_empty(), "{:#?}", kinds(&f));
}

/// Day-time traffic 30× night-time, with a smooth rhythm.
fn daily(t: i64) -> f64 {
    let day = ((t - T0).rem_euclid(24 * HOUR)) as f64 / (24 * HOUR) as f64;
    // 1 at 14:00, 0 at 02:00.
    let s = ((std::f64::consts::TAU * (day - 0.58)).cos() + 1.0) / 2.0;
    1.0 + 29.0 * s * s
}

#[test]
fn a_daily_rhythm_finds_nothing_but_a_daytime_level_at_night_is_found() {
    // Three days of rhythm, then at 03:00 on the fourth night a daytime level for 20 minutes:
    // not surprising to a short-term baseline taken at noon, surprising at 03:00.
    let night = T0 + 3 * 24 * HOUR + 3 * HOUR;
    let end = night + HOUR;
    let f = run(
        |d, rng| {
            let rate = |t: i64| {
                if (night..night + 20 * MIN).contains(&t) {
                    30.0
                } else {
                    daily(t)
                }
            };
            feed(d, rng, "products", T0, end, rate, normal);
        },
        end,
    );
    assert_one(&f, Kind::TrafficSurge, "products", night, night + 20 * MIN);
}

#[test]
fn low_counts_find_nothing() {
    let end = T0 + 6 * HOUR;
    let f = run(
        |d, rng| {
            // About one request a minute, with occasional clusters of a handful.
            let rate = |t: i64| if (t / MIN) % 37 == 0 { 3.0 } else { 0.15 };
            let shape = |t: i64, _: &mut fastrand::Rng| Req {
                status: if (t / MIN) % 53 == 0 { 500 } else { 200 },
                ..NORMAL
            };
            feed(d, rng, "admin", T0, end, rate, shape);
        },
        end,
    );
    assert!(f.is_empty(), "{:#?}", kinds(&f));
}

#[test]
fn a_5xx_burst_is_found() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 5 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let shape = |t: i64, rng: &mut fastrand::Rng| {
                let share = if (from..to).contains(&t) { 0.4 } else { 0.01 };
                Req {
                    status: if rng.f64() < share { 503 } else { 200 },
                    ..NORMAL
                }
            };
            feed(d, rng, "orders", T0, end, flat, shape);
        },
        end,
    );
    assert_one(&f, Kind::ErrorBurst, "orders", from, to);
}

#[test]
fn a_quiet_endpoints_5xx_burst_is_found_over_a_longer_span() {
    // Two requests per 10 s bucket: a 20 s window never holds 10 errors, five minutes do.
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 15 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let shape = |t: i64, rng: &mut fastrand::Rng| {
                let share = if (from..to).contains(&t) { 0.5 } else { 0.005 };
                Req {
                    status: if rng.f64() < share { 503 } else { 200 },
                    ..NORMAL
                }
            };
            feed(d, rng, "orders", T0, end, |_| 2.0, shape);
        },
        end,
    );
    assert_eq!(f.len(), 1, "{:#?}", kinds(&f));
    assert_eq!(f[0].kind, Kind::ErrorBurst);
    assert!(f[0].start_us < to && f[0].end_us > from, "{:#?}", f[0]);
    // Found once five minutes of it have been seen, and not before a minute.
    let delay = f[0].detected_us - from;
    assert!((MIN..=6 * MIN).contains(&delay), "{} s", delay / 1_000_000);
}

#[test]
fn an_episode_hovering_at_its_threshold_stays_one_finding() {
    // A 5xx share just above the opening bar for 30 minutes: windows dip below it by chance,
    // and the lower bar for an open episode keeps it whole.
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 30 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let shape = |t: i64, rng: &mut fastrand::Rng| {
                let share = if (from..to).contains(&t) { 0.2 } else { 0.01 };
                Req {
                    status: if rng.f64() < share { 503 } else { 200 },
                    ..NORMAL
                }
            };
            feed(d, rng, "orders", T0, end, |_| 30.0, shape);
        },
        end,
    );
    assert_one(&f, Kind::ErrorBurst, "orders", from, to);
    assert!((f[0].end_us - to).abs() <= MIN, "{:#?}", f[0]);
}

#[test]
fn credential_stuffing_from_one_address_and_from_many_is_found() {
    for spread in [1u32, 300] {
        let (from, to, end) = (T0 + HOUR, T0 + HOUR + 10 * MIN, T0 + 2 * HOUR);
        let f = run(
            |d, rng| {
                feed(d, rng, "login", T0, end, flat, |_, rng| Req {
                    status: if rng.f64() < 0.05 { 401 } else { 200 },
                    ..NORMAL
                });
                let attack = |t: i64| if (from..to).contains(&t) { 100.0 } else { 0.0 };
                feed(d, rng, "login", from, to, attack, |_, rng| Req {
                    status: 401,
                    client: 1000 + rng.u32(..spread),
                    ..NORMAL
                });
            },
            end,
        );
        // The attack is also a surge of requests: reported as what explains it.
        assert_one(&f, Kind::AuthFailureStorm, "login", from, to);
        // The attackers are the clients of concern (besides the few users mistyping).
        assert!(
            f[0].distinct_clients >= u64::from(spread).min(200),
            "{:?}",
            f[0]
        );
        assert!(
            f[0].top_clients[0].client.starts_with("c1"),
            "{:?}",
            f[0].top_clients
        );
    }
}

#[test]
fn rate_limit_saturation_is_found() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 10 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            feed(d, rng, "search", T0, end, flat, normal);
            let burst = |t: i64| if (from..to).contains(&t) { 60.0 } else { 0.0 };
            feed(d, rng, "search", from, to, burst, |_, rng| Req {
                status: if rng.f64() < 0.8 { 429 } else { 200 },
                client: 77,
                ..NORMAL
            });
        },
        end,
    );
    // One client pressing against its limit: the refusals explain the extra traffic.
    assert_eq!(
        kinds(&f)[0],
        (Kind::RateLimitSaturation, "search".to_owned()),
        "{:#?}",
        kinds(&f)
    );
    assert!(
        f.iter().all(|f| f.start_us < to && f.end_us > from),
        "{:#?}",
        kinds(&f)
    );
}

#[test]
fn a_latency_regression_is_found() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 10 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            let shape = |t: i64, _: &mut fastrand::Rng| Req {
                total_us: if (from..to).contains(&t) {
                    150_000
                } else {
                    20_000
                },
                ..NORMAL
            };
            feed(d, rng, "users", T0, end, flat, shape);
        },
        end,
    );
    assert_one(&f, Kind::LatencyRegression, "users", from, to);
}

#[test]
fn one_client_scraping_is_found() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 10 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            feed(d, rng, "products", T0, end, flat, normal);
            let scraper = |t: i64| if (from..to).contains(&t) { 60.0 } else { 0.0 };
            feed(d, rng, "products", from, to, scraper, |_, _| Req {
                client: 5,
                ..NORMAL
            });
        },
        end,
    );
    assert_one(&f, Kind::SingleClientDominance, "products", from, to);
    assert_eq!(f[0].top_clients[0].client, "c5");
}

#[test]
fn path_scanning_is_found() {
    let (from, to, end) = (T0 + HOUR, T0 + HOUR + 5 * MIN, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            feed(d, rng, "users", T0, end, flat, |_, rng| Req {
                status: if rng.f64() < 0.02 { 404 } else { 200 },
                ..NORMAL
            });
            let scan = |t: i64| if (from..to).contains(&t) { 15.0 } else { 0.0 };
            feed(d, rng, "users", from, to, scan, |_, _| Req {
                status: 404,
                client: 9,
                ..NORMAL
            });
        },
        end,
    );
    assert_one(&f, Kind::Scanning, "users", from, to);
    assert_eq!(f[0].top_clients[0].client, "c9");
}

#[test]
fn a_new_endpoint_is_found_once_and_not_during_the_warm_up() {
    let (from, end) = (T0 + HOUR, T0 + 2 * HOUR);
    let f = run(
        |d, rng| {
            feed(d, rng, "users", T0, end, flat, normal);
            // Present from the start: not new.
            feed(d, rng, "health", T0, end, |_| 1.0, normal);
            feed(d, rng, "export", from, end, |_| 10.0, normal);
        },
        end,
    );
    assert_one(&f, Kind::NewEndpoint, "export", from, end);
}

#[test]
fn findings_serialise_as_json() {
    let f = Finding {
        kind: Kind::Scanning,
        endpoint: Endpoint {
            route: "users".into(),
            method: "GET".into(),
            template: "/users/{id}".into(),
        },
        start_us: 1,
        detected_us: 2,
        end_us: 2,
        open: false,
        severity: Severity::High,
        evidence: Evidence {
            metric: "distinct 404 paths of one client per window",
            baseline: 0.0,
            observed: 64.0,
            p_value: 0.0,
        },
        requests: 300,
        top_clients: vec![ClientShare {
            client: "10.0.0.9".into(),
            requests: 290,
        }],
        distinct_clients: 1,
    };
    let v: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(v["kind"], "scanning");
    assert_eq!(v["severity"], "high");
    assert_eq!(v["endpoint"]["template"], "/users/{id}");
    assert_eq!(v["top_clients"][0]["requests"], 290);
}
