//! The policy pipeline in process: a configuration, requests as header lists, and what each
//! one gets (an identity, or a refusal with its kind, challenges and limit fields). Tokens are
//! signed here; time is passed in.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringway_auth::jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ringway_auth::serde_json::{json, Value};
use ringway_core::ErrorKind;
use ringway_policy::{
    CorePolicy, Identity, JwksEvent, KeyMaterial, Policies, Refusal, RefusalKind, Request, RouteId,
    Secrets, Sources,
};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";
/// `sha256` of `acme-key-0123456789` and `intern-key-0123456789` (`ringway hash-key`).
const ACME_KEY: &str = "acme-key-0123456789";
const INTERN_KEY: &str = "intern-key-0123456789";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/keys")
}

/// Files from the test key directory, and one secret.
struct TestSources;

impl Sources for TestSources {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(keys_dir().join(path))
    }

    fn env(&self, name: &str) -> Option<OsString> {
        (name == "TEST_JWT_SECRET").then(|| SECRET.into())
    }
}

fn config() -> String {
    let acme = ringway_auth::apikey::hash(ACME_KEY.as_bytes());
    let intern = ringway_auth::apikey::hash(INTERN_KEY.as_bytes());
    format!(
        r#"
upstreams: {{ u: {{ endpoints: [{{ address: "127.0.0.1:9001" }}] }} }}
auth:
  api_keys: {{ header: x-api-key, query: api_key }}
  jwt_providers:
    corp:
      issuer: https://id.example.com/
      audiences: [api]
      algorithms: [HS256]
      keys: {{ hmac_secret_env: TEST_JWT_SECRET }}
      plan: gold
    rotating:
      algorithms: [RS256]
      keys: {{ jwks_url: "http://127.0.0.1:1/jwks.json", refresh: 1h, min_refresh: 1s }}
  plans:
    gold: {{ rate_limit: {{ requests: 3, per: 1m, burst: 3 }} }}
    starter: {{ quotas: [{{ requests: 2, per: hour }}] }}
  consumers:
    acme: {{ plan: starter, api_keys: ["{acme}"], scopes: [reports:read] }}
    intern: {{ api_keys: ["{intern}"] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: internal
        match: {{ path: {{ prefix: /internal }} }}
        proxy: {{ upstream: u }}
        ip_filter: {{ allow: [10.0.0.0/8], deny: [10.6.6.0/24] }}
      - name: orders
        match: {{ path: {{ prefix: /orders }} }}
        proxy: {{ upstream: u }}
        auth: {{ jwt: corp, scopes: [orders:read], claims: {{ tenant: acme }}, forward_claims: {{ sub: x-user }} }}
      - name: reports
        match: {{ path: {{ prefix: /reports }} }}
        proxy: {{ upstream: u }}
        auth: {{ jwt: corp, api_key: true, scopes: [reports:read] }}
      - name: search
        match: {{ path: {{ prefix: /search }} }}
        proxy: {{ upstream: u }}
        rate_limits:
          - {{ name: per-ip, key: client_ip, requests: 2, per: 1m, burst: 2 }}
          - {{ name: per-tenant, key: "header:x-tenant", requests: 100, per: 1m }}
      - name: keys
        match: {{ path: {{ prefix: /keys }} }}
        proxy: {{ upstream: u }}
        auth: {{ jwt: rotating }}
"#
    )
}

const INTERNAL: RouteId = RouteId {
    listener: 0,
    route: 0,
};
const ORDERS: RouteId = RouteId {
    listener: 0,
    route: 1,
};
const REPORTS: RouteId = RouteId {
    listener: 0,
    route: 2,
};
const SEARCH: RouteId = RouteId {
    listener: 0,
    route: 3,
};
const KEYS: RouteId = RouteId {
    listener: 0,
    route: 4,
};

fn policies() -> Arc<Policies> {
    let cfg = ringway_config::from_yaml_str(&config()).unwrap();
    let loaded = KeyMaterial::load(&cfg, &TestSources, Secrets::Required).unwrap();
    assert!(loaded.warnings.is_empty());
    Arc::new(Policies::new(&cfg, loaded.keys, 2).unwrap())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn corp_token(sub: &str, scope: &str, tenant: &str) -> String {
    hs256(json!({
        "iss": "https://id.example.com/", "aud": "api", "sub": sub, "scope": scope,
        "tenant": tenant, "exp": unix_now() + 600,
    }))
}

/// A request from `ip` with these header fields and query, at `now`.
struct Req {
    headers: Vec<(String, String)>,
    query: String,
    ip: &'static str,
    now: Instant,
}

impl Req {
    fn new(headers: &[(&str, &str)]) -> Req {
        Req {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            query: String::new(),
            ip: "192.0.2.10",
            now: Instant::now(),
        }
    }

    #[expect(clippy::result_large_err, reason = "the pipeline's own result type")]
    fn check<'p>(&self, core: &'p CorePolicy, route: RouteId) -> Result<Identity, Refusal<'p>> {
        let fields: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = Request {
            headers: fields.as_slice(),
            query: self.query.as_bytes(),
            client_ip: self.ip.parse().unwrap(),
            now_unix_us: unix_now() as i64 * 1_000_000,
            client_cert: None,
            now: self.now,
        };
        core.check(route, &req)
    }
}

fn headers_of(r: &Refusal<'_>) -> String {
    let mut out = Vec::new();
    r.write_headers(&mut out);
    String::from_utf8(out).unwrap()
}

/// One row: a route, a request, and either the client id admitted or the refusal expected
/// (kind and a fragment of its header lines).
struct Case {
    what: &'static str,
    route: RouteId,
    req: Req,
    expect: Result<Option<&'static str>, (RefusalKind, &'static str)>,
}

