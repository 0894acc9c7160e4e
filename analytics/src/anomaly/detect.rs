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
    /// Buckets the signal was judged on (the window, or a longer span for a quiet endpoint).
    pub(crate) span: usize,
}

/// The outcome of judging one window.
#[derive(Debug, Default)]
pub(crate) struct Judgement {
    /// The kinds that fired.
    pub(crate) signals: Vec<Signal>,
    /// Bit `k` set: kind `k` had the volume to be judged, so not firing means quiet (an
    /// endpoint too quiet to judge says nothing about whether an episode is over).
    pub(crate) judged: u16,
}

impl Judgement {
    fn judged(&mut self, kind: Kind) {
        self.judged |= 1 << kind.index();
    }

    /// Whether `kind` had the volume to be judged.
    pub(crate) fn was_judged(&self, kind: Kind) -> bool {
        self.judged & (1 << kind.index()) != 0
    }
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
    /// Whether the endpoint is a route's requests for missing paths.
    pub(crate) not_found: bool,
    /// Bit `k` set: an episode of kind `k` is open, so it continues on a lower bar than it
    /// took to open (hysteresis: noise around the threshold must not split an episode).
    pub(crate) open: u16,
    /// Buckets since an episode of each kind last ended (`usize::MAX`: never). A long span
    /// never reaches back into an ended episode, or its tail would open a second one.
    pub(crate) since_episode: [usize; Kind::ALL.len()],
}

impl Window<'_> {
    /// The bar for `kind`: the false-alarm probability, and the fraction of each effect size
    /// and minimum count (1 to open an episode, less to continue one).
    fn bar(&self, cfg: &Config, kind: Kind) -> (f64, f64) {
        if self.open & (1 << kind.index()) != 0 {
            (cfg.continue_alpha, 0.5)
        } else {
            (cfg.alpha, 1.0)
        }
    }
}

/// `ratio` relaxed by `f`: 1 + (ratio - 1) · f.
fn relaxed(ratio: f64, f: f64) -> f64 {
    1.0 + (ratio - 1.0) * f
}

/// The spans judged, shortest first: the window, then the longer spans of
/// [`Config::long_windows`] that the history covers (for endpoints too quiet to judge in 20 s).
fn spans<'a>(
    cfg: &'a Config,
    w: &'a Window<'_>,
    kind: Kind,
    h: &'a History,
) -> impl Iterator<Item = usize> + 'a {
    let since = w.since_episode[kind.index()];
    std::iter::once(w.buckets).chain(
        cfg.long_windows
            .iter()
            .copied()
            .filter(move |&k| k > w.buckets && k <= since && h.len() >= k + cfg.warmup_buckets),
    )
}

