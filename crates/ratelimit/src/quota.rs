//! Quotas: a limit per key per fixed UTC window (minute, hour, day), counted in the shared table
//! as `(window index, used)` and leased to cores in units that shrink to 1 near the limit.

use std::sync::Arc;

use crate::gcra::{LimiterOptions, LEASE_CAP};
use crate::key::{nonzero, KeyHasher};
use crate::local::{Entry, LocalMap};
use crate::table::{Payload, Table};
use crate::{ceil_secs, Decision, ShardStats, Status};

/// A quota window, aligned to UTC (unix time has no leap seconds, so windows are exact
/// multiples of their length since the epoch; a day starts at 00:00:00 UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// 60 s, starting at each UTC minute.
    Minute,
    /// 3,600 s, starting at each UTC hour.
    Hour,
    /// 86,400 s, starting at 00:00 UTC.
    Day,
}

impl Window {
    /// The window's length in seconds.
    pub fn secs(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }

    fn millis(self) -> u64 {
        self.secs() * 1000
    }
}

/// A quota: at most `limit` requests per key per `window` (capped at `u32::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaSpec {
    /// Requests per window (0 denies everything).
    pub limit: u64,
    /// The window.
    pub window: Window,
}

/// Quota state in a table slot: window index (high 32 bits) and units used (low 32 bits). Idle
/// when it counts an earlier window than `now`'s, or nothing.
pub(crate) struct Count;

