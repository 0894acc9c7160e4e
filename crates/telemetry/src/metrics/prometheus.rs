//! Prometheus text exposition format 0.0.4: metric names, label escaping and rendering.

use std::fmt::Write as _;

use super::{CoreSnapshot, Latency, MetricNames, StatusClass, Transformed};
use crate::record::Outcome;

/// Metric and label names. Every rendered name comes from here.
pub mod name {
    /// Counter: requests by `listener`, `route`, `status_class`.
    pub const REQUESTS_TOTAL: &str = "ringway_requests_total";
    /// Histogram: total request latency in seconds by `listener`, `route`.
    pub const REQUEST_DURATION_SECONDS: &str = "ringway_request_duration_seconds";
    /// Gauge: total request latency quantiles in seconds by `listener`, `route`, `quantile`.
    pub const REQUEST_DURATION_QUANTILE: &str = "ringway_request_duration_seconds_quantile";
    /// Histogram: upstream latency in seconds by `upstream`.
    pub const UPSTREAM_DURATION_SECONDS: &str = "ringway_upstream_duration_seconds";
    /// Gauge: upstream latency quantiles in seconds by `upstream`, `quantile`.
    pub const UPSTREAM_DURATION_QUANTILE: &str = "ringway_upstream_duration_seconds_quantile";
    /// Counter: bytes received from clients by `listener`, `route`.
    pub const REQUEST_BYTES_TOTAL: &str = "ringway_request_bytes_total";
    /// Counter: bytes sent to clients by `listener`, `route`.
    pub const RESPONSE_BYTES_TOTAL: &str = "ringway_response_bytes_total";
    /// Counter: requests by `outcome`.
    pub const OUTCOMES_TOTAL: &str = "ringway_outcomes_total";
    /// Gauge: open client connections.
    pub const ACTIVE_CONNECTIONS: &str = "ringway_active_connections";
    /// Counter: upstream connections by `kind` (`new`, `reused`).
    pub const UPSTREAM_CONNECTIONS_TOTAL: &str = "ringway_upstream_connections_total";
    /// Gauge: reused / (new + reused) upstream connections, 0 before any.
    pub const UPSTREAM_REUSE_RATIO: &str = "ringway_upstream_reuse_ratio";
    /// Counter: records dropped because a telemetry queue was full.
    pub const TELEMETRY_DROPPED_TOTAL: &str = "ringway_telemetry_dropped_total";
    /// Counter: Parquet files written by analytics.
    pub const PARQUET_FILES_WRITTEN_TOTAL: &str = "ringway_parquet_files_written_total";
    /// Counter: rows written to Parquet by analytics.
    pub const PARQUET_ROWS_WRITTEN_TOTAL: &str = "ringway_parquet_rows_written_total";

    /// Gauge: tokens a core holds leased from the shared rate-limit tables, by `core`.
    pub const RATELIMIT_DRIFT_TOKENS: &str = "ringway_ratelimit_drift_tokens";
    /// Counter: token leases taken from the shared rate-limit tables, by `core`.
    pub const RATELIMIT_LEASES_TOTAL: &str = "ringway_ratelimit_leases_total";
    /// Counter: checks that found a shared rate-limit table full.
    pub const RATELIMIT_TABLE_FULL_TOTAL: &str = "ringway_ratelimit_table_full_total";
    /// Gauge: age of the key set last fetched from a JWKS URL, by `provider`.
    pub const JWKS_AGE_SECONDS: &str = "ringway_jwks_age_seconds";
    /// Counter: failed JWKS fetches, by `provider`.
    pub const JWKS_FETCH_ERRORS_TOTAL: &str = "ringway_jwks_fetch_errors_total";

