//! End-to-end policy tests: `ringway run --config` with real loopback sockets, tokens signed
//! here with keys under `tests/data/keys`, mock upstreams that record what reached them.
//! Order on the data plane: IP filter -> authentication -> authorization -> rate limits.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "test threads share what they observed; no gateway request path here"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ringway_auth::jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ringway_testkit::{
    eventually, exchange_raw, parse_responses, roundtrip, Gateway, Reply, Req, Response,
    TempConfig, Upstream,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ringway");
const WAIT: Duration = Duration::from_secs(5);

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/keys")
}

fn key(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).unwrap()
}

fn run(yaml: &str, workers: &str) -> Gateway {
    Gateway::run_yaml(BIN, yaml, workers.parse().unwrap())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with `alg` by the private key file `pem` (or an HMAC secret).
fn token(alg: Algorithm, kid: Option<&str>, claims: serde_json::Value, pem: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&key(pem)).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key(pem)).unwrap(),
        Algorithm::HS256 => EncodingKey::from_secret(pem.as_bytes()),
        other => panic!("{other:?}"),
    };
    encode(&header, &claims, &key).unwrap()
}

/// Standard claims for `sub` with `scope`, valid for an hour.
fn claims(sub: &str, scope: &str) -> serde_json::Value {
    json!({
        "iss": "https://id.example.com/",
        "aud": "orders-api",
        "sub": sub,
        "scope": scope,
        "tenant": "acme",
        "exp": now() + 3600,
        "iat": now(),
    })
}

