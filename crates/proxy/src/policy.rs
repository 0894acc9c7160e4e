//! Policies on the data plane, in the fixed order of the design: client address (trusted
//! proxies) -> IP filter -> authentication (JWT or API key) -> authorization (scopes, claims)
//! -> rate limits -> plan rate limit -> quotas.
//!
//! [`PolicyRuntime`] is built once per configuration and shared by every core (key sets, IP
//! sets, the shared rate-limit tables); [`PolicyCore`] is one core's own state (its token
//! cache and rate-limit shards), used without locks. Key loading problems are configuration
//! errors with their paths, so `validate` and `run` report them before binding.

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::Header;
use ringway_auth::apikey::ApiKeys;
use ringway_auth::ip::{IpFilter, TrustedProxies};
use ringway_auth::jwt::{
    Claims, ExtractError, JwksRefresh, JwtError, KeySet, Provider, ProviderSettings, Requirement,
    TokenCache, TokenSource,
};
use ringway_config::model::{self, Config, LimitKey, QuotaWindow, RouteAuth};
use ringway_config::ConfigErrors;
use ringway_core::ErrorKind;
use ringway_ratelimit::{
    Decision, Limiter, LimiterOptions, Quota, QuotaShard, QuotaSpec, Rate, Shard, Window,
};

/// Verified tokens cached per core.
const TOKEN_CACHE_ENTRIES: usize = 4096;
/// Keys per rate-limit table.
const LIMIT_TABLE_KEYS: usize = 65536;
/// Realm in `WWW-Authenticate` challenges.
const REALM: &str = "ringway";

/// A rate limit of a route, or a plan's.
struct LimitRt {
    name: String,
    key: LimitKey,
    limiter: Arc<Limiter>,
}

/// The policies of one route.
#[derive(Default)]
struct RouteRt {
    ip: Option<IpFilter>,
    auth: Option<AuthRt>,
    limits: Vec<LimitRt>,
}

impl RouteRt {
    fn is_empty(&self) -> bool {
        self.ip.is_none() && self.auth.is_none() && self.limits.is_empty()
    }
}

/// A route's credential requirements, compiled.
struct AuthRt {
    cfg: RouteAuth,
    requirement: Requirement,
    /// Header names the gateway removes from the forwarded request: forwarded-claim headers
    /// (a client must not supply them) and, when stripping, the credential headers.
    remove: Vec<String>,
}

/// A JWT provider with where its tokens come from.
struct ProviderRt {
    name: String,
    provider: Arc<Provider>,
    source: TokenSource,
    consumer_claim: String,
    plan: Option<usize>,
    /// Set by a core that saw an unknown `kid`; the fetcher refreshes early.
    refresh_wanted: AtomicBool,
    jwks: Option<JwksJob>,
}

/// Background refresh of a provider's JWKS URL.
struct JwksJob {
    url: String,
    refresh: Duration,
    min_refresh: Duration,
    /// Static keys (PEM, JWKS file, HMAC secret) merged with every fetched set.
    base: KeySet,
    age_secs: AtomicU64,
    fetch_errors: AtomicU64,
}

/// A consumer (API-key holder).
struct ConsumerRt {
    name: String,
    plan: Option<usize>,
    scopes: Vec<String>,
}

/// A plan's limits.
struct PlanRt {
    limit: Option<LimitRt>,
    quotas: Vec<(String, Arc<Quota>)>,
}

/// Per-core numbers published once a second for `/metrics`.
#[derive(Default)]
struct CoreGauges {
    drift_tokens: AtomicU64,
    leases: AtomicU64,
    table_full: AtomicU64,
}

