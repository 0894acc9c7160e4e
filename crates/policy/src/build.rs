//! [`Policies`]: the compiled configuration's policies with their shared state (key sets,
//! API-key table, rate-limit tables), built once and shared by every core.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_auth::apikey::ApiKeys;
use ringway_auth::ip::{IpFilter, TrustedProxies};
use ringway_auth::jwt::{KeySet, Provider, ProviderSettings, Requirement, TokenSource};
use ringway_config::model::{
    self, ClientCertRule, Config, LimitKey, LimitStore, RouteAuth, StoreFailure,
};
use ringway_config::ConfigErrors;
use ringway_ratelimit::{FleetKind, Limiter, LimiterOptions, Quota, QuotaSpec};

use crate::fleet::FleetRt;

use crate::keys::{KeyMaterial, ProviderKeys};
use crate::{CorePolicy, RouteId};

/// Keys per rate-limit table.
const LIMIT_TABLE_KEYS: usize = 65536;
/// How long a core keeps a key's unused leased tokens.
const LEASE_TTL: Duration = Duration::from_millis(20);

/// A rate limit of a route, or a plan's.
pub(crate) struct LimitRt {
    /// Where it applies: `listener/route`, or `plan:<name>` (a reload keeps its table when
    /// the same scope has the same limit).
    pub(crate) scope: String,
    pub(crate) name: String,
    pub(crate) key: LimitKey,
    /// The host's table; for a fleet-wide limit, the fallback each gateway applies alone
    /// while the store is down (at the fleet rate when it refuses then: unused).
    pub(crate) limiter: Arc<Limiter>,
    /// In shadow mode: the index of its counter in [`Policies::shadow`].
    pub(crate) shadow: Option<usize>,
    /// A fleet-wide limit's host share and store.
    pub(crate) fleet: Option<Arc<FleetRt>>,
}

/// A rule in shadow mode: what it would have refused, counted instead.
#[derive(Debug)]
pub(crate) struct ShadowRule {
    /// The route (`listener/route`), or `-` for the global IP filter.
    pub(crate) route: String,
    /// The rule: a rate limit's name, or `ip_filter`.
    pub(crate) rule: String,
    pub(crate) refusals: AtomicU64,
}

/// The policies of one route.
#[derive(Default)]
pub(crate) struct RouteRt {
    pub(crate) ip: Option<IpFilter>,
    /// The route's IP filter in shadow mode: its counter.
    pub(crate) ip_shadow: Option<usize>,
    pub(crate) auth: Option<AuthRt>,
    pub(crate) limits: Vec<LimitRt>,
    /// The client certificate the route requires.
    pub(crate) client_cert: Option<ClientCertRule>,
}

/// A route's credential requirements.
pub(crate) struct AuthRt {
    pub(crate) cfg: RouteAuth,
    pub(crate) requirement: Requirement,
    /// Header names removed from the forwarded request: forwarded-claim headers (a client must
    /// not supply them) and, when stripping, the credential headers.
    pub(crate) remove: Vec<String>,
}

/// A JWT provider with where its tokens come from.
pub(crate) struct ProviderRt {
    pub(crate) name: String,
    pub(crate) provider: Arc<Provider>,
    pub(crate) source: TokenSource,
    pub(crate) consumer_claim: String,
    pub(crate) plan: Option<usize>,
    /// Set by a core that saw an unknown `kid`; the refresher fetches early.
    pub(crate) refresh_wanted: AtomicBool,
    pub(crate) jwks: Option<Arc<JwksRt>>,
}

/// A provider's JWKS URL and the numbers its refresher publishes.
pub(crate) struct JwksRt {
    pub(crate) url: String,
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) refresh: Duration,
    pub(crate) min_refresh: Duration,
    /// Static keys (PEM, JWKS file, HMAC secret) merged with every fetched set.
    pub(crate) base: KeySet,
    pub(crate) age_secs: AtomicU64,
    pub(crate) fetch_errors: AtomicU64,
}

/// A consumer (API-key holder).
pub(crate) struct ConsumerRt {
    pub(crate) name: String,
    pub(crate) plan: Option<usize>,
    pub(crate) scopes: Vec<String>,
}

/// A plan's limits.
pub(crate) struct PlanRt {
    pub(crate) limit: Option<LimitRt>,
    /// `(name, quota)`, the name being `<plan>-<window>`.
    pub(crate) quotas: Vec<(String, Arc<Quota>)>,
    /// With a store: each quota's host share (in `quotas`' order). The local quotas then
    /// count only while the store is down (`on_failure: allow`).
    pub(crate) fleet_quotas: Vec<Arc<FleetRt>>,
}

/// Per-core numbers published by [`CorePolicy::sweep`] for `/metrics`.
#[derive(Default)]
pub(crate) struct CoreGauges {
    pub(crate) drift_tokens: AtomicU64,
    pub(crate) leases: AtomicU64,
    pub(crate) table_full: AtomicU64,
}

