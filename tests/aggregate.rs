//! Aggregate routes and JSON reshaping through real sockets: scripted JSON origins that count
//! their requests, the gateway fanning out and merging, the Parquet log read by DuckDB.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_testkit::{roundtrip, Gateway, Reply, Req, Response, TempConfig, TempDir, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// An origin answering every request with `body` (JSON) after `delay`, counting requests.
fn json_origin(body: &'static str, delay: Duration) -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&count);
    let up = Upstream::start(move |_| {
        n.fetch_add(1, Ordering::SeqCst);
        let reply = Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        );
        if delay.is_zero() {
            reply
        } else {
            Reply::Delay(delay, Box::new(reply))
        }
    });
    (up, count)
}

/// `upstreams:` naming each origin.
fn upstreams(named: &[(&str, &Upstream)]) -> String {
    let mut s = String::from("upstreams:\n");
    for (name, up) in named {
        s.push_str(&format!(
            "  {name}: {{ endpoints: [{{ address: \"{}\" }}] }}\n",
            up.addr()
        ));
    }
    s
}

/// A gateway with one aggregate route at `/agg` (its `aggregate:` body given) and the
/// upstreams; admin on, Parquet logs in `logs` when given.
fn gateway(ups: &str, aggregate: &str, extra_route: &str, logs: Option<&TempDir>) -> Gateway {
    let telemetry = match logs {
        Some(d) => format!(
            "telemetry: {{ logs_dir: \"{}\", anomalies: {{ enabled: false }} }}\n",
            d.0.display()
        ),
        None => String::new(),
    };
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n{telemetry}{ups}listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n\
         \x20     - {{ name: agg, match: {{ path: {{ exact: /agg }} }}, aggregate: {aggregate} }}\n{extra_route}"
    );
    Gateway::run_yaml(BIN, &yaml, 1)
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

