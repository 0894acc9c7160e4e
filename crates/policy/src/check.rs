//! [`CorePolicy`]: one core's policy state and the per-request check.

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringway_auth::jwt::{ExtractError, JwtError, TokenCache};
use ringway_config::model::LimitKey;
use ringway_core::HeaderFields;
use ringway_ratelimit::{Decision, QuotaShard, Shard};

use crate::build::{AuthRt, LimitRt, Policies};
use crate::fleet::FleetRt;
use crate::refusal::{Challenge, OAuthError, Refusal, RefusalKind};
use crate::{Identity, Request, RouteId};

/// Verified tokens cached per core.
const TOKEN_CACHE_ENTRIES: usize = 4096;

/// Why a token that verified was still refused.
const INSUFFICIENT_SCOPE: OAuthError = (
    "insufficient_scope",
    "the token lacks a required scope or claim",
);

/// One core's policy state: its verified-token cache and rate-limit shards. Used from its own
/// core only, never across an `.await`.
pub struct CorePolicy {
    rt: Arc<Policies>,
    id: usize,
    cache: RefCell<TokenCache>,
    /// `[listener][route][rule]`.
    route_shards: RefCell<Vec<Vec<Vec<Shard>>>>,
    /// `[plan]`.
    plan_shards: RefCell<Vec<Option<Shard>>>,
    /// `[plan][quota]`.
    quota_shards: RefCell<Vec<Vec<QuotaShard>>>,
    /// Scratch for the bytes a limit counts by.
    key: RefCell<Vec<u8>>,
}

impl std::fmt::Debug for CorePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorePolicy")
            .field("core", &self.id)
            .finish_non_exhaustive()
    }
}

