//! Router benches: one route lookup per iteration, without I/O.
//!
//! * `route_10` / `route_1000`: [`Router::route`] over a table of 10 or 1,000 routes with a
//!   realistic mix — many exact hosts, `*.suffix` hosts and host-less routes; exact, pattern
//!   and prefix paths; some method and header criteria. Requests: a pattern hit on the last
//!   host of the table, a prefix hit with header criteria (host with port and mixed case), a
//!   suffix-host hit, a hit that falls back to the host-less routes, and a miss.
//! * Each is compared with a naive router: every (host pattern, route) pair in one list sorted
//!   by the same precedence, scanned linearly until the first full match. It allocates nothing
//!   either, so the difference is the indexing alone. Both agree on every request (checked
//!   before measuring, also for a request aimed at each route of the table).
//!
//! Tables, routers and requests are built outside the timed closures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::cmp::Reverse;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use ringway_config::model::{
    Action, DirectResponse, HeaderMatch, HostMatch, Limits, PathMatch, Route, RouteMatch, Segment,
};
use ringway_router::Router;

/// A browser-like set of request headers (the header criteria scan them).
const BROWSER_HEADERS: &[(&str, &str)] = &[
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0",
    ),
    ("Accept", "application/json"),
    ("Accept-Language", "en-GB,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Connection", "keep-alive"),
    (
        "Cookie",
        "session_id=7f3c2a9e4b1d8f60a5c3e2d1b0a99887; theme=dark",
    ),
    ("X-Request-Id", "5b0c8a4e-7781"),
];

/// The same with a canary header at the end.
const CANARY_HEADERS: &[(&str, &str)] = &[
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0",
    ),
    ("Accept", "application/json"),
    ("Accept-Language", "en-GB,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Connection", "keep-alive"),
    (
        "Cookie",
        "session_id=7f3c2a9e4b1d8f60a5c3e2d1b0a99887; theme=dark",
    ),
    ("X-Canary", "1"),
];

/// `/users/{id}` -> literal `users`, parameter `id`.
fn pattern(p: &str) -> PathMatch {
    PathMatch::Pattern(
        p[1..]
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.into()),
                    None => Segment::Literal(s.into()),
                },
            )
            .collect(),
    )
}

fn route(
    hosts: &[HostMatch],
    path: PathMatch,
    methods: &[&str],
    headers: &[(&str, Option<&str>)],
) -> Route {
    Route {
        name: String::new(),
        matcher: RouteMatch {
            hosts: hosts.to_vec(),
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            headers: headers
                .iter()
                .map(|&(name, value)| HeaderMatch {
                    name: name.into(),
                    value: value.map(String::from),
                })
                .collect(),
        },
        action: Action::Respond(DirectResponse {
            status: 200,
            headers: vec![],
            body: vec![],
        }),
        limits: Limits {
            max_body_bytes: 1 << 20,
            max_uri_bytes: 8192,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
        },
        response_timeout: None,
        ip_filter: Default::default(),
        ip_filter_shadow: false,
        auth: None,
        rate_limits: Vec::new(),
        client_cert: None,
        websocket: false,
        cache: None,
        reshape: None,
    }
}

/// The routes of one site (an API-style service), at most 20, most specific shapes spread out.
fn site(host: HostMatch, count: usize) -> Vec<Route> {
    let h = std::slice::from_ref(&host);
    let canary = [("x-canary", Some("1"))];
    let admin = [("x-admin-token", None)];
    let all = vec![
        route(h, PathMatch::Exact("/healthz".into()), &["GET"], &[]),
        route(h, pattern("/v1/users/{id}/orders/{order}"), &[], &[]),
        route(h, PathMatch::Prefix("/v1/items".into()), &["POST"], &canary),
        route(h, PathMatch::Prefix("/v1".into()), &[], &[]),
        route(h, PathMatch::Prefix("/static".into()), &[], &[]),
        route(h, pattern("/v1/users/{id}"), &["GET"], &[]),
        route(h, pattern("/v1/users/{id}"), &["PUT", "DELETE"], &[]),
        route(h, PathMatch::Exact("/v1/status".into()), &[], &[]),
        route(h, pattern("/v1/items/{id}"), &["GET"], &[]),
        route(h, PathMatch::Prefix("/v1/items".into()), &[], &[]),
        route(h, PathMatch::Prefix("/v1/admin".into()), &[], &admin),
        route(h, pattern("/v2/{tenant}/items/{id}"), &[], &[]),
        route(h, pattern("/v2/{tenant}/users/{id}"), &[], &[]),
        route(h, PathMatch::Prefix("/v2".into()), &[], &[]),
        route(h, PathMatch::Exact("/favicon.ico".into()), &[], &[]),
        route(
            h,
            PathMatch::Prefix("/assets/".into()),
            &["GET", "HEAD"],
            &[],
        ),
        route(h, pattern("/download/{file}"), &["GET"], &[]),
        route(h, PathMatch::Prefix("/graphql".into()), &["POST"], &[]),
        route(
            h,
            PathMatch::Prefix("/ws".into()),
            &[],
            &[("upgrade", Some("websocket"))],
        ),
        route(h, PathMatch::Exact("/".into()), &[], &[]),
    ];
    all.into_iter().take(count).collect()
}