#[test]
fn every_backend_answers_grouped_with_forwarded_context_and_linked_log_records() {
    let (users, _) = json_origin(
        r#"{"id":12345678901234567890123,"name":"ada"}"#,
        Duration::ZERO,
    );
    let (orders, _) = json_origin(r#"[{"sku":"a"},{"sku":"b"}]"#, Duration::ZERO);
    let (flags, _) = json_origin("true", Duration::from_millis(30));
    let logs = TempDir::new("aggregate-logs");
    let gw = gateway(
        &upstreams(&[("users", &users), ("orders", &orders), ("flags", &flags)]),
        "{ forward_headers: [authorization], backends: [\
         { name: me, upstream: users, path: /v1/me, required: true }, \
         { upstream: orders, path: /v1/orders }, { upstream: flags, path: /v1/flags }] }",
        "",
        Some(&logs),
    );
    let r = Req::get("/agg?page=2")
        .header("authorization", "Bearer t")
        .header("cookie", "secret=1")
        .send(gw.addr());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-ringway-completed"), Some("true"));
    assert_eq!(r.header("cache-control"), None);
    // Grouped in configuration order, each body byte for byte (the big integer keeps its
    // digits, which a float round trip would not).
    assert_eq!(
        r.text(),
        r#"{"me":{"id":12345678901234567890123,"name":"ada"},"orders":[{"sku":"a"},{"sku":"b"}],"flags":true}"#
    );
    let parent = r.header("x-request-id").unwrap().to_owned();
    let mut ids = HashSet::new();
    for (up, path) in [
        (&users, "/v1/me?page=2"),
        (&orders, "/v1/orders?page=2"),
        (&flags, "/v1/flags?page=2"),
    ] {
        let seen = up.requests();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", path));
        assert_eq!(
            s.header("authorization"),
            Some("Bearer t"),
            "forwarded: listed"
        );
        assert_eq!(s.header("cookie"), None, "not forwarded: not listed");
        assert_eq!(s.header("x-forwarded-for"), Some("127.0.0.1"));
        assert!(s.header("traceparent").is_some());
        ids.insert(s.header("x-request-id").unwrap().to_owned());
    }
    assert_eq!(ids.len(), 3, "each sub-request has its own id");
    assert!(!ids.contains(&parent));

    // HEAD: the same head, no body.
    let head = Req::new("HEAD", "/agg").send(gw.addr());
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // Other methods are refused before any backend is asked.
    let post = Req::new("POST", "/agg").body(b"x").send(gw.addr());
    assert_eq!(post.status, 405);
    assert_eq!(users.requests().len(), 2);

    let mut gw = gw;
    gw.signal("TERM");
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let rows = ringway_testkit::duckdb_rows(&format!(
        "select coalesce(parent_id, '-'), coalesce(upstream, '-'), path, status \
         from read_parquet('{}/**/*.parquet') \
         where request_id = '{parent}' or parent_id = '{parent}' order by parent_id nulls first, path",
        logs.0.display()
    ));
    assert_eq!(
        rows,
        format!(
            "-|-|/agg?page=2|200\n{parent}|flags|/v1/flags?page=2|200\n\
             {parent}|users|/v1/me?page=2|200\n{parent}|orders|/v1/orders?page=2|200\n"
        )
    );
}

#[test]
fn a_slow_optional_backend_is_left_out_at_its_deadline() {
    let (fast, _) = json_origin(r#"{"a":1}"#, Duration::ZERO);
    let (slow, _) = json_origin(r#"{"b":2}"#, Duration::from_secs(3));
    let gw = gateway(
        &upstreams(&[("fast", &fast), ("slow", &slow)]),
        "{ timeout: 2s, backends: [{ upstream: fast, path: /a }, { upstream: slow, path: /b, timeout: 300ms }] }",
        "",
        None,
    );
    let deadline = Duration::from_millis(300);
    let mut best = Duration::MAX;
    // The bound is checked on the best of three: a shared machine may stall any one request.
    for _ in 0..3 {
        let t = Instant::now();
        let r = Req::get("/agg").send(gw.addr());
        let took = t.elapsed();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ringway-completed"), Some("false"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.text(), r#"{"fast":{"a":1}}"#);
        assert!(took >= deadline, "answered before the deadline: {took:?}");
        best = best.min(took);
    }
    assert!(
        best <= deadline + Duration::from_millis(50),
        "best of three took {best:?}"
    );
}

#[test]
fn a_required_backend_failure_fails_the_request_without_waiting() {
    let (ok, _) = json_origin(r#"{"a":1}"#, Duration::ZERO);
    let (slow, _) = json_origin(r#"{"s":1}"#, Duration::from_secs(3));
    let broken = Upstream::start(|_| Reply::Status(500, b"oops".to_vec()));
    let gw = gateway(
        &upstreams(&[("ok", &ok), ("slow", &slow), ("broken", &broken)]),
        "{ timeout: 5s, backends: [{ upstream: ok, path: /a }, { upstream: slow, path: /s }, \
         { upstream: broken, path: /x, required: true }] }",
        "      - { name: late, match: { path: { exact: /late } }, aggregate: { backends: [\
         { upstream: ok, path: /a }, { upstream: slow, path: /s, required: true, timeout: 200ms }] } }\n",
        None,
    );
    let t = Instant::now();
    let r = Req::get("/agg").send(gw.addr());
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "waited for the slow optional backend: {:?}",
        t.elapsed()
    );
    // A required backend past its deadline: 504.
    let r = Req::get("/late").send(gw.addr());
    assert_eq!(r.status, 504, "{}", r.text());
    // The same route with the failing backend optional would have answered: see the partial
    // tests; here the 500 also reached the origin once per request.
    assert_eq!(broken.requests().len(), 1);
}

#[test]
fn flat_merge_collisions_resolve_the_same_way_over_a_thousand_runs() {
    // Backends finish in varying order (the first is slow every other request).
    let flip = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&flip);
    let first = Upstream::start(move |_| {
        let body = r#"{"id":1,"shared":"first","a":true}"#;
        let reply = Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        );
        if f.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::Delay(Duration::from_millis(2), Box::new(reply))
        } else {
            reply
        }
    });
    let (second, _) = json_origin(r#"{"shared":"second","b":false,"id":2}"#, Duration::ZERO);
    let gw = gateway(
        &upstreams(&[("first", &first), ("second", &second)]),
        "{ merge: flat, backends: [{ upstream: first, path: /1 }, { upstream: second, path: /2 }] }",
        "",
        None,
    );
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    let mut buf = Vec::new();
    let mut bodies = HashSet::new();
    for _ in 0..1000 {
        let (r, _) = roundtrip(&mut s, &Req::get("/agg").keep_alive(), &mut buf);
        assert_eq!(r.status, 200);
        bodies.insert(r.text());
    }
    assert_eq!(
        bodies.into_iter().collect::<Vec<_>>(),
        vec![r#"{"id":2,"shared":"second","a":true,"b":false}"#.to_owned()],
        "later backend wins, in the position the name first had"
    );
    assert_eq!(first.requests().len(), 1000);
}

#[test]
fn a_body_over_the_limit_or_not_json_fails_its_backend() {
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(200));
    let big: &'static str = Box::leak(big.into_boxed_str());
    let (small, _) = json_origin(r#"{"ok":1}"#, Duration::ZERO);
    let (large, _) = json_origin(big, Duration::ZERO);
    // The same size, chunked: the limit holds without a length announced.
    let chunked = Upstream::start(move |_| {
        Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
                big.len()
            )
            .into_bytes(),
        )
    });
    let html = Upstream::start(|_| Reply::Status(200, b"<html>".to_vec()));
    let gw = gateway(
        &upstreams(&[("small", &small), ("large", &large), ("chunked", &chunked), ("html", &html)]),
        "{ max_body_bytes: 100, backends: [{ upstream: small, path: /s }, { upstream: large, path: /l }, \
         { upstream: chunked, path: /c }, { upstream: html, path: /h }] }",
        "      - { name: strict, match: { path: { exact: /strict } }, aggregate: { max_body_bytes: 100, backends: [\
         { upstream: small, path: /s }, { upstream: chunked, path: /c, required: true }] } }\n",
        None,
    );
    let r = Req::get("/agg").send(gw.addr());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ringway-completed"), Some("false"));
    assert_eq!(json(&r), serde_json::json!({"small": {"ok": 1}}));
    assert_eq!(Req::get("/strict").send(gw.addr()).status, 502);
    // The large backend was asked (its body, not the request, was refused).
    assert_eq!(large.requests().len(), 1);
    let admin = gw.admin_addr().unwrap();
    assert!(ringway_testkit::eventually(Duration::from_secs(5), || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.contains("ringway_aggregate_requests_total{result=\"partial\"} 1")
            && m.contains("ringway_aggregate_requests_total{result=\"failed\"} 1")
    }));
}

