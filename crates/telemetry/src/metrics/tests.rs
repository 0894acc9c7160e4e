use std::thread;

use super::*;

fn names() -> MetricNames {
    MetricNames {
        listeners: vec!["public".into()],
        routes: vec![vec!["users".into()]],
        upstreams: vec!["users-svc".into()],
    }
}

/// Two listeners (`public` with 2 routes, `admin` with none) and 2 upstream groups.
fn two_listeners() -> MetricNames {
    MetricNames {
        listeners: vec!["public".into(), "admin".into()],
        routes: vec![vec!["users".into(), "orders".into()]],
        upstreams: vec!["users-svc".into(), "orders-svc".into()],
    }
}

fn rec(listener: u16, route: u16, status: u16, total_us: u32) -> RequestRecord {
    RequestRecord {
        listener,
        route,
        status,
        total_us,
        upstream: NONE,
        ..RequestRecord::default()
    }
}

/// A deterministic spread of latencies, 1 µs .. ~2 s, log-uniform-ish.
fn latencies(seed: u64, n: usize) -> Vec<u32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let exp = (x >> 59) as u32 % 21; // 2^0 .. 2^20 µs
            let mant = ((x >> 20) as u32) % (1 << exp).max(1);
            (1u32 << exp) + mant
        })
        .collect()
}

#[test]
fn status_classes() {
    let cases = [
        (0, StatusClass::None, "none"),
        (99, StatusClass::None, "none"),
        (100, StatusClass::Informational, "1xx"),
        (101, StatusClass::Informational, "1xx"),
        (200, StatusClass::Success, "2xx"),
        (204, StatusClass::Success, "2xx"),
        (299, StatusClass::Success, "2xx"),
        (301, StatusClass::Redirection, "3xx"),
        (404, StatusClass::ClientError, "4xx"),
        (499, StatusClass::ClientError, "4xx"),
        (500, StatusClass::ServerError, "5xx"),
        (599, StatusClass::ServerError, "5xx"),
        (600, StatusClass::None, "none"),
        (u16::MAX, StatusClass::None, "none"),
    ];
    for (status, class, label) in cases {
        assert_eq!(StatusClass::from_status(status), class, "{status}");
        assert_eq!(class.as_str(), label);
    }
    for (i, c) in StatusClass::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i);
    }
}

#[test]
fn slots_by_listener_and_route() {
    let layout = Layout::new(&two_listeners());
    // public: users 0, orders 1, no-route 2; admin: no-route 3; unknown listener 4.
    assert_eq!(layout.slots, 5);
    let cases = [
        (0, 0, 0),
        (0, 1, 1),
        (0, NONE, 2),
        (0, 2, 2),
        (0, 7, 2),
        (1, 0, 3),
        (1, NONE, 3),
        (2, 0, 4),
        (NONE, NONE, 4),
    ];
    for (listener, route, slot) in cases {
        assert_eq!(layout.slot(listener, route), slot, "({listener}, {route})");
    }
}

