//! End-to-end tests of the configured gateway: `ringway run --config` with YAML written by the
//! test, real loopback sockets, in-process mock upstreams that name themselves in replies.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringway_testkit::{parse_responses, Gateway, Reply, Req, Response, TempConfig, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");
const WAIT: Duration = Duration::from_secs(5);

/// A mock upstream answering `<name> <METHOD> <path>`.
fn named(name: &'static str) -> Upstream {
    Upstream::start(move |r| {
        Reply::Status(200, format!("{name} {} {}", r.method, r.path).into_bytes())
    })
}

fn run(yaml: &str) -> Gateway {
    Gateway::run_yaml(BIN, yaml, 1)
}

/// One request on a fresh connection; `extra` is more header lines (each ending in CRLF).
fn request(addr: SocketAddr, method: &str, path: &str, host: &str, extra: &str) -> Response {
    Req::new(method, path).host(host).lines(extra).send(addr)
}

fn get(addr: SocketAddr, path: &str, host: &str) -> Response {
    Req::get(path).host(host).send(addr)
}

/// Which named upstream answered (first word of the body).
fn served_by(r: &Response) -> String {
    r.text().split(' ').next().unwrap_or_default().to_string()
}

#[test]
fn routes_by_host_path_method_and_header() {
    let (a, b, c, d) = (named("a"), named("b"), named("c"), named("d"));
    let gw = run(&format!(
        r#"
admin: {{ enabled: false }}
upstreams:
  a: {{ endpoints: [{{ address: "{}" }}] }}
  b: {{ endpoints: [{{ address: "{}" }}] }}
  c: {{ endpoints: [{{ address: "{}" }}] }}
  d: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: catch-all
        match: {{ path: {{ prefix: / }} }}
        proxy: {{ upstream: d }}
      - name: api-v1
        match: {{ hosts: [api.example.com], path: {{ prefix: /v1 }} }}
        proxy: {{ upstream: a }}
      - name: wildcard
        match: {{ hosts: ["*.example.com"] }}
        proxy: {{ upstream: b }}
      - name: user
        match: {{ path: {{ pattern: "/users/{{id}}" }}, methods: [GET] }}
        proxy: {{ upstream: c }}
      - name: prod-only
        match: {{ path: {{ prefix: /users }}, headers: [{{ name: x-env, value: prod }}] }}
        proxy: {{ upstream: a }}
      - name: exact
        match: {{ path: {{ exact: /ping }} }}
        respond: {{ status: 200, body: "pong" }}
"#,
        a.addr(),
        b.addr(),
        c.addr(),
        d.addr()
    ));
    let addr = gw.addr();
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // method, path, host, extra headers, expected upstream
        ("GET", "/v1/items", "api.example.com", "", "a"),
        ("GET", "/v1/items", "API.Example.com:8443", "", "a"),
        ("GET", "/v2/items", "api.example.com", "", "b"), // falls back to the *.example.com route
        ("GET", "/v1x", "api.example.com", "", "b"),      // prefix on a segment boundary only
        ("GET", "/anything", "www.example.com", "", "b"),
        ("GET", "/anything", "example.com", "", "d"), // *.example.com needs a subdomain
        ("GET", "/users/42", "other.test", "", "c"),
        ("POST", "/users/42", "other.test", "", "d"), // method restricted to GET
        ("GET", "/users/42/orders", "other.test", "", "d"), // pattern is whole-path
        ("POST", "/users/42", "other.test", "X-Env: prod\r\n", "a"),
        ("POST", "/users/42", "other.test", "X-Env: dev\r\n", "d"),
    ];
    for &(method, path, host, extra, want) in cases {
        let r = request(addr, method, path, host, extra);
        assert_eq!(
            (r.status, served_by(&r)),
            (200, want.to_string()),
            "{method} {path} host={host} {extra:?}"
        );
    }
    let r = get(addr, "/ping", "x");
    assert_eq!((r.status, r.text()), (200, "pong".to_string()));
    assert!(r.header("x-request-id").is_some());
}

