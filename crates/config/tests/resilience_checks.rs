//! `health_check`, `outlier_detection`, `circuit_breakers` and `panic_threshold`: what a group
//! compiles into, and each refused value with its path.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::time::Duration;

use ringway_config::from_yaml_str;
use ringway_resilience::{BreakerLimits, OutlierDetection, ProbeKind};

/// A configuration whose only group is `g` with one endpoint and `extra` (flow-mapping
/// entries).
fn group(extra: &str) -> String {
    format!(
        "upstreams:\n  g: {{ endpoints: [{{ address: \"127.0.0.1:1\" }}], {extra} }}\nlisteners:\n  \
         - name: public\n    listen: 127.0.0.1:0\n    routes: [{{ name: r, proxy: {{ upstream: g }} }}]\n"
    )
}

fn errors(yaml: &str) -> Vec<String> {
    match from_yaml_str(yaml) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_group_compiles_with_its_checks_and_limits() {
    let cfg = from_yaml_str(&group(
        "health_check: { path: /healthz, host: api.internal, interval: 2s, timeout: 500ms, \
         jitter: 100ms, healthy_threshold: 1, unhealthy_threshold: 2, \
         expected_statuses: [\"200\", \"204-299\"] }, \
         outlier_detection: { consecutive_5xx: 3, base_ejection_time: 1s, max_ejection_time: 4s, \
         max_ejection_percent: 50 }, \
         circuit_breakers: { max_requests: 2, max_retries: 0, max_wait: 0s }, panic_threshold: 0",
    ))
    .unwrap();
    let g = &cfg.upstreams[0];
    let h = g.health_check.as_ref().unwrap();
    assert_eq!(h.interval, Duration::from_secs(2));
    assert_eq!(h.timeout, Duration::from_millis(500));
    assert_eq!((h.healthy_threshold, h.unhealthy_threshold), (1, 2));
    match &h.kind {
        ProbeKind::Http {
            path,
            host,
            expected,
        } => {
            assert_eq!(
                (path.as_str(), host.as_deref()),
                ("/healthz", Some("api.internal"))
            );
            assert!(expected.contains(200) && expected.contains(250) && !expected.contains(300));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        g.outlier,
        OutlierDetection {
            consecutive_5xx: Some(3),
            base_ejection_time: Duration::from_secs(1),
            max_ejection_time: Duration::from_secs(4),
            max_ejection_percent: 50,
            ..OutlierDetection::default()
        }
    );
    assert_eq!(
        g.breakers,
        BreakerLimits {
            max_requests: 2,
            max_retries: 0,
            max_wait: Duration::ZERO,
            ..BreakerLimits::default()
        }
    );
    assert_eq!(g.panic_threshold, 0);

    let tcp = from_yaml_str(&group(
        "health_check: { type: tcp }, outlier_detection: { consecutive_local_failures: 0 }",
    ))
    .unwrap();
    let g = &tcp.upstreams[0];
    assert_eq!(g.health_check.as_ref().unwrap().kind, ProbeKind::Tcp);
    assert_eq!(g.outlier.consecutive_local_failures, None, "0 turns it off");
    assert_eq!(g.adaptive, None, "off unless configured");
    let adaptive = from_yaml_str(&group("adaptive_concurrency: { min_rtt_samples: 20 }")).unwrap();
    assert_eq!(
        adaptive.upstreams[0].adaptive,
        Some(ringway_resilience::AdaptiveSettings {
            min_rtt_samples: 20,
            ..Default::default()
        })
    );
}

#[test]
fn every_bad_value_is_named_by_its_path() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "health_check: { type: udp }",
            "upstreams.g.health_check.type",
            "\"udp\" is not one of: http, tcp",
        ),
        (
            "health_check: { path: healthz }",
            "upstreams.g.health_check.path",
            "must start with /",
        ),
        (
            "health_check: { path: \"/a b\" }",
            "upstreams.g.health_check.path",
            "no spaces",
        ),
        (
            "health_check: { interval: 1s, timeout: 1s }",
            "upstreams.g.health_check.timeout",
            "shorter than interval",
        ),
        (
            "health_check: { interval: 0s }",
            "upstreams.g.health_check.interval",
            "greater than zero",
        ),
        (
            "health_check: { interval: 5 }",
            "upstreams.g.health_check.interval",
            "",
        ),
        (
            "health_check: { healthy_threshold: 0 }",
            "upstreams.g.health_check.healthy_threshold",
            "outside 1..=100",
        ),
        (
            "health_check: { unhealthy_threshold: 101 }",
            "upstreams.g.health_check.unhealthy_threshold",
            "outside 1..=100",
        ),
        (
            "health_check: { expected_statuses: [\"200\", \"2xx\"] }",
            "upstreams.g.health_check.expected_statuses[1]",
            "\"2xx\"",
        ),
        (
            "health_check: { expected_statuses: [\"399-300\"] }",
            "upstreams.g.health_check.expected_statuses[0]",
            "low end",
        ),
        (
            "health_check: { expected_statuses: [] }",
            "upstreams.g.health_check.expected_statuses",
            "at least one",
        ),
        (
            "health_check: { type: tcp, path: /x }",
            "upstreams.g.health_check.path",
            "only used with type: http",
        ),
        (
            "health_check: { host: \"a b\" }",
            "upstreams.g.health_check.host",
            "",
        ),
        (
            "health_check: { paht: /x }",
            "upstreams.g.health_check.paht",
            "unknown",
        ),
        (
            "outlier_detection: { max_ejection_percent: 101 }",
            "upstreams.g.outlier_detection.max_ejection_percent",
            "outside 0..=100",
        ),
        (
            "outlier_detection: { base_ejection_time: 10s, max_ejection_time: 5s }",
            "upstreams.g.outlier_detection.max_ejection_time",
            "at least base_ejection_time",
        ),
        (
            "outlier_detection: { base_ejection_time: 0s }",
            "upstreams.g.outlier_detection.base_ejection_time",
            "greater than zero",
        ),
        (
            "circuit_breakers: { max_requests: 0 }",
            "upstreams.g.circuit_breakers.max_requests",
            "greater than zero",
        ),
        (
            "circuit_breakers: { max_connections: 0 }",
            "upstreams.g.circuit_breakers.max_connections",
            "greater than zero",
        ),
        (
            "panic_threshold: 150",
            "upstreams.g.panic_threshold",
            "outside 0..=100",
        ),
        (
            "adaptive_concurrency: { min_limit: 0 }",
            "upstreams.g.adaptive_concurrency.min_limit",
            "greater than zero",
        ),
        (
            "adaptive_concurrency: { min_limit: 10, max_limit: 5 }",
            "upstreams.g.adaptive_concurrency.max_limit",
            "at least min_limit",
        ),
        (
            "adaptive_concurrency: { sample_window: 0s }",
            "upstreams.g.adaptive_concurrency.sample_window",
            "greater than zero",
        ),
        (
            "adaptive_concurrency: { buffer_percent: 300 }",
            "upstreams.g.adaptive_concurrency.buffer_percent",
            "outside 0..=100",
        ),
    ];
    for (extra, path, message) in cases {
        let errs = errors(&group(extra));
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(message)),
            "{extra}: wanted {path}: …{message}…, got {errs:?}"
        );
    }
}
