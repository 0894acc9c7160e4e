//! Every check of the policy sections (trusted proxies, IP filters, JWT providers, API keys,
//! consumers, plans, route auth and rate limits), each rejected value in its own test with the
//! exact path of its error.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use ringway_config::from_yaml_str;

mod common;
use ringway_config::model::{
    Algorithm, IpSet, KeyDigest, LimitKey, QuotaWindow, TokenSource, TrustedProxies,
};

const KEY: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

/// A valid configuration: `top` is inserted at the top level (block YAML at indent 0), and
/// the only route is `route` (a flow mapping).
fn config(top: &str, route: &str) -> String {
    format!(
        "upstreams:\n  users: {{ endpoints: [{{ address: \"127.0.0.1:9001\" }}] }}\n{top}\nlisteners:\n  - name: public\n    listen: 127.0.0.1:0\n    routes:\n      - {route}\n"
    )
}

/// The standard auth section: one RS256 provider, one plan, one consumer.
const AUTH: &str = r#"auth:
  jwt_providers:
    corp:
      issuer: https://id.example.com/
      audiences: [api]
      algorithms: [RS256, ES256]
      keys: { pem_files: [{ file: keys/rsa.pem, kid: k1 }] }
  plans:
    free:
      rate_limit: { requests: 10, per: 1s, burst: 20 }
      quotas: [{ requests: 1000, per: day }]
  consumers:
    acme: { plan: free, api_keys: ["sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"], scopes: [orders:read] }
"#;

const PROXY: &str = "{ name: r, proxy: { upstream: users } }";

/// `AUTH` with `from` replaced by `to` (which must occur).
fn auth_with(from: &str, to: &str) -> String {
    assert!(AUTH.contains(from), "{from}");
    AUTH.replacen(from, to, 1)
}

fn route_with(extra: &str) -> String {
    format!("{{ name: r, proxy: {{ upstream: users }}, {extra} }}")
}

