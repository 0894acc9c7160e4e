//! The detectors: one window of an endpoint's buckets against its baselines, each kind with
//! a count-aware rule (Poisson tails with a tiny false-alarm probability, plus a minimum
//! effect size and minimum volume, so low-traffic noise never alarms).

use super::baseline::{History, Stats};
use super::bucket::{Bucket, ClientCounts};
use super::finding::{Evidence, Kind, Severity};
use super::stats::{poisson_at_least, poisson_at_most};
use super::Config;

/// A detector firing on one window.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub(crate) kind: Kind,
    pub(crate) evidence: Evidence,
    pub(crate) severity: Severity,
    /// The clients of concern in the window's newest bucket, with their counts of concern.
    pub(crate) concern: fn(&ClientCounts) -> u32,
}

fn requests(c: &ClientCounts) -> u32 {
    c.requests
}
fn auth_failures(c: &ClientCounts) -> u32 {
    c.auth_failures
}
fn rate_limited(c: &ClientCounts) -> u32 {
    c.rate_limited
}
fn distinct_404_paths(c: &ClientCounts) -> u32 {
    c.not_found_paths.len() as u32
}

/// A share-judged kind: its name, the window's count, the history's count, the clients' count.
type ShareKind = (
    Kind,
    &'static str,
    u32,
    fn(&Stats) -> u32,
    fn(&ClientCounts) -> u32,
);

/// What the detectors know about the window being judged.
pub(crate) struct Window<'a> {
    /// The merged buckets.
    pub(crate) merged: &'a Bucket,
    /// How many buckets were merged.
    pub(crate) buckets: usize,
    /// Start of the newest bucket (s since the epoch).
    pub(crate) start_s: i64,
    /// Whether the endpoint has enough history to be judged against its baselines.
    pub(crate) judged: bool,
    /// Whether the endpoint appeared after the detector's warm-up, and is still young.
    pub(crate) new_endpoint: bool,
}