#[inline]
fn split(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

#[inline]
fn join(window: u32, used: u32) -> u64 {
    (u64::from(window) << 32) | u64::from(used)
}

impl Payload for Count {
    fn idle(p: u64, now: u64) -> bool {
        let (w, used) = split(p);
        u64::from(w) < now || used == 0
    }
    /// Counts of the same window add up; a count of an earlier window is void.
    fn merge(primary: u64, dup: u64, now: u64) -> u64 {
        let ((wp, up), (wd, ud)) = (split(primary), split(dup));
        if Count::idle(dup, now) {
            primary
        } else if Count::idle(primary, now) || wd > wp {
            dup
        } else if wd == wp {
            join(wp, up.saturating_add(ud))
        } else {
            primary
        }
    }
}

/// The outcome of one exchange with a quota's shared count.
#[derive(Clone, Copy, Debug)]
struct QGrant {
    granted: u64,
    window: u32,
    used: u32,
}

/// One configured quota, shared by all cores (`Send + Sync`, held in an `Arc`).
pub struct Quota {
    spec: QuotaSpec,
    limit: u32,
    window_ms: u64,
    workers: u64,
    ttl_ms: u64,
    capacity: usize,
    table: Table<Count>,
    keys: KeyHasher,
}

impl Quota {
    /// A quota enforcing `spec` per key across `opts.workers` cores.
    pub fn new(spec: QuotaSpec, opts: LimiterOptions) -> Arc<Quota> {
        let limit = u32::try_from(spec.limit).unwrap_or(u32::MAX);
        Arc::new(Quota {
            spec: QuotaSpec {
                limit: u64::from(limit),
                window: spec.window,
            },
            limit,
            window_ms: spec.window.millis(),
            workers: opts.workers.max(1) as u64,
            ttl_ms: u64::try_from(opts.lease_ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            capacity: opts.capacity,
            table: Table::new(opts.capacity),
            keys: KeyHasher::new(),
        })
    }

    /// The quota enforced (limit capped at `u32::MAX`).
    pub fn spec(&self) -> QuotaSpec {
        self.spec
    }

    /// The key of a client identity; see [`crate::Limiter::key`]. Never 0.
    pub fn key(&self, bytes: &[u8]) -> u64 {
        self.keys.key(bytes)
    }

    /// The single key of a global quota. Never 0.
    pub fn key_global(&self) -> u64 {
        self.keys.global()
    }

    /// Units a core leases when `remaining` are left: `remaining / (4 * workers)`, at least 1,
    /// at most [`LEASE_CAP`]. All cores together never hold more than a quarter of what is left
    /// (while at least `4 * workers` is), and 1 each near the end.
    pub fn lease_size(&self, remaining: u64) -> u64 {
        (remaining / (4 * self.workers)).clamp(1, LEASE_CAP)
    }

    fn window_of(&self, now_ms: u64) -> u32 {
        u32::try_from(now_ms / self.window_ms).unwrap_or(u32::MAX)
    }

    fn end_ms(&self, window: u32) -> u64 {
        (u64::from(window) + 1) * self.window_ms
    }

    fn status(&self, remaining: u64, window: u32, now: u64, deny: bool) -> Status {
        let reset = ceil_secs(self.end_ms(window).saturating_sub(now), 1000);
        Status {
            limit: self.spec.limit,
            window_secs: self.spec.window.secs(),
            remaining: remaining.min(self.spec.limit),
            reset_secs: reset,
            retry_after_secs: if deny { reset.max(1) } else { 0 },
        }
    }

    /// One CAS on the key's count for `window`: gives back `ret` unused units, folds in `carry`
    /// (a count kept by the local fallback path), and leases units if `lease`.
    fn exchange(&self, key: u64, window: u32, ret: u64, lease: bool, carry: u64) -> Option<QGrant> {
        let limit = self.limit;
        self.table.update(key, u64::from(window), |cur| {
            let (mut w, mut used) = split(Count::merge(cur, carry, u64::from(window)));
            if w < window {
                (w, used) = (window, 0);
            }
            if w == window {
                used = used.saturating_sub(u32::try_from(ret).unwrap_or(u32::MAX));
            }
            let mut granted = 0;
            if lease {
                let left = limit.saturating_sub(used);
                granted = self.lease_size(u64::from(left)).min(u64::from(left)) as u32;
                used += granted;
            }
            // Nothing used is fresh state: do not take a slot to record it.
            let new = if used == 0 && cur == 0 {
                0
            } else {
                join(w, used)
            };
            let write = (new != cur).then_some(new);
            (
                write,
                QGrant {
                    granted: u64::from(granted),
                    window: w,
                    used,
                },
            )
        })
    }
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quota")
            .field("spec", &self.spec)
            .field("workers", &self.workers)
            .field("lease_ttl_ms", &self.ttl_ms)
            .field("capacity", &self.table.capacity())
            .finish_non_exhaustive()
    }
}

/// A key's quota state on one core.
#[derive(Clone, Copy, Default, Debug)]
struct QuotaEntry {
    /// Leased units not used yet (of `window`).
    tokens: u32,
    /// The window `tokens` and `used` belong to.
    window: u32,
    /// On the local-only fallback path.
    local_only: bool,
    /// Units used in `window` as last seen in the shared count (the local count on the fallback
    /// path).
    used: u32,
    /// Leased units are usable until then (ms, a lease TTL after their last use); on the
    /// fallback path, when to retry the table.
    expires: u64,
    /// Nothing left in the shared count; do not ask again until then (ms).
    denied_until: u64,
    last: u64,
}

impl Entry for QuotaEntry {
    fn last(&self) -> u64 {
        self.last
    }
    fn live(&self, now: u64) -> bool {
        self.tokens > 0 || self.denied_until > now || self.local_only
    }
}

/// One core's view of a [`Quota`]; see [`crate::Shard`] for the mechanism.
pub struct QuotaShard {
    q: Arc<Quota>,
    map: LocalMap<QuotaEntry>,
    stats: ShardStats,
}

impl QuotaShard {
    /// A shard whose local map holds up to the quota's capacity in keys.
    pub fn new(q: Arc<Quota>) -> Self {
        let cap = q.capacity;
        QuotaShard::with_capacity(q, cap)
    }

    /// A shard whose local map holds at most `local_capacity` keys; see
    /// [`crate::Shard::with_capacity`].
    pub fn with_capacity(q: Arc<Quota>, local_capacity: usize) -> Self {
        QuotaShard {
            q,
            map: LocalMap::new(local_capacity),
            stats: ShardStats::default(),
        }
    }

    /// The quota this shard draws from.
    pub fn quota(&self) -> &Arc<Quota> {
        &self.q
    }

    /// Decides one request of `key` at `now_unix_ms` (wall clock, ms since the unix epoch).
    pub fn check(&mut self, key: u64, now_unix_ms: u64) -> Decision {
        let now = now_unix_ms;
        let key = nonzero(key);
        let QuotaShard { q, map, stats } = self;
        let q: &Quota = q;
        let window = q.window_of(now);
        let e = map.get_or_insert(key, now, |k, old| {
            stats.evictions += 1;
            give_back(q, k, old, window, stats);
        });
        e.last = now;
        if window > e.window {
            // Units leased in an earlier window are void.
            stats.leased_tokens -= u64::from(e.tokens);
            stats.expired += u64::from(e.tokens);
            (e.tokens, e.window, e.used, e.denied_until) = (0, window, 0, 0);
        }
        if !e.local_only {
            if e.tokens > 0 {
                if now < e.expires {
                    e.tokens -= 1;
                    e.expires = now.saturating_add(q.ttl_ms);
                    stats.leased_tokens -= 1;
                    stats.allowed += 1;
                    let left = u64::from(q.limit.saturating_sub(e.used)) + u64::from(e.tokens);
                    return Decision::Allow(q.status(left, e.window, now, false));
                }
            } else if now < e.denied_until {
                stats.denied += 1;
                return Decision::Deny(q.status(0, e.window, now, true));
            }
        } else if now < e.expires {
            return check_local(q, e, now, stats);
        }
        exchange(q, key, e, now, stats)
    }

    /// Returns the unused units of every key not used on this core for a lease TTL, and drops
    /// those of past windows.
    pub fn sweep(&mut self, now_unix_ms: u64) {
        if self.stats.leased_tokens == 0 {
            return;
        }
        let QuotaShard { q, map, stats } = self;
        let window = q.window_of(now_unix_ms);
        for (&key, e) in map.iter_mut() {
            if e.tokens > 0 && (e.window < window || now_unix_ms >= e.expires) {
                if let Some(g) = give_back(q, key, e, window, stats) {
                    e.used = g.used;
                }
                e.tokens = 0;
            }
        }
    }

    /// Units leased from the shared count and not used yet (this core's drift).
    pub fn leased_units(&self) -> u64 {
        self.stats.leased_tokens
    }

    /// Counters since the shard was made, and the units (`leased_tokens`) and keys it holds now.
    pub fn stats(&self) -> ShardStats {
        ShardStats {
            keys: self.map.len() as u64,
            ..self.stats
        }
    }
}

/// Gives an entry's unused units back to the shared count, or drops them if their window is
/// over (the entry is being swept or evicted).
fn give_back(
    q: &Quota,
    key: u64,
    e: &QuotaEntry,
    window: u32,
    stats: &mut ShardStats,
) -> Option<QGrant> {
    if e.tokens == 0 {
        return None;
    }
    let units = u64::from(e.tokens);
    stats.leased_tokens -= units;
    if e.window < window {
        stats.expired += units;
        return None;
    }
    stats.returns += 1;
    stats.returned += units;
    q.exchange(key, e.window, units, false, 0)
}

#[inline(never)]
fn exchange(q: &Quota, key: u64, e: &mut QuotaEntry, now: u64, stats: &mut ShardStats) -> Decision {
    let ret = u64::from(e.tokens);
    let carry = if e.local_only {
        join(e.window, e.used)
    } else {
        0
    };
    let Some(g) = q.exchange(key, e.window, ret, true, carry) else {
        stats.table_full += 1;
        stats.leased_tokens -= ret;
        stats.returned += ret;
        e.tokens = 0;
        if !e.local_only {
            (e.local_only, e.used) = (true, 0);
        }
        e.expires = now.saturating_add(q.ttl_ms);
        e.denied_until = 0;
        return check_local(q, e, now, stats);
    };
    e.local_only = false;
    if ret > 0 {
        stats.leased_tokens -= ret;
        stats.returns += 1;
        stats.returned += ret;
    }
    (e.window, e.used) = (g.window, g.used);
    let end = q.end_ms(g.window);
    if g.granted > 0 {
        stats.leases += 1;
        stats.leased += g.granted;
        stats.allowed += 1;
        e.tokens = (g.granted - 1) as u32;
        stats.leased_tokens += g.granted - 1;
        e.expires = now.saturating_add(q.ttl_ms);
        e.denied_until = 0;
        let left = u64::from(q.limit.saturating_sub(g.used)) + u64::from(e.tokens);
        Decision::Allow(q.status(left, g.window, now, false))
    } else {
        // Units held by other cores come back within a lease TTL: look again then.
        stats.denied += 1;
        e.tokens = 0;
        e.denied_until = now.saturating_add(q.ttl_ms).min(end);
        Decision::Deny(q.status(0, g.window, now, true))
    }
}

/// The fallback path: the full quota counted on this core alone.
fn check_local(q: &Quota, e: &mut QuotaEntry, now: u64, stats: &mut ShardStats) -> Decision {
    stats.local += 1;
    if e.used < q.limit {
        e.used += 1;
        stats.allowed += 1;
        Decision::Allow(q.status(u64::from(q.limit - e.used), e.window, now, false))
    } else {
        stats.denied += 1;
        Decision::Deny(q.status(0, e.window, now, true))
    }
}

impl std::fmt::Debug for QuotaShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaShard")
            .field("quota", &self.q)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_merge_and_idle() {
        let now = 10;
        // (primary, dup) -> merged, at window 10
        for ((p, d), m) in [
            ((join(10, 5), join(10, 3)), join(10, 8)),
            ((join(9, 5), join(10, 3)), join(10, 3)),
            ((join(10, 5), join(9, 3)), join(10, 5)),
            ((0, join(10, 3)), join(10, 3)),
            ((join(10, 5), join(11, 3)), join(11, 3)),
            ((join(11, 5), join(10, 3)), join(11, 5)),
        ] {
            assert_eq!(Count::merge(p, d, now), m, "{:?} {:?}", split(p), split(d));
        }
        assert!(Count::idle(0, now));
        assert!(Count::idle(join(9, 100), now));
        assert!(Count::idle(join(10, 0), now));
        assert!(!Count::idle(join(10, 1), now));
    }

    #[test]
    fn lease_shrinks_to_one() {
        let q = Quota::new(
            QuotaSpec {
                limit: 10_000,
                window: Window::Day,
            },
            LimiterOptions {
                workers: 4,
                ..LimiterOptions::default()
            },
        );
        for (left, k) in [
            (10_000, 32),
            (512, 32),
            (160, 10),
            (16, 1),
            (15, 1),
            (1, 1),
            (0, 1),
        ] {
            assert_eq!(q.lease_size(left), k, "{left}");
        }
    }
}
