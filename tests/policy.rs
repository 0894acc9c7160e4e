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

#[path = "policy/jwks.rs"]
mod jwks;
#[path = "policy/ratelimit.rs"]
mod ratelimit;

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