/// One request on a fresh connection; `extra` is header lines ending in CRLF.
fn request(addr: SocketAddr, path: &str, extra: &str) -> Response {
    Req::get(path).host("api.test").lines(extra).send(addr)
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

fn jwt_config(upstream: SocketAddr) -> String {
    let dir = keys_dir();
    format!(
        r#"
admin: {{ enabled: false }}
upstreams:
  orders: {{ endpoints: [{{ address: "{upstream}" }}] }}
auth:
  jwt_providers:
    corp:
      issuer: https://id.example.com/
      audiences: [orders-api]
      algorithms: [RS256, ES256]
      leeway: 5s
      keys:
        pem_files:
          - {{ file: "{rsa}", kid: rsa-1 }}
          - {{ file: "{ec}", kid: ec-1 }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: orders
        match: {{ path: {{ prefix: /orders }} }}
        proxy: {{ upstream: orders }}
        auth:
          jwt: corp
          scopes: [orders:read]
          claims: {{ tenant: acme }}
          forward_claims: {{ sub: x-user-id, tenant: x-tenant }}
          strip_credentials: true
      - name: open
        match: {{ path: {{ prefix: /open }} }}
        proxy: {{ upstream: orders }}
"#,
        rsa = dir.join("rsa-public.pem").display(),
        ec = dir.join("ec-public.pem").display(),
    )
}

#[test]
fn jwt_tokens_are_verified_before_anything_reaches_the_upstream() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let gw = run(&jwt_config(up.addr()), "1");
    let rs = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", "orders:read orders:write"),
        "rsa-private.pem",
    );
    let es = token(
        Algorithm::ES256,
        Some("ec-1"),
        claims("bob", "orders:read"),
        "ec-private.pem",
    );

    // Accepted: claims forwarded, credentials stripped, a client-supplied x-user-id dropped.
    let r = request(
        gw.addr(),
        "/orders/1",
        &format!("{}X-User-Id: mallory\r\n", bearer(&rs)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(gw.addr(), "/orders/2", &bearer(&es));
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header_all("x-user-id"), ["alice"]);
    assert_eq!(seen[0].header("x-tenant"), Some("acme"));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[1].header_all("x-user-id"), ["bob"]);

    let mut expired = claims("alice", "orders:read");
    expired["exp"] = json!(now() - 60);
    let mut in_leeway = claims("alice", "orders:read");
    in_leeway["exp"] = json!(now() - 2);
    let mut future = claims("alice", "orders:read");
    future["nbf"] = json!(now() + 600);
    let mut wrong_aud = claims("alice", "orders:read");
    wrong_aud["aud"] = json!("billing");
    let mut wrong_iss = claims("alice", "orders:read");
    wrong_iss["iss"] = json!("https://evil.example/");
    let mut other_tenant = claims("alice", "orders:read");
    other_tenant["tenant"] = json!("globex");
    let rsa_public = String::from_utf8(key("rsa-public.pem")).unwrap();
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let header_none_caps = URL_SAFE_NO_PAD.encode(br#"{"alg":"NoNe"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("alice", "orders:read").to_string().as_bytes());
    let attacker = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("eve", "orders:read"),
        "rsa2-private.pem",
    );
    let huge = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
        "A".repeat(9000),
        "AAAA"
    );

    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        (
            "missing",
            String::new(),
            401,
            Some("Bearer realm=\"ringway\""),
        ),
        (
            "expired",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                expired,
                "rsa-private.pem",
            )),
            401,
            Some("invalid_token"),
        ),
        (
            "nbf in the future",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                future,
                "rsa-private.pem",
            )),
            401,
            Some("invalid_token"),
        ),
        (
            "wrong audience",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                wrong_aud,
                "rsa-private.pem",
            )),
            401,
            Some("invalid_token"),
        ),
        (
            "wrong issuer",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                wrong_iss,
                "rsa-private.pem",
            )),
            401,
            Some("invalid_token"),
        ),
        (
            "alg none",
            bearer(&format!("{header_none}.{body}.")),
            401,
            Some("invalid_token"),
        ),
        (
            "alg NoNe",
            bearer(&format!("{header_none_caps}.{body}.")),
            401,
            Some("invalid_token"),
        ),
        (
            "HS256 keyed with the RSA public key",
            bearer(&token(
                Algorithm::HS256,
                Some("rsa-1"),
                claims("eve", "orders:read"),
                &rsa_public,
            )),
            401,
            Some("invalid_token"),
        ),
        (
            "signed by another key",
            bearer(&attacker),
            401,
            Some("invalid_token"),
        ),
        (
            "unknown kid",
            bearer(&token(
                Algorithm::RS256,
                Some("../../etc/passwd"),
                claims("eve", "orders:read"),
                "rsa-private.pem",
            )),
            401,
            Some("invalid_token"),
        ),
        ("oversized", bearer(&huge), 401, Some("invalid_token")),
        ("malformed", bearer("abc.def"), 401, Some("invalid_token")),
        (
            "lacks the scope",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                claims("alice", "orders:write"),
                "rsa-private.pem",
            )),
            403,
            Some("insufficient_scope"),
        ),
        (
            "wrong tenant claim",
            bearer(&token(
                Algorithm::RS256,
                Some("rsa-1"),
                other_tenant,
                "rsa-private.pem",
            )),
            403,
            Some("insufficient_scope"),
        ),
        (
            "two Authorization headers",
            format!("{}{}", bearer(&rs), bearer(&es)),
            400,
            None,
        ),
        (
            "basic scheme",
            "Authorization: Basic YWxpY2U6c2VjcmV0\r\n".to_owned(),
            401,
            Some("Bearer realm"),
        ),
    ];
    for (what, extra, status, challenge) in &cases {
        let r = request(gw.addr(), "/orders/9", extra);
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        if let Some(c) = challenge {
            let got = r.header("www-authenticate").unwrap_or_default();
            assert!(
                got.contains(c),
                "{what}: www-authenticate {got:?} lacks {c:?}"
            );
        }
        assert!(r.text().contains("request_id"), "{what}: JSON error body");
    }
    // Within the leeway is still valid.
    let r = request(
        gw.addr(),
        "/orders/3",
        &bearer(&token(
            Algorithm::RS256,
            Some("rsa-1"),
            in_leeway,
            "rsa-private.pem",
        )),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Nothing refused reached the upstream; an open route needs no token.
    assert_eq!(up.requests().len(), 3);
    assert_eq!(request(gw.addr(), "/open", "").status, 200);
}

