//! Table tests of matching and precedence, a differential test against a direct reading of the
//! rules, and soundness of shadow detection.

use std::cmp::Reverse;

use ringway_config::model::{
    Action, DirectResponse, HeaderMatch, HostMatch, Limits, PathMatch, Route, RouteMatch, Segment,
};

use crate::{Headers, NoHeaders, Router};

// ---- builders -------------------------------------------------------------------------------

fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.into())
}

fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.into())
}

/// `/users/{id}` -> literal `users`, param `id`; `/` -> no segments.
fn pattern(p: &str) -> PathMatch {
    let rest = &p[1..];
    if rest.is_empty() {
        return PathMatch::Pattern(vec![]);
    }
    PathMatch::Pattern(
        rest.split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.into()),
                    None => Segment::Literal(s.into()),
                },
            )
            .collect(),
    )
}

/// `*.example.com` -> suffix `.example.com`; anything else exact.
fn host(h: &str) -> HostMatch {
    match h.strip_prefix('*') {
        Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
        None => HostMatch::Exact(h.to_ascii_lowercase()),
    }
}

/// `x-a` -> present; `x-a=1` -> value `1`.
fn header(h: &str) -> HeaderMatch {
    match h.split_once('=') {
        Some((name, value)) => HeaderMatch {
            name: name.into(),
            value: Some(value.into()),
        },
        None => HeaderMatch {
            name: h.into(),
            value: None,
        },
    }
}