#[test]
fn authentication_and_ip_filter_table() {
    let policies = policies();
    let core = policies.core(0);
    let good = corp_token("alice", "orders:read reports:read", "acme");
    let bearer = |t: &str| format!("Bearer {t}");
    let ip = |ip: &'static str| Req {
        ip,
        ..Req::new(&[])
    };
    let cases = vec![
        Case {
            what: "allowed network",
            route: INTERNAL,
            req: ip("10.1.2.3"),
            expect: Ok(None),
        },
        Case {
            what: "denied inside the allowed network",
            route: INTERNAL,
            req: ip("10.6.6.6"),
            expect: Err((RefusalKind::IpDenied, "")),
        },
        Case {
            what: "outside the allow list",
            route: INTERNAL,
            req: ip("192.0.2.10"),
            expect: Err((RefusalKind::IpDenied, "")),
        },
        Case {
            what: "no credential: a challenge without an error",
            route: ORDERS,
            req: Req::new(&[]),
            expect: Err((
                RefusalKind::Unauthenticated,
                "www-authenticate: Bearer realm=\"ringway\"\r\n",
            )),
        },
        Case {
            what: "valid token with scope and claim",
            route: ORDERS,
            req: Req::new(&[("authorization", &bearer(&good))]),
            expect: Ok(Some("alice")),
        },
        Case {
            what: "scheme in another case",
            route: ORDERS,
            req: Req::new(&[("Authorization", &format!("bEaReR {good}"))]),
            expect: Ok(Some("alice")),
        },
        Case {
            what: "another scheme",
            route: ORDERS,
            req: Req::new(&[("authorization", &format!("Basic {good}"))]),
            expect: Err((RefusalKind::Unauthenticated, "error=\"invalid_request\"")),
        },
        Case {
            what: "two Authorization fields",
            route: ORDERS,
            req: Req::new(&[
                ("authorization", &bearer(&good)),
                ("authorization", &bearer(&good)),
            ]),
            expect: Err((RefusalKind::Ambiguous, "credential sent more than once")),
        },
        Case {
            what: "tampered signature",
            route: ORDERS,
            req: Req::new(&[("authorization", &bearer(&format!("{good}x")))]),
            expect: Err((RefusalKind::Unauthenticated, "error=\"invalid_token\"")),
        },
        Case {
            what: "expired token",
            route: ORDERS,
            req: Req::new(&[(
                "authorization",
                &bearer(&hs256(json!({
                    "iss": "https://id.example.com/", "aud": "api", "sub": "bob",
                    "scope": "orders:read", "tenant": "acme", "exp": unix_now() - 3600,
                }))),
            )]),
            expect: Err((RefusalKind::Unauthenticated, "error=\"invalid_token\"")),
        },
        Case {
            what: "missing scope",
            route: ORDERS,
            req: Req::new(&[(
                "authorization",
                &bearer(&corp_token("carol", "reports:read", "acme")),
            )]),
            expect: Err((RefusalKind::Forbidden, "error=\"insufficient_scope\"")),
        },
        Case {
            what: "wrong claim value",
            route: ORDERS,
            req: Req::new(&[(
                "authorization",
                &bearer(&corp_token("dave", "orders:read", "globex")),
            )]),
            expect: Err((RefusalKind::Forbidden, "insufficient_scope")),
        },
        Case {
            what: "API key in the header",
            route: REPORTS,
            req: Req::new(&[("x-api-key", ACME_KEY)]),
            expect: Ok(Some("acme")),
        },
        Case {
            what: "API key in the query",
            route: REPORTS,
            req: Req {
                query: format!("q=1&api_key={ACME_KEY}"),
                ..Req::new(&[])
            },
            expect: Ok(Some("acme")),
        },
        Case {
            what: "two API keys",
            route: REPORTS,
            req: Req::new(&[("x-api-key", ACME_KEY), ("X-Api-Key", INTERN_KEY)]),
            expect: Err((RefusalKind::Ambiguous, "more than one API key")),
        },
        Case {
            what: "unknown API key: both challenges",
            route: REPORTS,
            req: Req::new(&[("x-api-key", "guess-0123456789")]),
            expect: Err((RefusalKind::Unauthenticated, "ApiKey realm=\"ringway\"")),
        },
        Case {
            what: "consumer without the scope",
            route: REPORTS,
            req: Req::new(&[("x-api-key", INTERN_KEY)]),
            expect: Err((RefusalKind::Forbidden, "")),
        },
        Case {
            what: "a token where either credential is accepted",
            route: REPORTS,
            req: Req::new(&[("authorization", &bearer(&good))]),
            expect: Ok(Some("alice")),
        },
    ];
    for case in &cases {
        match (case.req.check(&core, case.route), &case.expect) {
            (Ok(identity), Ok(client)) => {
                assert_eq!(
                    core.client_id(&identity).as_deref(),
                    *client,
                    "{}",
                    case.what
                );
            }
            (Err(refusal), Err((kind, fragment))) => {
                assert_eq!(refusal.kind, *kind, "{}", case.what);
                let headers = headers_of(&refusal);
                assert!(
                    headers.contains(fragment),
                    "{}: {headers:?} lacks {fragment:?}",
                    case.what
                );
                if fragment.is_empty() {
                    assert_eq!(headers, "", "{}", case.what);
                }
            }
            (Ok(identity), Err(_)) => panic!("{}: admitted as {identity:?}", case.what),
            (Err(refusal), Ok(_)) => panic!("{}: refused: {refusal:?}", case.what),
        }
    }
}