#[test]
fn no_route_is_404_json() {
    let up = named("a");
    let gw = run(&format!(
        r#"
admin: {{ enabled: false }}
upstreams: {{ a: {{ endpoints: [{{ address: "{}" }}] }} }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: only-api
        match: {{ path: {{ prefix: /api }} }}
        proxy: {{ upstream: a }}
"#,
        up.addr()
    ));
    let r = get(gw.addr(), "/elsewhere", "x");
    assert_eq!(r.status, 404);
    let id = r.header("x-request-id").unwrap().to_string();
    // The error names the request and its (new) trace.
    ringway_testkit::error_body_trace(&r.text(), "no_route", &id);
    assert!(up.requests().is_empty());
}

#[test]
fn rewrites_and_header_edits() {
    let up = Upstream::start(|r| {
        let mut seen = format!("{} {}", r.method, r.path);
        for name in ["host", "x-set", "x-add", "x-drop", "x-forwarded-host"] {
            seen.push_str(&format!(" {name}={}", r.header_all(name).join("|")));
        }
        Reply::Raw(
            format!("HTTP/1.1 200 OK\r\nServer: up\r\nX-Internal: secret\r\ncontent-length: {}\r\n\r\n{seen}", seen.len())
                .into_bytes(),
        )
    });
    let gw = run(&format!(
        r#"
admin: {{ enabled: false }}
upstreams: {{ svc: {{ endpoints: [{{ address: "{}" }}] }} }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: strip
        match: {{ path: {{ prefix: /api }} }}
        proxy:
          upstream: svc
          strip_prefix: /api
          host: svc.internal
          request_headers: {{ set: {{ x-set: new }}, add: {{ x-add: added }}, remove: [x-drop] }}
          response_headers: {{ remove: [x-internal], add: {{ x-served-by: ringway }} }}
      - name: rewrite
        match: {{ path: {{ exact: /old }} }}
        proxy: {{ upstream: svc, rewrite_path: /new/place }}
"#,
        up.addr()
    ));
    let r = request(
        gw.addr(),
        "GET",
        "/api/items?q=1",
        "public.example",
        "X-Set: old\r\nX-Drop: gone\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "GET /items?q=1 host=svc.internal x-set=new x-add=added x-drop= x-forwarded-host=public.example"
    );
    assert_eq!(r.header("x-internal"), None);
    assert_eq!(r.header("x-served-by"), Some("ringway"));
    assert_eq!(r.header("server"), Some("up"));
    let r = get(gw.addr(), "/api", "h");
    assert!(r.text().starts_with("GET / "), "{}", r.text());
    let r = get(gw.addr(), "/old?x=y", "h");
    assert!(r.text().starts_with("GET /new/place?x=y "), "{}", r.text());
}

#[test]
fn direct_responses() {
    let gw = run(r#"
admin: { enabled: false }
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: teapot
        match: { path: { exact: /tea } }
        respond: { status: 418, headers: { content-type: text/plain, x-kind: tea }, body: "short and stout\n" }
      - name: gone
        match: { path: { prefix: /old } }
        respond: { status: 410 }
"#);
    let r = get(gw.addr(), "/tea", "x");
    assert_eq!((r.status, r.text()), (418, "short and stout\n".to_string()));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-kind"), Some("tea"));
    let r = request(gw.addr(), "HEAD", "/tea", "x", "");
    assert_eq!((r.status, r.body.len()), (418, 0));
    assert_eq!(r.header("content-length"), Some("16"));
    assert_eq!(get(gw.addr(), "/old/x", "x").status, 410);
    // Keep-alive survives direct responses.
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET /tea HTTP/1.1\r\nHost: x\r\n\r\nGET /old HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let statuses: Vec<u16> = parse_responses(&bytes, |_| false)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [418, 410]);
    // And so does `Content-Length: 0` (nothing is left unread); a body is not read, so the
    // connection closes after it.
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"POST /tea HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nPOST /old HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /tea HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let responses = parse_responses(&bytes, |_| false);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [418, 410]);
    assert_eq!(responses[0].header("connection"), None);
    assert_eq!(responses[1].header("connection"), Some("close"));
}

fn group_config(balance: &str, endpoints: &[(SocketAddr, u32)], extra_route: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|(a, w)| format!("{{ address: \"{a}\", weight: {w} }}"))
        .collect();
    format!(
        r#"
admin: {{ enabled: false }}
upstreams:
  pool:
    endpoints: [{}]
    {balance}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: all
        match: {{ path: {{ prefix: / }} }}
        proxy: {{ upstream: pool }}
{extra_route}"#,
        eps.join(", ")
    )
}

fn distribution(
    addr: SocketAddr,
    n: usize,
    extra: impl Fn(usize) -> String,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let r = request(addr, "GET", &format!("/{i}"), "h", &extra(i));
        assert_eq!(r.status, 200);
        *counts.entry(served_by(&r)).or_insert(0) += 1;
    }
    counts
}