/// Host-less routes: legacy applications by prefix and a few well-known paths.
fn any_host(count: usize) -> Vec<Route> {
    let mut routes = vec![
        route(&[], PathMatch::Exact("/robots.txt".into()), &[], &[]),
        route(&[], PathMatch::Prefix("/legacy/app1".into()), &[], &[]),
        route(
            &[],
            PathMatch::Prefix("/.well-known/acme-challenge".into()),
            &[],
            &[],
        ),
    ];
    let mut app = 2;
    while routes.len() < count {
        routes.push(route(
            &[],
            PathMatch::Prefix(format!("/legacy/app{app}")),
            &[],
            &[],
        ));
        app += 1;
    }
    routes.truncate(count);
    routes
}

/// 10 routes: one exact host (6), one suffix (2), host-less (2).
fn table_10() -> Vec<Route> {
    let mut routes = site(HostMatch::Exact("svc44.example.com".into()), 6);
    routes.extend(
        site(HostMatch::Suffix(".region1.example.net".into()), 5)
            .into_iter()
            .skip(3),
    );
    routes.truncate(8);
    routes.extend(any_host(2));
    routes
}

/// 1,000 routes: 45 exact hosts (20 each), 3 suffixes (20 each), 40 host-less.
fn table_1000() -> Vec<Route> {
    let mut routes = Vec::new();
    for k in 0..45 {
        routes.extend(site(HostMatch::Exact(format!("svc{k}.example.com")), 20));
    }
    for suffix in [
        ".example.net",
        ".region1.example.net",
        ".region2.example.net",
    ] {
        routes.extend(site(HostMatch::Suffix(suffix.into()), 20));
    }
    routes.extend(any_host(40));
    routes
}

/// One request: name, host, method, path, headers.
type Query = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const QUERIES: [Query; 5] = [
    (
        "pattern_last_host",
        "svc44.example.com",
        "GET",
        "/v1/users/42/orders/7",
        BROWSER_HEADERS,
    ),
    (
        "prefix_headers",
        "Svc44.Example.com:8443",
        "POST",
        "/v1/items/abc/reviews",
        CANARY_HEADERS,
    ),
    (
        "suffix_host",
        "eu-7.region1.example.net",
        "GET",
        "/static/app.3f9a.js",
        BROWSER_HEADERS,
    ),
    (
        "fallback_any_host",
        "svc44.example.com",
        "GET",
        "/legacy/app1/index.php",
        BROWSER_HEADERS,
    ),
    (
        "miss",
        "unknown.example.org",
        "GET",
        "/nothing/here",
        BROWSER_HEADERS,
    ),
];

/// Host criterion of one naive entry.
enum NaiveHost {
    Exact(String),
    Suffix(String),
    Any,
}

/// One (host pattern, route) pair of the naive router.
struct NaiveEntry {
    host: NaiveHost,
    matcher: RouteMatch,
    route: usize,
}

/// The naive router: all (host pattern, route) pairs sorted by precedence, scanned in order.
struct NaiveRouter {
    entries: Vec<NaiveEntry>,
}

impl NaiveRouter {
    fn new(routes: &[Route]) -> Self {
        let mut entries = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let hosts: Vec<NaiveHost> = if r.matcher.hosts.is_empty() {
                vec![NaiveHost::Any]
            } else {
                r.matcher
                    .hosts
                    .iter()
                    .map(|h| match h {
                        HostMatch::Exact(e) => NaiveHost::Exact(e.clone()),
                        HostMatch::Suffix(s) => NaiveHost::Suffix(s.clone()),
                    })
                    .collect()
            };
            for host in hosts {
                entries.push(NaiveEntry {
                    host,
                    matcher: r.matcher.clone(),
                    route: i,
                });
            }
        }
        entries.sort_by_key(|e| {
            let host = match &e.host {
                NaiveHost::Exact(_) => (0, 0),
                NaiveHost::Suffix(s) => (1, usize::MAX - s.len()),
                NaiveHost::Any => (2, 0),
            };
            let path = match &e.matcher.path {
                PathMatch::Exact(_) => (0, Vec::new()),
                PathMatch::Pattern(segs) => {
                    let literals = segs
                        .iter()
                        .filter(|s| matches!(s, Segment::Literal(_)))
                        .count();
                    let mut key = vec![usize::MAX - literals];
                    key.extend(
                        segs.iter()
                            .map(|s| usize::from(matches!(s, Segment::Param(_)))),
                    );
                    (1, key)
                }
                PathMatch::Prefix(p) => (2, vec![usize::MAX - p.len()]),
            };
            (
                host,
                path,
                e.matcher.methods.is_empty(),
                Reverse(e.matcher.headers.len()),
                e.route,
            )
        });
        Self { entries }
    }

    fn route(
        &self,
        host: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<usize> {
        let host = if host.starts_with('[') {
            host.find(']').map_or(host, |i| &host[..=i])
        } else {
            host.split(':').next().unwrap_or("")
        };
        self.entries
            .iter()
            .find(|e| {
                let m = &e.matcher;
                let host_ok = match &e.host {
                    NaiveHost::Any => true,
                    NaiveHost::Exact(x) => host.eq_ignore_ascii_case(x),
                    NaiveHost::Suffix(s) => {
                        host.len() > s.len() && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
                    }
                };
                host_ok
                    && path_matches(&m.path, path)
                    && (m.methods.is_empty() || m.methods.iter().any(|x| x == method))
                    && m.headers.iter().all(|h| {
                        headers.iter().any(|(n, v)| {
                            n.eq_ignore_ascii_case(&h.name)
                                && h.value.as_ref().is_none_or(|want| want == v)
                        })
                    })
            })
            .map(|e| e.route)
    }
}