#[test]
fn record_counts_every_dimension() {
    let names = two_listeners();
    let mut m = CoreMetrics::new(&names);
    let records = [
        RequestRecord {
            upstream: 1,
            upstream_us: 800,
            request_bytes: 10,
            response_bytes: 200,
            ..rec(0, 1, 200, 1_000)
        },
        RequestRecord {
            upstream: 1,
            upstream_us: 0, // no upstream time: not in the upstream histogram
            outcome: Outcome::UpstreamConnect,
            ..rec(0, 1, 502, 3_000)
        },
        RequestRecord {
            outcome: Outcome::NoRoute,
            request_bytes: 7,
            ..rec(0, NONE, 404, 20)
        },
        RequestRecord {
            outcome: Outcome::ClientAborted,
            ..rec(1, NONE, 0, 5)
        },
        rec(9, 0, 200, 5), // unknown listener
        RequestRecord {
            upstream: 9, // unknown upstream: counted by route, not by upstream
            upstream_us: 100,
            ..rec(0, 0, 301, 100)
        },
    ];
    for r in &records {
        m.record(r);
    }
    let s = m.current();
    // (listener, route, class, count)
    let cases = [
        (0, 0, StatusClass::Redirection, 1),
        (0, 0, StatusClass::Success, 0),
        (0, 1, StatusClass::Success, 1),
        (0, 1, StatusClass::ServerError, 1),
        (0, NONE, StatusClass::ClientError, 1),
        (1, NONE, StatusClass::None, 1),
        (NONE, NONE, StatusClass::Success, 1),
    ];
    for (listener, route, class, count) in cases {
        assert_eq!(
            s.route(listener, route).requests(class),
            count,
            "({listener}, {route}, {class:?})"
        );
    }
    assert_eq!(s.requests_total(), records.len() as u64);
    assert_eq!(s.route(0, 1).request_bytes(), 10);
    assert_eq!(s.route(0, 1).response_bytes(), 200);
    assert_eq!(s.route(0, NONE).request_bytes(), 7);
    assert_eq!(s.route(0, 1).latency().count(), 2);
    assert_eq!(s.route(0, 1).latency().sum_us(), 4_000);
    assert_eq!(s.upstream(1).unwrap().count(), 1);
    assert_eq!(s.upstream(1).unwrap().sum_us(), 800);
    assert_eq!(s.upstream(0).unwrap().count(), 0);
    assert!(s.upstream(9).is_none());
    let outcomes = [
        (Outcome::Ok, 3),
        (Outcome::UpstreamConnect, 1),
        (Outcome::NoRoute, 1),
        (Outcome::ClientAborted, 1),
        (Outcome::NoEndpoint, 0),
    ];
    for (o, n) in outcomes {
        assert_eq!(s.outcome(o), n, "{o:?}");
    }
}

#[test]
fn gauges_set_and_counters_add() {
    let mut m = CoreMetrics::new(&names());
    m.set_active_connections(5);
    m.set_active_connections(2);
    m.add_upstream_connects(1);
    m.add_upstream_connects(2);
    m.add_upstream_reuses(10);
    m.set_telemetry_dropped(4);
    m.set_telemetry_dropped(6);
    let s = m.snapshot();
    assert_eq!(s.active_connections(), 2);
    assert_eq!(s.upstream_connects(), 3);
    assert_eq!(s.upstream_reuses(), 10);
    assert_eq!(s.telemetry_dropped(), 6);
}

#[test]
fn latencies_are_clamped_but_sums_are_exact() {
    let mut m = CoreMetrics::new(&names());
    m.record(&rec(0, 0, 200, 0));
    m.record(&rec(0, 0, 200, u32::MAX));
    let lat = m.current().route(0, 0).latency();
    assert_eq!(lat.count(), 2);
    assert_eq!(lat.sum_us(), u64::from(u32::MAX));
    assert!(lat.histogram().max() >= LATENCY_HIGH_US);
    assert!(lat.histogram().max() <= lat.histogram().highest_equivalent(LATENCY_HIGH_US));
}

#[test]
fn merge_sums_counters_and_histograms() {
    let names = two_listeners();
    let (a_lat, b_lat) = (latencies(1, 5_000), latencies(2, 3_000));
    let mut a = CoreMetrics::new(&names);
    let mut b = CoreMetrics::new(&names);
    for (m, lats, status) in [(&mut a, &a_lat, 200), (&mut b, &b_lat, 500)] {
        for &us in lats.iter() {
            m.record(&RequestRecord {
                upstream: 0,
                upstream_us: us / 2 + 1,
                request_bytes: 3,
                response_bytes: 5,
                ..rec(0, 0, status, us)
            });
        }
    }
    a.set_active_connections(4);
    b.set_active_connections(6);
    a.add_upstream_connects(1);
    b.add_upstream_reuses(9);
    a.set_telemetry_dropped(2);
    b.set_telemetry_dropped(3);

    let mut merged = CoreSnapshot::new(&names);
    merged.merge(&a.snapshot()).unwrap();
    merged.merge(&b.snapshot()).unwrap();

    let r = merged.route(0, 0);
    assert_eq!(r.requests(StatusClass::Success), 5_000);
    assert_eq!(r.requests(StatusClass::ServerError), 3_000);
    assert_eq!(r.request_bytes(), 3 * 8_000);
    assert_eq!(r.response_bytes(), 5 * 8_000);
    assert_eq!(merged.outcome(Outcome::Ok), 8_000);
    assert_eq!(merged.active_connections(), 10);
    assert_eq!(merged.upstream_connects(), 1);
    assert_eq!(merged.upstream_reuses(), 9);
    assert_eq!(merged.telemetry_dropped(), 5);
    assert_eq!(merged.upstream(0).unwrap().count(), 8_000);

    // The merged histogram is the histogram of the union ...
    let mut union: Vec<u32> = a_lat.iter().chain(&b_lat).copied().collect();
    let mut direct = CoreMetrics::new(&names);
    for &us in &union {
        direct.record(&rec(0, 0, 200, us));
    }
    let lat = r.latency();
    let want = direct.current().route(0, 0).latency();
    assert_eq!(lat.count(), 8_000);
    assert_eq!(
        lat.sum_us(),
        union.iter().map(|&u| u64::from(u)).sum::<u64>()
    );
    assert_eq!(lat.sum_us(), want.sum_us());
    assert_eq!(lat.cumulative_buckets(), want.cumulative_buckets());
    // ... and its quantiles match the exact ones within HDR precision (2 digits: 1%).
    union.sort_unstable();
    for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(lat.quantile_us(q), want.quantile_us(q), "q {q}");
        let rank = ((q * union.len() as f64).ceil() as usize).clamp(1, union.len());
        let exact = f64::from(union[rank - 1]);
        let got = lat.quantile_us(q) as f64;
        assert!(
            (got - exact).abs() <= exact * 0.01 + 1.0,
            "q {q}: exact {exact}, hdr {got}"
        );
    }
}

