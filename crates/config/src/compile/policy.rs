//! Policies: trusted proxies, IP filters, JWT providers, API keys, consumers, plans, and the
//! per-route requirements and rate limits that refer to them.

use std::time::Duration;

use super::Compiler;
use crate::check;
use crate::error::{index_path, key_path};
use crate::model::*;
use crate::spec::*;

/// The names of the algorithms a JWT provider may list, for messages.
fn algorithm_names() -> String {
    Algorithm::ALL.map(Algorithm::as_str).join(", ")
}

/// Longest `max_token_bytes`.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Names of the things routes refer to, for resolving references.
#[derive(Default)]
pub(super) struct PolicyNames {
    jwt_providers: Vec<String>,
}

impl Compiler {
    pub(super) fn policies(&mut self, spec: &ConfigSpec) -> (Policies, PolicyNames) {
        let trusted_proxies = TrustedProxies(self.ip_set("trusted_proxies", &spec.trusted_proxies));
        let ip_filter = self.ip_filter("ip_filter", &spec.ip_filter);

        let auth = &spec.auth;
        let plan_names: Vec<&str> = auth.plans.iter().map(|(name, _)| name).collect();
        let mut plans = Vec::with_capacity(auth.plans.0.len());
        for (i, (name, plan)) in auth.plans.iter().enumerate() {
            let path = key_path("auth.plans", name);
            self.name(&path, name);
            if plan_names[..i].contains(&name) {
                self.error(&path, format!("duplicate plan name {name:?}"));
            }
            plans.push(self.plan(&path, name, plan));
        }

        let mut jwt_providers = Vec::with_capacity(auth.jwt_providers.0.len());
        let mut names = PolicyNames::default();
        for (name, provider) in auth.jwt_providers.iter() {
            let path = key_path("auth.jwt_providers", name);
            self.name(&path, name);
            if names.jwt_providers.iter().any(|n| n == name) {
                self.error(&path, format!("duplicate JWT provider name {name:?}"));
            }
            names.jwt_providers.push(name.to_owned());
            jwt_providers.push(self.jwt_provider(&path, name, provider, &plan_names));
        }

        let api_keys = ApiKeySource {
            header: auth.api_keys.header.as_ref().map(|h| {
                self.check(
                    "auth.api_keys.header",
                    check::header_name(h),
                    String::new(),
                )
            }),
            query: auth.api_keys.query.as_ref().map(|q| {
                if q.is_empty() || !q.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                    self.error(
                        "auth.api_keys.query",
                        format!("invalid query parameter name {q:?}: use letters, digits, '-', '_' and '.'"),
                    );
                }
                q.clone()
            }),
        };

        let mut consumers: Vec<Consumer> = Vec::with_capacity(auth.consumers.0.len());
        let mut seen_keys: Vec<(KeyDigest, String)> = Vec::new();
        for (name, consumer) in auth.consumers.iter() {
            let path = key_path("auth.consumers", name);
            self.name(&path, name);
            if consumers.iter().any(|c| c.name == name) {
                self.error(&path, format!("duplicate consumer name {name:?}"));
            }
            let plan = consumer
                .plan
                .as_ref()
                .and_then(|p| self.plan_ref(&format!("{path}.plan"), p, &plan_names));
            let mut api_keys = Vec::with_capacity(consumer.api_keys.len());
            for (i, key) in consumer.api_keys.iter().enumerate() {
                let key_path = index_path(&format!("{path}.api_keys"), i);
                match KeyDigest::parse(key) {
                    Err(message) => self.error(
                        &key_path,
                        format!("{message} (API keys are stored hashed: `ringway hash-key <key>` prints the stored form)"),
                    ),
                    Ok(digest) => {
                        if let Some((_, other)) = seen_keys.iter().find(|(d, _)| *d == digest) {
                            self.error(&key_path, format!("the same key is also {other}"));
                        } else {
                            seen_keys.push((digest, key_path));
                            api_keys.push(digest);
                        }
                    }
                }
            }
            for (i, scope) in consumer.scopes.iter().enumerate() {
                self.scope(&index_path(&format!("{path}.scopes"), i), scope);
            }
            consumers.push(Consumer {
                name: name.to_owned(),
                plan,
                api_keys,
                scopes: consumer.scopes.clone(),
            });
        }

