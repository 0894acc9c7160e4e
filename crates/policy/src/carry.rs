//! A reload keeps what the running policies learned where the new configuration has the same
//! thing: rate-limit tables (same scope, name, key and rate), quota tables (same plan, window
//! and limit), and the keys fetched from a JWKS URL the new configuration fetches too. Without
//! it, a reload would hand every client a fresh burst and quota, and tokens signed with fetched
//! keys would be refused until the first fetch.

use std::collections::HashMap;
use std::sync::Arc;

use ringway_ratelimit::{Limiter, Quota};

use crate::build::{LimitRt, Policies};

/// What [`Policies::adopt`] kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adopted {
    /// Rate-limit tables (route and plan limits).
    pub limits: usize,
    /// Quota tables.
    pub quotas: usize,
    /// JWT providers whose fetched keys were kept.
    pub key_sets: usize,
}

impl Policies {
    /// Takes over `old`'s shared state where it belongs to the same thing (see the module
    /// documentation). Call before the policies are shared and their refreshers started; the
    /// worker count must be the same (a reload that changes it is refused).
    pub fn adopt(&mut self, old: &Policies) -> Adopted {
        let mut adopted = Adopted::default();
        // Carried limiters count time from the old origin.
        self.epoch = old.epoch;
        let limits: HashMap<(&str, &str), &LimitRt> = old
            .routes
            .iter()
            .flatten()
            .flat_map(|r| &r.limits)
            .chain(old.plans.iter().filter_map(|p| p.limit.as_ref()))
            .map(|l| ((l.scope.as_str(), l.name.as_str()), l))
            .collect();
        let mine = self
            .routes
            .iter_mut()
            .flatten()
            .flat_map(|r| r.limits.iter_mut())
            .chain(self.plans.iter_mut().filter_map(|p| p.limit.as_mut()));
        for limit in mine {
            let Some(before) = limits.get(&(limit.scope.as_str(), limit.name.as_str())) else {
                continue;
            };
            // A fleet-wide limit keeps its host share and the store thread serving it (a
            // reload that changes one is refused: it needs a restart).
            if let (Some(a), Some(b)) = (&before.fleet, &limit.fleet) {
                if a.store == b.store && a.limiter.kind() == b.limiter.kind() {
                    limit.fleet = Some(Arc::clone(a));
                }
            }
            if before.key == limit.key && same_rate(&before.limiter, &limit.limiter) {
                limit.limiter = Arc::clone(&before.limiter);
                adopted.limits += 1;
            }
        }
        let quotas: HashMap<&str, &Arc<Quota>> = old
            .plans
            .iter()
            .flat_map(|p| &p.quotas)
            .map(|(name, q)| (name.as_str(), q))
            .collect();
        for (name, quota) in self.plans.iter_mut().flat_map(|p| p.quotas.iter_mut()) {
            if let Some(before) = quotas
                .get(name.as_str())
                .filter(|q| q.spec() == quota.spec())
            {
                *quota = Arc::clone(before);
                adopted.quotas += 1;
            }
        }
        for p in &self.providers {
            let Some(url) = p.jwks.as_ref().map(|j| &j.url) else {
                continue;
            };
            let before = old
                .providers
                .iter()
                .find(|o| o.name == p.name && o.jwks.as_ref().is_some_and(|j| &j.url == url));
            if let Some(before) = before {
                // The new static keys stay; the fetched ones join them until the next fetch
                // replaces the set.
                let mut keys = before.provider.keys();
                keys.merge(p.provider.keys());
                p.provider.update_keys(keys);
                adopted.key_sets += 1;
            }
        }
        adopted
    }
}

fn same_rate(a: &Limiter, b: &Limiter) -> bool {
    a.rate() == b.rate()
}