#[test]
fn merge_rejects_other_layouts() {
    let mut a = CoreSnapshot::new(&names());
    let b = CoreSnapshot::new(&two_listeners());
    assert_eq!(a.merge(&b), Err(LayoutMismatch));
    // Equal names built separately are the same layout.
    assert_eq!(a.merge(&CoreSnapshot::new(&names())), Ok(()));
}

#[test]
fn snapshot_into_equals_snapshot() {
    let names = two_listeners();
    let mut m = CoreMetrics::new(&names);
    let mut reused = m.snapshot();
    for (i, us) in latencies(3, 500).into_iter().enumerate() {
        m.record(&RequestRecord {
            upstream: (i % 2) as u16,
            upstream_us: us,
            ..rec(0, (i % 3) as u16, 200, us)
        });
    }
    m.set_active_connections(7);
    m.snapshot_into(&mut reused);
    let fresh = m.snapshot();
    for (l, r) in [(0, 0), (0, 1), (0, NONE), (1, NONE), (NONE, NONE)] {
        let (x, y) = (reused.route(l, r), fresh.route(l, r));
        assert_eq!(x.requests_total(), y.requests_total());
        assert_eq!(x.latency().histogram(), y.latency().histogram());
        assert_eq!(x.latency().sum_us(), y.latency().sum_us());
    }
    assert_eq!(
        reused.upstream(1).unwrap().histogram(),
        fresh.upstream(1).unwrap().histogram()
    );
    assert_eq!(reused.active_connections(), 7);
    // And from other names: replaced wholesale.
    let mut other = CoreSnapshot::new(&self::names());
    m.snapshot_into(&mut other);
    assert_eq!(other.requests_total(), 500);
    assert!(other.merge(&fresh).is_ok());
}

#[test]
fn buckets_are_cumulative_and_bounds_inclusive() {
    // (latency µs, index of the first bucket that counts it; 14 = only +Inf)
    let cases = [
        (0, 0),
        (1, 0),
        (499, 0),
        (500, 0),
        (505, 1),
        (1_000, 1),
        (1_020, 2),
        (2_500, 2),
        (2_600, 3),
        (10_000, 4),
        (99_000, 7),
        (100_000, 7),
        (1_000_000, 10),
        (1_100_000, 11),
        (10_000_000, 13),
        (10_500_000, 14),
        (59_000_000, 14),
        (u32::MAX, 14),
    ];
    for (us, first) in cases {
        let mut m = CoreMetrics::new(&names());
        m.record(&rec(0, 0, 200, us));
        let buckets = m.current().route(0, 0).latency().cumulative_buckets();
        for (i, &count) in buckets.iter().enumerate() {
            assert_eq!(count, u64::from(i >= first), "{us} µs, bucket {i}");
        }
    }

    let mut m = CoreMetrics::new(&names());
    for us in latencies(4, 10_000) {
        m.record(&rec(0, 0, 200, us));
    }
    let lat = m.current().route(0, 0).latency();
    let buckets = lat.cumulative_buckets();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(buckets[LATENCY_BUCKETS.len() - 1] <= lat.count());
    assert!(buckets[0] > 0);
}