#[test]
fn forwarded_claims_and_removed_headers() {
    let policies = policies();
    let core = policies.core(0);
    let token = corp_token("alice", "orders:read", "acme");
    let identity = Req::new(&[("authorization", &format!("Bearer {token}"))])
        .check(&core, ORDERS)
        .unwrap();
    let mut out = Vec::new();
    core.write_forwarded_claims(ORDERS, &identity, &mut out);
    assert_eq!(out, b"x-user: alice\r\n");
    // A client must not supply the forwarded-claim header itself.
    assert_eq!(policies.removed_headers(ORDERS), ["x-user"]);
    assert!(policies.removed_headers(SEARCH).is_empty());
    assert!(policies.route_has_policy(SEARCH));
}

#[test]
fn rate_limits_count_per_key_and_refuse_with_their_fields() {
    let policies = policies();
    let core = policies.core(0);
    let now = Instant::now();
    let from = |ip: &'static str, tenant: &str| Req {
        ip,
        now,
        ..Req::new(&[("x-tenant", tenant)])
    };
    assert!(from("192.0.2.1", "a").check(&core, SEARCH).is_ok());
    assert!(from("192.0.2.1", "a").check(&core, SEARCH).is_ok());
    let refused = from("192.0.2.1", "a").check(&core, SEARCH).unwrap_err();
    assert_eq!(refused.kind, RefusalKind::RateLimited);
    assert_eq!(refused.kind.error_kind(), ErrorKind::RateLimited);
    assert_eq!(refused.limit.unwrap().name, "per-ip");
    let headers = headers_of(&refused);
    assert!(
        headers.contains("RateLimit-Policy: \"per-ip\";q=2;w=60\r\n"),
        "{headers}"
    );
    assert!(headers.contains("Retry-After: 30\r\n"), "{headers}");
    // Another address has its own allowance, on this core and on the other.
    assert!(from("192.0.2.2", "a").check(&core, SEARCH).is_ok());
    let other_core = policies.core(1);
    assert!(from("192.0.2.3", "a").check(&other_core, SEARCH).is_ok());
    // The limit is the same across cores: 192.0.2.1 is out on core 1 too.
    assert!(from("192.0.2.1", "a").check(&other_core, SEARCH).is_err());
    // Thirty seconds later one more request is due.
    let later = |ip| Req {
        now: now + Duration::from_secs(31),
        ..from(ip, "a")
    };
    assert!(later("192.0.2.1").check(&core, SEARCH).is_ok());
    assert!(later("192.0.2.1").check(&core, SEARCH).is_err());
}

