//! A core's side of a rate limit: [`Shard`], with per-key leased tokens and cached denials.

use std::sync::Arc;

use crate::gcra::{Grant, Limiter};
use crate::key::nonzero;
use crate::local::{Entry, LocalMap};
use crate::{Decision, ShardStats};

/// A key's state on one core.
#[derive(Clone, Copy, Default, Debug)]
struct RateEntry {
    /// Leased tokens not used yet.
    tokens: u32,
    /// The key is on the local-only fallback path (the shared table had no slot for it).
    local_only: bool,
    /// Leased tokens are usable until then (a lease TTL after their last use); on the fallback
    /// path, when to retry the table.
    expires: u64,
    /// The shared state had no token; none until then.
    denied_until: u64,
    /// The key's TAT as last seen in the shared state (the local TAT on the fallback path).
    tat: u64,
    /// Last access.
    last: u64,
}

impl Entry for RateEntry {
    fn last(&self) -> u64 {
        self.last
    }
    fn live(&self, now: u64) -> bool {
        self.tokens > 0 || self.denied_until > now || (self.local_only && self.tat > now)
    }
}

/// One core's view of a [`Limiter`]: owned by the core's event loop (`&mut self`, no locking).
///
/// A request with a locally leased token is admitted without touching shared memory. Without
/// one, the shard leases up to [`Limiter::lease_size`] tokens from the shared GCRA in one CAS; if
/// none is available it caches the denial until the next token is due, so denied requests do not
/// touch the shared cache line either.
pub struct Shard {
    lim: Arc<Limiter>,
    map: LocalMap<RateEntry>,
    /// Counters; `leased_tokens` is kept current, `keys` is filled in by [`Shard::stats`].
    stats: ShardStats,
}

impl Shard {
    /// A shard whose local map holds up to the limiter's capacity in keys.
    pub fn new(limiter: Arc<Limiter>) -> Shard {
        let cap = limiter.local_capacity();
        Shard::with_capacity(limiter, cap)
    }

    /// A shard whose local map holds at most `local_capacity` keys (at least 4). When it is
    /// full, keys holding nothing are dropped, then the least recently used quarter is evicted,
    /// their unused tokens returned first.
    pub fn with_capacity(limiter: Arc<Limiter>, local_capacity: usize) -> Shard {
        Shard {
            lim: limiter,
            map: LocalMap::new(local_capacity),
            stats: ShardStats::default(),
        }
    }

    /// The limiter this shard draws from.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.lim
    }

    /// Decides one request of `key` (from [`Limiter::key`]; 0 is taken as 1) at `now_ns`
    /// (monotonic ns from an epoch shared by all shards).
    #[inline]
    pub fn check(&mut self, key: u64, now_ns: u64) -> Decision {
        let now = now_ns;
        let key = nonzero(key);
        let Shard { lim, map, stats } = self;
        let lim: &Limiter = lim;
        let e = map.get_or_insert(key, now, |k, old| {
            stats.evictions += 1;
            give_back(lim, k, old, now, stats);
        });
        e.last = now;
        if !e.local_only {
            if e.tokens > 0 {
                if now < e.expires {
                    e.tokens -= 1;
                    e.expires = now.saturating_add(lim.ttl);
                    stats.leased_tokens -= 1;
                    stats.allowed += 1;
                    let remaining = u64::from(e.tokens) + lim.available(e.tat, now);
                    return Decision::Allow(lim.status(remaining, e.tat, now, 0));
                }
            } else if now < e.denied_until {
                stats.denied += 1;
                return Decision::Deny(lim.status(0, e.tat, now, e.denied_until - now));
            }
        } else if now < e.expires {
            return check_local(lim, e, now, stats);
        }
        exchange(lim, key, e, now, stats)
    }

    /// Returns the unused tokens of every key not used on this core for a lease TTL. Call it
    /// periodically (every ~10 ms). It costs nothing while the shard holds no tokens, and
    /// otherwise scans the local map (a few ns per key).
    pub fn sweep(&mut self, now_ns: u64) {
        if self.stats.leased_tokens == 0 {
            return;
        }
        let Shard { lim, map, stats } = self;
        for (&key, e) in map.iter_mut() {
            if e.tokens > 0 && now_ns >= e.expires {
                if let Some(g) = give_back(lim, key, e, now_ns, stats) {
                    e.tat = g.tat;
                }
                e.tokens = 0;
            }
        }
    }

    /// Tokens leased from the shared state and not used yet (the drift of this core: admitted
    /// by the shared state, not yet by a request). At most keys × lease size; back to 0 one
    /// lease TTL after the keys go quiet on this core, once swept.
    pub fn leased_tokens(&self) -> u64 {
        self.stats.leased_tokens
    }

    /// Counters since the shard was made, and the tokens and keys it holds now.
    pub fn stats(&self) -> ShardStats {
        ShardStats {
            keys: self.map.len() as u64,
            ..self.stats
        }
    }

    /// Most keys the local map holds.
    pub fn local_capacity(&self) -> usize {
        self.map.max_entries()
    }
}