#[test]
fn histogram_memory_is_as_documented() {
    let lat = Latency::new();
    assert_eq!(lat.heap_bytes(), LATENCY_HISTOGRAM_BYTES);
    // Ten routes on one listener, three upstream groups: 12 route slots + 3 upstreams.
    let names = MetricNames {
        listeners: vec!["public".into()],
        routes: vec![(0..10).map(|i| format!("route-{i}")).collect()],
        upstreams: (0..3).map(|i| format!("svc-{i}")).collect(),
    };
    let m = CoreMetrics::new(&names);
    let histograms = 15 * LATENCY_HISTOGRAM_BYTES;
    assert!(m.memory_bytes() >= histograms);
    assert!(m.memory_bytes() < histograms + 4096, "{}", m.memory_bytes());
}

#[test]
fn label_values_are_escaped() {
    let cases = [
        ("users", "users"),
        ("", ""),
        ("a\"b", "a\\\"b"),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ("\\\"\n", "\\\\\\\"\\n"),
        ("tab\there", "tab\there"),
        ("ünï", "ünï"),
    ];
    for (raw, escaped) in cases {
        let mut out = String::from(">");
        escape_label_value(&mut out, raw);
        assert_eq!(out, format!(">{escaped}"), "{raw:?}");
    }

    let names = MetricNames {
        listeners: vec!["pub\"lic".into()],
        routes: vec![vec!["a\\b\nc".into()]],
        upstreams: vec![],
    };
    let mut out = String::new();
    render_prometheus(
        &names,
        &CoreSnapshot::new(&names),
        &ExtraGauges::default(),
        &mut out,
    );
    assert!(out.contains(
        "ringway_requests_total{listener=\"pub\\\"lic\",route=\"a\\\\b\\nc\",status_class=\"2xx\"} 0\n"
    ));
}

/// Every line is a comment or `name{labels} value` with a parsable value; every sample's
/// family has HELP and TYPE before it; no series appears twice.
fn check_exposition(text: &str) {
    let mut typed = std::collections::HashSet::new();
    let mut series = std::collections::HashSet::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = key.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| typed.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "no TYPE before {line}");
        assert!(series.insert(key.to_string()), "series twice: {line}");
    }
}

#[test]
fn histogram_lines_are_monotonic_and_end_with_count() {
    let names = two_listeners();
    let mut m = CoreMetrics::new(&names);
    for (i, us) in latencies(5, 2_000).into_iter().enumerate() {
        m.record(&RequestRecord {
            upstream: (i % 2) as u16,
            upstream_us: us / 3 + 1,
            ..rec((i % 3) as u16, (i % 4) as u16, 200, us)
        });
    }
    let mut out = String::new();
    render_prometheus(&names, &m.snapshot(), &ExtraGauges::default(), &mut out);
    check_exposition(&out);

    let mut checked = 0;
    let mut inf_buckets = 0;
    for family in [
        name::REQUEST_DURATION_SECONDS,
        name::UPSTREAM_DURATION_SECONDS,
    ] {
        let bucket_prefix = format!("{family}_bucket{{");
        let mut last: Option<(String, u64)> = None;
        for line in out.lines() {
            let (key, value) = match line.rsplit_once(' ') {
                Some(kv) if !line.starts_with('#') => kv,
                _ => continue,
            };
            if let Some(labels) = key.strip_prefix(&bucket_prefix) {
                let value: u64 = value.parse().unwrap();
                let series = labels.split(",le=").next().unwrap().to_string();
                if let Some((prev_series, prev)) = &last {
                    if *prev_series == series {
                        assert!(*prev <= value, "not monotonic: {line}");
                    }
                }
                if labels.ends_with(",le=\"+Inf\"}") {
                    inf_buckets += 1;
                }
                last = Some((series, value));
            } else if key.starts_with(&format!("{family}_count{{")) {
                let (series, inf) = last.take().expect("buckets before _count");
                assert_eq!(key, format!("{family}_count{{{series}}}"));
                let count: u64 = value.parse().unwrap();
                // The last bucket is +Inf and equals the count.
                assert_eq!(inf, count, "{line}");
                checked += 1;
            }
        }
    }
    // public: 2 routes + no-route; admin: no-route; unknown listener (listener 2); 2 upstreams.
    assert_eq!(checked, 7);
    assert_eq!(inf_buckets, 7);
    let total: u64 = out
        .lines()
        .filter(|l| l.starts_with(&format!("{}{{", name::REQUESTS_TOTAL)))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 2_000);
}