#[test]
fn weighted_round_robin_distribution() {
    let (a, b) = (named("a"), named("b"));
    let gw = run(&group_config(
        "balance: round_robin",
        &[(a.addr(), 3), (b.addr(), 1)],
        "",
    ));
    let counts = distribution(gw.addr(), 400, |_| String::new());
    // Smooth weighted round robin on one worker is exact.
    assert_eq!((counts["a"], counts["b"]), (300, 100), "{counts:?}");
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    // `slow` holds each request for 300 ms; while it is busy, requests go to `fast`.
    let slow = Upstream::start(|_| {
        Reply::Delay(
            Duration::from_millis(300),
            Box::new(Reply::Status(200, b"slow".to_vec())),
        )
    });
    let fast = named("fast");
    let gw = run(&group_config(
        "balance: least_request",
        &[(slow.addr(), 1), (fast.addr(), 1)],
        "",
    ));
    let addr = gw.addr();
    let held = std::thread::spawn(move || {
        (0..3)
            .map(|i| request(addr, "GET", &format!("/held{i}"), "h", ""))
            .count()
    });
    std::thread::sleep(Duration::from_millis(50));
    let counts = distribution(addr, 20, |_| String::new());
    held.join().unwrap();
    assert!(counts.get("fast").copied().unwrap_or(0) >= 17, "{counts:?}");
}

#[test]
fn power_of_two_choices_spreads_load() {
    let (a, b, c) = (named("a"), named("b"), named("c"));
    let gw = run(&group_config(
        "balance: power_of_two",
        &[(a.addr(), 1), (b.addr(), 1), (c.addr(), 1)],
        "",
    ));
    let counts = distribution(gw.addr(), 300, |_| String::new());
    for name in ["a", "b", "c"] {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!((50..=150).contains(&n), "{name}: {counts:?}");
    }
}

/// Four clients send requests back to back through a group of three: one endpoint takes
/// 300 ms per request, two answer at once. The share the slow one serves is what tells the
/// balancers apart: round robin rotates regardless of load (a third), power of two choices
/// loses the slow endpoint in nearly every pair it is drawn into, because its requests are
/// still in flight.
fn slow_endpoint_share(balance: &str) -> f64 {
    let slow = Upstream::start(|_| {
        Reply::Delay(
            Duration::from_millis(300),
            Box::new(Reply::Status(200, b"slow".to_vec())),
        )
    });
    let (a, b) = (named("a"), named("b"));
    let gw = run(&group_config(
        balance,
        &[(slow.addr(), 1), (a.addr(), 1), (b.addr(), 1)],
        "",
    ));
    let addr = gw.addr();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| served_by(&request(addr, "GET", &format!("/{c}/{i}"), "h", "")))
                    .filter(|by| by == "slow")
                    .count()
            })
        })
        .collect();
    let to_slow: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    to_slow as f64 / 80.0
}