#[test]
fn plans_limit_consumers_and_refusals_keep_the_identity() {
    let policies = policies();
    let core = policies.core(0);
    // acme's plan has a quota of 2 per hour.
    let acme = || Req::new(&[("x-api-key", ACME_KEY)]);
    assert!(acme().check(&core, REPORTS).is_ok());
    assert!(acme().check(&core, REPORTS).is_ok());
    let refused = acme().check(&core, REPORTS).unwrap_err();
    assert_eq!(refused.kind, RefusalKind::QuotaExceeded);
    assert_eq!(refused.limit.unwrap().name, "starter-hour");
    assert_eq!(core.client_id(&refused.identity).as_deref(), Some("acme"));
    // Token holders of `corp` are on gold: 3 per minute per subject.
    let token = corp_token("erin", "reports:read", "acme");
    let erin = || Req::new(&[("authorization", &format!("Bearer {token}"))]);
    for _ in 0..3 {
        assert!(erin().check(&core, REPORTS).is_ok());
    }
    let refused = erin().check(&core, REPORTS).unwrap_err();
    assert_eq!(refused.kind, RefusalKind::RateLimited);
    assert_eq!(refused.limit.unwrap().name, "gold");
    assert_eq!(core.client_id(&refused.identity).as_deref(), Some("erin"));
    // Another subject has its own allowance.
    let frank = corp_token("frank", "reports:read", "acme");
    assert!(Req::new(&[("authorization", &format!("Bearer {frank}"))])
        .check(&core, REPORTS)
        .is_ok());
}

fn rsa_token(kid: &str, private: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join(private)).unwrap()).unwrap();
    encode(
        &header,
        &json!({ "sub": "svc", "exp": unix_now() + 600 }),
        &key,
    )
    .unwrap()
}