#[test]
fn unknown_listener_series_only_when_used() {
    let names = names();
    let mut m = CoreMetrics::new(&names);
    let render = |m: &CoreMetrics| {
        let mut out = String::new();
        render_prometheus(&names, &m.snapshot(), &ExtraGauges::default(), &mut out);
        out
    };
    assert!(!render(&m).contains("listener=\"\""));
    m.record(&rec(3, 0, 200, 10));
    let out = render(&m);
    assert!(
        out.contains("ringway_requests_total{listener=\"\",route=\"\",status_class=\"2xx\"} 1\n")
    );
    check_exposition(&out);
}

#[test]
fn quantiles_appear_once_recorded_and_ratio_is_zero_before_any() {
    let names = names();
    let hub = MetricsHub::new(names.clone(), 2);
    let out = hub.render_prometheus(&ExtraGauges::default());
    check_exposition(&out);
    assert!(!out.contains("quantile=\""));
    assert!(out.contains("\nringway_upstream_reuse_ratio 0\n"));
    assert!(out.contains("\nringway_active_connections 0\n"));
}

const GOLDEN: &str = r##"
# HELP ringway_requests_total Requests by listener, route and status class (none: no response sent).
# TYPE ringway_requests_total counter
ringway_requests_total{listener="public",route="users",status_class="none"} 0
ringway_requests_total{listener="public",route="users",status_class="1xx"} 0
ringway_requests_total{listener="public",route="users",status_class="2xx"} 2
ringway_requests_total{listener="public",route="users",status_class="3xx"} 0
ringway_requests_total{listener="public",route="users",status_class="4xx"} 0
ringway_requests_total{listener="public",route="users",status_class="5xx"} 1
ringway_requests_total{listener="public",route="",status_class="none"} 0
ringway_requests_total{listener="public",route="",status_class="1xx"} 0
ringway_requests_total{listener="public",route="",status_class="2xx"} 0
ringway_requests_total{listener="public",route="",status_class="3xx"} 0
ringway_requests_total{listener="public",route="",status_class="4xx"} 1
ringway_requests_total{listener="public",route="",status_class="5xx"} 0
# HELP ringway_request_duration_seconds Request latency from head complete to response complete, seconds.
# TYPE ringway_request_duration_seconds histogram
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.0005"} 1
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.001"} 1
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.0025"} 2
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.005"} 2
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.01"} 2
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.025"} 2
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.05"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.1"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.25"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="0.5"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="1"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="2.5"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="5"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="10"} 3
ringway_request_duration_seconds_bucket{listener="public",route="users",le="+Inf"} 3
ringway_request_duration_seconds_sum{listener="public",route="users"} 0.0319
ringway_request_duration_seconds_count{listener="public",route="users"} 3
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.0005"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.001"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.0025"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.005"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.01"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.025"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.05"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.1"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.25"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="0.5"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="1"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="2.5"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="5"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="10"} 1
ringway_request_duration_seconds_bucket{listener="public",route="",le="+Inf"} 1
ringway_request_duration_seconds_sum{listener="public",route=""} 0.00005
ringway_request_duration_seconds_count{listener="public",route=""} 1
# HELP ringway_request_duration_seconds_quantile Request latency quantiles since start, seconds (HDR histogram, 2 significant digits).
# TYPE ringway_request_duration_seconds_quantile gauge
ringway_request_duration_seconds_quantile{listener="public",route="users",quantile="0.5"} 0.001503
ringway_request_duration_seconds_quantile{listener="public",route="users",quantile="0.9"} 0.030079
ringway_request_duration_seconds_quantile{listener="public",route="users",quantile="0.99"} 0.030079
ringway_request_duration_seconds_quantile{listener="public",route="",quantile="0.5"} 0.00005
ringway_request_duration_seconds_quantile{listener="public",route="",quantile="0.9"} 0.00005
ringway_request_duration_seconds_quantile{listener="public",route="",quantile="0.99"} 0.00005
# HELP ringway_upstream_duration_seconds Upstream latency from request sent to response complete, seconds.
# TYPE ringway_upstream_duration_seconds histogram
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.0005"} 1
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.001"} 1
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.0025"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.005"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.01"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.025"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.05"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.1"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.25"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="0.5"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="1"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="2.5"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="5"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="10"} 2
ringway_upstream_duration_seconds_bucket{upstream="users-svc",le="+Inf"} 2
ringway_upstream_duration_seconds_sum{upstream="users-svc"} 0.0015
ringway_upstream_duration_seconds_count{upstream="users-svc"} 2
# HELP ringway_upstream_duration_seconds_quantile Upstream latency quantiles since start, seconds (HDR histogram, 2 significant digits).
# TYPE ringway_upstream_duration_seconds_quantile gauge
ringway_upstream_duration_seconds_quantile{upstream="users-svc",quantile="0.5"} 0.000301
ringway_upstream_duration_seconds_quantile{upstream="users-svc",quantile="0.9"} 0.001207
ringway_upstream_duration_seconds_quantile{upstream="users-svc",quantile="0.99"} 0.001207
# HELP ringway_request_bytes_total Bytes received from clients (heads and bodies).
# TYPE ringway_request_bytes_total counter
ringway_request_bytes_total{listener="public",route="users"} 300
ringway_request_bytes_total{listener="public",route=""} 100
# HELP ringway_response_bytes_total Bytes sent to clients (heads and bodies).
# TYPE ringway_response_bytes_total counter
ringway_response_bytes_total{listener="public",route="users"} 3000
ringway_response_bytes_total{listener="public",route=""} 1000
# HELP ringway_outcomes_total Requests by how they ended.
# TYPE ringway_outcomes_total counter
ringway_outcomes_total{outcome="ok"} 2
ringway_outcomes_total{outcome="no_route"} 1
ringway_outcomes_total{outcome="bad_request"} 0
ringway_outcomes_total{outcome="payload_too_large"} 0
ringway_outcomes_total{outcome="client_timeout"} 0
ringway_outcomes_total{outcome="client_aborted"} 0
ringway_outcomes_total{outcome="rate_limited"} 0
ringway_outcomes_total{outcome="auth_failed"} 0
ringway_outcomes_total{outcome="upstream_connect"} 0
ringway_outcomes_total{outcome="upstream_timeout"} 0
ringway_outcomes_total{outcome="upstream_error"} 0
ringway_outcomes_total{outcome="no_endpoint"} 1
ringway_outcomes_total{outcome="overloaded"} 0
# HELP ringway_active_connections Open client connections.
# TYPE ringway_active_connections gauge
ringway_active_connections 3
# HELP ringway_connections_refused_total Client connections closed at accept: a listener's per-core limit was reached.
# TYPE ringway_connections_refused_total counter
ringway_connections_refused_total 4
# HELP ringway_aggregate_requests_total Requests on aggregate routes: every part, some optional part missing, or failed by a required backend.
# TYPE ringway_aggregate_requests_total counter
ringway_aggregate_requests_total{result="complete"} 0
ringway_aggregate_requests_total{result="partial"} 1
ringway_aggregate_requests_total{result="failed"} 0
# HELP ringway_reshape_total Responses on reshaping routes: reshaped, or passed unchanged (not JSON, too large).
# TYPE ringway_reshape_total counter
ringway_reshape_total{result="applied"} 0
ringway_reshape_total{result="not_json"} 0
ringway_reshape_total{result="too_large"} 2
# HELP ringway_upstream_connections_total Upstream connections used for requests: newly opened or reused from the pool.
# TYPE ringway_upstream_connections_total counter
ringway_upstream_connections_total{kind="new"} 1
ringway_upstream_connections_total{kind="reused"} 3
# HELP ringway_tls_handshakes_total TLS handshakes with clients, by result (failed includes timed out).
# TYPE ringway_tls_handshakes_total counter
ringway_tls_handshakes_total{result="ok"} 5
ringway_tls_handshakes_total{result="failed"} 2
# HELP ringway_upstream_reuse_ratio Reused / (new + reused) upstream connections since start, 0 before any.
# TYPE ringway_upstream_reuse_ratio gauge
ringway_upstream_reuse_ratio 0.75
# HELP ringway_telemetry_dropped_total Request records dropped because a telemetry queue was full.
# TYPE ringway_telemetry_dropped_total counter
ringway_telemetry_dropped_total 2
# HELP ringway_parquet_files_written_total Parquet files written.
# TYPE ringway_parquet_files_written_total counter
ringway_parquet_files_written_total 4
# HELP ringway_parquet_rows_written_total Rows written to Parquet files.
# TYPE ringway_parquet_rows_written_total counter
ringway_parquet_rows_written_total 1234
"##;