impl CorePolicy {
    pub(crate) fn new(rt: Arc<Policies>, id: usize) -> Self {
        let shard = |l: &LimitRt| Shard::new(Arc::clone(&l.limiter));
        let route_shards = rt
            .routes
            .iter()
            .map(|l| {
                l.iter()
                    .map(|r| r.limits.iter().map(shard).collect())
                    .collect()
            })
            .collect();
        let plan_shards = rt
            .plans
            .iter()
            .map(|p| p.limit.as_ref().map(shard))
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
            key: RefCell::new(Vec::with_capacity(64)),
            id,
            rt,
        }
    }

    /// The shared policies this core's state belongs to.
    pub fn policies(&self) -> &Arc<Policies> {
        &self.rt
    }

    /// Applies the route's IP filter, authentication, authorization, rate limits, and the
    /// plan's limit and quotas, in that order. The first refusal ends the check.
    #[expect(
        clippy::result_large_err,
        reason = "a refusal is returned by value: a flood of refused requests allocates nothing"
    )]
    pub fn check<H: HeaderFields + ?Sized>(
        &self,
        route: RouteId,
        req: &Request<'_, H>,
    ) -> Result<Identity, Refusal<'_>> {
        let r = &self.rt.routes[route.listener][route.route];
        if r.ip.as_ref().is_some_and(|ip| !ip.permits(req.client_ip)) {
            match r.ip_shadow {
                Some(i) => self.rt.count_shadow(i),
                None => return Err(Refusal::new(RefusalKind::IpDenied)),
            }
        }
        if let Some(rule) = &r.client_cert {
            let admitted = req
                .client_cert
                .is_some_and(|c| c.admitted_by(&rule.subjects, &rule.sans));
            if !admitted {
                return Err(Refusal::new(RefusalKind::Forbidden));
            }
        }
        let identity = match &r.auth {
            Some(a) => self.authenticate(a, req)?,
            None => Identity::Anonymous,
        };
        let mono_ns = req.now.saturating_duration_since(self.rt.epoch).as_nanos() as u64;
        let now_ms = (req.now_unix_us / 1000).max(0) as u64;
        let mut key = self.key.borrow_mut();
        {
            let mut shards = self.route_shards.borrow_mut();
            let shards = &mut shards[route.listener][route.route];
            for (limit, shard) in r.limits.iter().zip(shards.iter_mut()) {
                let global = limit.key == LimitKey::Global;
                if !global {
                    self.limit_key(&limit.key, &identity, req, &mut key);
                }
                let fleet = limit.fleet.as_deref();
                // The local table's hash only when the local table decides.
                let decided = fleet_or_local(fleet, &key, global, (mono_ns, now_ms), || {
                    let k = if global {
                        limit.limiter.key_global()
                    } else {
                        limit.limiter.key(&key)
                    };
                    shard.check(k, mono_ns)
                });
                let Ok(decision) = decided else {
                    if let Some(i) = limit.shadow {
                        self.rt.count_shadow(i);
                        continue;
                    }
                    return Err(Refusal::new(RefusalKind::StoreDown).of(identity));
                };
                if let Decision::Deny(_) = decision {
                    if let Some(i) = limit.shadow {
                        self.rt.count_shadow(i);
                        continue;
                    }
                    let refusal = Refusal::limited(RefusalKind::RateLimited, &limit.name, decision);
                    return Err(refusal.of(identity));
                }
            }
        }
        let plan = match &identity {
            Identity::Anonymous => None,
            Identity::Consumer(c) => self.rt.consumers[*c].plan,
            Identity::Token { provider, .. } => self.rt.providers[*provider].plan,
        };
        let Some(plan) = plan else {
            return Ok(identity);
        };
        let p = &self.rt.plans[plan];
        self.limit_key(&LimitKey::Consumer, &identity, req, &mut key);
        if let Some(limit) = &p.limit {
            let mut shards = self.plan_shards.borrow_mut();
            if let Some(shard) = shards[plan].as_mut() {
                let fleet = limit.fleet.as_deref();
                let decided = fleet_or_local(fleet, &key, false, (mono_ns, now_ms), || {
                    shard.check(limit.limiter.key(&key), mono_ns)
                });
                let Ok(decision) = decided else {
                    return Err(Refusal::new(RefusalKind::StoreDown).of(identity));
                };
                if let Decision::Deny(_) = decision {
                    let refusal = Refusal::limited(RefusalKind::RateLimited, &limit.name, decision);
                    return Err(refusal.of(identity));
                }
            }
        }
        let mut shards = self.quota_shards.borrow_mut();
        for (i, ((name, quota), shard)) in p.quotas.iter().zip(shards[plan].iter_mut()).enumerate()
        {
            let fleet = p.fleet_quotas.get(i).map(|f| &**f);
            let decided = fleet_or_local(fleet, &key, false, (mono_ns, now_ms), || {
                shard.check(quota.key(&key), now_ms)
            });
            let Ok(decision) = decided else {
                return Err(Refusal::new(RefusalKind::StoreDown).of(identity));
            };
            if let Decision::Deny(_) = decision {
                let refusal = Refusal::limited(RefusalKind::QuotaExceeded, name, decision);
                return Err(refusal.of(identity));
            }
        }
        Ok(identity)
    }

    /// The name the client goes by (telemetry's `client_id`): the API-key consumer's name, or
    /// the token's consumer claim.
    pub fn client_id<'a>(&'a self, identity: &'a Identity) -> Option<Cow<'a, str>> {
        match identity {
            Identity::Anonymous => None,
            Identity::Consumer(c) => Some(Cow::Borrowed(self.rt.consumers[*c].name.as_str())),
            Identity::Token { provider, claims } => {
                claims.get_str(&self.rt.providers[*provider].consumer_claim)
            }
        }
    }

    /// Appends the header lines (`name: value\r\n`) of the claims the route forwards.
    pub fn write_forwarded_claims(&self, route: RouteId, identity: &Identity, out: &mut Vec<u8>) {
        let Identity::Token { claims, .. } = identity else {
            return;
        };
        let Some(a) = &self.rt.routes[route.listener][route.route].auth else {
            return;
        };
        for (claim, header) in &a.cfg.forward_claims {
            if let Some(v) = claims.get_str(claim) {
                out.extend_from_slice(header.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Fills `key` with the bytes a limit counts by.
    fn limit_key<H: HeaderFields + ?Sized>(
        &self,
        limit: &LimitKey,
        identity: &Identity,
        req: &Request<'_, H>,
        key: &mut Vec<u8>,
    ) {
        key.clear();
        match limit {
            LimitKey::Global => {}
            LimitKey::ClientIp => match req.client_ip {
                IpAddr::V4(v4) => key.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => key.extend_from_slice(&v6.octets()),
            },
            LimitKey::Consumer => {
                // API-key consumers and token subjects live in separate key spaces.
                match identity {
                    Identity::Consumer(_) => key.push(b'k'),
                    Identity::Token { provider, .. } => {
                        key.extend_from_slice(&[b'j', *provider as u8])
                    }
                    Identity::Anonymous => {}
                }
                if let Some(id) = self.client_id(identity) {
                    key.extend_from_slice(id.as_bytes());
                }
            }
            LimitKey::Header(name) => {
                if let Some(v) = req.headers.first(name.as_bytes()) {
                    key.extend_from_slice(v);
                }
            }
            LimitKey::Claim(claim) => {
                if let Identity::Token { claims, .. } = identity {
                    if let Some(v) = claims.get_str(claim) {
                        key.extend_from_slice(v.as_bytes());
                    }
                }
            }
        }
    }

    #[expect(
        clippy::result_large_err,
        reason = "a refusal is returned by value: a flood of refused requests allocates nothing"
    )]
    fn authenticate<H: HeaderFields + ?Sized>(
        &self,
        a: &AuthRt,
        req: &Request<'_, H>,
    ) -> Result<Identity, Refusal<'static>> {
        let challenge = |error: Option<OAuthError>| Challenge {
            bearer: a.cfg.jwt.map(|_| error),
            api_key: a.cfg.api_key,
        };
        let now_secs = (req.now_unix_us / 1_000_000).max(0) as u64;
        if let Some(pi) = a.cfg.jwt {
            let p = &self.rt.providers[pi];
            match p.source.extract(req.headers.fields()) {
                Err(e @ ExtractError::Duplicate) => {
                    let c = challenge(Some(e.oauth_error()));
                    return Err(Refusal::challenged(RefusalKind::Ambiguous, c));
                }
                // Another scheme, or bytes no token has: no usable credential.
                Err(e @ ExtractError::Malformed) => {
                    let c = challenge(Some(e.oauth_error()));
                    return Err(Refusal::challenged(RefusalKind::Unauthenticated, c));
                }
                Ok(None) => {}
                Ok(Some(token)) => {
                    let verified =
                        self.cache
                            .borrow_mut()
                            .get_or_verify(pi, &p.provider, token, now_secs);
                    let claims = verified.map_err(|e| {
                        if matches!(e, JwtError::UnknownKid) && p.jwks.is_some() {
                            p.refresh_wanted.store(true, Ordering::Relaxed);
                        }
                        let c = challenge(Some(e.oauth_error()));
                        Refusal::challenged(RefusalKind::Unauthenticated, c)
                    })?;
                    if a.requirement.check(&claims).is_err() {
                        let c = Challenge {
                            bearer: Some(Some(INSUFFICIENT_SCOPE)),
                            api_key: false,
                        };
                        return Err(Refusal::challenged(RefusalKind::Forbidden, c));
                    }
                    return Ok(Identity::Token {
                        provider: pi,
                        claims,
                    });
                }
            }
        }
        if a.cfg.api_key {
            let mut presented: Option<&[u8]> = None;
            let mut count = 0;
            if let Some(h) = &self.rt.api_header {
                for v in req.headers.values(h.as_bytes()) {
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
                let c = challenge(Some(("invalid_request", "more than one API key")));
                return Err(Refusal::challenged(RefusalKind::Ambiguous, c));
            }
            if let Some(key) = presented {
                let Some(ci) = self.rt.api_keys.lookup(key) else {
                    let c = challenge(Some(("invalid_token", "unknown API key")));
                    return Err(Refusal::challenged(RefusalKind::Unauthenticated, c));
                };
                let consumer = &self.rt.consumers[ci];
                if !a.cfg.scopes.iter().all(|s| consumer.scopes.contains(s)) {
                    return Err(Refusal::new(RefusalKind::Forbidden));
                }
                return Ok(Identity::Consumer(ci));
            }
        }
        Err(Refusal::challenged(
            RefusalKind::Unauthenticated,
            challenge(None),
        ))
    }

    /// Expires rate-limit leases (returning unused tokens to the shared tables) and publishes
    /// this core's gauges. Called every few ms off the request path.
    pub fn sweep(&self, now: Instant, now_unix_ms: u64) {
        let mono_ns = now.saturating_duration_since(self.rt.epoch).as_nanos() as u64;
        let mut drift = 0;
        let mut leases = 0;
        let mut table_full = 0;
        let mut route_shards = self.route_shards.borrow_mut();
        let mut plan_shards = self.plan_shards.borrow_mut();
        let rates = route_shards
            .iter_mut()
            .flatten()
            .flatten()
            .chain(plan_shards.iter_mut().flatten());
        for shard in rates {
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

/// A fleet-wide limit's store is down and the limit refuses meanwhile.
struct StoreDown;

/// The decision of a limit: its fleet-wide share's when it has one (by the bytes of `key`, or
/// its global key), else — or while the store is down with `on_failure: allow` — `local`'s.
fn fleet_or_local(
    fleet: Option<&FleetRt>,
    key: &[u8],
    global: bool,
    (mono_ns, now_ms): (u64, u64),
    local: impl FnOnce() -> Decision,
) -> Result<Decision, StoreDown> {
    let Some(fleet) = fleet else {
        return Ok(local());
    };
    let k = if global {
        fleet.limiter.key_global()
    } else {
        fleet.limiter.key(key)
    };
    match fleet.check(k, mono_ns, now_ms) {
        Some(d) => Ok(d),
        None if fleet.denies_when_down() => Err(StoreDown),
        // Each gateway counts alone at the fallback rate.
        None => Ok(local()),
    }
}