#[test]
fn power_of_two_choices_avoids_the_busy_endpoint() {
    let p2c = slow_endpoint_share("balance: power_of_two");
    eprintln!(
        "power of two choices: {:.1}% to the busy endpoint",
        p2c * 100.0
    );
    assert!(
        p2c <= 0.15,
        "power of two choices sent {:.0}% to the busy endpoint",
        p2c * 100.0
    );
    // Negative control: the same load under round robin gives the slow endpoint its third.
    let rr = slow_endpoint_share("balance: round_robin");
    eprintln!("round robin: {:.1}% to the busy endpoint", rr * 100.0);
    assert!(
        rr >= 0.28,
        "round robin sent only {:.0}% to the busy endpoint",
        rr * 100.0
    );
}

#[test]
fn consistent_hash_is_sticky_per_key() {
    let (a, b, c) = (named("a"), named("b"), named("c"));
    let eps = [(a.addr(), 1), (b.addr(), 1), (c.addr(), 1)];
    for (key, header) in [
        ("{ header: x-user }", "X-User"),
        ("{ cookie: session }", "Cookie"),
    ] {
        let gw = run(&group_config(
            &format!("balance: consistent_hash\n    hash_key: {key}"),
            &eps,
            "",
        ));
        let value = |u: usize| {
            if header == "Cookie" {
                format!("a=1; session=u{u}")
            } else {
                format!("u{u}")
            }
        };
        let mut owner: HashMap<usize, String> = HashMap::new();
        for round in 0..3 {
            for u in 0..30 {
                let r = request(
                    gw.addr(),
                    "GET",
                    &format!("/r{round}"),
                    "h",
                    &format!("{header}: {}\r\n", value(u)),
                );
                let who = served_by(&r);
                assert_eq!(
                    owner.entry(u).or_insert_with(|| who.clone()),
                    &who,
                    "key u{u} moved ({key})"
                );
            }
        }
        let distinct: std::collections::HashSet<_> = owner.values().collect();
        assert!(
            distinct.len() >= 2,
            "30 keys all on one endpoint: {owner:?}"
        );
    }
    let gw = run(&group_config(
        "balance: consistent_hash\n    hash_key: { client_ip: true }",
        &eps,
        "",
    ));
    let first = served_by(&get(gw.addr(), "/", "h"));
    for _ in 0..10 {
        assert_eq!(
            served_by(&get(gw.addr(), "/", "h")),
            first,
            "same client IP, same endpoint"
        );
    }
}

#[test]
fn retries_idempotent_requests_on_configured_statuses() {
    let failing = Upstream::start(|_| Reply::Status(503, b"down".to_vec()));
    let ok = named("ok");
    let yaml = format!(
        r#"
admin: {{ enabled: false }}
upstreams:
  pool:
    endpoints: [{{ address: "{}" }}, {{ address: "{}" }}]
    retries: {{ attempts: 1, budget_percent: 100, backoff: 1ms, backoff_max: 5ms, on_status: [503] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: all
        match: {{ path: {{ prefix: / }} }}
        proxy: {{ upstream: pool }}
"#,
        failing.addr(),
        ok.addr()
    );
    let gw = run(&yaml);
    for i in 0..10 {
        let r = get(gw.addr(), &format!("/{i}"), "h");
        assert_eq!(
            (r.status, served_by(&r)),
            (200, "ok".to_string()),
            "GET {i}"
        );
    }
    // POST is not idempotent: the 503 is passed through, never sent twice.
    let before = failing.requests().len() + ok.requests().len();
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            request(
                gw.addr(),
                "POST",
                &format!("/p{i}"),
                "h",
                "Content-Length: 0\r\n",
            )
            .status,
        );
    }
    assert!(statuses.contains(&503), "{statuses:?}");
    assert_eq!(
        failing.requests().len() + ok.requests().len() - before,
        4,
        "each POST sent once"
    );
}