#[test]
fn an_ejected_endpoint_fails_fast_inside_the_aggregate() {
    let (ok, _) = json_origin(r#"{"a":1}"#, Duration::ZERO);
    // Accepts and never answers in time: each sub-request times out, a local failure.
    let (hung, hung_count) = json_origin(r#"{"h":1}"#, Duration::from_secs(5));
    let ups = format!(
        "upstreams:\n  ok: {{ endpoints: [{{ address: \"{}\" }}] }}\n  hung: {{ endpoints: [{{ address: \"{}\" }}], \
         panic_threshold: 0, outlier_detection: {{ consecutive_local_failures: 2, base_ejection_time: 60s }} }}\n",
        ok.addr(),
        hung.addr()
    );
    let gw = gateway(
        &ups,
        "{ backends: [{ upstream: ok, path: /a }, { upstream: hung, path: /h, timeout: 400ms }] }",
        "",
        None,
    );
    for _ in 0..2 {
        let t = Instant::now();
        let r = Req::get("/agg").send(gw.addr());
        assert_eq!(r.header("x-ringway-completed"), Some("false"));
        assert!(t.elapsed() >= Duration::from_millis(400));
    }
    // Once ejected, the endpoint is not asked: the part is missing at once.
    assert!(
        ringway_testkit::eventually(Duration::from_secs(10), || {
            let t = Instant::now();
            let r = Req::get("/agg").send(gw.addr());
            r.header("x-ringway-completed") == Some("false")
                && t.elapsed() < Duration::from_millis(200)
        }),
        "the ejected endpoint still held the aggregate to its deadline"
    );
    let asked = hung_count.load(Ordering::SeqCst);
    for _ in 0..5 {
        let r = Req::get("/agg").send(gw.addr());
        assert_eq!(r.text(), r#"{"ok":{"a":1}}"#);
    }
    assert_eq!(
        hung_count.load(Ordering::SeqCst),
        asked,
        "no request reached it"
    );
}

#[test]
fn reshaping_keeps_allowed_fields_renames_wraps_and_passes_the_rest() {
    let body =
        r#"{"id":7,"name":"ada","password":"x","profile":{"email":"a@b","ssn":"1"},"tags":["a"]}"#;
    let fields = "content-type: application/json; charset=utf-8\r\netag: \"v1\"\r\n";
    let up = Upstream::start(move |r| {
        let (ctype, text): (&str, String) = match r.path.as_str() {
            "/text" => ("content-type: text/plain\r\n", "plain".to_owned()),
            "/big" => (fields, format!(r#"{{"pad":"{}"}}"#, "x".repeat(300))),
            "/broken" => (fields, "{\"id\":".to_owned()),
            _ => (fields, body.to_owned()),
        };
        if r.path == "/chunked" {
            return Reply::Raw(
                format!(
                    "HTTP/1.1 200 OK\r\n{ctype}transfer-encoding: chunked\r\n\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                    &text[..5],
                    text.len() - 5,
                    &text[5..]
                )
                .into_bytes(),
            );
        }
        Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\n{ctype}content-length: {}\r\n\r\n{text}",
                text.len()
            )
            .into_bytes(),
        )
    });
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n{}listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n\
         \x20     - {{ name: mobile, proxy: {{ upstream: api }}, reshape: {{ max_body_bytes: 200, \
         allow: [id, name, profile.email], rename: {{ name: full_name }}, wrap: data }} }}\n",
        upstreams(&[("api", &up)])
    );
    let gw = Gateway::run_yaml(BIN, &yaml, 1);
    let expected = r#"{"data":{"id":7,"full_name":"ada","profile":{"email":"a@b"}}}"#;
    for path in ["/user", "/chunked"] {
        let r = Req::get(path).send(gw.addr());
        assert_eq!((r.status, r.text().as_str()), (200, expected), "{path}");
        assert_eq!(
            r.header("content-length"),
            Some(expected.len().to_string().as_str())
        );
        assert_eq!(r.header("etag"), None, "{path}: another representation");
    }
    // Passed unchanged: not JSON by type, not JSON by content, over the limit.
    let text = Req::get("/text").send(gw.addr());
    assert_eq!(text.text(), "plain");
    let broken = Req::get("/broken").send(gw.addr());
    assert_eq!(broken.text(), "{\"id\":");
    assert_eq!(broken.header("etag"), Some("\"v1\""));
    let big = Req::get("/big").send(gw.addr());
    assert_eq!(big.body.len(), 310);
    let admin = gw.admin_addr().unwrap();
    assert!(
        ringway_testkit::eventually(Duration::from_secs(5), || {
            let m = ringway_testkit::get(admin, "/metrics").text();
            m.contains("ringway_reshape_total{result=\"applied\"} 2")
                && m.contains("ringway_reshape_total{result=\"not_json\"} 2")
                && m.contains("ringway_reshape_total{result=\"too_large\"} 1")
        }),
        "{}",
        ringway_testkit::get(admin, "/metrics").text()
    );
}

#[test]
fn bad_aggregate_and_reshape_settings_name_every_problem() {
    let bad = TempConfig::new(
        r#"
admin: { enabled: false }
upstreams:
  a: { endpoints: [{ address: "127.0.0.1:9" }] }
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: agg
        aggregate:
          merge: deep
          timeout: 1s
          backends:
            - { upstream: a, path: /x, timeout: 2s }
            - { upstream: a, path: "no-slash" }
            - { upstream: nope, path: /y }
      - name: empty
        match: { path: { prefix: /e } }
        aggregate: { backends: [] }
      - name: shape
        match: { path: { prefix: /s } }
        proxy: { upstream: a }
        reshape: { allow: [], wrap: "" }
"#,
    );
    let out = std::process::Command::new(BIN)
        .args(["validate", bad.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "listeners[0].routes[0].aggregate.merge",
        "listeners[0].routes[0].aggregate.backends[0].timeout",
        "listeners[0].routes[0].aggregate.backends[1].name",
        "listeners[0].routes[0].aggregate.backends[1].path",
        "listeners[0].routes[0].aggregate.backends[2].upstream",
        "listeners[0].routes[1].aggregate.backends",
        "listeners[0].routes[2].reshape.allow",
        "listeners[0].routes[2].reshape.wrap",
    ] {
        assert!(err.contains(expected), "{expected} missing in:\n{err}");
    }
}