fn path_matches(criterion: &PathMatch, path: &str) -> bool {
    match criterion {
        PathMatch::Exact(e) => e == path,
        PathMatch::Prefix(p) => {
            p == "/"
                || (path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/'))
        }
        PathMatch::Pattern(segs) => {
            let Some(rest) = path.strip_prefix('/') else {
                return false;
            };
            // `/` has no segments; otherwise the pieces between slashes.
            let mut parts = (!rest.is_empty())
                .then(|| rest.split('/'))
                .into_iter()
                .flatten();
            let all = segs.iter().all(|s| match (s, parts.next()) {
                (Segment::Literal(l), Some(p)) => l == p,
                (Segment::Param(_), Some(p)) => !p.is_empty(),
                (_, None) => false,
            });
            all && parts.next().is_none()
        }
    }
}

/// A request aimed at one route: its first host, its path with parameters filled in, its
/// first method, and headers satisfying its criteria.
fn aimed_request(r: &Route) -> (String, String, String, Vec<(String, String)>) {
    let m = &r.matcher;
    let host = match m.hosts.first() {
        Some(HostMatch::Exact(e)) => e.clone(),
        Some(HostMatch::Suffix(s)) => format!("x{s}"),
        None => "any.example.org".into(),
    };
    let path = match &m.path {
        PathMatch::Exact(e) => e.clone(),
        PathMatch::Prefix(p) => format!("{}/x", p.trim_end_matches('/')),
        PathMatch::Pattern(segs) => segs
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Param(_) => "/p1".into(),
            })
            .collect(),
    };
    let method = m.methods.first().cloned().unwrap_or_else(|| "GET".into());
    let headers = m
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone().unwrap_or_default()))
        .collect();
    (host, path, method, headers)
}

/// Checks that the router and the naive router agree on the bench requests and on a request
/// aimed at every route, and that only the miss misses.
fn check_agreement(routes: &[Route], router: &Router, naive: &NaiveRouter) {
    for (name, host, method, path, headers) in QUERIES {
        let got = router.route(host.as_bytes(), method.as_bytes(), path.as_bytes(), headers);
        assert_eq!(got, naive.route(host, method, path, headers), "{name}");
        assert_eq!(got.is_none(), name == "miss", "{name}: {got:?}");
    }
    for r in routes {
        let (host, path, method, headers) = aimed_request(r);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let got = router.route(
            host.as_bytes(),
            method.as_bytes(),
            path.as_bytes(),
            &pairs[..],
        );
        assert!(got.is_some(), "{method} {host}{path}");
        assert_eq!(
            got,
            naive.route(&host, &method, &path, &pairs),
            "{method} {host}{path}"
        );
    }
}

fn bench_lookup(c: &mut Criterion, name: &str, routes: &[Route]) {
    let router = Router::new(routes);
    let naive = NaiveRouter::new(routes);
    check_agreement(routes, &router, &naive);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    for (query, host, method, path, headers) in QUERIES {
        group.bench_function(BenchmarkId::new("ringway", query), |b| {
            b.iter(|| {
                router.route(
                    black_box(host.as_bytes()),
                    black_box(method.as_bytes()),
                    black_box(path.as_bytes()),
                    black_box(headers),
                )
            })
        });
        group.bench_function(BenchmarkId::new("naive_linear", query), |b| {
            b.iter(|| {
                naive.route(
                    black_box(host),
                    black_box(method),
                    black_box(path),
                    black_box(headers),
                )
            })
        });
    }
    group.finish();
}

/// Runs every group with this file's defaults; command-line flags (`--quick`, filters, times)
/// override them, as with `criterion_main!`.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let small = table_10();
    assert_eq!(small.len(), 10);
    let large = table_1000();
    assert_eq!(large.len(), 1000);
    bench_lookup(&mut c, "route_10", &small);
    bench_lookup(&mut c, "route_1000", &large);
    c.final_summary();
}
