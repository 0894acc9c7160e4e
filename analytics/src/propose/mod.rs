//! Proposed policy changes, one per finding, derived from the finding and from how clients
//! normally use the route ([`Usage`]):
//!
//! * **scanning**, and an **auth-failure storm** with clients behind much of it: deny those
//!   clients' addresses on the route (each client with at least 10% of the finding's
//!   requests; a storm spread thinner than that has no such client);
//! * an **auth-failure storm** spread over many addresses, or a **traffic surge**: a limit on
//!   the route as a whole (`key: global`) at 1.2 times the 99.9th percentile of its requests
//!   per bucket outside any finding (its busiest normal moments);
//! * **single-client dominance** (scraping) and **rate-limit saturation**: a per-client limit
//!   (`key: client_ip`) at twice the 99th percentile of the other clients' peak requests in
//!   one bucket — nearly every client stays under it, the outlier does not;
//! * drops, 5xx bursts, latency regressions and new endpoints call for a look at the upstream
//!   or the configuration, not a limit: advice only.
//!
//! Limits are counted per bucket (`per` = the detectors' bucket), at least 10 requests. What a
//! proposal would have refused is for `ringway replay` to measure on the logged traffic.

use serde::Serialize;

use crate::anomaly::{Finding, Kind};

mod usage;

pub use usage::{quantile, Usage};

/// Headroom of a per-client limit over the other clients' 99th-percentile peak: one client's
/// peaks vary a lot.
const HEADROOM: f64 = 2.0;
/// Headroom of a route-wide limit over the route's 99.9th-percentile bucket outside the
/// findings: a route's total varies little from one bucket to the next (many clients), so a
/// cap just above its busiest normal bucket leaves normal traffic alone and admits as little
/// of a flood as it can.
const ROUTE_HEADROOM: f64 = 1.2;
/// The smallest proposed limit per bucket.
const MIN_LIMIT: u32 = 10;
/// A client with at least this share of a finding's requests is behind it.
const ATTACKER_SHARE: f64 = 0.10;

/// Where a change applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A route, by name.
    Route(String),
    /// Every request (the global `ip_filter`): for requests that matched no route.
    Global,
}

/// What is counted by a proposed limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// Each client address.
    ClientIp,
    /// The route as a whole.
    Global,
}

impl LimitKey {
    /// The configuration's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKey::ClientIp => "client_ip",
            LimitKey::Global => "global",
        }
    }
}

/// A change to the configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Change {
    /// Deny these addresses (`ip_filter.deny`).
    Deny {
        /// CIDRs (`/32` or `/128` per client).
        cidrs: Vec<String>,
    },
    /// A rate limit (`rate_limits[]`).
    RateLimit {
        /// Its name.
        name: String,
        /// What is counted.
        key: LimitKey,
        /// Requests per `per_s`.
        requests: u32,
        /// The period, seconds.
        per_s: u32,
    },
    /// No policy change fits: what to look at.
    Advice {
        /// The advice.
        text: String,
    },
}

/// A proposed change for one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// Index of the finding in the report.
    pub finding: usize,
    /// Where it applies.
    pub scope: Scope,
    /// What changes.
    pub change: Change,
    /// Why, with the numbers.
    pub why: String,
}

impl Proposal {
    /// The change as YAML to add to the route (or the top level), with a comment saying
    /// where; empty for advice.
    pub fn snippet(&self) -> String {
        let (head, indent) = match &self.scope {
            Scope::Route(r) => (format!("# listeners[].routes[] named {r}:\n"), ""),
            Scope::Global => ("# top level:\n".to_owned(), ""),
        };
        match &self.change {
            Change::Deny { cidrs } => {
                let list = cidrs
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{head}{indent}ip_filter:\n{indent}  deny: [{list}]\n")
            }
            Change::RateLimit {
                name,
                key,
                requests,
                per_s,
            } => format!(
                "{head}{indent}rate_limits:\n{indent}  - {{ name: {name}, key: {}, requests: {requests}, per: {per_s}s }}\n",
                key.as_str()
            ),
            Change::Advice { .. } => String::new(),
        }
    }
}

fn cidr(client: &str) -> Option<String> {
    match client.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(format!("{a}/32")),
        std::net::IpAddr::V6(a) => Some(format!("{a}/128")),
    }
}

/// A limit name from a route name and a suffix (names are `[A-Za-z0-9_.-]`).
fn limit_name(route: &str, what: &str) -> String {
    let r: String = route
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("proposed-{r}-{what}")
}