#[test]
fn a_full_policy_configuration_compiles() {
    let yaml = config(
        &format!("trusted_proxies: [10.0.0.0/8, \"::1\"]\nip_filter: {{ deny: [192.0.2.0/24] }}\n{AUTH}"),
        &route_with(
            "ip_filter: { allow: [\"2001:db8::/32\", 127.0.0.1] }, \
             auth: { jwt: corp, api_key: true, scopes: [orders:read], claims: { tenant: acme }, \
                     forward_claims: { sub: x-user-id }, strip_credentials: true }, \
             rate_limits: [{ key: client_ip, requests: 100 }, { name: per-tenant, key: \"claim:tenant\", requests: 5, per: 1m, burst: 2 }, \
                           { key: consumer, requests: 3 }, { key: \"header:x-tenant\", requests: 4 }, { key: global, requests: 1000 }]",
        ),
    );
    let config = from_yaml_str(&yaml).unwrap();
    let p = &config.policies;
    assert_eq!(
        p.trusted_proxies,
        TrustedProxies(IpSet::parse(&["10.0.0.0/8", "::1"]).unwrap())
    );
    assert_eq!(p.ip_filter.deny, IpSet::parse(&["192.0.2.0/24"]).unwrap());
    assert_eq!(p.ip_filter.allow, None);
    let corp = &p.jwt_providers[0];
    assert_eq!(corp.algorithms, [Algorithm::RS256, Algorithm::ES256]);
    assert_eq!(
        corp.token,
        TokenSource::Bearer {
            header: "authorization".into()
        }
    );
    assert_eq!(corp.leeway, std::time::Duration::from_secs(30));
    assert_eq!(corp.max_token_bytes, 8192);
    assert_eq!(corp.consumer_claim, "sub");
    assert_eq!(corp.keys.pem_files[0].1.as_deref(), Some("k1"));
    assert_eq!(p.plans[0].quotas[0].window, QuotaWindow::Day);
    assert_eq!(p.plans[0].rate_limit.unwrap().burst, 20);
    assert_eq!(p.consumers[0].plan, Some(0));
    assert_eq!(p.consumers[0].api_keys, [KeyDigest::parse(KEY).unwrap()]);
    assert_eq!(p.api_keys.header.as_deref(), Some("x-api-key"));
    let route = &config.listeners[0].routes[0];
    let auth = route.auth.as_ref().unwrap();
    assert_eq!(auth.jwt, Some(0));
    assert!(auth.api_key && auth.strip_credentials);
    assert_eq!(auth.forward_claims, [("sub".into(), "x-user-id".into())]);
    assert_eq!(auth.claims, [("tenant".into(), "acme".into())]);
    let keys: Vec<&LimitKey> = route.rate_limits.iter().map(|r| &r.key).collect();
    assert_eq!(
        keys,
        [
            &LimitKey::ClientIp,
            &LimitKey::Claim("tenant".into()),
            &LimitKey::Consumer,
            &LimitKey::Header("x-tenant".into()),
            &LimitKey::Global
        ]
    );
    assert_eq!(route.rate_limits[0].name, "r-0");
    assert_eq!(route.rate_limits[0].rate.burst, 100);
    assert_eq!(
        route.rate_limits[1].rate.per,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn relative_key_paths_are_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("ringway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, config(AUTH, PROXY)).unwrap();
    let config = ringway_config::load_file(&file).unwrap();
    assert_eq!(
        config.policies.jwt_providers[0].keys.pem_files[0].0,
        dir.join("keys/rsa.pem")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_policy_error_is_reported_at_once() {
    let yaml = config(
        "trusted_proxies: [10.0.0.0/33]\nauth:\n  jwt_providers:\n    corp: { algorithms: [none] }\n  consumers:\n    acme: { plan: gold, api_keys: [plain] }",
        &route_with("auth: { jwt: other }, rate_limits: [{ requests: 0, key: \"claim:\" }]"),
    );
    let errors: Vec<String> = from_yaml_str(&yaml)
        .unwrap_err()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        errors,
        [
            "trusted_proxies[0]",
            "auth.jwt_providers.corp.algorithms[0]",
            "auth.consumers.acme.plan",
            "auth.consumers.acme.api_keys[0]",
            "listeners[0].routes[0].auth.jwt",
            "listeners[0].routes[0].rate_limits[0].key",
            "listeners[0].routes[0].rate_limits[0].requests",
        ]
    );
}

#[test]
fn unknown_policy_keys_name_the_allowed_ones() {
    let yaml = config(
        &auth_with("      issuer:", "      isuer: x\n      issuer:"),
        PROXY,
    );
    let errors = from_yaml_str(&yaml).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].path, "auth.jwt_providers.corp.isuer");
    assert!(errors.0[0]
        .message
        .contains("issuer, audiences, algorithms"));
}

rejects! {
    plan_store_bad_url:
        config(&auth_with("      quotas: [{ requests: 1000, per: day }]", "      quotas: [{ requests: 1000, per: day }]\n      store: { url: \"redis:/x\" }"), PROXY) => "auth.plans.free.store.url", "redis://host:port";
    plan_store_without_counts:
        config(&auth_with("      rate_limit: { requests: 10, per: 1s, burst: 20 }\n      quotas: [{ requests: 1000, per: day }]", "      store: { url: \"redis://x:1\" }"), PROXY) => "auth.plans.free.store", "no rate limit or quota";
    trusted_proxy_not_an_address:
        config("trusted_proxies: [proxy.local]", PROXY) => "trusted_proxies[0]", "invalid address";
    trusted_proxy_prefix_too_long:
        config("trusted_proxies: [10.0.0.0/33]", PROXY) => "trusted_proxies[0]", "0..=32";
    ipv6_prefix_too_long:
        config("ip_filter: { allow: [\"2001:db8::/129\"] }", PROXY) => "ip_filter.allow[0]", "0..=128";
    deny_entry_garbage:
        config("ip_filter: { deny: [\"1.2.3.4/x\"] }", PROXY) => "ip_filter.deny[0]", "prefix";
    route_ip_filter_checked:
        config("", &route_with("ip_filter: { deny: [nope] }")) => "listeners[0].routes[0].ip_filter.deny[0]", "invalid address";

    provider_without_algorithms:
        config(&auth_with("algorithms: [RS256, ES256]", "algorithms: []"), PROXY) => "auth.jwt_providers.corp.algorithms", "explicitly";
    provider_alg_none:
        config(&auth_with("[RS256, ES256]", "[RS256, none]"), PROXY) => "auth.jwt_providers.corp.algorithms[1]", "never accepted";
    provider_alg_wrong_case:
        config(&auth_with("[RS256, ES256]", "[rs256]"), PROXY) => "auth.jwt_providers.corp.algorithms[0]", "case-sensitive";
    provider_alg_twice:
        config(&auth_with("[RS256, ES256]", "[RS256, RS256]"), PROXY) => "auth.jwt_providers.corp.algorithms[1]", "twice";
    provider_bad_name:
        config(&auth_with("    corp:", "    Corp:"), PROXY) => "auth.jwt_providers.Corp", "invalid name";
    provider_without_keys:
        config(&auth_with("keys: { pem_files: [{ file: keys/rsa.pem, kid: k1 }] }", "leeway: 5s"), PROXY) => "auth.jwt_providers.corp.keys", "need keys";
    provider_hs_without_secret:
        config(&auth_with("[RS256, ES256]", "[RS256, HS256]"), PROXY) => "auth.jwt_providers.corp.keys.hmac_secret_env", "need an HMAC secret";
    provider_secret_without_hs:
        config(&auth_with("kid: k1 }]", "kid: k1 }], hmac_secret_env: JWT_SECRET"), PROXY) => "auth.jwt_providers.corp.keys.hmac_secret_env", "needs an HS256";
    provider_secret_env_name:
        config(&auth_with("[RS256, ES256]", "[HS256]").replace("keys: { pem_files: [{ file: keys/rsa.pem, kid: k1 }] }", "keys: { hmac_secret_env: \"JWT-SECRET\" }"), PROXY) => "auth.jwt_providers.corp.keys.hmac_secret_env", "environment variable";
    provider_public_keys_with_only_hs:
        config(&auth_with("[RS256, ES256]", "[HS256]").replace("kid: k1 }]", "kid: k1 }], hmac_secret_env: S"), PROXY) => "auth.jwt_providers.corp.keys", "only HS algorithms";
    provider_pem_without_file:
        config(&auth_with("file: keys/rsa.pem, ", ""), PROXY) => "auth.jwt_providers.corp.keys.pem_files[0].file", "required";
    provider_empty_kid:
        config(&auth_with("kid: k1", "kid: \"\""), PROXY) => "auth.jwt_providers.corp.keys.pem_files[0].kid", "1..=256";
    provider_plaintext_jwks_url:
        config(&auth_with("pem_files: [{ file: keys/rsa.pem, kid: k1 }]", "jwks_url: \"http://id.example.com/jwks\""), PROXY) => "auth.jwt_providers.corp.keys.jwks_url", "must not travel in plaintext";
    provider_ca_file_without_https_url:
        config(&auth_with("kid: k1 }]", "kid: k1 }], jwks_ca_file: ca.pem"), PROXY) => "auth.jwt_providers.corp.keys.jwks_ca_file", "https://";
    provider_bad_jwks_url:
        config(&auth_with("pem_files: [{ file: keys/rsa.pem, kid: k1 }]", "jwks_url: \"ftp://x/jwks\""), PROXY) => "auth.jwt_providers.corp.keys.jwks_url", "http://";
    provider_empty_jwks_file:
        config(&auth_with("pem_files: [{ file: keys/rsa.pem, kid: k1 }]", "jwks_file: \"\""), PROXY) => "auth.jwt_providers.corp.keys.jwks_file", "empty";
    provider_zero_refresh:
        config(&auth_with("kid: k1 }]", "kid: k1 }], refresh: 0s"), PROXY) => "auth.jwt_providers.corp.keys.refresh", "greater than zero";
    provider_huge_leeway:
        config(&auth_with("      issuer:", "      leeway: 1h\n      issuer:"), PROXY) => "auth.jwt_providers.corp.leeway", "at most 10m";
    provider_token_header_and_cookie:
        config(&auth_with("      issuer:", "      token: { header: x-token, cookie: session }\n      issuer:"), PROXY) => "auth.jwt_providers.corp.token", "mutually exclusive";
    provider_token_bad_header:
        config(&auth_with("      issuer:", "      token: { header: \"x token\" }\n      issuer:"), PROXY) => "auth.jwt_providers.corp.token.header", "invalid header name";
    provider_token_bad_cookie:
        config(&auth_with("      issuer:", "      token: { cookie: \"a=b\" }\n      issuer:"), PROXY) => "auth.jwt_providers.corp.token.cookie", "token";
    provider_tiny_max_token:
        config(&auth_with("      issuer:", "      max_token_bytes: 10\n      issuer:"), PROXY) => "auth.jwt_providers.corp.max_token_bytes", "between 256";
    provider_empty_consumer_claim:
        config(&auth_with("      issuer:", "      consumer_claim: \"\"\n      issuer:"), PROXY) => "auth.jwt_providers.corp.consumer_claim", "required";
    provider_unknown_plan:
        config(&auth_with("      issuer:", "      plan: gold\n      issuer:"), PROXY) => "auth.jwt_providers.corp.plan", "unknown plan \"gold\" (plans: free)";

    api_key_header_invalid:
        config(&format!("{AUTH}  api_keys: {{ header: \"x key\" }}"), PROXY) => "auth.api_keys.header", "invalid header name";
    api_key_query_invalid:
        config(&format!("{AUTH}  api_keys: {{ query: \"a&b\" }}"), PROXY) => "auth.api_keys.query", "query parameter";

    plan_zero_requests:
        config(&auth_with("requests: 10,", "requests: 0,"), PROXY) => "auth.plans.free.rate_limit.requests", "greater than zero";
    plan_zero_burst:
        config(&auth_with("burst: 20", "burst: 0"), PROXY) => "auth.plans.free.rate_limit.burst", "at least 1";
    plan_zero_period:
        config(&auth_with("per: 1s", "per: 0s"), PROXY) => "auth.plans.free.rate_limit.per", "greater than zero";
    plan_period_over_a_day:
        config(&auth_with("per: 1s", "per: 48h"), PROXY) => "auth.plans.free.rate_limit.per", "quota";
    plan_unknown_quota_window:
        config(&auth_with("per: day", "per: week"), PROXY) => "auth.plans.free.quotas[0].per", "minute, hour or day";
    plan_zero_quota:
        config(&auth_with("requests: 1000", "requests: 0"), PROXY) => "auth.plans.free.quotas[0].requests", "greater than zero";
    plan_quota_window_twice:
        config(&auth_with("{ requests: 1000, per: day }", "{ requests: 1000, per: day }, { requests: 5, per: day }"), PROXY) => "auth.plans.free.quotas[1].per", "twice";

    consumer_unknown_plan:
        config(&auth_with("plan: free,", "plan: gold,"), PROXY) => "auth.consumers.acme.plan", "unknown plan";
    consumer_plain_key:
        config(&auth_with(KEY, "hunter2"), PROXY) => "auth.consumers.acme.api_keys[0]", "sha256:<64 lowercase hex digits>";
    consumer_uppercase_hex_key:
        config(&auth_with(KEY, &KEY.to_uppercase().replace("SHA256", "sha256")), PROXY) => "auth.consumers.acme.api_keys[0]", "lowercase";
    consumer_duplicate_key:
        config(&format!("{AUTH}    other: {{ api_keys: [\"{KEY}\"] }}"), PROXY) => "auth.consumers.other.api_keys[0]", "also auth.consumers.acme.api_keys[0]";
    consumer_bad_scope:
        config(&auth_with("scopes: [orders:read]", "scopes: [\"a b\"]"), PROXY) => "auth.consumers.acme.scopes[0]", "invalid scope";

    route_auth_unknown_provider:
        config(AUTH, &route_with("auth: { jwt: other }")) => "listeners[0].routes[0].auth.jwt", "unknown JWT provider \"other\" (providers: corp)";
    route_auth_no_credential:
        config(AUTH, &route_with("auth: { scopes: [a] }")) => "listeners[0].routes[0].auth", "at least one credential";
    route_auth_claims_without_jwt:
        config(AUTH, &route_with("auth: { api_key: true, claims: { tenant: a } }")) => "listeners[0].routes[0].auth.claims", "JWTs only";
    route_auth_forward_without_jwt:
        config(AUTH, &route_with("auth: { api_key: true, forward_claims: { sub: x-sub } }")) => "listeners[0].routes[0].auth.forward_claims", "JWTs only";
    route_auth_forward_to_managed_header:
        config(AUTH, &route_with("auth: { jwt: corp, forward_claims: { sub: content-length } }")) => "listeners[0].routes[0].auth.forward_claims.sub", "managed by the gateway";
    route_auth_forward_two_claims_to_one_header:
        config(AUTH, &route_with("auth: { jwt: corp, forward_claims: { sub: x-id, tid: x-id } }")) => "listeners[0].routes[0].auth.forward_claims.tid", "two claims";

    rate_limit_zero:
        config("", &route_with("rate_limits: [{ requests: 0 }]")) => "listeners[0].routes[0].rate_limits[0].requests", "greater than zero";
    rate_limit_unknown_key:
        config("", &route_with("rate_limits: [{ requests: 5, key: user }]")) => "listeners[0].routes[0].rate_limits[0].key", "client_ip, consumer, global";
    rate_limit_consumer_without_auth:
        config("", &route_with("rate_limits: [{ requests: 5, key: consumer }]")) => "listeners[0].routes[0].rate_limits[0].key", "set auth";
    rate_limit_claim_without_jwt:
        config(AUTH, &route_with("auth: { api_key: true }, rate_limits: [{ requests: 5, key: \"claim:tenant\" }]")) => "listeners[0].routes[0].rate_limits[0].key", "auth.jwt";
    rate_limit_bad_header_key:
        config("", &route_with("rate_limits: [{ requests: 5, key: \"header:a b\" }]")) => "listeners[0].routes[0].rate_limits[0].key", "invalid header name";
    rate_limit_duplicate_name:
        config("", &route_with("rate_limits: [{ name: a, requests: 5 }, { name: a, requests: 6 }]")) => "listeners[0].routes[0].rate_limits[1].name", "duplicate";
    rate_limit_bad_name:
        config("", &route_with("rate_limits: [{ name: A, requests: 5 }]")) => "listeners[0].routes[0].rate_limits[0].name", "invalid name";
    rate_limit_zero_burst:
        config("", &route_with("rate_limits: [{ requests: 5, burst: 0 }]")) => "listeners[0].routes[0].rate_limits[0].burst", "at least 1";
}