#[test]
fn canary_split_follows_weights_and_the_force_header() {
    let (stable, canary) = (named("stable"), named("canary"));
    let yaml = format!(
        r#"
admin: {{ enabled: false }}
upstreams:
  stable: {{ endpoints: [{{ address: "{}" }}] }}
  canary: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: split
        match: {{ path: {{ prefix: / }} }}
        proxy:
          split: [{{ upstream: stable, weight: 90 }}, {{ upstream: canary, weight: 10 }}]
          force_header: x-canary
"#,
        stable.addr(),
        canary.addr()
    );
    let gw = run(&yaml);
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    let n = 1000;
    let mut canary_hits = 0;
    for i in 0..n {
        s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let r = loop {
            let k = s.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..k]);
            if let Some(r) = parse_responses(&buf, |_| false).into_iter().next() {
                break r;
            }
        };
        canary_hits += usize::from(served_by(&r) == "canary");
    }
    // 10% of 1000 = 100; 5 standard deviations is about ±47.
    assert!(
        (60..=140).contains(&canary_hits),
        "canary got {canary_hits} of {n}"
    );
    for _ in 0..20 {
        assert_eq!(
            served_by(&request(gw.addr(), "GET", "/", "h", "X-Canary: canary\r\n")),
            "canary"
        );
        assert_eq!(
            served_by(&request(gw.addr(), "GET", "/", "h", "X-Canary: stable\r\n")),
            "stable"
        );
    }
}