/// Returns an entry's unused tokens to the shared state (the entry is being swept or evicted).
fn give_back(
    lim: &Limiter,
    key: u64,
    e: &RateEntry,
    now: u64,
    stats: &mut ShardStats,
) -> Option<Grant> {
    if e.tokens == 0 {
        return None;
    }
    let ret = u64::from(e.tokens);
    stats.leased_tokens -= ret;
    stats.returns += 1;
    stats.returned += ret;
    lim.exchange(key, now, ret, 0, 0)
}

/// The slow path: one CAS on the shared slot that returns expired tokens, if any, and leases
/// new ones.
#[inline(never)]
fn exchange(
    lim: &Limiter,
    key: u64,
    e: &mut RateEntry,
    now: u64,
    stats: &mut ShardStats,
) -> Decision {
    let ret = u64::from(e.tokens);
    let carry = if e.local_only { e.tat } else { 0 };
    let Some(g) = lim.exchange(key, now, ret, lim.lease, carry) else {
        // No usable slot: the inexact path. A key that was absent holds no state in the table,
        // so the returned tokens had nothing to credit.
        stats.table_full += 1;
        stats.leased_tokens -= ret;
        stats.returned += ret;
        e.tokens = 0;
        if !e.local_only {
            e.local_only = true;
            e.tat = 0;
        }
        e.expires = now.saturating_add(lim.ttl);
        e.denied_until = 0;
        return check_local(lim, e, now, stats);
    };
    e.local_only = false;
    if ret > 0 {
        stats.leased_tokens -= ret;
        stats.returns += 1;
        stats.returned += ret;
    }
    e.tat = g.tat;
    if g.granted > 0 {
        stats.leases += 1;
        stats.leased += g.granted;
        stats.allowed += 1;
        e.tokens = (g.granted - 1) as u32;
        stats.leased_tokens += g.granted - 1;
        e.expires = now.saturating_add(lim.ttl);
        e.denied_until = 0;
        let remaining = u64::from(e.tokens) + lim.available(g.tat, now);
        Decision::Allow(lim.status(remaining, g.tat, now, 0))
    } else {
        stats.denied += 1;
        e.tokens = 0;
        e.denied_until = lim.next_token(g.tat, now);
        Decision::Deny(lim.status(0, g.tat, now, e.denied_until - now))
    }
}

/// The fallback path: a GCRA of the full rate kept on this core alone.
fn check_local(lim: &Limiter, e: &mut RateEntry, now: u64, stats: &mut ShardStats) -> Decision {
    stats.local += 1;
    if lim.available(e.tat, now) > 0 {
        e.tat = e.tat.max(now) + lim.t;
        stats.allowed += 1;
        Decision::Allow(lim.status(lim.available(e.tat, now), e.tat, now, 0))
    } else {
        stats.denied += 1;
        let next = lim.next_token(e.tat, now);
        Decision::Deny(lim.status(0, e.tat, now, next - now))
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("limiter", &self.lim)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LimiterOptions, Rate};

    const S: u64 = 1_000_000_000;

    #[test]
    fn duplicate_slots_merge_their_debt() {
        // 1/s, burst 10. Two cores inserted key 77 at once into two slots: debts of 3 and 4
        // tokens. The inserters' merge leaves 7 tokens of debt: 3 left, 2 after this one.
        let lim = Limiter::new(Rate::per_second(1, 10), LimiterOptions::default());
        let k = 77;
        lim.table.store_raw(k, 0, k, 3 * S);
        lim.table.store_raw(k, 2, k, 4 * S);
        assert_eq!(lim.table.copies(k), 2);
        lim.table.normalize(k, 0);
        let mut shard = Shard::new(lim.clone());
        let d = shard.check(k, 0);
        assert_eq!((d.is_allow(), d.status().remaining), (true, 2));
        assert_eq!(lim.table.copies(k), 1);
        assert_eq!(lim.table.peek(k), Some(8 * S));
    }

    #[test]
    fn key_zero_is_key_one() {
        let lim = Limiter::new(Rate::per_second(1, 1), LimiterOptions::default());
        let mut shard = Shard::new(lim);
        assert!(shard.check(0, 0).is_allow());
        assert!(!shard.check(1, 0).is_allow());
    }
}