/// Every signal the window raises. A surge explained by one client (dominance, scanning) or by
/// one kind of refusal (auth failures, rate limiting) is reported as that, not twice.
pub(crate) fn judge(cfg: &Config, w: &Window<'_>, h: &History) -> Judgement {
    let mut j = Judgement::default();
    let b = w.merged;
    let n = u64::from(b.requests);
    let skip = w.buckets;
    let bucket_s = cfg.bucket_us / 1_000_000;
    j.judged(Kind::NewEndpoint);
    j.judged(Kind::Scanning);

    if w.new_endpoint
        && n as f64 >= cfg.new_endpoint_requests as f64 * w.bar(cfg, Kind::NewEndpoint).1
        && u64::from(b.not_found) * 2 < n
    {
        j.signals.push(Signal {
            kind: Kind::NewEndpoint,
            evidence: Evidence {
                metric: "requests per window (never seen before)",
                baseline: 0.0,
                observed: n as f64,
                p_value: 0.0,
            },
            severity: Severity::Low,
            concern: requests,
            span: skip,
        });
    }
    if let Some((client, paths)) = b.top_by(distinct_404_paths) {
        let nf = b.clients.get(&client).map_or(0, |c| c.not_found);
        let min = cfg.scan_paths as f64 * w.bar(cfg, Kind::Scanning).1;
        if f64::from(paths) >= min && f64::from(nf) >= min {
            j.signals.push(Signal {
                kind: Kind::Scanning,
                evidence: Evidence {
                    metric: "distinct 404 paths of one client per window",
                    baseline: 0.0,
                    observed: f64::from(paths),
                    p_value: 0.0,
                },
                severity: Severity::of_ratio(f64::from(paths) / cfg.scan_paths as f64 * 4.0),
                concern: distinct_404_paths,
                span: skip,
            });
        }
    }
    if !w.judged {
        return j;
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
    for (kind, metric, k_window, events, concern) in share_kinds {
        // The shortest span with enough requests to judge a share.
        let (alpha, f) = w.bar(cfg, kind);
        let Some((span, n, k)) = spans(cfg, w, kind, h).find_map(|span| {
            let (n, k) = if span == skip {
                (n, u64::from(k_window))
            } else {
                (h.sum_last(span, |s| s.requests), h.sum_last(span, events))
            };
            (n >= cfg.min_requests).then_some((span, n, k))
        }) else {
            continue;
        };
        j.judged(kind);
        if (k as f64) < cfg.min_events as f64 * f {
            continue;
        }
        let (e0, n0) = h.share_counts(span, cfg.share_history_buckets, events);
        let base_share = (e0 as f64 + 0.5) / (n0 as f64 + 50.0);
        let share = k as f64 / n as f64;
        let lambda_share = n as f64 * base_share.max(0.002);
        let share_fires = share >= base_share + cfg.share_margin * f
            && share >= relaxed(3.0, f) * base_share
            && poisson_at_least(k, lambda_share) < alpha;
        let used = h.usable(span).max(1) as f64;
        let lambda_count = (e0 as f64 / used * span as f64).max(0.05 * span as f64);
        let count_fires = k as f64 >= relaxed(cfg.surge_ratio * 2.0, f) * lambda_count
            && poisson_at_least(k, lambda_count) < alpha;
        if share_fires || count_fires {
            j.signals.push(Signal {
                kind,
                evidence: Evidence {
                    metric,
                    baseline: lambda_count,
                    observed: k as f64,
                    p_value: poisson_at_least(k, lambda_count.max(lambda_share)),
                },
                severity: Severity::of_ratio(k as f64 / lambda_count.max(lambda_share).max(1.0)),
                concern,
                span,
            });
        }
    }

    // One client with most of the requests, where the endpoint normally has many.
    if n >= cfg.min_requests {
        if let Some((_, top)) = b.top_client() {
            let share = f64::from(top) / n as f64;
            let base = h.median_of(skip, cfg.short_buckets, 10, |s| s.top_share);
            if let Some(base) = base {
                j.judged(Kind::SingleClientDominance);
                let (_, f) = w.bar(cfg, Kind::SingleClientDominance);
                if top as f64 >= cfg.min_requests as f64 * f
                    && share >= cfg.dominance_share * (0.5 + 0.5 * f)
                    && share >= relaxed(cfg.dominance_ratio, f) * base
                {
                    j.signals.push(Signal {
                        kind: Kind::SingleClientDominance,
                        evidence: Evidence {
                            metric: "top client's share of requests",
                            baseline: base,
                            observed: share,
                            p_value: 0.0,
                        },
                        severity: Severity::of_ratio(share / base.max(0.01)),
                        concern: requests,
                        span: skip,
                    });
                }
            }
        }
    }

    // Latency: p99 of the window against the median p99 of recent buckets.
    if n >= cfg.latency_min_requests {
        let p99 = b.latency_quantile(0.99);
        let base = h.median_of(skip, cfg.short_buckets, 10, |s| s.p99_us);
        if let Some(base) = base {
            j.judged(Kind::LatencyRegression);
            let (_, f) = w.bar(cfg, Kind::LatencyRegression);
            if p99 >= relaxed(cfg.latency_ratio, f) * base
                && p99 - base >= cfg.latency_min_delta_us * f
            {
                j.signals.push(Signal {
                    kind: Kind::LatencyRegression,
                    evidence: Evidence {
                        metric: "p99 latency, µs",
                        baseline: base,
                        observed: p99,
                        p_value: 0.0,
                    },
                    severity: Severity::of_ratio(p99 / base.max(1.0)),
                    concern: requests,
                    span: skip,
                });
            }
        }
    }

    // Volume against the short-term level and, with days of history, the time of day/week.
    let seasonal = h.seasonal_rate(w.start_s, bucket_s);
    let short = h.short_rate(skip, cfg.short_buckets);
    let high = short.max(seasonal.unwrap_or(short)).max(0.05) * skip as f64;
    let explained = j.signals.iter().any(|s| {
        matches!(
            s.kind,
            Kind::SingleClientDominance
                | Kind::Scanning
                | Kind::AuthFailureStorm
                | Kind::RateLimitSaturation
                | Kind::NewEndpoint
        )
    });
    j.judged(Kind::TrafficSurge);
    let surge_bar = w.bar(cfg, Kind::TrafficSurge);
    if !explained
        && n as f64 >= cfg.min_requests as f64 * surge_bar.1
        && n as f64 >= relaxed(cfg.surge_ratio, surge_bar.1) * high
        && poisson_at_least(n, high) < surge_bar.0
    {
        j.signals.push(Signal {
            kind: Kind::TrafficSurge,
            evidence: Evidence {
                metric: "requests per window",
                baseline: high,
                observed: n as f64,
                p_value: poisson_at_least(n, high),
            },
            severity: Severity::of_ratio(n as f64 / high),
            concern: requests,
            span: skip,
        });
    }
    // A drop on the shortest span expected to carry enough requests to tell (not of 404s:
    // fewer requests for missing paths is no outage), against the lower of the recent level
    // and the seasonal one — and of the hour's, computed only for a candidate (a median of
    // an hour of buckets is the dearest thing here): an unnoticed rise just before (a surge
    // elsewhere that spilled over) must not make its end look like a drop.
    let (drop_alpha, drop_f) = w.bar(cfg, Kind::TrafficDrop);
    let drop_span = spans(cfg, w, Kind::TrafficDrop, h)
        .filter(|_| !w.not_found)
        .find_map(|span| {
            let short = if span == skip {
                short
            } else {
                h.short_rate(span, cfg.short_buckets)
            };
            let low = short.min(seasonal.unwrap_or(short)) * span as f64;
            (low >= cfg.drop_min_expected).then_some((span, low))
        });
    if let Some((span, low)) = drop_span {
        j.judged(Kind::TrafficDrop);
        let n = if span == skip {
            n
        } else {
            h.sum_last(span, |s| s.requests)
        };
        let ratio = relaxed(cfg.drop_ratio, drop_f);
        if (n as f64) * ratio <= low {
            let low = low.min(h.short_rate(span, cfg.history_buckets) * span as f64);
            if (n as f64) * ratio <= low && poisson_at_most(n, low) < drop_alpha {
                j.signals.push(Signal {
                    kind: Kind::TrafficDrop,
                    evidence: Evidence {
                        metric: "requests per window",
                        baseline: low,
                        observed: n as f64,
                        p_value: poisson_at_most(n, low),
                    },
                    severity: Severity::of_ratio(low / (n as f64).max(1.0)),
                    concern: requests,
                    span,
                });
            }
        }
    }
    j
}