#[test]
fn a_refused_request_keeps_the_connection_for_the_next_one() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let gw = run(&jwt_config(up.addr()), "1");
    let rs = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", "orders:read"),
        "rsa-private.pem",
    );
    let reqs = format!(
        "GET /orders/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /orders/2 HTTP/1.1\r\nHost: a\r\n{}Connection: close\r\n\r\n",
        bearer(&rs)
    );
    let ex = exchange_raw(gw.addr(), reqs.as_bytes(), false, WAIT);
    let responses = parse_responses(&ex.bytes, |_| false);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200]);
    assert_eq!(up.connections(), 1);
}

/// Serves a JWKS document that the test can change (or break) while the gateway runs.
fn jwks_server(doc: Arc<Mutex<Option<Vec<u8>>>>) -> Upstream {
    Upstream::start(move |_| match doc.lock().unwrap().clone() {
        Some(body) => Reply::Status(200, body),
        None => Reply::Status(500, b"down".to_vec()),
    })
}

#[test]
fn jwks_url_keys_rotate_and_the_last_good_set_survives_fetch_failures() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let doc = Arc::new(Mutex::new(Some(key("rsa.jwks.json"))));
    let jwks = jwks_server(Arc::clone(&doc));
    let gw = run(
        &format!(
            r#"
admin: {{ listen: 127.0.0.1:0 }}
upstreams:
  orders: {{ endpoints: [{{ address: "{}" }}] }}
auth:
  jwt_providers:
    corp:
      algorithms: [RS256]
      keys: {{ jwks_url: "http://{}/.well-known/jwks.json", refresh: 1h, min_refresh: 1s }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - {{ name: orders, proxy: {{ upstream: orders }}, auth: {{ jwt: corp }} }}
"#,
            up.addr(),
            jwks.addr()
        ),
        "2",
    );
    let old = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", ""),
        "rsa-private.pem",
    );
    let new = token(
        Algorithm::RS256,
        Some("rot-2"),
        claims("alice", ""),
        "rsa2-private.pem",
    );
    assert!(eventually(WAIT, || request(gw.addr(), "/", &bearer(&old))
        .status
        == 200));
    // The issuer rotates: the new kid is unknown until the gateway fetches again, which an
    // unknown kid triggers (at most once per min_refresh).
    assert_eq!(request(gw.addr(), "/", &bearer(&new)).status, 401);
    *doc.lock().unwrap() = Some(key("rsa2.jwks.json"));
    assert!(
        eventually(Duration::from_secs(10), || request(
            gw.addr(),
            "/",
            &bearer(&new)
        )
        .status
            == 200),
        "the rotated key was never fetched"
    );
    assert_eq!(
        request(gw.addr(), "/", &bearer(&old)).status,
        401,
        "the old key is gone"
    );
    // The key server breaks: the gateway keeps the last good set.
    *doc.lock().unwrap() = None;
    let bad_kid = token(
        Algorithm::RS256,
        Some("rot-3"),
        claims("alice", ""),
        "rsa2-private.pem",
    );
    assert_eq!(request(gw.addr(), "/", &bearer(&bad_kid)).status, 401);
    let admin = gw.admin_addr().expect("admin address");
    assert!(eventually(Duration::from_secs(10), || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.lines().any(|l| {
            l.starts_with("ringway_jwks_fetch_errors_total{provider=\"corp\"}")
                && !l.ends_with(" 0")
        })
    }));
    assert_eq!(request(gw.addr(), "/", &bearer(&new)).status, 200);
    let m = ringway_testkit::get(admin, "/metrics").text();
    for core in ["0", "1"] {
        let line = format!("ringway_ratelimit_drift_tokens{{core=\"{core}\"}} 0");
        assert!(m.lines().any(|l| l == line), "{line} in\n{m}");
    }
}