/// Policies compiled from a configuration, shared by every core.
pub struct PolicyRuntime {
    /// Monotonic origin of the rate-limit clocks, the same for every core.
    epoch: Instant,
    trusted: Option<TrustedProxies>,
    global_ip: Option<IpFilter>,
    routes: Vec<Vec<RouteRt>>,
    providers: Vec<ProviderRt>,
    api_keys: ApiKeys,
    api_header: Option<String>,
    api_query: Option<String>,
    consumers: Vec<ConsumerRt>,
    plans: Vec<PlanRt>,
    cores: Vec<CoreGauges>,
}

impl std::fmt::Debug for PolicyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRuntime")
            .field("providers", &self.providers.len())
            .field("consumers", &self.consumers.len())
            .field("plans", &self.plans.len())
            .finish_non_exhaustive()
    }
}

/// A filter worth checking: `None` when it permits everyone.
fn ip_filter(f: &IpFilter) -> Option<IpFilter> {
    (!f.is_open()).then(|| f.clone())
}

fn rate(r: model::Rate) -> Rate {
    Rate {
        requests: r.requests,
        per: r.per,
        burst: r.burst,
    }
}

fn read_file(errors: &mut ConfigErrors, path: &str, file: &Path) -> Option<Vec<u8>> {
    match std::fs::read(file) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            errors.push(path, format!("cannot read {}: {e}", file.display()));
            None
        }
    }
}

impl PolicyRuntime {
    /// Compiles the policies of `cfg` for `workers` cores: reads key files and secrets,
    /// builds IP sets, API-key tables and rate-limit tables. Every problem is returned with
    /// the path of the setting that caused it.
    pub fn build(cfg: &Config, workers: usize) -> Result<Self, ConfigErrors> {
        let workers = workers.max(1);
        let mut errors = ConfigErrors::default();
        let p = &cfg.policies;
        let opts = LimiterOptions {
            capacity: LIMIT_TABLE_KEYS,
            workers,
            lease_ttl: Duration::from_millis(20),
        };

        let mut plans = Vec::with_capacity(p.plans.len());
        for plan in &p.plans {
            plans.push(PlanRt {
                limit: plan.rate_limit.map(|r| LimitRt {
                    name: plan.name.clone(),
                    key: LimitKey::Consumer,
                    limiter: Limiter::new(rate(r), opts),
                }),
                quotas: plan
                    .quotas
                    .iter()
                    .map(|q| {
                        let (window, label) = match q.window {
                            QuotaWindow::Minute => (Window::Minute, "minute"),
                            QuotaWindow::Hour => (Window::Hour, "hour"),
                            QuotaWindow::Day => (Window::Day, "day"),
                        };
                        let spec = QuotaSpec {
                            limit: q.requests,
                            window,
                        };
                        (format!("{}-{label}", plan.name), Quota::new(spec, opts))
                    })
                    .collect(),
            });
        }

        let mut providers = Vec::with_capacity(p.jwt_providers.len());
        for jp in &p.jwt_providers {
            if let Some(rt) = Self::provider(&mut errors, jp) {
                providers.push(rt);
            }
        }

        let api_keys = match ApiKeys::from_digests(
            p.consumers
                .iter()
                .enumerate()
                .flat_map(|(i, c)| c.api_keys.iter().map(move |&k| (k, i))),
        ) {
            Ok(keys) => Some(keys),
            Err(bad) => {
                for (_, message) in bad {
                    errors.push("auth.consumers", message);
                }
                None
            }
        };

        let routes = cfg
            .listeners
            .iter()
            .map(|l| {
                l.routes
                    .iter()
                    .map(|r| RouteRt {
                        ip: ip_filter(&r.ip_filter),
                        auth: r.auth.as_ref().map(|a| auth_rt(a, p, &providers)),
                        limits: r
                            .rate_limits
                            .iter()
                            .map(|rule| LimitRt {
                                name: rule.name.clone(),
                                key: rule.key.clone(),
                                limiter: Limiter::new(rate(rule.rate), opts),
                            })
                            .collect(),
                    })
                    .collect()
            })
            .collect();

        let trusted = (!p.trusted_proxies.0.is_empty()).then(|| p.trusted_proxies.clone());
        let api_keys = match api_keys {
            Some(keys) if errors.is_empty() => keys,
            _ => return Err(errors),
        };
        Ok(Self {
            epoch: Instant::now(),
            trusted,
            global_ip: ip_filter(&p.ip_filter),
            routes,
            providers,
            api_keys,
            api_header: p.api_keys.header.clone(),
            api_query: p.api_keys.query.clone(),
            consumers: p
                .consumers
                .iter()
                .map(|c| ConsumerRt {
                    name: c.name.clone(),
                    plan: c.plan,
                    scopes: c.scopes.clone(),
                })
                .collect(),
            plans,
            cores: (0..workers).map(|_| CoreGauges::default()).collect(),
        })
    }