#[test]
fn route_limits_and_timeouts_override_the_listener() {
    let slow = Upstream::start(|_| {
        Reply::Delay(
            Duration::from_millis(800),
            Box::new(Reply::Status(200, b"late".to_vec())),
        )
    });
    let yaml = format!(
        r#"
admin: {{ enabled: false }}
upstreams: {{ slow: {{ endpoints: [{{ address: "{}" }}] }} }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    limits: {{ max_body_bytes: 1000 }}
    routes:
      - name: small-uploads
        match: {{ path: {{ prefix: /upload }} }}
        proxy: {{ upstream: slow }}
        limits: {{ max_body_bytes: 10 }}
      - name: impatient
        match: {{ path: {{ prefix: /fast }} }}
        proxy: {{ upstream: slow }}
        timeouts: {{ response: 200ms }}
      - name: patient
        match: {{ path: {{ prefix: / }} }}
        proxy: {{ upstream: slow }}
"#,
        slow.addr()
    );
    let gw = run(&yaml);
    let body = "x".repeat(50);
    let r = request(
        gw.addr(),
        "POST",
        "/upload",
        "h",
        &format!("Content-Length: 50\r\n\r\n{body}"),
    );
    assert_eq!(r.status, 413);
    let r = request(
        gw.addr(),
        "POST",
        "/other",
        "h",
        &format!("Content-Length: 50\r\n\r\n{body}"),
    );
    assert_eq!(r.status, 200, "the listener allows 1000 bytes");
    assert_eq!(get(gw.addr(), "/fast", "h").status, 504);
    assert_eq!(get(gw.addr(), "/slow", "h").status, 200);
}

#[test]
fn several_listeners_with_their_own_routes_and_admin() {
    let (a, b) = (named("a"), named("b"));
    let yaml = format!(
        r#"
admin: {{ listen: "127.0.0.1:0" }}
upstreams:
  a: {{ endpoints: [{{ address: "{}" }}] }}
  b: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: one
    listen: 127.0.0.1:0
    routes: [{{ name: all, match: {{ path: {{ prefix: / }} }}, proxy: {{ upstream: a }} }}]
  - name: two
    listen: 127.0.0.1:0
    routes: [{{ name: all, match: {{ path: {{ prefix: / }} }}, proxy: {{ upstream: b }} }}]
"#,
        a.addr(),
        b.addr()
    );
    let path = TempConfig::new(&yaml);
    let mut child = std::process::Command::new(BIN)
        .args(["run", "--config", path.arg(), "--workers", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        lines.push(line.trim().to_string());
    }
    let addr = |prefix: &str, i: usize| -> SocketAddr {
        lines[i]
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{lines:?}"))
            .parse()
            .unwrap()
    };
    let (one, two) = (
        addr("ringway listening on http://", 0),
        addr("ringway listening on http://", 1),
    );
    let admin = addr("ringway admin on http://", 2);
    assert_eq!(served_by(&get(one, "/", "h")), "a");
    assert_eq!(served_by(&get(two, "/", "h")), "b");
    assert_eq!(get(admin, "/healthz", "h").status, 200);
    assert_eq!(get(admin, "/readyz", "h").status, 200);
    let config = get(admin, "/config", "h");
    assert_eq!(config.status, 200);
    assert!(config.text().contains("name: two"), "{}", config.text());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn validate_reports_every_problem_and_exits_64() {
    let good = TempConfig::new(
        "admin: { enabled: false }\nlisteners:\n  - name: l\n    listen: 127.0.0.1:0\n    routes:\n      - name: r\n        respond: { status: 200 }\n",
    );
    let out = std::process::Command::new(BIN)
        .args(["validate", good.arg()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = TempConfig::new(
        r#"
upstreams:
  users: { endpoints: [{ address: "127.0.0.1:9", weight: 0 }], balance: round_robin, timeout: 5s }
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: a
        match: { path: { prefix: /api } }
        proxy: { upstream: billing }
      - name: b
        match: { path: { prefix: /api } }
        respond: { status: 99 }
"#,
    );
    let out = std::process::Command::new(BIN)
        .args(["validate", bad.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "upstreams.users.timeout",
        "upstreams.users.endpoints[0].weight",
        "listeners[0].routes[0].proxy.upstream",
        "listeners[0].routes[1].respond.status",
    ] {
        assert!(err.contains(expected), "{expected} missing in:\n{err}");
    }
    // A route shadowed by an identical earlier one is reported too.
    let shadowed = TempConfig::new(
        "admin: { enabled: false }\nlisteners:\n  - name: l\n    listen: 127.0.0.1:0\n    routes:\n      - name: first\n        match: { path: { prefix: /x } }\n        respond: { status: 200 }\n      - name: second\n        match: { path: { prefix: /x } }\n        respond: { status: 201 }\n",
    );
    let out = std::process::Command::new(BIN)
        .args(["validate", shadowed.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listeners[0].routes[1]") && err.contains("never match"),
        "{err}"
    );
    // `run` refuses the same file before binding anything.
    let out = std::process::Command::new(BIN)
        .args(["run", "--config", bad.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing was bound or announced"
    );
}

#[test]
fn every_shipped_config_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let out = std::process::Command::new(BIN)
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_runs_its_embedded_config() {
    let logs = std::env::temp_dir().join(format!("ringway-demo-test-{}", std::process::id()));
    let out = std::process::Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--duration",
            "1s",
        ])
        .arg("--logs")
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let statuses = |path: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.trim_start().starts_with(&format!("GET {path} ")))
            .map(|l| {
                l.split("HTTP/1.1 ")
                    .nth(1)
                    .unwrap_or("")
                    .get(..3)
                    .unwrap_or("")
            })
            .collect()
    };
    assert_eq!(statuses("/users/42"), ["200"], "{text}");
    assert_eq!(statuses("/healthz"), ["200"], "{text}");
    assert_eq!(statuses("/nope"), ["404"], "{text}");
    assert_eq!(statuses("/slow"), ["200"], "{text}");
    assert_eq!(
        statuses("/reports"),
        ["401", "200", "200", "429"],
        "API key, then the plan's rate limit:\n{text}"
    );
    assert_eq!(
        statuses("/flaky"),
        ["200", "200", "200"],
        "flaky failures are retried:\n{text}"
    );
    assert!(
        text.contains("served_by\":\"gamma"),
        "the forced canary reaches users-v2:\n{text}"
    );
    // The synthetic traffic is summarised from the Parquet logs it wrote.
    assert!(text.contains("synthetic traffic: 2000 requests"), "{text}");
    let users = text
        .lines()
        .skip_while(|l| !l.contains("--group-by route"))
        .find(|l| l.starts_with("users "))
        .unwrap_or_else(|| panic!("no users row in the logs summary:\n{text}"));
    let count: u64 = users.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count > 1000, "{users}");
    let _ = std::fs::remove_dir_all(&logs);
}

/// A keep-alive client that leaves part of a next request buffered and then stalls gets a 408
/// when the header timeout passes — and the worker goes on serving (the timed-out read used to
/// lose the read buffer while its position stayed, and the next read panicked the core).
#[test]
fn a_stalled_partial_request_after_a_response_is_a_408_and_the_core_lives_on() {
    let up = Upstream::echo();
    let gw = run(&format!(
        "workers: 1\nadmin:\n  listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints:\n      - address: {}\nlisteners:\n  - name: public\n    listen: 127.0.0.1:0\n    timeouts:\n      header: 500ms\n    routes:\n      - name: all\n        proxy:\n          upstream: app\n",
        up.addr()
    ));
    for round in 0..3 {
        let mut s = TcpStream::connect(gw.addr()).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGE")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The first response, then (after the header timeout) the 408 and the close.
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 "), "round {round}: {text}");
        assert!(text.contains("HTTP/1.1 408 "), "round {round}: {text}");
        // The same (only) worker still answers.
        assert_eq!(get(gw.addr(), "/after", "a").status, 200, "round {round}");
    }
}

/// Past `limits.max_connections_per_core`, new connections are closed at accept and the open
/// ones are served; a slot freed is a connection accepted again.
#[test]
fn connections_past_the_per_core_limit_are_closed_and_the_open_ones_served() {
    connection_limit_holds(1, "max_connections_per_core");
}

#[test]
fn connections_past_the_listener_limit_over_all_cores_are_closed() {
    // Four workers: the two open connections may sit on different cores; the limit is theirs
    // together.
    connection_limit_holds(4, "max_connections");
}

/// A listener with `limits.<key>: 2` on `workers` workers: two open keep-alive connections
/// are served, a third is closed unanswered and never forwarded, a freed slot is reused.
fn connection_limit_holds(workers: usize, key: &str) {
    let up = Upstream::echo();
    let gw = run(&format!(
        "workers: {workers}\nadmin:\n  listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints:\n      - address: {}\nlisteners:\n  - name: public\n    listen: 127.0.0.1:0\n    limits:\n      {key}: 2\n    routes:\n      - name: all\n        proxy:\n          upstream: app\n",
        up.addr()
    ));
    let open = |s: &mut TcpStream, path: &str| -> String {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut a = TcpStream::connect(gw.addr()).unwrap();
    let mut b = TcpStream::connect(gw.addr()).unwrap();
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    assert!(open(&mut a, "/a").starts_with("HTTP/1.1 200 "));
    assert!(open(&mut b, "/b").starts_with("HTTP/1.1 200 "));
    // A third: closed without an answer.
    let mut c = TcpStream::connect(gw.addr()).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let _ = c.write_all(b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut buf = [0u8; 64];
    assert_eq!(
        c.read(&mut buf).unwrap_or(0),
        0,
        "the third connection was served"
    );
    // The open ones go on; once one closes, a new connection is accepted.
    assert!(open(&mut a, "/a2").starts_with("HTTP/1.1 200 "));
    drop(b);
    let mut served = false;
    for _ in 0..50 {
        let got = ringway_testkit::exchange_raw(
            gw.addr(),
            b"GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            false,
            ringway_testkit::PATIENCE,
        );
        if got.bytes.starts_with(b"HTTP/1.1 200 ") {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served, "a freed slot was never given to a new connection");
    assert!(!up.requests().iter().any(|r| r.path == "/c"));
    let admin = gw.admin_addr().unwrap();
    assert!(ringway_testkit::eventually(WAIT, || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.lines()
            .any(|l| l.starts_with("ringway_connections_refused_total ") && !l.ends_with(" 0"))
    }));
}

#[test]
fn sighup_never_stops_a_gateway_without_tls() {
    let up = Upstream::echo();
    let mut gw = Gateway::proxy(BIN, &[up.addr()], &[]);
    gw.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(gw.addr(), "/after-hup", "x").status,
        200,
        "still serving"
    );
    assert!(gw.wait_exit(Duration::from_millis(100)).is_none());
}