/// One proposal per finding, in the findings' order.
pub fn propose(findings: &[Finding], usage: &Usage) -> Vec<Proposal> {
    let per_s = u32::try_from((usage.bucket_us() / 1_000_000).max(1)).unwrap_or(10);
    let scope_of = |f: &Finding| {
        if f.endpoint.route == "-" {
            Scope::Global
        } else {
            Scope::Route(f.endpoint.route.clone())
        }
    };
    findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let route = f.endpoint.route.as_str();
            let scope = scope_of(f);
            let attackers: Vec<&str> = f
                .top_clients
                .iter()
                .filter(|c| c.requests as f64 >= ATTACKER_SHARE * f.requests as f64)
                .map(|c| c.client.as_str())
                .collect();
            let deny: Vec<String> = attackers.iter().filter_map(|c| cidr(c)).collect();
            let windows: Vec<(i64, i64)> = findings
                .iter()
                .filter(|g| g.endpoint.route == route)
                .map(|g| (g.start_us, g.end_us))
                .collect();
            let global_limit = |why: &str| {
                let mut rates = usage.route_rates(route, &windows);
                let p999 = quantile(&mut rates, 0.999);
                let requests = ((f64::from(p999) * ROUTE_HEADROOM).ceil() as u32).max(MIN_LIMIT);
                (
                    Change::RateLimit {
                        name: limit_name(route, "route"),
                        key: LimitKey::Global,
                        requests,
                        per_s,
                    },
                    format!(
                        "{why}: cap the route at 1.2 times the 99.9th percentile of its requests per {per_s} s outside the finding ({p999} over {} buckets)",
                        rates.len()
                    ),
                )
            };
            let (change, why) = match f.kind {
                Kind::Scanning | Kind::AuthFailureStorm if !deny.is_empty() => (
                    Change::Deny { cidrs: deny.clone() },
                    format!(
                        "{} of the {} requests during the finding came from {}",
                        f.top_clients
                            .iter()
                            .filter(|c| attackers.contains(&c.client.as_str()))
                            .map(|c| c.requests)
                            .sum::<u64>(),
                        f.requests,
                        attackers.join(", ")
                    ),
                ),
                Kind::AuthFailureStorm => {
                    global_limit("failures spread over many clients, none behind 10% of them")
                }
                Kind::TrafficSurge => global_limit("a surge from ordinary clients"),
                Kind::SingleClientDominance | Kind::RateLimitSaturation => {
                    let excluded: Vec<&str> =
                        f.top_clients.iter().map(|c| c.client.as_str()).collect();
                    let mut peaks = usage.client_peaks(route, &excluded);
                    let p99 = quantile(&mut peaks, 0.99);
                    let requests = ((f64::from(p99) * HEADROOM).ceil() as u32).max(MIN_LIMIT);
                    (
                        Change::RateLimit {
                            name: limit_name(route, "client"),
                            key: LimitKey::ClientIp,
                            requests,
                            per_s,
                        },
                        format!(
                            "99% of the route's other {} clients never sent more than {p99} requests in {per_s} s; its top client sent {}",
                            peaks.len(),
                            f.top_clients.first().map_or(0, |c| c.requests)
                        ),
                    )
                }
                Kind::Scanning => (
                    Change::Advice {
                        text: "the scan came from authenticated clients or many addresses: require auth on the route, or review who holds its credentials".into(),
                    },
                    "no address is behind 10% of it".into(),
                ),
                Kind::TrafficDrop => (
                    Change::Advice {
                        text: "check the upstream and the clients of this endpoint: a limit would not bring traffic back".into(),
                    },
                    "traffic fell".into(),
                ),
                Kind::ErrorBurst => (
                    Change::Advice {
                        text: "check the upstream's health; retries on 5xx (`retries.on_status`) would hide short bursts".into(),
                    },
                    "the upstream answered 5xx".into(),
                ),
                Kind::LatencyRegression => (
                    Change::Advice {
                        text: "check the upstream; the route's `timeouts.response` bounds what clients wait".into(),
                    },
                    "p99 latency rose".into(),
                ),
                Kind::NewEndpoint => (
                    Change::Advice {
                        text: "an endpoint never seen before: give it its own route if it is meant to exist".into(),
                    },
                    "new traffic".into(),
                ),
            };
            Proposal {
                finding: i,
                scope,
                change,
                why,
            }
        })
        .collect()
}