/// The policies of a configuration, shared by every core.
pub struct Policies {
    /// Monotonic origin of the rate-limit clocks, the same for every core.
    pub(crate) epoch: Instant,
    pub(crate) trusted: Option<TrustedProxies>,
    pub(crate) global_ip: Option<IpFilter>,
    pub(crate) global_ip_shadow: Option<usize>,
    /// The rules in shadow mode.
    pub(crate) shadow: Vec<ShadowRule>,
    /// `[listener][route]`.
    pub(crate) routes: Vec<Vec<RouteRt>>,
    pub(crate) providers: Vec<ProviderRt>,
    pub(crate) api_keys: ApiKeys,
    pub(crate) api_header: Option<String>,
    pub(crate) api_query: Option<String>,
    pub(crate) consumers: Vec<ConsumerRt>,
    pub(crate) plans: Vec<PlanRt>,
    pub(crate) cores: Vec<CoreGauges>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("providers", &self.providers.len())
            .field("consumers", &self.consumers.len())
            .field("plans", &self.plans.len())
            .finish_non_exhaustive()
    }
}

/// A filter worth checking: `None` when it permits everyone.
fn filter(f: &IpFilter) -> Option<IpFilter> {
    (!f.is_open()).then(|| f.clone())
}

impl Policies {
    /// Builds the policies of `cfg` for `workers` cores from key material already loaded:
    /// providers, the API-key table, rate-limit and quota tables. Nothing is read here. A
    /// value that cannot be built is an error with the path of its setting.
    pub fn new(cfg: &Config, keys: KeyMaterial, workers: usize) -> Result<Self, ConfigErrors> {
        let workers = workers.max(1);
        let mut errors = ConfigErrors::default();
        let p = &cfg.policies;
        let opts = LimiterOptions {
            capacity: LIMIT_TABLE_KEYS,
            workers,
            lease_ttl: LEASE_TTL,
        };
        if keys.providers.len() != p.jwt_providers.len() {
            errors.push(
                "auth.jwt_providers",
                "key material was loaded for another configuration",
            );
            return Err(errors);
        }

        let plans = p.plans.iter().map(|plan| plan_rt(plan, opts)).collect();
        let providers: Vec<ProviderRt> = p
            .jwt_providers
            .iter()
            .zip(keys.providers)
            .filter_map(|(jp, keys)| provider_rt(jp, keys, &mut errors))
            .collect();
        let api_keys = ApiKeys::from_digests(
            p.consumers
                .iter()
                .enumerate()
                .flat_map(|(i, c)| c.api_keys.iter().map(move |&k| (k, i))),
        )
        .map_err(|bad| {
            for (_, message) in bad {
                errors.push("auth.consumers", message);
            }
        });
        let mut shadow: Vec<ShadowRule> = Vec::new();
        let mut shadow_rule = |on: bool, route: &str, rule: &str| {
            on.then(|| {
                shadow.push(ShadowRule {
                    route: route.to_owned(),
                    rule: rule.to_owned(),
                    refusals: AtomicU64::new(0),
                });
                shadow.len() - 1
            })
        };
        let global_ip_shadow = shadow_rule(
            p.ip_filter_shadow && filter(&p.ip_filter).is_some(),
            "-",
            "ip_filter",
        );
        let routes = cfg
            .listeners
            .iter()
            .map(|l| {
                l.routes
                    .iter()
                    .map(|r| {
                        let route = format!("{}/{}", l.name, r.name);
                        let ip = filter(&r.ip_filter);
                        RouteRt {
                            ip_shadow: shadow_rule(
                                r.ip_filter_shadow && ip.is_some(),
                                &route,
                                "ip_filter",
                            ),
                            ip,
                            auth: r.auth.as_ref().map(|a| auth_rt(a, p, &providers)),
                            client_cert: r.client_cert.clone(),
                            limits: r
                                .rate_limits
                                .iter()
                                .map(|rule| LimitRt {
                                    scope: route.clone(),
                                    name: rule.name.clone(),
                                    key: rule.key.clone(),
                                    limiter: Limiter::new(
                                        match rule.store.as_ref().map(|s| s.on_failure) {
                                            Some(StoreFailure::Allow(fallback)) => fallback,
                                            _ => rule.rate,
                                        },
                                        opts,
                                    ),
                                    shadow: shadow_rule(rule.shadow, &route, &rule.name),
                                    fleet: rule.store.as_ref().map(|store| {
                                        // Scoped: limits of other routes may share the name.
                                        let name = format!("{route}/{}", rule.name);
                                        Arc::new(FleetRt::new(
                                            &name,
                                            FleetKind::Rate(rule.rate),
                                            store.clone(),
                                        ))
                                    }),
                                })
                                .collect(),
                        }
                    })
                    .collect()
            })
            .collect();
        let api_keys = match api_keys {
            Ok(keys) if errors.is_empty() => keys,
            _ => return Err(errors),
        };
        Ok(Self {
            epoch: Instant::now(),
            trusted: (!p.trusted_proxies.0.is_empty()).then(|| p.trusted_proxies.clone()),
            global_ip: filter(&p.ip_filter),
            global_ip_shadow,
            shadow,
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

    /// Core `id`'s own state (its token cache and rate-limit shards).
    pub fn core(self: &Arc<Self>, id: usize) -> CorePolicy {
        CorePolicy::new(Arc::clone(self), id)
    }

    /// The client address: the TCP peer, or the first untrusted `X-Forwarded-For` hop when
    /// the peer is a trusted proxy. `forwarded_for` yields the field values in order and is
    /// only read in that case.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a [u8]>,
    ) -> IpAddr {
        match &self.trusted {
            Some(trusted) if trusted.is_trusted(peer) => {
                trusted.client_ip(peer, &mut { forwarded_for })
            }
            _ => peer,
        }
    }

    /// Whether the global IP filter refuses this client (checked before routing). In shadow
    /// mode it never does: a client it would refuse is counted.
    pub fn global_denies(&self, ip: IpAddr) -> bool {
        let denies = self.global_ip.as_ref().is_some_and(|f| !f.permits(ip));
        match self.global_ip_shadow {
            Some(i) if denies => {
                self.count_shadow(i);
                false
            }
            _ => denies,
        }
    }

    /// Counts a refusal a rule in shadow mode did not make.
    pub(crate) fn count_shadow(&self, rule: usize) {
        if let Some(r) = self.shadow.get(rule) {
            r.refusals.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the route has any policy ([`CorePolicy::check`] can be skipped otherwise).
    pub fn route_has_policy(&self, route: RouteId) -> bool {
        let r = &self.routes[route.listener][route.route];
        r.ip.is_some() || r.auth.is_some() || !r.limits.is_empty() || r.client_cert.is_some()
    }

    /// Header names to remove from the forwarded request of this route.
    pub fn removed_headers(&self, route: RouteId) -> &[String] {
        self.routes[route.listener][route.route]
            .auth
            .as_ref()
            .map_or(&[], |a| a.remove.as_slice())
    }
}

fn plan_rt(plan: &model::Plan, opts: LimiterOptions) -> PlanRt {
    let fleet = |name: String, kind: FleetKind, store: &LimitStore| {
        Arc::new(FleetRt::new(&name, kind, store.clone()))
    };
    PlanRt {
        limit: plan.rate_limit.map(|rate| LimitRt {
            scope: format!("plan:{}", plan.name),
            name: plan.name.clone(),
            key: LimitKey::Consumer,
            limiter: Limiter::new(
                match plan.store.as_ref().map(|s| s.on_failure) {
                    Some(StoreFailure::Allow(fallback)) => fallback,
                    _ => rate,
                },
                opts,
            ),
            shadow: None,
            fleet: plan
                .store
                .as_ref()
                .map(|s| fleet(format!("plan:{}", plan.name), FleetKind::Rate(rate), s)),
        }),
        fleet_quotas: match &plan.store {
            None => Vec::new(),
            Some(s) => plan
                .quotas
                .iter()
                .map(|q| {
                    let spec = QuotaSpec {
                        limit: q.requests,
                        window: q.window,
                    };
                    let name = format!("plan:{}:{}s", plan.name, q.window.secs());
                    fleet(name, FleetKind::Quota(spec), s)
                })
                .collect(),
        },
        quotas: plan
            .quotas
            .iter()
            .map(|q| {
                let label = match q.window {
                    model::QuotaWindow::Minute => "minute",
                    model::QuotaWindow::Hour => "hour",
                    model::QuotaWindow::Day => "day",
                };
                let spec = QuotaSpec {
                    limit: q.requests,
                    window: q.window,
                };
                (format!("{}-{label}", plan.name), Quota::new(spec, opts))
            })
            .collect(),
    }
}

fn provider_rt(
    jp: &model::JwtProvider,
    keys: ProviderKeys,
    errors: &mut ConfigErrors,
) -> Option<ProviderRt> {
    let settings = ProviderSettings {
        name: jp.name.clone(),
        issuer: jp.issuer.clone(),
        audiences: jp.audiences.clone(),
        algorithms: jp.algorithms.clone(),
        leeway: jp.leeway,
        max_token_bytes: jp.max_token_bytes,
    };
    let jwks = jp.keys.jwks_url.as_ref().map(|url| {
        Arc::new(JwksRt {
            url: url.clone(),
            ca_pem: keys.jwks_ca_pem.clone(),
            refresh: jp.keys.refresh,
            min_refresh: jp.keys.min_refresh,
            base: keys.keys.clone(),
            age_secs: AtomicU64::new(0),
            fetch_errors: AtomicU64::new(0),
        })
    });
    let provider = Provider::new(settings, keys.keys)
        .map_err(|e| errors.push(format!("auth.jwt_providers.{}", jp.name), e.to_string()))
        .ok()?;
    Some(ProviderRt {
        name: jp.name.clone(),
        provider: Arc::new(provider),
        source: jp.token.clone(),
        consumer_claim: jp.consumer_claim.clone(),
        plan: jp.plan,
        refresh_wanted: AtomicBool::new(false),
        jwks,
    })
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