#[test]
fn jwks_keys_are_fetched_rotated_early_and_kept_on_failure() {
    let policies = policies();
    let core = policies.core(0);
    let start = Instant::now();
    let mut refreshers = policies.jwks_refreshers(start);
    assert_eq!(refreshers.len(), 1);
    let refresher = &mut refreshers[0];
    assert_eq!(refresher.url(), "http://127.0.0.1:1/jwks.json");
    let documents: HashMap<&str, Vec<u8>> = [
        (
            "rsa",
            std::fs::read(keys_dir().join("rsa.jwks.json")).unwrap(),
        ),
        (
            "rsa2",
            std::fs::read(keys_dir().join("rsa2.jwks.json")).unwrap(),
        ),
    ]
    .into();
    let serve = |name: &'static str| {
        let doc = documents[name].clone();
        move |_: &str| -> Result<Vec<u8>, String> { Ok(doc.clone()) }
    };
    let token1 = rsa_token("rsa-1", "rsa-private.pem");
    let token2 = rsa_token("rot-2", "rsa2-private.pem");
    let with = |t: &str| Req::new(&[("authorization", &format!("Bearer {t}"))]);

    // Before the first fetch there are no keys.
    assert!(with(&token1).check(&core, KEYS).is_err());
    assert_eq!(
        refresher.tick(start, &mut serve("rsa")),
        JwksEvent::Installed
    );
    assert!(with(&token1).check(&core, KEYS).is_ok());
    assert_eq!(refresher.tick(start, &mut serve("rsa")), JwksEvent::Idle);

    // A token with an unknown kid asks for an early fetch, honoured after min_refresh (1 s).
    assert!(with(&token2).check(&core, KEYS).is_err());
    let t1 = start + Duration::from_millis(1500);
    assert_eq!(refresher.tick(t1, &mut serve("rsa2")), JwksEvent::Installed);
    assert!(with(&token2).check(&core, KEYS).is_ok());
    assert!(
        with(&token1).check(&core, KEYS).is_err(),
        "the rotated-out key is gone"
    );

    // At the next scheduled fetch the server is down: the last good keys stay.
    let t2 = t1 + Duration::from_secs(3600);
    let down = refresher.tick(t2, &mut |_: &str| Err("connection refused".to_owned()));
    assert_eq!(down, JwksEvent::FetchFailed("connection refused".into()));
    assert!(with(&token2).check(&core, KEYS).is_ok());
    // A bad document is rejected the same way.
    let t3 = t2 + Duration::from_secs(3600);
    let bad = refresher.tick(t3, &mut |_: &str| Ok(b"{\"keys\": 1}".to_vec()));
    assert!(matches!(bad, JwksEvent::Rejected(_)), "{bad:?}");
    assert!(with(&token2).check(&core, KEYS).is_ok());

    let mut text = String::new();
    policies.render_prometheus(&mut text);
    assert!(
        text.contains("ringway_jwks_fetch_errors_total{provider=\"rotating\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE ringway_jwks_age_seconds gauge\n"),
        "{text}"
    );
    assert!(
        text.contains("ringway_ratelimit_leases_total{core=\"1\"} 0\n"),
        "{text}"
    );
}

/// Policies of `yaml` adopting `old`'s state, as a reload builds them.
fn reloaded(yaml: &str, old: &Policies) -> (Arc<Policies>, ringway_policy::Adopted) {
    let cfg = ringway_config::from_yaml_str(yaml).unwrap();
    let loaded = KeyMaterial::load(&cfg, &TestSources, Secrets::Required).unwrap();
    let mut next = Policies::new(&cfg, loaded.keys, 2).unwrap();
    let adopted = next.adopt(old);
    (Arc::new(next), adopted)
}