    fn provider(errors: &mut ConfigErrors, jp: &model::JwtProvider) -> Option<ProviderRt> {
        let path = format!("auth.jwt_providers.{}.keys", jp.name);
        let before = errors.len();
        let mut keys = KeySet::empty();
        for (i, (file, kid)) in jp.keys.pem_files.iter().enumerate() {
            let at = format!("{path}.pem_files[{i}].file");
            if let Some(pem) = read_file(errors, &at, file) {
                match KeySet::from_pem(&pem, kid.clone()) {
                    Ok(set) => keys.merge(set),
                    Err(e) => errors.push(at, format!("{}: {e}", file.display())),
                }
            }
        }
        if let Some(file) = &jp.keys.jwks_file {
            let at = format!("{path}.jwks_file");
            if let Some(json) = read_file(errors, &at, file) {
                match KeySet::from_jwks(&json) {
                    Ok(set) => keys.merge(set),
                    Err(e) => errors.push(at, format!("{}: {e}", file.display())),
                }
            }
        }
        if let Some(var) = &jp.keys.hmac_secret_env {
            let at = format!("{path}.hmac_secret_env");
            match std::env::var_os(var) {
                Some(secret) if secret.len() >= 32 => {
                    match KeySet::from_hmac_secret(secret.as_encoded_bytes(), None) {
                        Ok(set) => keys.merge(set),
                        Err(e) => errors.push(at, e.to_string()),
                    }
                }
                Some(_) => {
                    errors.push(at, format!("the secret in ${var} is shorter than 32 bytes"))
                }
                None => errors.push(at, format!("environment variable ${var} is not set")),
            }
        }
        let settings = ProviderSettings {
            name: jp.name.clone(),
            issuer: jp.issuer.clone(),
            audiences: jp.audiences.clone(),
            algorithms: jp.algorithms.clone(),
            leeway: jp.leeway,
            max_token_bytes: jp.max_token_bytes,
        };
        let jwks = jp.keys.jwks_url.as_ref().map(|url| JwksJob {
            url: url.clone(),
            refresh: jp.keys.refresh,
            min_refresh: jp.keys.min_refresh,
            base: keys.clone(),
            age_secs: AtomicU64::new(0),
            fetch_errors: AtomicU64::new(0),
        });
        if errors.len() > before {
            return None;
        }
        let provider = match Provider::new(settings, keys) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                errors.push(format!("auth.jwt_providers.{}", jp.name), e.to_string());
                return None;
            }
        };
        let source = jp.token.clone();
        Some(ProviderRt {
            name: jp.name.clone(),
            provider,
            source,
            consumer_claim: jp.consumer_claim.clone(),
            plan: jp.plan,
            refresh_wanted: AtomicBool::new(false),
            jwks,
        })
    }

    /// Starts one background thread per JWKS URL: fetch now, then on schedule (and early when
    /// a core saw an unknown key id), keeping the last good key set when a fetch fails.
    /// Threads stop soon after `stop` is set.
    pub fn start_fetchers(
        self: &Arc<Self>,
        stop: &Arc<AtomicBool>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        (0..self.providers.len())
            .filter(|&i| self.providers[i].jwks.is_some())
            .filter_map(|i| {
                let rt = Arc::clone(self);
                let stop = Arc::clone(stop);
                std::thread::Builder::new()
                    .name(format!("ringway-jwks-{i}"))
                    .spawn(move || rt.run_jwks(i, &stop))
                    .ok()
            })
            .collect()
    }

    /// The JWKS refresh loop of provider `i`.
    fn run_jwks(&self, i: usize, stop: &AtomicBool) {
        let p = &self.providers[i];
        let Some(job) = &p.jwks else { return };
        let mut state = JwksRefresh::new(job.refresh, job.min_refresh, Instant::now());
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if p.refresh_wanted.swap(false, Ordering::Relaxed) {
                state.request_early(now);
            }
            if state.due(now) {
                state.begin_fetch(now);
                let fetched = crate::jwks::get(&job.url, Duration::from_secs(5));
                if let Err(e) = &fetched {
                    job.fetch_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(provider = %p.name, url = %job.url, error = %e, "JWKS fetch failed; keeping the last good keys");
                }
                let installed =
                    state.on_fetch(fetched.as_deref().map_err(Clone::clone), Instant::now());
                match installed {
                    Some(set) => {
                        let mut keys = job.base.clone();
                        keys.merge(set);
                        p.provider.update_keys(keys);
                        tracing::info!(provider = %p.name, url = %job.url, "JWKS keys installed");
                    }
                    None if fetched.is_ok() && state.last_error().is_some() => {
                        job.fetch_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(provider = %p.name, url = %job.url, error = ?state.last_error(), "JWKS document rejected; keeping the last good keys");
                    }
                    None => {}
                }
            }
            if let Some(age) = state.age(Instant::now()) {
                job.age_secs.store(age.as_secs(), Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Appends this runtime's metrics (Prometheus text): rate-limit drift and leases per core,
    /// JWKS age and fetch errors per provider.
    pub fn render_prometheus(&self, out: &mut String) {
        let per_core = |f: fn(&CoreGauges) -> &AtomicU64| {
            self.cores
                .iter()
                .enumerate()
                .map(move |(i, c)| (format!("core=\"{i}\""), f(c).load(Ordering::Relaxed)))
        };
        family(
            out,
            "ringway_ratelimit_drift_tokens",
            "gauge",
            "Tokens leased by a core from the shared rate-limit tables and not used yet: the most this core's view differs from the shared count.",
            per_core(|c| &c.drift_tokens),
        );
        family(
            out,
            "ringway_ratelimit_leases_total",
            "counter",
            "Token leases taken from the shared rate-limit tables.",
            per_core(|c| &c.leases),
        );
        let full = self
            .cores
            .iter()
            .map(|c| c.table_full.load(Ordering::Relaxed))
            .sum();
        family(
            out,
            "ringway_ratelimit_table_full_total",
            "counter",
            "Checks that found the shared table full and fell back to a core-local limit.",
            std::iter::once((String::new(), full)),
        );
        let jwks = |f: fn(&JwksJob) -> &AtomicU64| {
            self.providers.iter().filter_map(move |p| {
                let j = p.jwks.as_ref()?;
                Some((
                    format!("provider=\"{}\"", p.name),
                    f(j).load(Ordering::Relaxed),
                ))
            })
        };
        if self.providers.iter().any(|p| p.jwks.is_some()) {
            family(
                out,
                "ringway_jwks_age_seconds",
                "gauge",
                "Age of the key set last fetched from a JWKS URL.",
                jwks(|j| &j.age_secs),
            );
            family(
                out,
                "ringway_jwks_fetch_errors_total",
                "counter",
                "Failed JWKS fetches (the last good key set stays in use).",
                jwks(|j| &j.fetch_errors),
            );
        }
    }
}

/// Appends one metric family: HELP, TYPE, then a sample per `(labels, value)`.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn auth_rt(a: &RouteAuth, p: &model::Policies, providers: &[ProviderRt]) -> AuthRt {
    let mut remove: Vec<String> = a.forward_claims.iter().map(|(_, h)| h.clone()).collect();
    if a.strip_credentials {
        if let Some(jwt) = a.jwt.and_then(|i| providers.get(i)) {
            match &jwt.source {
                TokenSource::Bearer { header } | TokenSource::Header(header) => {
                    remove.push(header.clone())
                }
                // A cookie is one of several in one header: left alone.
                TokenSource::Cookie(_) => {}
            }
        }
        if a.api_key {
            if let Some(h) = &p.api_keys.header {
                remove.push(h.clone());
            }
        }
    }
    AuthRt {
        cfg: a.clone(),
        requirement: Requirement {
            scopes: a.scopes.clone(),
            claims: a.claims.clone(),
        },
        remove,
    }
}

/// Who a request was authenticated as.
enum Identity {
    Anonymous,
    /// An API-key consumer (index).
    Consumer(usize),
    /// A JWT of a provider (index).
    Jwt(usize, Arc<Claims>),
}

/// What the policy stage needs of a request.
pub(crate) struct Req<'a> {
    /// The request head's bytes, which `fields` point into.
    pub buf: &'a [u8],
    /// The parsed header fields, in order.
    pub fields: &'a [Header],
    /// The query string (after `?`), possibly empty.
    pub query: &'a [u8],
    /// The client's address (after trusted proxies).
    pub ip: IpAddr,
    /// Wall-clock time of the request in µs since the Unix epoch.
    pub now_unix_us: i64,
    /// Monotonic time of the request.
    pub now: Instant,
}