    /// Counter: requests a rule in shadow mode would have refused (it let them through), by
    /// `route` (`listener/route`, `-` for the global IP filter) and `rule`.
    pub const POLICY_SHADOW_REFUSALS_TOTAL: &str = "ringway_policy_shadow_refusals_total";
    /// Gauge: anomaly findings going on, by `anomaly` kind.
    pub const ANOMALIES_OPEN: &str = "ringway_anomalies_open";
    /// Counter: anomaly findings so far, by `anomaly` kind.
    pub const ANOMALIES_TOTAL: &str = "ringway_anomalies_total";
    /// Counter: records the anomaly detectors did not see (their queue was full).
    pub const ANOMALY_RECORDS_DROPPED_TOTAL: &str = "ringway_anomaly_records_dropped_total";
    /// Counter: requests on aggregate routes, by `result` (`complete`, `partial`, `failed`).
    pub const AGGREGATE_REQUESTS_TOTAL: &str = "ringway_aggregate_requests_total";
    /// Counter: responses on reshaping routes, by `result` (`applied`, `not_json`,
    /// `too_large`).
    pub const RESHAPE_TOTAL: &str = "ringway_reshape_total";
    /// Counter: connections closed at accept by a listener's per-core limit.
    pub const CONNECTIONS_REFUSED_TOTAL: &str = "ringway_connections_refused_total";
    /// Counter: client TLS handshakes by `result` (`ok`, `failed`).
    pub const TLS_HANDSHAKES_TOTAL: &str = "ringway_tls_handshakes_total";
    /// Gauge: when each served TLS certificate expires, unix seconds.
    pub const TLS_CERT_EXPIRY: &str = "ringway_tls_certificate_expiry_timestamp_seconds";
    /// Counter: certificate reloads by result.
    pub const TLS_CERT_RELOADS: &str = "ringway_tls_certificate_reloads_total";
    /// Counter: requests on cached routes, by `core` and `result` (`hit`, `miss`).
    pub const CACHE_REQUESTS_TOTAL: &str = "ringway_cache_requests_total";
    /// Counter: responses to cache misses, by `core` and `result` (`stored`, `not_stored`).
    pub const CACHE_STORES_TOTAL: &str = "ringway_cache_stores_total";
    /// Counter: cache entries purged or invalidated, by `core`.
    pub const CACHE_PURGED_TOTAL: &str = "ringway_cache_purged_total";
    /// Gauge: bytes of stored responses, by `core`.
    pub const CACHE_BYTES: &str = "ringway_cache_bytes";
    /// Gauge: cache keys stored, by `core`.
    pub const CACHE_ENTRIES: &str = "ringway_cache_entries";
    /// Counter: cache invalidations and purges a core's full queue dropped.
    pub const CACHE_MESSAGES_DROPPED_TOTAL: &str = "ringway_cache_messages_dropped_total";
    /// Gauge: the configuration generation new requests run on (1 at start, +1 per reload).
    pub const CONFIG_GENERATION: &str = "ringway_config_generation";
    /// Counter: configuration reloads by `result` (`ok`, `failed`).
    pub const CONFIG_RELOADS_TOTAL: &str = "ringway_config_reloads_total";
    /// Gauge: 1 when an endpoint's active health check passes, by `upstream`, `endpoint`.
    pub const ENDPOINT_HEALTHY: &str = "ringway_upstream_endpoint_healthy";
    /// Gauge: 1 while an endpoint is ejected by outlier detection, by `upstream`, `endpoint`.
    pub const ENDPOINT_EJECTED: &str = "ringway_upstream_endpoint_ejected";
    /// Counter: outlier ejections by `upstream`, `endpoint`.
    pub const OUTLIER_EJECTIONS_TOTAL: &str = "ringway_outlier_ejections_total";
    /// Counter: endpoint picks made in panic mode (every endpoint used), by `upstream`.
    pub const PANIC_PICKS_TOTAL: &str = "ringway_upstream_panic_picks_total";
    /// Counter: requests refused by a circuit breaker, by `upstream`, `limit`.
    pub const OVERLOADED_TOTAL: &str = "ringway_upstream_overloaded_total";
    /// Gauge: each core's adaptive concurrency limit, by `upstream`, `core`.
    pub const ADAPTIVE_LIMIT: &str = "ringway_adaptive_concurrency_limit";