#[test]
fn renders_golden_text() {
    let names = names();
    let mut m = CoreMetrics::new(&names);
    // (route, status, total µs, upstream µs, outcome)
    let records = [
        (0, 200, 400, 300, Outcome::Ok),
        (0, 200, 1_500, 1_200, Outcome::Ok),
        (0, 503, 30_000, 0, Outcome::NoEndpoint),
        (NONE, 404, 50, 0, Outcome::NoRoute),
    ];
    for (route, status, total_us, upstream_us, outcome) in records {
        m.record(&RequestRecord {
            upstream: if upstream_us > 0 { 0 } else { NONE },
            upstream_us,
            outcome,
            request_bytes: 100,
            response_bytes: 1_000,
            ..rec(0, route, status, total_us)
        });
    }
    m.set_active_connections(3);
    m.add_upstream_connects(1);
    m.add_upstream_reuses(3);
    m.add_tls_handshakes(5, 2);
    m.add_connections_refused(4);
    m.add_transformed(Transformed::AggregatePartial);
    m.add_transformed(Transformed::ReshapeTooLarge);
    m.add_transformed(Transformed::ReshapeTooLarge);
    m.set_telemetry_dropped(2);
    let extra = ExtraGauges {
        parquet_files_written: 4,
        parquet_rows_written: 1234,
    };

    let mut out = String::new();
    render_prometheus(&names, &m.snapshot(), &extra, &mut out);
    assert_eq!(out, &GOLDEN[1..]);
    check_exposition(&out);

    // Through the hub, split over two cores: the same text.
    let hub = MetricsHub::new(names.clone(), 2);
    let mut a = CoreMetrics::new(&names);
    let mut b = CoreMetrics::new(&names);
    for (i, (route, status, total_us, upstream_us, outcome)) in records.into_iter().enumerate() {
        let core = if i % 2 == 0 { &mut a } else { &mut b };
        core.record(&RequestRecord {
            upstream: if upstream_us > 0 { 0 } else { NONE },
            upstream_us,
            outcome,
            request_bytes: 100,
            response_bytes: 1_000,
            ..rec(0, route, status, total_us)
        });
    }
    a.set_active_connections(1);
    b.set_active_connections(2);
    a.add_upstream_connects(1);
    b.add_upstream_reuses(3);
    a.add_tls_handshakes(2, 2);
    b.add_tls_handshakes(3, 0);
    a.add_connections_refused(1);
    b.add_connections_refused(3);
    a.add_transformed(Transformed::AggregatePartial);
    a.add_transformed(Transformed::ReshapeTooLarge);
    b.add_transformed(Transformed::ReshapeTooLarge);
    a.set_telemetry_dropped(2);
    assert!(hub.publish(0, a.snapshot()).is_none());
    assert!(hub.publish(1, b.snapshot()).is_none());
    assert_eq!(hub.render_prometheus(&extra), &GOLDEN[1..]);
}