impl<'a> Req<'a> {
    /// `(name, value)` of every header field, in order, borrowed from the head.
    fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.fields
            .iter()
            .map(move |h| (h.name.of(buf), h.value.of(buf)))
    }
}

/// What the policy stage produced for a request; buffers reused across requests.
#[derive(Default)]
pub(crate) struct PolicyOut {
    /// Extra header lines of a rejection (`WWW-Authenticate`, `Retry-After`, `RateLimit`).
    pub reject_headers: Vec<u8>,
    /// Header lines appended to the forwarded request (forwarded claims).
    pub append: Vec<u8>,
    /// The authenticated client (consumer name or JWT consumer claim), empty if anonymous.
    pub client_id: Vec<u8>,
    /// Scratch for rate-limit keys.
    key: Vec<u8>,
}

impl PolicyOut {
    /// Clears everything for the next request.
    pub fn clear(&mut self) {
        self.reject_headers.clear();
        self.append.clear();
        self.client_id.clear();
    }
}

/// One core's policy state: its verified-token cache and rate-limit shards.
pub(crate) struct PolicyCore {
    rt: Arc<PolicyRuntime>,
    id: usize,
    cache: RefCell<TokenCache>,
    /// `[listener][route][rule]`.
    route_shards: RefCell<Vec<Vec<Vec<Shard>>>>,
    /// `[plan]`.
    plan_shards: RefCell<Vec<Option<Shard>>>,
    /// `[plan][quota]`.
    quota_shards: RefCell<Vec<Vec<QuotaShard>>>,
}