    /// Label: listener name.
    pub const LISTENER: &str = "listener";
    /// Label: route name ([`super::NO_ROUTE_LABEL`] when no route matched).
    pub const ROUTE: &str = "route";
    /// Label: status class (`none`, `1xx` .. `5xx`).
    pub const STATUS_CLASS: &str = "status_class";
    /// Label: upstream group name.
    pub const UPSTREAM: &str = "upstream";
    /// Label: request outcome.
    pub const OUTCOME: &str = "outcome";
    /// Label: upstream connection kind.
    pub const KIND: &str = "kind";
    /// Label: an upstream endpoint's address.
    pub const ENDPOINT: &str = "endpoint";
    /// Label: which limit.
    pub const LIMIT: &str = "limit";
    /// Label: histogram bucket upper bound.
    pub const LE: &str = "le";
    /// Label: quantile.
    pub const QUANTILE: &str = "quantile";
    /// Label: worker core index.
    pub const CORE: &str = "core";
    /// Label: JWT provider name.
    pub const PROVIDER: &str = "provider";
    /// Label: a policy rule (a rate limit's name, or `ip_filter`).
    pub const RULE: &str = "rule";
    /// Label: anomaly kind (`traffic_surge`, `auth_failure_storm`, ...).
    pub const ANOMALY: &str = "anomaly";

    /// `kind` value: a newly opened upstream connection.
    pub const KIND_NEW: &str = "new";
    /// `kind` value: a reused upstream connection.
    pub const KIND_REUSED: &str = "reused";
}

/// The `route` label of requests no route matched. Configured route names are never empty,
/// so this cannot clash with one.
pub const NO_ROUTE_LABEL: &str = "";

/// Histogram bucket upper bounds: microseconds and the `le` label value (seconds).
pub const LATENCY_BUCKETS: [(u64, &str); 14] = [
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

/// Quantiles rendered in the `_quantile` gauge families: value and label.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

/// Counters that come from outside the data plane (analytics), rendered with the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraGauges {
    /// Parquet files written so far.
    pub parquet_files_written: u64,
    /// Rows written to Parquet so far.
    pub parquet_rows_written: u64,
}