fn route(name: &str, hosts: &[&str], path: PathMatch, methods: &[&str], headers: &[&str]) -> Route {
    Route {
        name: name.into(),
        matcher: RouteMatch {
            hosts: hosts.iter().map(|h| host(h)).collect(),
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            headers: headers.iter().map(|h| header(h)).collect(),
        },
        action: Action::Respond(DirectResponse {
            status: 200,
            headers: vec![],
            body: vec![],
        }),
        limits: Limits {
            max_body_bytes: 1 << 20,
            max_uri_bytes: 8192,
            max_header_bytes: 65536,
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

/// One table row: host, method, path, headers, expected route name.
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
);

/// Checks every row against the router and the reference implementation.
fn check(routes: &[Route], rows: &[Row<'_>]) {
    let router = Router::new(routes);
    for &(host, method, path, headers, want) in rows {
        let got = router
            .route(host.as_bytes(), method.as_bytes(), path.as_bytes(), headers)
            .map(|i| routes[i].name.as_str());
        assert_eq!(got, want, "{method} {host}{path} {headers:?}");
        let naive =
            naive_route(routes, host, method, path, headers).map(|i| routes[i].name.as_str());
        assert_eq!(
            naive, want,
            "reference disagrees: {method} {host}{path} {headers:?}"
        );
    }
}

const NONE: &[(&str, &str)] = &[];

// ---- tables ---------------------------------------------------------------------------------

#[test]
fn hosts_exact_suffix_any_with_port_and_case() {
    let routes = [
        route("any", &[], prefix("/"), &[], &[]),
        route("suffix", &["*.example.com"], prefix("/"), &[], &[]),
        route(
            "longer_suffix",
            &["*.eu.example.com"],
            prefix("/"),
            &[],
            &[],
        ),
        route("exact", &["api.example.com"], prefix("/"), &[], &[]),
        route("v6", &["[::1]"], prefix("/"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("api.example.com", "GET", "/", NONE, Some("exact")),
            ("API.Example.COM", "GET", "/", NONE, Some("exact")),
            ("api.example.com:8080", "GET", "/", NONE, Some("exact")),
            ("www.example.com", "GET", "/", NONE, Some("suffix")),
            ("a.b.example.com:443", "GET", "/", NONE, Some("suffix")),
            ("x.eu.example.com", "GET", "/", NONE, Some("longer_suffix")),
            ("eu.example.com", "GET", "/", NONE, Some("suffix")),
            ("example.com", "GET", "/", NONE, Some("any")),
            (".example.com", "GET", "/", NONE, Some("any")),
            ("notexample.com", "GET", "/", NONE, Some("any")),
            ("[::1]:8080", "GET", "/", NONE, Some("v6")),
            ("[::1]", "GET", "/", NONE, Some("v6")),
            ("::1", "GET", "/", NONE, Some("any")),
            ("", "GET", "/", NONE, Some("any")),
        ],
    );
}

#[test]
fn long_hosts_and_deep_paths() {
    let long = format!("{}.Example.com", "a".repeat(300));
    let deep = "/d".repeat(40);
    let deep_pattern = format!("{}/{{id}}", "/d".repeat(39));
    let routes = [
        route("suffix", &["*.example.com"], prefix("/"), &[], &[]),
        route("any", &[], prefix("/"), &[], &[]),
        route("deep_exact", &[], exact(&deep), &["GET"], &[]),
        route("deep_prefix", &[], prefix(&"/d".repeat(30)), &[], &[]),
        route("deep_pattern", &[], pattern(&deep_pattern), &["POST"], &[]),
    ];
    let beyond = format!("{deep}/x/y");
    let slash_beyond = format!("{}/", "/d".repeat(30));
    check(
        &routes,
        &[
            (&long, "GET", "/", NONE, Some("suffix")),
            ("h", "GET", &deep, NONE, Some("deep_exact")),
            ("h", "POST", &deep, NONE, Some("deep_pattern")),
            ("h", "GET", &beyond, NONE, Some("deep_prefix")),
            ("h", "GET", &slash_beyond, NONE, Some("deep_prefix")),
            ("h", "GET", &"/d".repeat(29), NONE, Some("any")),
        ],
    );
}

#[test]
fn prefixes_on_segment_boundaries() {
    let routes = [
        route("root", &[], prefix("/"), &[], &[]),
        route("api", &[], prefix("/api"), &[], &[]),
        route("api_v1", &[], prefix("/api/v1"), &[], &[]),
        route("static_slash", &[], prefix("/static/"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("h", "GET", "/api", NONE, Some("api")),
            ("h", "GET", "/api/", NONE, Some("api")),
            ("h", "GET", "/api/x", NONE, Some("api")),
            ("h", "GET", "/apix", NONE, Some("root")),
            ("h", "GET", "/api/v1", NONE, Some("api_v1")),
            ("h", "GET", "/api/v1/users/1", NONE, Some("api_v1")),
            ("h", "GET", "/api/v10", NONE, Some("api")),
            ("h", "GET", "/static/", NONE, Some("static_slash")),
            ("h", "GET", "/static/app.js", NONE, Some("static_slash")),
            ("h", "GET", "/static", NONE, Some("root")),
            ("h", "GET", "/", NONE, Some("root")),
            ("h", "GET", "/anything/at/all", NONE, Some("root")),
            ("h", "OPTIONS", "*", NONE, Some("root")),
        ],
    );
    check(
        &routes[1..2],
        &[
            ("h", "GET", "/", NONE, None),
            ("h", "GET", "/ap", NONE, None),
        ],
    );
}

#[test]
fn patterns_match_one_non_empty_segment_per_param() {
    let routes = [
        route("user", &[], pattern("/users/{id}"), &[], &[]),
        route(
            "orders",
            &[],
            pattern("/users/{id}/orders/{order}"),
            &[],
            &[],
        ),
        route("any_two", &[], pattern("/{a}/{b}"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("h", "GET", "/users/42", NONE, Some("user")),
            ("h", "GET", "/users/", NONE, None),
            ("h", "GET", "/users", NONE, None),
            ("h", "GET", "/users/42/x", NONE, None),
            ("h", "GET", "/users/42/orders/7", NONE, Some("orders")),
            ("h", "GET", "/users/42/orders/", NONE, None),
            ("h", "GET", "/users//orders/7", NONE, None),
            ("h", "GET", "/teams/42", NONE, Some("any_two")),
            ("h", "GET", "//42", NONE, None),
            ("h", "GET", "*", NONE, None),
        ],
    );
}

#[test]
fn exact_beats_pattern_beats_prefix_and_longest_prefix_wins() {
    let routes = [
        route("prefix_users", &[], prefix("/users"), &[], &[]),
        route("prefix_root", &[], prefix("/"), &[], &[]),
        route("pattern", &[], pattern("/users/{id}"), &[], &[]),
        route("exact", &[], exact("/users/me"), &[], &[]),
        route("prefix_long", &[], prefix("/users/42/orders"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("h", "GET", "/users/me", NONE, Some("exact")),
            ("h", "GET", "/users/42", NONE, Some("pattern")),
            ("h", "GET", "/users/42/x", NONE, Some("prefix_users")),
            ("h", "GET", "/users/42/orders/1", NONE, Some("prefix_long")),
            ("h", "GET", "/users", NONE, Some("prefix_users")),
            ("h", "GET", "/usersx", NONE, Some("prefix_root")),
        ],
    );
}

#[test]
fn pattern_precedence_more_literals_then_leftmost_literal() {
    let routes = [
        route("params", &[], pattern("/{a}/{b}/{c}"), &[], &[]),
        route("late_literal", &[], pattern("/{a}/b/c"), &[], &[]),
        route("early_literal", &[], pattern("/a/{b}/{c}"), &[], &[]),
        route("middle", &[], pattern("/a/{b}/c"), &[], &[]),
        route("first_two", &[], pattern("/a/b/{c}"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("h", "GET", "/a/b/c", NONE, Some("first_two")),
            ("h", "GET", "/a/x/c", NONE, Some("middle")),
            ("h", "GET", "/x/b/c", NONE, Some("late_literal")),
            ("h", "GET", "/a/x/y", NONE, Some("early_literal")),
            ("h", "GET", "/x/y/z", NONE, Some("params")),
        ],
    );
}

#[test]
fn methods_and_headers() {
    let routes = [
        route("any", &[], prefix("/api"), &[], &[]),
        route("write", &[], prefix("/api"), &["POST", "PUT"], &[]),
        route("canary", &[], prefix("/api"), &[], &["x-canary=1"]),
        route("traced", &[], prefix("/api"), &[], &["x-trace"]),
        route(
            "canary_traced",
            &[],
            prefix("/api"),
            &[],
            &["x-canary=1", "x-trace"],
        ),
    ];
    check(
        &routes,
        &[
            ("h", "GET", "/api", NONE, Some("any")),
            ("h", "get", "/api", NONE, Some("any")),
            ("h", "POST", "/api", NONE, Some("write")),
            ("h", "POST", "/api", &[("x-canary", "1")], Some("write")),
            ("h", "GET", "/api", &[("X-Canary", "1")], Some("canary")),
            ("h", "GET", "/api", &[("x-canary", "2")], Some("any")),
            (
                "h",
                "GET",
                "/api",
                &[("x-canary", "2"), ("x-canary", "1")],
                Some("canary"),
            ),
            ("h", "GET", "/api", &[("x-trace", "")], Some("traced")),
            (
                "h",
                "GET",
                "/api",
                &[("x-trace", "abc"), ("x-canary", "1")],
                Some("canary_traced"),
            ),
        ],
    );
}

#[test]
fn falls_back_to_less_specific_host_buckets() {
    let routes = [
        route("exact_api", &["api.example.com"], prefix("/api"), &[], &[]),
        route(
            "exact_post",
            &["api.example.com"],
            exact("/submit"),
            &["POST"],
            &[],
        ),
        route(
            "suffix_static",
            &["*.example.com"],
            prefix("/static"),
            &[],
            &[],
        ),
        route("any_root", &[], prefix("/"), &[], &[]),
    ];
    check(
        &routes,
        &[
            ("api.example.com", "GET", "/api/x", NONE, Some("exact_api")),
            (
                "api.example.com",
                "GET",
                "/static/a",
                NONE,
                Some("suffix_static"),
            ),
            ("api.example.com", "GET", "/submit", NONE, Some("any_root")),
            (
                "api.example.com",
                "POST",
                "/submit",
                NONE,
                Some("exact_post"),
            ),
            ("www.example.com", "GET", "/api/x", NONE, Some("any_root")),
            ("other", "GET", "/static/a", NONE, Some("any_root")),
        ],
    );
    // Host specificity comes before path specificity.
    let routes = [
        route("any_exact", &[], exact("/x"), &[], &[]),
        route("host_root", &["h"], prefix("/"), &[], &[]),
    ];
    check(&routes, &[("h", "GET", "/x", NONE, Some("host_root"))]);
}

#[test]
fn file_order_breaks_ties_and_hosts_lists_work() {
    let routes = [
        route("first", &["a", "b"], prefix("/x"), &[], &[]),
        route("second", &["b"], prefix("/x"), &[], &[]),
        route("third", &[], prefix("/x"), &["GET"], &[]),
        route("fourth", &[], prefix("/x"), &["GET"], &[]),
    ];
    check(
        &routes,
        &[
            ("a", "GET", "/x", NONE, Some("first")),
            ("b", "GET", "/x", NONE, Some("first")),
            ("c", "GET", "/x", NONE, Some("third")),
        ],
    );
}

#[test]
fn empty_router_and_paths_without_slash() {
    let router = Router::new(&[]);
    assert!(router.is_empty());
    assert_eq!(router.route(b"h", b"GET", b"/", &NoHeaders), None);
    let routes = [route("exact_star", &[], exact("*"), &["OPTIONS"], &[])];
    check(
        &routes,
        &[
            ("h", "OPTIONS", "*", NONE, Some("exact_star")),
            ("h", "GET", "*", NONE, None),
        ],
    );
}

#[test]
fn shadowed_duplicates_and_covered_routes() {
    let routes = [
        route(
            "a",
            &["x.com", "*.y.com"],
            prefix("/api"),
            &["GET", "POST"],
            &["x-a=1"],
        ),
        // Same criteria, listed in another order: shadowed by 0.
        route(
            "dup",
            &["*.y.com", "x.com"],
            prefix("/api"),
            &["POST", "GET"],
            &["x-a=1"],
        ),
        // Subset of hosts and methods, more header criteria implied... no: more criteria rank
        // first, so it wins when both match. Not shadowed.
        route(
            "more_headers",
            &["x.com"],
            prefix("/api"),
            &["GET"],
            &["x-a=1", "x-b"],
        ),
        // Fewer methods, same headers, later: shadowed by 0.
        route("get_only", &["x.com"], prefix("/api"), &["GET"], &["x-a=1"]),
        // Differs by method / header value / host: not shadowed.
        route(
            "delete",
            &["x.com"],
            prefix("/api"),
            &["DELETE"],
            &["x-a=1"],
        ),
        route(
            "other_value",
            &["x.com"],
            prefix("/api"),
            &["GET"],
            &["x-a=2"],
        ),
        route(
            "other_host",
            &["z.com"],
            prefix("/api"),
            &["GET"],
            &["x-a=1"],
        ),
        // Any method: wins when 0 doesn't match the method. Not shadowed.
        route("any_method", &["x.com"], prefix("/api"), &[], &["x-a=1"]),
        // Pattern of literals after an exact route for the same path: shadowed by 9.
        route("exact", &[], exact("/users/me"), &[], &[]),
        route("literal_pattern", &[], pattern("/users/me"), &["GET"], &[]),
        // Same pattern up to parameter names: shadowed by 11.
        route("p1", &[], pattern("/u/{id}"), &[], &[]),
        route("p2", &[], pattern("/u/{name}"), &[], &[]),
        // No host after a host-specific route: not shadowed (matches other hosts).
        route("no_host", &[], prefix("/api"), &["GET"], &["x-a=1"]),
        // Wider prefix later: not shadowed.
        route("wider", &["x.com"], prefix("/"), &["GET"], &["x-a=1"]),
    ];
    let router = Router::new(&routes);
    assert_eq!(router.shadowed(), vec![(1, 0), (3, 0), (9, 8), (11, 10)]);
    // A duplicate listed first shadows the later one, whichever it is.
    let routes = [
        route("one", &[], prefix("/"), &[], &[]),
        route("two", &[], prefix("/"), &[], &[]),
    ];
    assert_eq!(Router::new(&routes).shadowed(), vec![(1, 0)]);
}

// ---- reference implementation and differential test ------------------------------------------

/// The rules read directly from the model: every matching route gets a precedence key; the
/// smallest wins.
fn naive_route(
    routes: &[Route],
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<usize> {
    let host = if host.starts_with('[') {
        host.find(']').map_or(host, |i| &host[..=i])
    } else {
        host.split(':').next().unwrap_or("")
    }
    .to_ascii_lowercase();
    let mut best = None;
    for (i, r) in routes.iter().enumerate() {
        let m = &r.matcher;
        let host_key = if m.hosts.is_empty() {
            Some((2, 0))
        } else if host.is_empty() {
            None
        } else {
            m.hosts
                .iter()
                .filter_map(|h| match h {
                    HostMatch::Exact(e) if *e == host => Some((0, 0)),
                    HostMatch::Suffix(s) if host.len() > s.len() && host.ends_with(s.as_str()) => {
                        Some((1, usize::MAX - s.len()))
                    }
                    _ => None,
                })
                .min()
        };
        let Some(host_key) = host_key else { continue };
        let path_key = match &m.path {
            PathMatch::Exact(e) if e == path => (0, vec![]),
            PathMatch::Exact(_) => continue,
            PathMatch::Prefix(p) => {
                let hit = p == "/"
                    || (path.starts_with(p.as_str())
                        && (p.ends_with('/')
                            || path.len() == p.len()
                            || path.as_bytes()[p.len()] == b'/'));
                if !hit {
                    continue;
                }
                (2, vec![usize::MAX - p.len()])
            }
            PathMatch::Pattern(segs) => {
                let Some(rest) = path.strip_prefix('/') else {
                    continue;
                };
                let req: Vec<&str> = if rest.is_empty() {
                    vec![]
                } else {
                    rest.split('/').collect()
                };
                let hit = req.len() == segs.len()
                    && req.iter().zip(segs).all(|(r, s)| match s {
                        Segment::Literal(l) => l == r,
                        Segment::Param(_) => !r.is_empty(),
                    });
                if !hit {
                    continue;
                }
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
        };
        if !(m.methods.is_empty() || m.methods.iter().any(|x| x == method)) {
            continue;
        }
        let headers_hit = m.headers.iter().all(|h| {
            headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case(&h.name) && h.value.as_ref().is_none_or(|want| want == v)
            })
        });
        if !headers_hit {
            continue;
        }
        // Duplicate criteria count once.
        let distinct: std::collections::HashSet<(&str, Option<&str>)> = m
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_deref()))
            .collect();
        let key = (
            host_key,
            path_key,
            m.methods.is_empty(),
            Reverse(distinct.len()),
            i,
        );
        if best.as_ref().is_none_or(|(b, _)| key < *b) {
            best = Some((key, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The workspace's seeded generator, with the two draws these tests use.
struct Rng(fastrand::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const HOST_PATTERNS: &[&str] = &[
    "a.example.com",
    "b.example.com",
    "*.example.com",
    "*.b.example.com",
    "*.com",
    "[::1]",
];
const PATHS: &[(&str, &str)] = &[
    ("exact", "/"),
    ("exact", "/a"),
    ("exact", "/a/b"),
    ("exact", "/a/"),
    ("prefix", "/"),
    ("prefix", "/a"),
    ("prefix", "/a/"),
    ("prefix", "/a/b"),
    ("prefix", "/ab"),
    ("pattern", "/{x}"),
    ("pattern", "/a/{x}"),
    ("pattern", "/{x}/b"),
    ("pattern", "/a/b"),
    ("pattern", "/{x}/{y}"),
    ("pattern", "/a/{x}/c"),
    ("pattern", "/{x}/{y}/{z}"),
    // Deeper than the pieces kept on the stack.
    ("exact", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r"),
    ("prefix", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"),
    ("pattern", "/a/{x}/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/{r}"),
];
const METHOD_SETS: &[&[&str]] = &[&[], &[], &["GET"], &["POST"], &["GET", "POST"]];
const HEADER_SETS: &[&[&str]] = &[
    &[],
    &[],
    &["x-a"],
    &["x-a=1"],
    &["x-b=2"],
    &["x-a=1", "x-b=2"],
];

const REQ_HOSTS: &[&str] = &[
    "a.example.com",
    "A.Example.Com:80",
    "x.b.example.com",
    "b.example.com",
    "example.com",
    "foo.com",
    "[::1]:8080",
    "",
    "other",
];
const REQ_PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/a/b/",
    "/ab",
    "/a/b/c",
    "/x/b",
    "//",
    "/a//c",
    "*",
    "/a/x/c",
    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r",
    "/a/x/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/",
    "/a/x/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r",
];
const REQ_METHODS: &[&str] = &["GET", "POST", "PUT"];
const REQ_HEADERS: &[&[(&str, &str)]] = &[
    &[],
    &[("x-a", "1")],
    &[("X-A", "2"), ("x-b", "2")],
    &[("x-a", "1"), ("x-b", "2")],
];

fn random_table(rng: &mut Rng) -> Vec<Route> {
    let n = 1 + rng.below(16);
    let mut routes: Vec<Route> = Vec::with_capacity(n);
    for i in 0..n {
        // Now and then a copy of an earlier route's criteria with fewer methods or more
        // headers, so that shadowing (and near misses) are common.
        if i > 0 && rng.below(4) == 0 {
            let mut copy = routes[rng.below(i)].clone();
            copy.name = format!("r{i}");
            match rng.below(3) {
                0 => copy.matcher.methods.truncate(1),
                1 => copy
                    .matcher
                    .headers
                    .push(header(rng.pick(&["x-a", "x-a=1", "x-b=2"]))),
                _ => copy.matcher.hosts.reverse(),
            }
            routes.push(copy);
            continue;
        }
        routes.push({
            let hosts: Vec<&str> = match rng.below(3) {
                0 => vec![],
                1 => vec![rng.pick(HOST_PATTERNS)],
                _ => vec![rng.pick(HOST_PATTERNS), rng.pick(HOST_PATTERNS)],
            };
            let (kind, p) = rng.pick(PATHS);
            let path = match kind {
                "exact" => exact(p),
                "prefix" => prefix(p),
                _ => pattern(p),
            };
            route(
                &format!("r{i}"),
                &hosts,
                path,
                rng.pick(METHOD_SETS),
                rng.pick(HEADER_SETS),
            )
        });
    }
    routes
}

#[test]
fn agrees_with_reference_and_shadowed_routes_never_win() {
    let mut rng = Rng(fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15));
    let mut shadows_seen = 0;
    for _ in 0..400 {
        let routes = random_table(&mut rng);
        let router = Router::new(&routes);
        let shadowed = router.shadowed();
        shadows_seen += shadowed.len();
        let mut won = vec![false; routes.len()];
        for host in REQ_HOSTS {
            for path in REQ_PATHS {
                for method in REQ_METHODS {
                    for headers in REQ_HEADERS {
                        let got = router.route(
                            host.as_bytes(),
                            method.as_bytes(),
                            path.as_bytes(),
                            *headers,
                        );
                        let want = naive_route(&routes, host, method, path, headers);
                        assert_eq!(got, want, "{method} {host}{path} {headers:?}\n{routes:#?}");
                        if let Some(i) = got {
                            won[i] = true;
                        }
                    }
                }
            }
        }
        for &(j, i) in &shadowed {
            assert_ne!(i, j);
            assert!(
                !won[j],
                "route {j} reported shadowed by {i} but won\n{routes:#?}"
            );
        }
    }
    assert!(
        shadows_seen > 200,
        "the generator should produce shadowed routes ({shadows_seen})"
    );
}

/// Lookups see headers only through the trait.
#[test]
fn headers_trait_on_slices_and_arrays() {
    let array = [("Content-Type", "a"), ("content-type", "b")];
    let mut seen = Vec::new();
    assert!(array.any_value("content-type", &mut |v| {
        seen.push(v.to_vec());
        v == b"b"
    }));
    assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec()]);
    assert!(!array[..].any_value("accept", &mut |_| true));
    assert!(!NoHeaders.any_value("accept", &mut |_| true));
}