impl PolicyCore {
    pub fn new(rt: Arc<PolicyRuntime>, id: usize) -> Self {
        let route_shards = rt
            .routes
            .iter()
            .map(|l| {
                l.iter()
                    .map(|r| {
                        r.limits
                            .iter()
                            .map(|l| Shard::new(Arc::clone(&l.limiter)))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let plan_shards = rt
            .plans
            .iter()
            .map(|p| p.limit.as_ref().map(|l| Shard::new(Arc::clone(&l.limiter))))
            .collect();
        let quota_shards = rt
            .plans
            .iter()
            .map(|p| {
                p.quotas
                    .iter()
                    .map(|(_, q)| QuotaShard::new(Arc::clone(q)))
                    .collect()
            })
            .collect();
        Self {
            cache: RefCell::new(TokenCache::new(TOKEN_CACHE_ENTRIES)),
            route_shards: RefCell::new(route_shards),
            plan_shards: RefCell::new(plan_shards),
            quota_shards: RefCell::new(quota_shards),
            id,
            rt,
        }
    }

    /// The client address: the TCP peer, or the first untrusted `X-Forwarded-For` hop when
    /// the peer is a trusted proxy. `forwarded_for` yields the field values in order and is
    /// only read in that case.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a [u8]>,
    ) -> IpAddr {
        match &self.rt.trusted {
            Some(trusted) if trusted.is_trusted(peer) => {
                trusted.client_ip(peer, &mut { forwarded_for })
            }
            _ => peer,
        }
    }

    /// Whether the global IP filter refuses this client.
    pub fn global_denies(&self, ip: IpAddr) -> bool {
        self.rt.global_ip.as_ref().is_some_and(|f| !f.permits(ip))
    }

    /// Whether the route has any policy.
    pub fn route_has_policy(&self, listener: usize, route: usize) -> bool {
        !self.rt.routes[listener][route].is_empty()
    }

    /// Header names to remove from the forwarded request of this route.
    pub fn removed_headers(&self, listener: usize, route: usize) -> &[String] {
        self.rt.routes[listener][route]
            .auth
            .as_ref()
            .map_or(&[], |a| a.remove.as_slice())
    }

    /// Applies the route's IP filter, authentication, authorization, rate limits and plan
    /// limits. On refusal returns the error and leaves its extra header lines in
    /// `out.reject_headers`.
    pub fn check(
        &self,
        listener: usize,
        route: usize,
        req: &Req<'_>,
        out: &mut PolicyOut,
    ) -> Result<(), ErrorKind> {
        let r = &self.rt.routes[listener][route];
        if let Some(ip) = &r.ip {
            if !ip.permits(req.ip) {
                return Err(ErrorKind::IpDenied);
            }
        }
        let identity = match &r.auth {
            Some(a) => self.authenticate(a, req, out)?,
            None => Identity::Anonymous,
        };
        let mono_ns = req.now.saturating_duration_since(self.rt.epoch).as_nanos() as u64;
        {
            let mut shards = self.route_shards.borrow_mut();
            let shards = &mut shards[listener][route];
            for (limit, shard) in r.limits.iter().zip(shards.iter_mut()) {
                self.limit_key(&limit.key, &identity, req, out);
                let key = if limit.key == LimitKey::Global {
                    limit.limiter.key_global()
                } else {
                    limit.limiter.key(&out.key)
                };
                let decision = shard.check(key, mono_ns);
                if let Decision::Deny(_) = decision {
                    ringway_ratelimit::write_headers(
                        &limit.name,
                        &decision,
                        &mut out.reject_headers,
                    );
                    return Err(ErrorKind::RateLimited);
                }
            }
        }
        let plan = match &identity {
            Identity::Anonymous => None,
            Identity::Consumer(c) => self.rt.consumers[*c].plan,
            Identity::Jwt(p, _) => self.rt.providers[*p].plan,
        };
        if let Some(plan) = plan {
            let p = &self.rt.plans[plan];
            self.limit_key(&LimitKey::Consumer, &identity, req, out);
            if let Some(limit) = &p.limit {
                let key = limit.limiter.key(&out.key);
                let mut shards = self.plan_shards.borrow_mut();
                if let Some(shard) = shards[plan].as_mut() {
                    let decision = shard.check(key, mono_ns);
                    if let Decision::Deny(_) = decision {
                        ringway_ratelimit::write_headers(
                            &limit.name,
                            &decision,
                            &mut out.reject_headers,
                        );
                        return Err(ErrorKind::RateLimited);
                    }
                }
            }
            let now_ms = (req.now_unix_us / 1000).max(0) as u64;
            let mut shards = self.quota_shards.borrow_mut();
            for ((name, quota), shard) in p.quotas.iter().zip(shards[plan].iter_mut()) {
                let decision = shard.check(quota.key(&out.key), now_ms);
                if let Decision::Deny(_) = decision {
                    ringway_ratelimit::write_headers(name, &decision, &mut out.reject_headers);
                    return Err(ErrorKind::QuotaExceeded);
                }
            }
        }
        Ok(())
    }

    /// Fills `out.key` with the bytes a limit counts by.
    fn limit_key(&self, key: &LimitKey, identity: &Identity, req: &Req<'_>, out: &mut PolicyOut) {
        out.key.clear();
        match key {
            LimitKey::Global => {}
            LimitKey::ClientIp => match req.ip {
                IpAddr::V4(v4) => out.key.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.key.extend_from_slice(&v6.octets()),
            },
            LimitKey::Consumer => {
                // API-key consumers and token subjects live in separate key spaces.
                match identity {
                    Identity::Consumer(_) => out.key.push(b'k'),
                    Identity::Jwt(p, _) => out.key.extend_from_slice(&[b'j', *p as u8]),
                    Identity::Anonymous => {}
                }
                out.key.extend_from_slice(&out.client_id);
            }
            LimitKey::Header(name) => {
                if let Some((_, v)) = req
                    .headers()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                {
                    out.key.extend_from_slice(v);
                }
            }
            LimitKey::Claim(claim) => {
                if let Identity::Jwt(_, claims) = identity {
                    if let Some(v) = claims.get_str(claim) {
                        out.key.extend_from_slice(v.as_bytes());
                    }
                }
            }
        }
    }

    fn authenticate(
        &self,
        a: &AuthRt,
        req: &Req<'_>,
        out: &mut PolicyOut,
    ) -> Result<Identity, ErrorKind> {
        let now_secs = (req.now_unix_us / 1_000_000).max(0) as u64;
        if let Some(pi) = a.cfg.jwt {
            let p = &self.rt.providers[pi];
            match p.source.extract(req.headers()) {
                Err(e @ ExtractError::Duplicate) => {
                    self.challenge(a, Some(e.oauth_error()), out);
                    return Err(ErrorKind::BadRequest);
                }
                // Another scheme, or bytes no token has: no usable credential.
                Err(e @ ExtractError::Malformed) => {
                    self.challenge(a, Some(e.oauth_error()), out);
                    return Err(ErrorKind::Unauthorized);
                }
                Ok(None) => {}
                Ok(Some(token)) => {
                    let verified =
                        self.cache
                            .borrow_mut()
                            .get_or_verify(pi, &p.provider, token, now_secs);
                    let claims = match verified {
                        Ok(claims) => claims,
                        Err(e) => {
                            if matches!(e, JwtError::UnknownKid) && p.jwks.is_some() {
                                p.refresh_wanted.store(true, Ordering::Relaxed);
                            }
                            self.challenge(a, Some(e.oauth_error()), out);
                            return Err(ErrorKind::Unauthorized);
                        }
                    };
                    if a.requirement.check(&claims).is_err() {
                        out.reject_headers.extend_from_slice(b"www-authenticate: ");
                        out.reject_headers.extend_from_slice(
                            ringway_auth::www::authenticate(
                                REALM,
                                Some((
                                    "insufficient_scope",
                                    "the token lacks a required scope or claim",
                                )),
                            )
                            .as_bytes(),
                        );
                        out.reject_headers.extend_from_slice(b"\r\n");
                        return Err(ErrorKind::Forbidden);
                    }
                    if let Some(id) = claims.get_str(&p.consumer_claim) {
                        out.client_id.extend_from_slice(id.as_bytes());
                    }
                    for (claim, header) in &a.cfg.forward_claims {
                        if let Some(v) = claims.get_str(claim) {
                            out.append.extend_from_slice(header.as_bytes());
                            out.append.extend_from_slice(b": ");
                            out.append.extend_from_slice(v.as_bytes());
                            out.append.extend_from_slice(b"\r\n");
                        }
                    }
                    return Ok(Identity::Jwt(pi, claims));
                }
            }
        }
        if a.cfg.api_key {
            let mut presented: Option<&[u8]> = None;
            let mut count = 0;
            if let Some(h) = &self.rt.api_header {
                for (_, v) in req
                    .headers()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(h.as_bytes()))
                {
                    count += 1;
                    presented = Some(v);
                }
            }
            if count == 0 {
                if let Some(q) = &self.rt.api_query {
                    for pair in req.query.split(|&b| b == b'&') {
                        if let Some(v) = pair
                            .strip_prefix(q.as_bytes())
                            .and_then(|r| r.strip_prefix(b"="))
                        {
                            count += 1;
                            presented = Some(v);
                        }
                    }
                }
            }
            if count > 1 {
                self.challenge(a, Some(("invalid_request", "more than one API key")), out);
                return Err(ErrorKind::BadRequest);
            }
            if let Some(key) = presented {
                let Some(ci) = self.rt.api_keys.lookup(key) else {
                    self.challenge(a, Some(("invalid_token", "unknown API key")), out);
                    return Err(ErrorKind::Unauthorized);
                };
                let consumer = &self.rt.consumers[ci];
                if !a.cfg.scopes.iter().all(|s| consumer.scopes.contains(s)) {
                    return Err(ErrorKind::Forbidden);
                }
                out.client_id.extend_from_slice(consumer.name.as_bytes());
                return Ok(Identity::Consumer(ci));
            }
        }
        self.challenge(a, None, out);
        Err(ErrorKind::Unauthorized)
    }

    /// `WWW-Authenticate` lines for the credentials the route accepts.
    fn challenge(&self, a: &AuthRt, error: Option<(&str, &str)>, out: &mut PolicyOut) {
        if a.cfg.jwt.is_some() {
            out.reject_headers.extend_from_slice(b"www-authenticate: ");
            out.reject_headers
                .extend_from_slice(ringway_auth::www::authenticate(REALM, error).as_bytes());
            out.reject_headers.extend_from_slice(b"\r\n");
        }
        if a.cfg.api_key {
            out.reject_headers
                .extend_from_slice(b"www-authenticate: ApiKey realm=\"");
            out.reject_headers.extend_from_slice(REALM.as_bytes());
            out.reject_headers.extend_from_slice(b"\"\r\n");
        }
    }

    /// Expires rate-limit leases (returning unused tokens) and publishes this core's gauges.
    pub fn sweep(&self, now: Instant, now_unix_ms: u64) {
        let mono_ns = now.saturating_duration_since(self.rt.epoch).as_nanos() as u64;
        let mut drift = 0;
        let mut leases = 0;
        let mut table_full = 0;
        for shard in self
            .route_shards
            .borrow_mut()
            .iter_mut()
            .flatten()
            .flatten()
        {
            shard.sweep(mono_ns);
            drift += shard.leased_tokens();
            let stats = shard.stats();
            leases += stats.leases;
            table_full += stats.table_full;
        }
        for shard in self.plan_shards.borrow_mut().iter_mut().flatten() {
            shard.sweep(mono_ns);
            drift += shard.leased_tokens();
            let stats = shard.stats();
            leases += stats.leases;
            table_full += stats.table_full;
        }
        for shard in self.quota_shards.borrow_mut().iter_mut().flatten() {
            shard.sweep(now_unix_ms);
            drift += shard.leased_units();
        }
        let g = &self.rt.cores[self.id.min(self.rt.cores.len() - 1)];
        g.drift_tokens.store(drift, Ordering::Relaxed);
        g.leases.store(leases, Ordering::Relaxed);
        g.table_full.store(table_full, Ordering::Relaxed);
    }
}