/// Appends `value` to `out` escaped as a label value: `\` -> `\\`, `"` -> `\"`,
/// newline -> `\n`.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `snap` (usually the merge of every core) and `extra` to `out` in the Prometheus
/// text format, label values taken from `names` (which `snap` must have been built from).
///
/// Every configured listener, route and upstream gets its series, zeros included, so rates
/// work from the first scrape; the `_quantile` gauges appear once a latency was recorded; the
/// unknown-listener series (`listener="",route=""`) appear only if something was counted there.
pub fn render_prometheus(
    names: &MetricNames,
    snap: &CoreSnapshot,
    extra: &ExtraGauges,
    out: &mut String,
) {
    let slots = route_slots(names, snap);

    family(
        out,
        name::REQUESTS_TOTAL,
        "counter",
        "Requests by listener, route and status class (none: no response sent).",
    );
    for (slot, listener, route) in &slots {
        for class in StatusClass::ALL {
            sample_u64(
                out,
                name::REQUESTS_TOTAL,
                &[
                    (name::LISTENER, listener),
                    (name::ROUTE, route),
                    (name::STATUS_CLASS, class.as_str()),
                ],
                snap.routes[*slot].requests(class),
            );
        }
    }

    family(
        out,
        name::REQUEST_DURATION_SECONDS,
        "histogram",
        "Request latency from head complete to response complete, seconds.",
    );
    for (slot, listener, route) in &slots {
        histogram(
            out,
            name::REQUEST_DURATION_SECONDS,
            &[(name::LISTENER, listener), (name::ROUTE, route)],
            &snap.routes[*slot].latency,
        );
    }

    family(
        out,
        name::REQUEST_DURATION_QUANTILE,
        "gauge",
        "Request latency quantiles since start, seconds (HDR histogram, 2 significant digits).",
    );
    for (slot, listener, route) in &slots {
        quantiles(
            out,
            name::REQUEST_DURATION_QUANTILE,
            &[(name::LISTENER, listener), (name::ROUTE, route)],
            &snap.routes[*slot].latency,
        );
    }

    let upstreams: Vec<(&str, &Latency)> = snap
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, l)| (names.upstreams.get(i).map_or("", String::as_str), l))
        .collect();
    family(
        out,
        name::UPSTREAM_DURATION_SECONDS,
        "histogram",
        "Upstream latency from request sent to response complete, seconds.",
    );
    for (upstream, lat) in &upstreams {
        histogram(
            out,
            name::UPSTREAM_DURATION_SECONDS,
            &[(name::UPSTREAM, upstream)],
            lat,
        );
    }
    family(
        out,
        name::UPSTREAM_DURATION_QUANTILE,
        "gauge",
        "Upstream latency quantiles since start, seconds (HDR histogram, 2 significant digits).",
    );
    for (upstream, lat) in &upstreams {
        quantiles(
            out,
            name::UPSTREAM_DURATION_QUANTILE,
            &[(name::UPSTREAM, upstream)],
            lat,
        );
    }

    family(
        out,
        name::REQUEST_BYTES_TOTAL,
        "counter",
        "Bytes received from clients (heads and bodies).",
    );
    for (slot, listener, route) in &slots {
        sample_u64(
            out,
            name::REQUEST_BYTES_TOTAL,
            &[(name::LISTENER, listener), (name::ROUTE, route)],
            snap.routes[*slot].request_bytes,
        );
    }
    family(
        out,
        name::RESPONSE_BYTES_TOTAL,
        "counter",
        "Bytes sent to clients (heads and bodies).",
    );
    for (slot, listener, route) in &slots {
        sample_u64(
            out,
            name::RESPONSE_BYTES_TOTAL,
            &[(name::LISTENER, listener), (name::ROUTE, route)],
            snap.routes[*slot].response_bytes,
        );
    }

    family(
        out,
        name::OUTCOMES_TOTAL,
        "counter",
        "Requests by how they ended.",
    );
    for outcome in Outcome::ALL {
        sample_u64(
            out,
            name::OUTCOMES_TOTAL,
            &[(name::OUTCOME, outcome.as_str())],
            snap.outcome(outcome),
        );
    }

    family(
        out,
        name::ACTIVE_CONNECTIONS,
        "gauge",
        "Open client connections.",
    );
    sample_u64(out, name::ACTIVE_CONNECTIONS, &[], snap.active_connections);
    family(
        out,
        name::CONNECTIONS_REFUSED_TOTAL,
        "counter",
        "Client connections closed at accept: a listener's per-core limit was reached.",
    );
    sample_u64(
        out,
        name::CONNECTIONS_REFUSED_TOTAL,
        &[],
        snap.connections_refused(),
    );

    for (metric, aggregate, help) in [
        (
            name::AGGREGATE_REQUESTS_TOTAL,
            true,
            "Requests on aggregate routes: every part, some optional part missing, or failed by a required backend.",
        ),
        (
            name::RESHAPE_TOTAL,
            false,
            "Responses on reshaping routes: reshaped, or passed unchanged (not JSON, too large).",
        ),
    ] {
        family(out, metric, "counter", help);
        for t in Transformed::ALL.into_iter().filter(|t| t.is_aggregate() == aggregate) {
            sample_u64(out, metric, &[("result", t.result())], snap.transformed(t));
        }
    }

    family(
        out,
        name::UPSTREAM_CONNECTIONS_TOTAL,
        "counter",
        "Upstream connections used for requests: newly opened or reused from the pool.",
    );
    sample_u64(
        out,
        name::UPSTREAM_CONNECTIONS_TOTAL,
        &[(name::KIND, name::KIND_NEW)],
        snap.upstream_connects,
    );
    sample_u64(
        out,
        name::UPSTREAM_CONNECTIONS_TOTAL,
        &[(name::KIND, name::KIND_REUSED)],
        snap.upstream_reuses,
    );
    family(
        out,
        name::TLS_HANDSHAKES_TOTAL,
        "counter",
        "TLS handshakes with clients, by result (failed includes timed out).",
    );
    let (ok, failed) = snap.tls_handshakes();
    sample_u64(out, name::TLS_HANDSHAKES_TOTAL, &[("result", "ok")], ok);
    sample_u64(
        out,
        name::TLS_HANDSHAKES_TOTAL,
        &[("result", "failed")],
        failed,
    );
    family(
        out,
        name::UPSTREAM_REUSE_RATIO,
        "gauge",
        "Reused / (new + reused) upstream connections since start, 0 before any.",
    );
    let used = snap.upstream_connects + snap.upstream_reuses;
    let ratio = if used == 0 {
        0.0
    } else {
        snap.upstream_reuses as f64 / used as f64
    };
    sample_f64(out, name::UPSTREAM_REUSE_RATIO, &[], ratio);

    family(
        out,
        name::TELEMETRY_DROPPED_TOTAL,
        "counter",
        "Request records dropped because a telemetry queue was full.",
    );
    sample_u64(
        out,
        name::TELEMETRY_DROPPED_TOTAL,
        &[],
        snap.telemetry_dropped,
    );

    family(
        out,
        name::PARQUET_FILES_WRITTEN_TOTAL,
        "counter",
        "Parquet files written.",
    );
    sample_u64(
        out,
        name::PARQUET_FILES_WRITTEN_TOTAL,
        &[],
        extra.parquet_files_written,
    );
    family(
        out,
        name::PARQUET_ROWS_WRITTEN_TOTAL,
        "counter",
        "Rows written to Parquet files.",
    );
    sample_u64(
        out,
        name::PARQUET_ROWS_WRITTEN_TOTAL,
        &[],
        extra.parquet_rows_written,
    );
}