#[test]
fn hub_publish_keeps_latest_and_recycles() {
    let names = names();
    let hub = MetricsHub::new(names.clone(), 2);
    let mut m = CoreMetrics::new(&names);
    assert_eq!(hub.cores_reporting(), 0);

    m.record(&rec(0, 0, 200, 10));
    assert!(hub.publish(0, m.snapshot()).is_none());
    assert_eq!(hub.cores_reporting(), 1);
    // Unread: the previous snapshot comes back for reuse; the newest wins.
    m.record(&rec(0, 0, 200, 10));
    let spare = hub
        .publish(0, m.snapshot())
        .expect("unread snapshot handed back");
    assert_eq!(spare.requests_total(), 1);
    assert_eq!(hub.merged().requests_total(), 2);
    // Read by a scrape: the next publish gets nothing back (the scrape still holds the
    // latest); the one after gets the previously read snapshot.
    m.record(&rec(0, 0, 200, 10));
    let mut spare = spare;
    m.snapshot_into(&mut spare);
    assert!(hub.publish(0, spare).is_none());
    assert_eq!(hub.merged().requests_total(), 3);
    m.record(&rec(0, 0, 200, 10));
    let recycled = hub
        .publish(0, m.snapshot())
        .expect("the scraped one, recycled");
    assert_eq!(recycled.requests_total(), 2);
    assert_eq!(hub.merged().requests_total(), 4);

    // Refused: unknown core, other layout.
    let refused = hub.publish(2, m.snapshot()).expect("core out of range");
    assert_eq!(refused.requests_total(), 4);
    let other = CoreMetrics::new(&two_listeners());
    assert!(hub.publish(1, other.snapshot()).is_some());
    assert_eq!(hub.cores_reporting(), 1);
    assert_eq!(hub.merged().requests_total(), 4);
}