        let policies = Policies {
            trusted_proxies,
            ip_filter,
            ip_filter_shadow: spec.ip_filter.shadow,
            jwt_providers,
            api_keys,
            plans,
            consumers,
        };
        (policies, names)
    }

    /// Builds an IP set with the data plane's own parser; each bad entry is an error at its
    /// index.
    fn ip_set(&mut self, path: &str, entries: &[String]) -> IpSet {
        IpSet::parse(entries).unwrap_or_else(|errors| {
            for (i, message) in errors {
                self.error(index_path(path, i), message);
            }
            IpSet::empty()
        })
    }

    pub(super) fn ip_filter(&mut self, path: &str, spec: &IpFilterSpec) -> IpFilter {
        let allow_path = format!("{path}.allow");
        let allow = spec.allow.as_ref().map(|entries| {
            if entries.is_empty() {
                self.error(
                    &allow_path,
                    "an empty allow list would admit nobody: remove `allow` to admit everyone not denied, or list addresses",
                );
            }
            self.ip_set(&allow_path, entries)
        });
        IpFilter {
            allow,
            deny: self.ip_set(&format!("{path}.deny"), &spec.deny),
        }
    }

    fn scope(&mut self, path: &str, scope: &str) {
        if scope.is_empty()
            || scope
                .bytes()
                .any(|b| b <= b' ' || b == b'"' || b == b'\\' || b >= 0x7f)
        {
            self.error(
                path,
                format!("invalid scope {scope:?}: printable ASCII without spaces, quotes or backslashes"),
            );
        }
    }

    fn plan_ref(&mut self, path: &str, name: &str, plans: &[&str]) -> Option<usize> {
        let found = plans.iter().position(|p| *p == name);
        if found.is_none() {
            let known = if plans.is_empty() {
                "no plans are defined".to_owned()
            } else {
                format!("plans: {}", plans.join(", "))
            };
            self.error(path, format!("unknown plan {name:?} ({known})"));
        }
        found
    }

    fn rate(
        &mut self,
        path: &str,
        requests: u64,
        per: Option<&DurationSpec>,
        burst: Option<u64>,
    ) -> Rate {
        if requests == 0 {
            self.error(format!("{path}.requests"), "must be greater than zero");
        }
        let per = match per {
            Some(per) => self.duration(&format!("{path}.per"), per, false),
            None => Duration::from_secs(1),
        };
        if per > Duration::from_secs(86_400) {
            self.error(
                format!("{path}.per"),
                "must be at most 24h (use a quota for longer windows)",
            );
        }
        if burst == Some(0) {
            self.error(format!("{path}.burst"), "must be at least 1");
        }
        Rate {
            requests,
            per,
            burst: burst.unwrap_or(requests),
        }
    }

    fn limit_store(&mut self, path: &str, spec: &LimitStoreSpec) -> LimitStore {
        if spec.kind != "redis" {
            self.error(
                format!("{path}.type"),
                format!("unknown store type {:?} (redis)", spec.kind),
            );
        }
        let url_ok = spec
            .url
            .strip_prefix("redis://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !url_ok {
            self.error(
                format!("{path}.url"),
                format!("{:?} is not redis://host:port[/db]", spec.url),
            );
        }
        let timeout = self.duration(&format!("{path}.timeout"), &spec.timeout, false);
        if timeout > Duration::from_secs(1) {
            self.error(
                format!("{path}.timeout"),
                "must be at most 1s (requests never wait on the store; this bounds a lease)",
            );
        }
        let fallback_path = format!("{path}.fallback");
        let on_failure = match (spec.on_failure.as_str(), &spec.fallback) {
            ("deny", None) => StoreFailure::Deny,
            ("deny", Some(_)) => {
                self.error(&fallback_path, "only used with on_failure: allow");
                StoreFailure::Deny
            }
            ("allow", Some(f)) => {
                StoreFailure::Allow(self.rate(&fallback_path, f.requests, f.per.as_ref(), f.burst))
            }
            ("allow", None) => {
                self.error(
                    &fallback_path,
                    "on_failure: allow needs the rate each gateway applies alone",
                );
                StoreFailure::Deny
            }
            (other, _) => {
                self.error(
                    format!("{path}.on_failure"),
                    format!("unknown value {other:?} (deny or allow)"),
                );
                StoreFailure::Deny
            }
        };
        let interval_path = format!("{path}.sync_interval");
        let sync = match (spec.mode.as_str(), &spec.sync_interval) {
            ("lease", None) => None,
            ("lease", Some(_)) => {
                self.error(&interval_path, "only used with mode: sync");
                None
            }
            ("sync", interval) => {
                let i = interval.as_ref().map_or(Duration::from_millis(100), |i| {
                    self.duration(&interval_path, i, false)
                });
                if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&i) {
                    self.error(&interval_path, "must be from 10ms to 10s");
                }
                Some(i)
            }
            (other, _) => {
                self.error(
                    format!("{path}.mode"),
                    format!("unknown value {other:?} (lease or sync)"),
                );
                None
            }
        };
        LimitStore {
            url: spec.url.clone(),
            timeout,
            on_failure,
            sync,
        }
    }

    fn plan(&mut self, path: &str, name: &str, spec: &PlanSpec) -> Plan {
        let rate_limit = spec.rate_limit.as_ref().map(|r| {
            self.rate(
                &format!("{path}.rate_limit"),
                r.requests,
                r.per.as_ref(),
                r.burst,
            )
        });
        let mut quotas: Vec<Quota> = Vec::with_capacity(spec.quotas.len());
        for (i, q) in spec.quotas.iter().enumerate() {
            let qpath = index_path(&format!("{path}.quotas"), i);
            if q.requests == 0 {
                self.error(format!("{qpath}.requests"), "must be greater than zero");
            }
            let window = match q.per.as_str() {
                "minute" => QuotaWindow::Minute,
                "hour" => QuotaWindow::Hour,
                "day" => QuotaWindow::Day,
                other => {
                    self.error(
                        format!("{qpath}.per"),
                        format!("unknown window {other:?}: use minute, hour or day"),
                    );
                    QuotaWindow::Day
                }
            };
            if quotas.iter().any(|other| other.window == window) {
                self.error(
                    format!("{qpath}.per"),
                    format!("a {} quota is given twice", q.per),
                );
            }
            quotas.push(Quota {
                requests: q.requests,
                window,
            });
        }
        let store = spec
            .store
            .as_ref()
            .map(|s| self.limit_store(&format!("{path}.store"), s));
        if store.is_some() && rate_limit.is_none() && quotas.is_empty() {
            self.error(
                format!("{path}.store"),
                "the plan has no rate limit or quota to count in it",
            );
        }
        Plan {
            name: name.to_owned(),
            rate_limit,
            quotas,
            store,
        }
    }

    fn jwt_provider(
        &mut self,
        path: &str,
        name: &str,
        spec: &JwtProviderSpec,
        plans: &[&str],
    ) -> JwtProvider {
        let algorithms_path = format!("{path}.algorithms");
        if spec.algorithms.is_empty() {
            self.error(
                &algorithms_path,
                format!(
                    "list the accepted algorithms explicitly (any of {})",
                    algorithm_names()
                ),
            );
        }
        let mut algorithms: Vec<Algorithm> = Vec::with_capacity(spec.algorithms.len());
        for (i, name) in spec.algorithms.iter().enumerate() {
            let alg_path = index_path(&algorithms_path, i);
            match Algorithm::parse(name) {
                None => {
                    let hint = if name.eq_ignore_ascii_case("none") {
                        "unsigned tokens are never accepted".to_owned()
                    } else {
                        format!("use one of {} (case-sensitive)", algorithm_names())
                    };
                    self.error(&alg_path, format!("unknown algorithm {name:?}: {hint}"));
                }
                Some(alg) if algorithms.contains(&alg) => {
                    self.error(&alg_path, format!("{alg} is listed twice"));
                }
                Some(alg) => algorithms.push(alg),
            }
        }
        let hmac = algorithms.iter().any(|a| a.as_str().starts_with("HS"));
        let public = algorithms.iter().any(|a| !a.as_str().starts_with("HS"));

        let keys_path = format!("{path}.keys");
        let k = &spec.keys;
        let mut pem_files = Vec::with_capacity(k.pem_files.len());
        for (i, pem) in k.pem_files.iter().enumerate() {
            let pem_path = index_path(&format!("{keys_path}.pem_files"), i);
            if pem.file.is_empty() {
                self.error(format!("{pem_path}.file"), "a file is required");
            }
            if let Some(kid) = &pem.kid {
                self.kid(&format!("{pem_path}.kid"), kid);
            }
            pem_files.push((std::path::PathBuf::from(&pem.file), pem.kid.clone()));
        }
        if k.jwks_file.as_deref() == Some("") {
            self.error(format!("{keys_path}.jwks_file"), "must not be empty");
        }
        if let Some(url) = &k.jwks_url {
            if let Err(message) = check::jwks_url(url) {
                self.error(format!("{keys_path}.jwks_url"), message);
            }
        }
        match (&k.jwks_ca_file, &k.jwks_url) {
            (Some(file), _) if file.is_empty() => {
                self.error(format!("{keys_path}.jwks_ca_file"), "must not be empty");
            }
            (Some(_), Some(url)) if url.starts_with("https://") => {}
            (Some(_), _) => self.error(
                format!("{keys_path}.jwks_ca_file"),
                "only used to verify an https:// jwks_url",
            ),
            (None, _) => {}
        }
        if let Some(var) = &k.hmac_secret_env {
            if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                self.error(
                    format!("{keys_path}.hmac_secret_env"),
                    format!("invalid environment variable name {var:?}"),
                );
            }
            if !hmac {
                self.error(
                    format!("{keys_path}.hmac_secret_env"),
                    "an HMAC secret needs an HS256/HS384/HS512 algorithm",
                );
            }
        } else if hmac {
            self.error(
                format!("{keys_path}.hmac_secret_env"),
                "HS algorithms need an HMAC secret: name the environment variable holding it",
            );
        }
        let has_public = !k.pem_files.is_empty() || k.jwks_file.is_some() || k.jwks_url.is_some();
        if public && !has_public {
            self.error(
                &keys_path,
                "public-key algorithms need keys: pem_files, jwks_file or jwks_url",
            );
        }
        if hmac && !public && has_public {
            self.error(
                &keys_path,
                "public keys are given but only HS algorithms are accepted",
            );
        }
        let refresh = self.duration(&format!("{keys_path}.refresh"), &k.refresh, false);
        let min_refresh = self.duration(&format!("{keys_path}.min_refresh"), &k.min_refresh, false);

        let leeway = self.duration(&format!("{path}.leeway"), &spec.leeway, true);
        if leeway > Duration::from_secs(600) {
            self.error(format!("{path}.leeway"), "must be at most 10m");
        }
        let token = self.token_source(&format!("{path}.token"), &spec.token);
        if !(256..=MAX_TOKEN_BYTES).contains(&spec.max_token_bytes) {
            self.error(
                format!("{path}.max_token_bytes"),
                format!("must be between 256 and {MAX_TOKEN_BYTES}"),
            );
        }
        if spec.consumer_claim.is_empty() {
            self.error(format!("{path}.consumer_claim"), "a claim name is required");
        }
        let plan = spec
            .plan
            .as_ref()
            .and_then(|p| self.plan_ref(&format!("{path}.plan"), p, plans));
        JwtProvider {
            name: name.to_owned(),
            issuer: spec.issuer.clone(),
            audiences: spec.audiences.clone(),
            algorithms,
            keys: JwtKeys {
                pem_files,
                jwks_file: k.jwks_file.as_ref().map(std::path::PathBuf::from),
                jwks_url: k.jwks_url.clone(),
                jwks_ca_file: k.jwks_ca_file.as_ref().map(std::path::PathBuf::from),
                hmac_secret_env: k.hmac_secret_env.clone(),
                refresh,
                min_refresh,
            },
            leeway,
            token,
            max_token_bytes: spec.max_token_bytes,
            consumer_claim: spec.consumer_claim.clone(),
            plan,
        }
    }

    fn kid(&mut self, path: &str, kid: &str) {
        if kid.is_empty() || kid.len() > 256 || kid.bytes().any(|b| b.is_ascii_control()) {
            self.error(path, "a key id is 1..=256 bytes without control characters");
        }
    }

    fn token_source(&mut self, path: &str, spec: &TokenSourceSpec) -> TokenSource {
        match (&spec.header, &spec.cookie) {
            (Some(_), Some(_)) => {
                self.error(path, "header and cookie are mutually exclusive");
                TokenSource::default()
            }
            (Some(header), None) => {
                let name = self.check(
                    &format!("{path}.header"),
                    check::header_name(header),
                    String::new(),
                );
                if name == "authorization" {
                    TokenSource::Bearer { header: name }
                } else {
                    TokenSource::Header(name)
                }
            }
            (None, Some(cookie)) => {
                self.check(&format!("{path}.cookie"), check::cookie_name(cookie), ());
                TokenSource::Cookie(cookie.clone())
            }
            (None, None) => TokenSource::default(),
        }
    }

    /// A route's credential requirements; `None` when the route has none.
    pub(super) fn route_auth(
        &mut self,
        path: &str,
        spec: &RouteAuthSpec,
        names: &PolicyNames,
    ) -> RouteAuth {
        let jwt = spec.jwt.as_ref().and_then(|name| {
            let found = names.jwt_providers.iter().position(|p| p == name);
            if found.is_none() {
                let known = if names.jwt_providers.is_empty() {
                    "no JWT providers are defined".to_owned()
                } else {
                    format!("providers: {}", names.jwt_providers.join(", "))
                };
                self.error(
                    format!("{path}.jwt"),
                    format!("unknown JWT provider {name:?} ({known})"),
                );
            }
            found
        });
        if spec.jwt.is_none() && !spec.api_key {
            self.error(
                path,
                "accept at least one credential: jwt: <provider> or api_key: true",
            );
        }
        for (i, scope) in spec.scopes.iter().enumerate() {
            self.scope(&index_path(&format!("{path}.scopes"), i), scope);
        }
        if spec.jwt.is_none() && !spec.claims.is_empty() {
            self.error(
                format!("{path}.claims"),
                "claims are checked on JWTs only: set jwt",
            );
        }
        if spec.jwt.is_none() && !spec.forward_claims.is_empty() {
            self.error(
                format!("{path}.forward_claims"),
                "claims come from JWTs only: set jwt",
            );
        }
        let claims = spec
            .claims
            .iter()
            .map(|(claim, value)| (claim.to_owned(), value.clone()))
            .collect();
        let mut forward_claims: Vec<(String, String)> = Vec::new();
        for (claim, header) in spec.forward_claims.iter() {
            let header_path = key_path(&format!("{path}.forward_claims"), claim);
            let header = self.editable_header(&header_path, header, true);
            if !header.is_empty() && forward_claims.iter().any(|(_, h)| *h == header) {
                self.error(&header_path, format!("{header} receives two claims"));
            }
            forward_claims.push((claim.to_owned(), header));
        }
        RouteAuth {
            jwt,
            api_key: spec.api_key,
            scopes: spec.scopes.clone(),
            claims,
            forward_claims,
            strip_credentials: spec.strip_credentials,
        }
    }

    pub(super) fn rate_limits(
        &mut self,
        path: &str,
        route: &str,
        specs: &[RateLimitSpec],
        auth: Option<&RouteAuth>,
    ) -> Vec<RateLimitRule> {
        let mut rules: Vec<RateLimitRule> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let rpath = index_path(path, i);
            let name = match &spec.name {
                Some(name) => {
                    self.name(&format!("{rpath}.name"), name);
                    name.clone()
                }
                None => format!("{route}-{i}"),
            };
            if rules.iter().any(|r| r.name == name) {
                self.error(
                    format!("{rpath}.name"),
                    format!("duplicate rate limit name {name:?}"),
                );
            }
            let key_path = format!("{rpath}.key");
            let key = match spec.key.as_deref().unwrap_or("client_ip") {
                "client_ip" => LimitKey::ClientIp,
                "global" => LimitKey::Global,
                "consumer" => {
                    if auth.is_none() {
                        self.error(
                            &key_path,
                            "consumer needs credentials on the route: set auth",
                        );
                    }
                    LimitKey::Consumer
                }
                other => match other.split_once(':') {
                    Some(("header", header)) => LimitKey::Header(self.check(
                        &key_path,
                        check::header_name(header),
                        String::new(),
                    )),
                    Some(("claim", claim)) if !claim.is_empty() => {
                        if auth.is_none_or(|a| a.jwt.is_none()) {
                            self.error(
                                &key_path,
                                "claim keys need a JWT on the route: set auth.jwt",
                            );
                        }
                        LimitKey::Claim(claim.to_owned())
                    }
                    _ => {
                        self.error(
                            &key_path,
                            format!("unknown key {other:?}: use client_ip, consumer, global, header:<name> or claim:<name>"),
                        );
                        LimitKey::Global
                    }
                },
            };
            let rate = self.rate(&rpath, spec.requests, spec.per.as_ref(), spec.burst);
            let store = spec
                .store
                .as_ref()
                .map(|s| self.limit_store(&format!("{rpath}.store"), s));
            rules.push(RateLimitRule {
                name,
                key,
                rate,
                shadow: spec.shadow,
                store,
            });
        }
        rules
    }
}