/// The slots to render with their label values, in layout order.
fn route_slots<'a>(names: &'a MetricNames, snap: &CoreSnapshot) -> Vec<(usize, &'a str, &'a str)> {
    let mut slots = Vec::with_capacity(snap.layout.slots);
    for (l, &(base, n)) in snap.layout.listeners.iter().enumerate() {
        let listener = names.listeners.get(l).map_or("", String::as_str);
        let routes = names.routes_of(l);
        for r in 0..=n as usize {
            let route = if r == n as usize {
                NO_ROUTE_LABEL
            } else {
                routes.get(r).map_or("", String::as_str)
            };
            slots.push((base as usize + r, listener, route));
        }
    }
    let unknown = snap.layout.slots - 1;
    if snap.routes[unknown].requests_total() > 0 {
        slots.push((unknown, "", NO_ROUTE_LABEL));
    }
    slots
}

/// Metric family types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Appends a family's `# HELP` and `# TYPE` lines. Every Prometheus line Ringway writes goes
/// through this module; names come from [`name`].
pub fn write_family(out: &mut String, name: &str, kind: Kind, help: &str) {
    family(out, name, kind.as_str(), help);
}

/// Appends one sample: `name{labels} value`, label values escaped.
pub fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    sample_u64(out, name, labels, value);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(out: &mut String, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().chain(extra.as_ref()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label_value(out, v);
        out.push('"');
    }
    out.push('}');
}

fn sample_u64(out: &mut String, name: &str, l: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels(out, l, None);
    let _ = writeln!(out, " {value}");
}

fn sample_f64(out: &mut String, name: &str, l: &[(&str, &str)], value: f64) {
    out.push_str(name);
    labels(out, l, None);
    let _ = writeln!(out, " {value}");
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

fn histogram(out: &mut String, name: &str, l: &[(&str, &str)], lat: &Latency) {
    let buckets = lat.cumulative_buckets();
    for (&(_, le), count) in LATENCY_BUCKETS.iter().zip(buckets) {
        out.push_str(name);
        out.push_str("_bucket");
        labels(out, l, Some((name::LE, le)));
        let _ = writeln!(out, " {count}");
    }
    out.push_str(name);
    out.push_str("_bucket");
    labels(out, l, Some((name::LE, "+Inf")));
    let _ = writeln!(out, " {}", lat.count());
    out.push_str(name);
    out.push_str("_sum");
    labels(out, l, None);
    let _ = writeln!(out, " {}", seconds(lat.sum_us()));
    out.push_str(name);
    out.push_str("_count");
    labels(out, l, None);
    let _ = writeln!(out, " {}", lat.count());
}

fn quantiles(out: &mut String, name: &str, l: &[(&str, &str)], lat: &Latency) {
    if lat.count() == 0 {
        return;
    }
    for (q, label) in QUANTILES {
        out.push_str(name);
        labels(out, l, Some((name::QUANTILE, label)));
        let _ = writeln!(out, " {}", seconds(lat.quantile_us(q)));
    }
}