#[test]
fn a_reload_keeps_limit_and_quota_tables_and_fetched_keys_of_unchanged_rules() {
    let old = policies();
    let core = old.core(0);
    let now = Instant::now();
    let from = |ip: &'static str| Req {
        ip,
        now,
        ..Req::new(&[("x-tenant", "a")])
    };
    let acme = || Req::new(&[("x-api-key", ACME_KEY)]);
    for _ in 0..2 {
        assert!(from("192.0.2.1").check(&core, SEARCH).is_ok());
        assert!(acme().check(&core, REPORTS).is_ok());
    }
    let mut refreshers = old.jwks_refreshers(now);
    let doc = std::fs::read(keys_dir().join("rsa.jwks.json")).unwrap();
    let fetched = refreshers[0].tick(now, &mut |_: &str| Ok(doc.clone()));
    assert_eq!(fetched, JwksEvent::Installed);
    core.sweep(now, unix_now() * 1000);

    // The same rules, one route added: the used allowance, quota and fetched keys stay.
    let added = config().replace(
        "      - name: keys\n",
        "      - name: extra\n        match: {{ path: {{ prefix: /extra }} }}\n        proxy: {{ upstream: u }}\n      - name: keys\n",
    );
    let (next, adopted) = reloaded(&added.replace("{{", "{").replace("}}", "}"), &old);
    // per-ip, per-tenant, gold; starter-hour; rotating.
    assert_eq!(
        (adopted.limits, adopted.quotas, adopted.key_sets),
        (3, 1, 1)
    );
    let core = next.core(0);
    let refused = from("192.0.2.1").check(&core, SEARCH).unwrap_err();
    assert_eq!(refused.kind, RefusalKind::RateLimited);
    assert_eq!(
        acme().check(&core, REPORTS).unwrap_err().kind,
        RefusalKind::QuotaExceeded
    );
    let token = rsa_token("rsa-1", "rsa-private.pem");
    let bearer = Req::new(&[("authorization", &format!("Bearer {token}"))]);
    assert!(bearer.check(&core, KEYS).is_ok(), "fetched keys kept");

    // A changed rate starts a new table: the address has its allowance again.
    let faster = config().replace(
        "requests: 2, per: 1m, burst: 2",
        "requests: 5, per: 1m, burst: 5",
    );
    let (next, adopted) = reloaded(&faster, &old);
    assert_eq!(adopted.limits, 2);
    assert!(from("192.0.2.1").check(&next.core(0), SEARCH).is_ok());
}

#[test]
fn rules_in_shadow_mode_count_what_they_would_refuse_and_refuse_nothing() {
    let yaml = r#"
ip_filter: { deny: [198.51.100.0/24], shadow: true }
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - name: login
        match: { path: { exact: /login } }
        respond: { status: 200 }
        ip_filter: { deny: [192.0.2.66/32], shadow: true }
        rate_limits:
          - { name: trial, requests: 2, per: 60s, shadow: true }
          - { name: enforced, requests: 5, per: 60s }
"#;
    let cfg = ringway_config::from_yaml_str(yaml).unwrap();
    let loaded = KeyMaterial::load(&cfg, &TestSources, Secrets::Required).unwrap();
    let policies = Arc::new(Policies::new(&cfg, loaded.keys, 1).unwrap());
    let core = policies.core(0);
    let login = RouteId {
        listener: 0,
        route: 0,
    };
    let now = Instant::now();
    let from = |ip: &'static str| Req {
        ip,
        now,
        ..Req::new(&[])
    };
    // The shadow limit (2 a minute) would refuse the 3rd..5th; the enforced one (5) refuses
    // the 6th, for real.
    for _ in 0..5 {
        assert!(from("192.0.2.1").check(&core, login).is_ok());
    }
    let refused = from("192.0.2.1").check(&core, login).unwrap_err();
    assert_eq!(refused.limit.unwrap().name, "enforced");
    // The shadow route filter lets 192.0.2.66 in, counted; the global one likewise.
    assert!(from("192.0.2.66").check(&core, login).is_ok());
    assert!(!policies.global_denies("198.51.100.7".parse().unwrap()));
    assert!(!policies.global_denies("203.0.113.1".parse().unwrap()));
    let mut text = String::new();
    policies.render_prometheus(&mut text);
    for line in [
        "ringway_policy_shadow_refusals_total{route=\"-\",rule=\"ip_filter\"} 1",
        "ringway_policy_shadow_refusals_total{route=\"public/login\",rule=\"ip_filter\"} 1",
        // 3rd, 4th, 5th and the refused 6th (the shadow rule is checked first).
        "ringway_policy_shadow_refusals_total{route=\"public/login\",rule=\"trial\"} 4",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}