fn api_key_config(upstream: SocketAddr, quota: u64, logs: &std::path::Path) -> String {
    let acme = ringway_auth::apikey::hash(b"acme-key-0123456789");
    let intern = ringway_auth::apikey::hash(b"intern-key-0123456789");
    format!(
        r#"
admin: {{ enabled: false }}
telemetry: {{ logs_dir: "{logs}" }}
upstreams:
  api: {{ endpoints: [{{ address: "{upstream}" }}] }}
auth:
  api_keys: {{ header: x-api-key, query: api_key }}
  plans:
    metered:
      quotas: [{{ requests: {quota}, per: hour }}]
  consumers:
    acme: {{ plan: metered, api_keys: ["{acme}"], scopes: [reports:read] }}
    intern: {{ api_keys: ["{intern}"] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: reports
        match: {{ path: {{ prefix: /reports }} }}
        proxy: {{ upstream: api }}
        auth: {{ api_key: true, scopes: [reports:read], strip_credentials: true }}
"#,
        logs = logs.display()
    )
}

#[test]
fn api_keys_identify_consumers_and_plans_hold_quotas() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let logs = std::env::temp_dir().join(format!("ringway-policy-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    let mut gw = run(&api_key_config(up.addr(), 5, &logs), "2");
    let cases = [
        ("no key", "/reports", "", 401),
        (
            "unknown key",
            "/reports",
            "X-Api-Key: nope-0123456789\r\n",
            401,
        ),
        (
            "consumer without the scope",
            "/reports",
            "X-Api-Key: intern-key-0123456789\r\n",
            403,
        ),
        (
            "two keys",
            "/reports",
            "X-Api-Key: a\r\nX-Api-Key: acme-key-0123456789\r\n",
            400,
        ),
        (
            "header",
            "/reports",
            "X-Api-Key: acme-key-0123456789\r\n",
            200,
        ),
        (
            "query parameter",
            "/reports?x=1&api_key=acme-key-0123456789",
            "",
            200,
        ),
    ];
    for (what, path, extra, status) in cases {
        let r = request(gw.addr(), path, extra);
        assert_eq!(r.status, status, "{what}: {}", r.text());
    }
    let r = request(gw.addr(), "/reports", "");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.starts_with("ApiKey")));
    assert_eq!(up.requests().len(), 2);
    assert!(
        up.requests()
            .iter()
            .all(|r| r.header("x-api-key").is_none()),
        "key stripped"
    );

    // The quota (5 per hour, across both workers) lets 3 more through, then 429.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(request(
            gw.addr(),
            "/reports",
            "X-Api-Key: acme-key-0123456789\r\n",
        ));
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429, 429]);
    let refused = &statuses[3];
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "retry-after {retry}");
    assert!(
        refused
            .header("ratelimit-policy")
            .unwrap()
            .contains("q=5;w=3600"),
        "{:?}",
        refused.header("ratelimit-policy")
    );
    assert!(refused.header("ratelimit").unwrap().contains("r=0"));
    assert_eq!(up.requests().len(), 5);

    // The consumer is the traffic logs' client: 2 + 6 requests were identified as acme, 3 of
    // them refused by the quota.
    gw.signal("TERM");
    assert!(gw
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let out = std::process::Command::new(BIN)
        .args([
            "logs",
            logs.to_str().unwrap(),
            "--group-by",
            "client",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    let acme = csv
        .lines()
        .find(|l| l.starts_with("acme,"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(acme.split(',').nth(1), Some("8"), "{csv}");
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn ip_filters_and_trusted_proxies() {
    let up = Upstream::start(|r| {
        Reply::Status(
            200,
            r.header("x-forwarded-for")
                .unwrap_or("")
                .as_bytes()
                .to_vec(),
        )
    });
    let yaml = |trusted: &str| {
        format!(
            r#"
admin: {{ enabled: false }}
trusted_proxies: [{trusted}]
ip_filter: {{ deny: [192.0.2.0/24] }}
upstreams:
  u: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: internal
        match: {{ path: {{ prefix: /internal }} }}
        proxy: {{ upstream: u }}
        ip_filter: {{ allow: [10.0.0.0/8, "2001:db8::/32"] }}
      - {{ name: public, proxy: {{ upstream: u }} }}
"#,
            up.addr()
        )
    };
    // Behind a trusted proxy (this test's loopback address) the client is the first
    // untrusted X-Forwarded-For hop.
    let gw = run(&yaml("127.0.0.0/8, 172.16.0.0/12"), "1");
    let xff = |v: &str| format!("X-Forwarded-For: {v}\r\n");
    let cases = [
        ("globally denied client", "/", xff("192.0.2.44"), 403),
        (
            "denied even where no route matches",
            "/internal/x",
            xff("192.0.2.44, 172.16.0.9"),
            403,
        ),
        (
            "trusted hops skipped",
            "/internal/x",
            xff("10.1.2.3, 172.16.0.9"),
            200,
        ),
        (
            "spoofed leftmost hop ignored",
            "/internal/x",
            xff("10.1.2.3, 198.51.100.7"),
            403,
        ),
        (
            "ipv6 client allowed",
            "/internal/x",
            xff("2001:db8::5"),
            200,
        ),
        (
            "garbage stops the walk",
            "/internal/x",
            xff("10.1.2.3, not-an-ip"),
            403,
        ),
        ("public route", "/", xff("198.51.100.7"), 200),
        (
            "loopback itself on internal",
            "/internal/x",
            String::new(),
            403,
        ),
    ];
    for (what, path, extra, status) in &cases {
        let r = request(gw.addr(), path, extra);
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        if *status == 403 {
            assert!(r.text().contains("ip_denied"), "{what}");
        }
    }
    // Without trusted proxies X-Forwarded-For is the client's claim, never believed.
    let gw = run(&yaml(""), "1");
    assert_eq!(request(gw.addr(), "/", &xff("192.0.2.44")).status, 200);
    assert_eq!(
        request(gw.addr(), "/internal/x", &xff("10.1.2.3")).status,
        403
    );
}

/// Sends requests at `offered` per second for `secs` over `connections` keep-alive
/// connections; returns (allowed, refused, elapsed seconds). Every 429 carries Retry-After and
/// the RateLimit fields.
fn offer(addr: SocketAddr, connections: usize, offered: f64, secs: f64) -> (u64, u64, f64) {
    let start = Instant::now();
    let per_conn = offered / connections as f64;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                let (mut ok, mut refused) = (0u64, 0u64);
                let mut buf = Vec::with_capacity(4096);
                let mut n = 0u64;
                // Spread connections' schedules over the first interval.
                let offset = c as f64 / offered;
                loop {
                    let due = offset + n as f64 / per_conn;
                    if due >= secs {
                        break;
                    }
                    let wait = Duration::from_secs_f64(due).saturating_sub(start.elapsed());
                    std::thread::sleep(wait);
                    let req = Req::get("/limited").host("a").keep_alive();
                    let (response, head) = roundtrip(&mut s, &req, &mut buf);
                    match response.status {
                        200 => ok += 1,
                        429 => {
                            let text = head.to_ascii_lowercase();
                            assert!(text.contains("retry-after: "), "{text}");
                            assert!(
                                text.contains("ratelimit-policy: \"per-client\";q=100;w=1"),
                                "{text}"
                            );
                            refused += 1;
                        }
                        other => panic!("status {other}"),
                    }
                    n += 1;
                }
                (ok, refused)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        let (o, r) = h.join().unwrap();
        ok += o;
        refused += r;
    }
    (ok, refused, start.elapsed().as_secs_f64())
}

fn limited_gateway(up: &Upstream) -> Gateway {
    run(
        &format!(
            r#"
admin: {{ listen: "127.0.0.1:0" }}
upstreams:
  u: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: limited
        proxy: {{ upstream: u }}
        rate_limits: [{{ name: per-client, key: client_ip, requests: 100, per: 1s, burst: 10 }}]
"#,
            up.addr()
        ),
        "2",
    )
}

/// The configured rate (100/s, burst 10) is what one client gets over a 10 s window, within
/// ±5%, whether it uses one connection (one core) or 64 (both cores), at 2× and 10× overload.
fn accuracy(connections: usize, overload: f64) {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let gw = limited_gateway(&up);
    let (ok, refused, elapsed) = offer(gw.addr(), connections, 100.0 * overload, 10.0);
    let expected = 10.0 + 100.0 * elapsed;
    let error = (ok as f64 - expected) / expected;
    eprintln!(
        "{connections} connection(s), {overload}x: allowed {ok}, refused {refused}, {elapsed:.2}s, expected {expected:.0}, error {:+.2}%",
        error * 100.0
    );
    assert!(
        error.abs() <= 0.05,
        "allowed {ok}, expected {expected:.0} ({:+.2}%)",
        error * 100.0
    );
    assert!(refused > 0);
    assert_eq!(
        up.requests().len() as u64,
        ok,
        "only allowed requests reach the upstream"
    );
    // Spread over many connections, both cores took tokens from the shared table: the limit
    // held across cores, not because every connection happened to land on one.
    if connections > 1 {
        let admin = gw.admin_addr().expect("admin address");
        let metrics = ringway_testkit::get(admin, "/metrics").text();
        for core in ["0", "1"] {
            let prefix = format!("ringway_ratelimit_leases_total{{core=\"{core}\"}} ");
            let leases: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{prefix} in\n{metrics}"));
            assert!(leases > 0, "core {core} never leased tokens:\n{metrics}");
        }
    }
}

// One wall-clock test per property: a client on one connection (one core), and a client
// spread over 64 connections (both cores). The same limiter at 2x and 10x overload, with
// every shard count and spreading pattern, runs on a fake clock in
// crates/ratelimit/tests/accuracy.rs.

#[test]
fn rate_limit_one_connection_2x() {
    accuracy(1, 2.0);
}

#[test]
fn rate_limit_64_connections_10x() {
    accuracy(64, 10.0);
}

#[test]
fn unreadable_keys_are_configuration_errors_before_binding() {
    let yaml = r#"
auth:
  jwt_providers:
    corp:
      algorithms: [RS256]
      keys: { pem_files: [{ file: missing.pem }, { file: wrong.pem }] }
listeners:
  - { name: a, listen: 127.0.0.1:0, routes: [{ name: r, respond: { status: 200 }, auth: { jwt: corp } }] }
"#;
    let path = TempConfig::new(yaml);
    // Relative key paths are read beside the configuration file.
    let wrong = path.path().with_file_name("wrong.pem");
    std::fs::write(&wrong, "not a key\n").unwrap();
    for cmd in [vec!["validate"], vec!["run", "--config"]] {
        let mut args = cmd.clone();
        args.push(path.arg());
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{cmd:?}");
        assert!(out.stdout.is_empty(), "{cmd:?}: nothing listens");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("auth.jwt_providers.corp.keys.pem_files[0].file: cannot read"),
            "{err}"
        );
        assert!(
            err.contains("auth.jwt_providers.corp.keys.pem_files[1].file"),
            "{err}"
        );
    }
    let _ = std::fs::remove_file(&wrong);
}

/// The spellings that once passed `validate` and then admitted everyone: refused by `validate`
/// and `run` alike (exit 64, the entry's path, nothing bound); the plain mapped form is
/// enforced as written.
#[test]
fn odd_cidr_spellings_are_refused_before_anything_is_served() {
    let up = Upstream::start(|_| Reply::Status(200, b"reached".to_vec()));
    let yaml = |entry: &str| {
        format!(
            r#"
admin: {{ enabled: false }}
upstreams:
  u: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: internal
        proxy: {{ upstream: u }}
        ip_filter: {{ allow: ["{entry}"] }}
"#,
            up.addr()
        )
    };
    for entry in ["10.0.0.0/0008", "::ffff:10.0.0.0/0104"] {
        let path = TempConfig::new(&yaml(entry));
        let validate = std::process::Command::new(BIN)
            .args(["validate", path.arg()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&validate.stderr);
        assert_eq!(validate.status.code(), Some(64), "{entry}: {stderr}");
        assert!(
            stderr.contains("listeners[0].routes[0].ip_filter.allow[0]")
                && stderr.contains("invalid prefix length"),
            "{entry}: {stderr}"
        );
        let run = std::process::Command::new(BIN)
            .args(["run", "--config", path.arg()])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(64), "{entry}");
        assert!(
            !String::from_utf8_lossy(&run.stdout).contains("listening"),
            "{entry}: nothing may be bound"
        );
    }
    assert_eq!(up.requests().len(), 0);
    // The same networks written plainly are enforced: loopback is not in 10.0.0.0/8.
    for entry in ["10.0.0.0/8", "::ffff:10.0.0.0/104"] {
        let gw = run(&yaml(entry), "1");
        let r = request(gw.addr(), "/", "");
        assert_eq!(r.status, 403, "{entry}: {}", r.text());
    }
    let gw = run(&yaml("::ffff:127.0.0.0/104"), "1");
    assert_eq!(request(gw.addr(), "/", "").status, 200);
    assert_eq!(up.requests().len(), 1);
}

/// A CA and a certificate for `127.0.0.1` it signed, as PEM: `(ca, server chain, server key)`.
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// An HTTPS server on loopback answering every GET with `body`; counts the requests it read.
fn https_server(chain_pem: &str, key_pem: &str, body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    // The one crypto provider built into the test (ring, as ureq's client uses).
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, body, count) = (Arc::clone(&config), body.clone(), Arc::clone(&count));
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(WAIT));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(&body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, served)
}

/// Signing keys fetched over https, verified against the configured CA: a key server whose
/// certificate another CA signed is never believed.
#[test]
fn jwks_over_https_is_verified_against_the_configured_ca() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let (ca, chain, key_pem) = test_pki();
    let (jwks, served) = https_server(&chain, &key_pem, key("rsa.jwks.json"));
    let (other_ca, _, _) = test_pki();
    let dir = std::env::temp_dir().join(format!("ringway-jwks-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca).unwrap();
    std::fs::write(dir.join("other-ca.pem"), &other_ca).unwrap();
    let config = |ca_file: &str| {
        format!(
            r#"
admin: {{ listen: 127.0.0.1:0 }}
upstreams:
  orders: {{ endpoints: [{{ address: "{}" }}] }}
auth:
  jwt_providers:
    corp:
      algorithms: [RS256]
      keys: {{ jwks_url: "https://{jwks}/jwks.json", jwks_ca_file: "{}", refresh: 1h, min_refresh: 1s }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - {{ name: orders, proxy: {{ upstream: orders }}, auth: {{ jwt: corp }} }}
"#,
            up.addr(),
            dir.join(ca_file).display()
        )
    };
    let token = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", ""),
        "rsa-private.pem",
    );
    let gw = run(&config("ca.pem"), "1");
    assert!(
        eventually(WAIT, || request(gw.addr(), "/", &bearer(&token)).status
            == 200),
        "keys fetched over https were never installed"
    );
    assert!(served.load(Ordering::Relaxed) >= 1);

    // The same server, but the gateway trusts another CA: the TLS handshake fails, no document
    // is read, no key is installed.
    let before = served.load(Ordering::Relaxed);
    let gw = run(&config("other-ca.pem"), "1");
    let admin = gw.admin_addr().expect("admin address");
    assert!(eventually(WAIT, || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.lines().any(|l| {
            l.starts_with("ringway_jwks_fetch_errors_total{provider=\"corp\"} ")
                && !l.ends_with(" 0")
        })
    }));
    assert_eq!(request(gw.addr(), "/", &bearer(&token)).status, 401);
    assert_eq!(
        served.load(Ordering::Relaxed),
        before,
        "no request crossed an untrusted TLS session"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A secret that is not set where the configuration is checked is a warning for `validate`
/// (exit 0) and an error for `run` (exit 64, nothing bound): typed severities, not text.
#[test]
fn an_unset_hmac_secret_warns_in_validate_and_stops_run() {
    let path = TempConfig::new(
        r#"
admin: { enabled: false }
upstreams: { u: { endpoints: [{ address: "127.0.0.1:9" }] } }
auth:
  jwt_providers:
    corp: { algorithms: [HS256], keys: { hmac_secret_env: RINGWAY_TEST_SECRET_NEVER_SET } }
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes: [{ name: r, proxy: { upstream: u }, auth: { jwt: corp } }]
"#,
    );
    let out = std::process::Command::new(BIN)
        .args(["validate", path.arg()])
        .env_remove("RINGWAY_TEST_SECRET_NEVER_SET")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: auth.jwt_providers.corp.keys.hmac_secret_env"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    let out = std::process::Command::new(BIN)
        .args(["run", "--config", path.arg()])
        .env_remove("RINGWAY_TEST_SECRET_NEVER_SET")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("hmac_secret_env"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing bound"
    );
}