#[test]
fn hub_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MetricsHub>();
    fn assert_send<T: Send>() {}
    assert_send::<CoreMetrics>();
    assert_send::<CoreSnapshot>();

    const CORES: usize = 2;
    const PER_CORE: u64 = 20_000;
    let names = two_listeners();
    let hub = std::sync::Arc::new(MetricsHub::new(names.clone(), CORES));
    let workers: Vec<_> = (0..CORES)
        .map(|core| {
            let hub = std::sync::Arc::clone(&hub);
            let names = names.clone();
            thread::spawn(move || {
                let mut m = CoreMetrics::new(&names);
                let mut spare = None;
                for i in 0..PER_CORE {
                    m.record(&rec(0, (i % 2) as u16, 200, (i % 5_000) as u32));
                    if i % 1_000 == 999 {
                        let snap = match spare.take() {
                            Some(mut s) => {
                                m.snapshot_into(&mut s);
                                s
                            }
                            None => m.snapshot(),
                        };
                        spare = hub.publish(core, snap);
                    }
                }
            })
        })
        .collect();
    let mut last = 0;
    while !workers.iter().all(|w| w.is_finished()) {
        let merged = hub.merged();
        // Cumulative snapshots: a scrape never goes backwards.
        assert!(merged.requests_total() >= last);
        last = merged.requests_total();
        check_exposition(&hub.render_prometheus(&ExtraGauges::default()));
    }
    for w in workers {
        w.join().unwrap();
    }
    let merged = hub.merged();
    assert_eq!(merged.requests_total(), CORES as u64 * PER_CORE);
    assert_eq!(
        merged.route(0, 0).latency().count() + merged.route(0, 1).latency().count(),
        CORES as u64 * PER_CORE
    );
}

#[test]
fn a_reload_that_adds_names_keeps_every_count() {
    let first = names();
    let mut m = CoreMetrics::new(&first);
    let hub = MetricsHub::new(first.clone(), 2);
    m.record(&rec(0, 0, 200, 100));
    m.record(&rec(0, NONE, 404, 10));
    assert!(hub.publish(0, m.snapshot()).is_none());
    // The registry appended a route to listener 0 and a second listener.
    let mut grown = first.clone();
    grown.routes[0].push("late".into());
    grown.listeners.push("added".into());
    grown.routes.push(vec!["only".into()]);
    assert!(hub.set_names(grown.clone()));
    // Core 0's published snapshot still has the old layout; core 1 moved already.
    let mut other = CoreMetrics::new(&first);
    assert!(other.relayout(&grown));
    let late = first.routes[0].len() as u16;
    other.record(&rec(0, late, 200, 5));
    other.record(&rec(first.listeners.len() as u16, 0, 500, 5));
    assert!(hub.publish(1, other.snapshot()).is_none());
    let merged = hub.merged();
    assert_eq!(merged.requests_total(), 4);
    assert_eq!(merged.route(0, 0).requests(StatusClass::Success), 1);
    assert_eq!(merged.route(0, NONE).requests(StatusClass::ClientError), 1);
    assert_eq!(merged.route(0, late).requests_total(), 1);
    let text = hub.render_prometheus(&ExtraGauges::default());
    assert!(text.contains("listener=\"added\",route=\"only\""), "{text}");
    // Shrinking is refused: ids would change meaning.
    assert!(!hub.set_names(first.clone()));
    assert!(!CoreMetrics::new(&grown).relayout(&first));
}