/// Every signal the window raises. A surge explained by one client (dominance, scanning) or by
/// one kind of refusal (auth failures, rate limiting) is reported as that, not twice.
pub(crate) fn judge(cfg: &Config, w: &Window<'_>, h: &History) -> Vec<Signal> {
    let mut out = Vec::new();
    let b = w.merged;
    let n = u64::from(b.requests);
    let skip = w.buckets;
    let bucket_s = cfg.bucket_us / 1_000_000;

    if w.new_endpoint && n >= cfg.new_endpoint_requests && u64::from(b.not_found) * 2 < n {
        out.push(Signal {
            kind: Kind::NewEndpoint,
            evidence: Evidence {
                metric: "requests per window (never seen before)",
                baseline: 0.0,
                observed: n as f64,
                p_value: 0.0,
            },
            severity: Severity::Low,
            concern: requests,
        });
    }
    if let Some((client, paths)) = b
        .ranked(distinct_404_paths)
        .first()
        .map(|(c, p)| (c.to_string(), *p))
    {
        let nf = b.clients.get(client.as_str()).map_or(0, |c| c.not_found);
        if u64::from(paths) >= cfg.scan_paths && u64::from(nf) >= cfg.scan_paths {
            out.push(Signal {
                kind: Kind::Scanning,
                evidence: Evidence {
                    metric: "distinct 404 paths of one client per window",
                    baseline: 0.0,
                    observed: f64::from(paths),
                    p_value: 0.0,
                },
                severity: Severity::of_ratio(f64::from(paths) / cfg.scan_paths as f64 * 4.0),
                concern: distinct_404_paths,
            });
        }
    }
    if !w.judged {
        return out;
    }

    // Shares of refusals and errors: above the endpoint's own share by a margin and far above
    // it, or a count far above its usual rate.
    let share_kinds: [ShareKind; 3] = [
        (
            Kind::ErrorBurst,
            "5xx responses per window",
            b.errors_5xx,
            |s| s.errors_5xx,
            requests,
        ),
        (
            Kind::AuthFailureStorm,
            "401/403 responses per window",
            b.auth_failures,
            |s| s.auth_failures,
            auth_failures,
        ),
        (
            Kind::RateLimitSaturation,
            "429 responses per window",
            b.rate_limited,
            |s| s.rate_limited,
            rate_limited,
        ),
    ];
    for (kind, metric, k, events, concern) in share_kinds {
        let k = u64::from(k);
        if k < cfg.min_events {
            continue;
        }
        let (e0, n0) = h.share_counts(skip, cfg.share_history_buckets, kind, events);
        let base_share = (e0 as f64 + 0.5) / (n0 as f64 + 50.0);
        let share = k as f64 / n as f64;
        let lambda_share = n as f64 * base_share.max(0.002);
        let share_fires = share >= base_share + cfg.share_margin
            && share >= 3.0 * base_share
            && poisson_at_least(k, lambda_share) < cfg.alpha;
        let used = h.usable(skip, &[kind]).max(1) as f64;
        let lambda_count = (e0 as f64 / used * skip as f64).max(0.05 * skip as f64);
        let count_fires = k as f64 >= cfg.surge_ratio * 2.0 * lambda_count
            && poisson_at_least(k, lambda_count) < cfg.alpha;
        if share_fires || count_fires {
            out.push(Signal {
                kind,
                evidence: Evidence {
                    metric,
                    baseline: lambda_count,
                    observed: k as f64,
                    p_value: poisson_at_least(k, lambda_count.max(lambda_share)),
                },
                severity: Severity::of_ratio(k as f64 / lambda_count.max(lambda_share).max(1.0)),
                concern,
            });
        }
    }

    // One client with most of the requests, where the endpoint normally has many.
    if n >= cfg.min_requests {
        if let Some((_, top)) = b.top_client() {
            let share = f64::from(top) / n as f64;
            let base = h.median_of(
                skip,
                cfg.short_buckets,
                Kind::SingleClientDominance,
                10,
                |s| s.top_share,
            );
            if let Some(base) = base {
                if u64::from(top) >= cfg.min_requests
                    && share >= cfg.dominance_share
                    && share >= cfg.dominance_ratio * base
                {
                    out.push(Signal {
                        kind: Kind::SingleClientDominance,
                        evidence: Evidence {
                            metric: "top client's share of requests",
                            baseline: base,
                            observed: share,
                            p_value: 0.0,
                        },
                        severity: Severity::of_ratio(share / base.max(0.01)),
                        concern: requests,
                    });
                }
            }
        }
    }

    // Latency: p99 of the window against the median p99 of recent buckets.
    if n >= cfg.latency_min_requests {
        let p99 = b.latency_quantile(0.99);
        let base = h.median_of(skip, cfg.short_buckets, Kind::LatencyRegression, 10, |s| {
            s.p99_us
        });
        if let Some(base) = base {
            if p99 >= cfg.latency_ratio * base && p99 - base >= cfg.latency_min_delta_us {
                out.push(Signal {
                    kind: Kind::LatencyRegression,
                    evidence: Evidence {
                        metric: "p99 latency, µs",
                        baseline: base,
                        observed: p99,
                        p_value: 0.0,
                    },
                    severity: Severity::of_ratio(p99 / base.max(1.0)),
                    concern: requests,
                });
            }
        }
    }

    // Volume against the short-term level and, with days of history, the time of day/week.
    let short = h.short_rate(skip, cfg.short_buckets);
    let seasonal = h.seasonal_rate(w.start_s, bucket_s);
    let w_len = w.buckets as f64;
    let high = short.max(seasonal.unwrap_or(short)).max(0.05) * w_len;
    let low = short.min(seasonal.unwrap_or(short)) * w_len;
    let explained = out.iter().any(|s| {
        matches!(
            s.kind,
            Kind::SingleClientDominance
                | Kind::Scanning
                | Kind::AuthFailureStorm
                | Kind::RateLimitSaturation
                | Kind::NewEndpoint
        )
    });
    if !explained
        && n >= cfg.min_requests
        && n as f64 >= cfg.surge_ratio * high
        && poisson_at_least(n, high) < cfg.alpha
    {
        out.push(Signal {
            kind: Kind::TrafficSurge,
            evidence: Evidence {
                metric: "requests per window",
                baseline: high,
                observed: n as f64,
                p_value: poisson_at_least(n, high),
            },
            severity: Severity::of_ratio(n as f64 / high),
            concern: requests,
        });
    }
    if low >= cfg.drop_min_expected
        && (n as f64) * cfg.drop_ratio <= low
        && poisson_at_most(n, low) < cfg.alpha
    {
        out.push(Signal {
            kind: Kind::TrafficDrop,
            evidence: Evidence {
                metric: "requests per window",
                baseline: low,
                observed: n as f64,
                p_value: poisson_at_most(n, low),
            },
            severity: Severity::of_ratio(low / (n as f64).max(1.0)),
            concern: requests,
        });
    }
    out
}
