//! Rate limits and quotas for a thread-per-core gateway: the limit a user configures is the
//! limit enforced across all cores, within the bound below, with no lock and no contended atomic
//! per request. Pure logic: time is passed in, never read.
//!
//! # Mechanism: token leases from a lock-free shared GCRA table
//!
//! A [`Limiter`] (one per configured limit, `Arc`-shared by all cores) holds a fixed-capacity,
//! lock-free, open-addressed table of 128-bit slots, `key tag | GCRA TAT (ns)`, each updated by
//! one CAS of the whole slot (see `table.rs` for why a slot reclaimed by another key can never be
//! charged or credited by a stale CAS). Idle slots (`TAT <= now`, i.e. a full bucket) are
//! equivalent to fresh state and are reclaimed by other keys.
//!
//! Each core owns a [`Shard`] (`&mut self`, no atomics on the fast path):
//!
//! * a request with a locally leased token uses it: no shared memory is touched;
//! * without one, the shard leases `k` tokens with one CAS (`TAT = max(TAT, now) + k·T`, and
//!   only as many as the burst tolerance allows, so possibly fewer). `k` = `rate · 2 ms /
//!   workers`, at least 1, at most [`LEASE_CAP`] and at most `burst / workers`: near the limit
//!   the shared bucket has fewer tokens than `k`, so accounting becomes exact per request;
//! * when the shared state has no token, the shard caches "denied until the next token is due"
//!   so rejected requests do not touch the shared cache line;
//! * a lease expires `lease_ttl` (20 ms by default) after the key's last request on this core;
//!   [`Shard::sweep`] (every ~10 ms) and the next request return its unused tokens
//!   (`TAT -= unused·T`, never below now), so a client that moved to other cores gets them
//!   back there. (A lease still in use is not returned and re-leased every TTL: that would cost
//!   a CAS per key per core per TTL and change nothing, the same core would lease them again.)
//! * the per-core map is bounded (`capacity` keys): when full, keys holding nothing are dropped,
//!   then the least recently used quarter is evicted after returning its tokens.
//!
//! [`Quota`]s work the same way over fixed UTC windows (minute, hour, day), with a shared
//! `(key tag, window, used)` count and leases that shrink to 1 unit as the quota runs out.
//!
//! # Error bound
//!
//! Per key, with rate `r = 1/T` (T = [`Rate::interval_ns`]), burst `b`, `n` workers and lease
//! size `k` ([`Limiter::lease_size`]). Let `H(t)` be the key's tokens held in leases at `t`
//! (the sum of [`Shard::leased_tokens`] over shards for that key); `H(t) <= n·k <= max(n,
//! min(b, r·2 ms))`.
//!
//! * **Never over:** over any interval `[a, a + W]`, admitted `<= b + ⌊W/T⌋ + H(a)`. Every
//!   admitted request consumes a token the shared GCRA granted; tokens used in the interval were
//!   held at `a` or granted during it, and the shared GCRA grants at most `b + ⌊W/T⌋` tokens net
//!   of returns over any interval of length `W` (each grant moves TAT by T, TAT never passes
//!   `now + b·T`, a return moves it back by at most what was leased). From a fresh start
//!   (`H = 0`) this is exactly a single GCRA's `b + rate·W`. With `H(a) > 0` a burst after idle
//!   can reach `b + H(a)`: tokens out on lease do not count against a bucket that refills.
//! * **Never far under:** under sustained demand from a fresh start, admitted
//!   `>= b + ⌊W/T⌋ - n·k`: tokens are only ever held, never lost; the shortfall is the tokens
//!   still held at the end (or returned in the last T, waiting for a cached denial to expire).
//!   A core returns a key's held tokens one lease TTL (plus a sweep interval) after the key's
//!   last request there, so a client that moves between cores is short by at most `n·k`
//!   tokens, and only for that long.
//! * **Quotas:** admitted per window `<= limit`, exactly (a unit is counted in the shared count
//!   before it is used; returns give back only unused units of the same window). Under
//!   sustained demand, admitted `>= limit -` the units still held at the window end: one lease
//!   per key per core, sized [`Quota::lease_size`] of what was left when it was taken (a quarter
//!   of it over all cores, falling to 1 unit each near the end), returned a lease TTL after the
//!   key's last request on that core.
//!
//! Inexact paths, all bounded and counted:
//!
//! * **Table full:** when none of the 8 slots a key may use is free or idle, the key falls back
//!   for one lease TTL to a GCRA (or count) of the full limit kept on each core alone: a client
//!   spread over `c` cores may then get up to `c×` its limit. Counted in
//!   [`ShardStats::table_full`] and [`ShardStats::local`]; size `capacity` so it stays 0.
//! * **Clock skew** between the `now` values cores pass: at most `skew · r` tokens per key.
//! * **Concurrent first use** of an idle key on several cores while its probe window changes
//!   may briefly give it two slots; the inserters merge them right away (the later of two racing
//!   inserters always sees both). A merge adds the removed copy's debt as it stands at the
//!   merge, so at most the decay since a third core's lease on that copy is lost.
//! * [`Status`] values (`remaining`, `reset`) are this core's view of the shared state as of its
//!   last exchange: exact on one core, approximate across cores.

pub mod fleet;
mod gcra;
mod headers;
mod key;
mod local;
mod quota;
mod shard;
mod table;

pub use fleet::{
    store_key, Ask, FleetKind, FleetLimiter, FleetOptions, FleetStats, FleetVerdict, Flush, Give,
    DOWN_AFTER, FLEET_LEASE_CAP, LEASE_SCRIPT, QUOTA_RETURN_SCRIPT, QUOTA_SCRIPT,
    QUOTA_SYNC_SCRIPT, RETURN_SCRIPT, SYNC_SCRIPT,
};
pub use gcra::{Limiter, LimiterOptions, Rate, LEASE_CAP};
pub use headers::write_headers;
pub use quota::{Quota, QuotaShard, QuotaSpec, Window};
pub use shard::Shard;

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admitted.
    Allow(Status),
    /// Rejected (429).
    Deny(Status),
}

impl Decision {
    /// Whether the request is admitted.
    #[inline]
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The limit's status after this decision.
    #[inline]
    pub fn status(&self) -> &Status {
        match self {
            Decision::Allow(s) | Decision::Deny(s) => s,
        }
    }
}

/// What a client is told about a limit (see [`write_headers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Requests per window (`q`): the rate's `requests`, or the quota's `limit`.
    pub limit: u64,
    /// The window in seconds (`w`): the rate's `per` (at least 1), or the quota's window.
    pub window_secs: u64,
    /// Requests that would be admitted now, after this one (`r`).
    pub remaining: u64,
    /// Seconds until the bucket is full again, or until the quota window ends (`t`), rounded up.
    pub reset_secs: u64,
    /// Seconds until a request may be admitted (`Retry-After`), rounded up: 0 when allowed,
    /// at least 1 when denied.
    pub retry_after_secs: u64,
}

/// Per-core counters, for metrics such as `ringway_ratelimit_drift_tokens{core}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Requests admitted.
    pub allowed: u64,
    /// Requests denied.
    pub denied: u64,
    /// Exchanges with the shared state that leased at least one token.
    pub leases: u64,
    /// Tokens leased from the shared state, in total.
    pub leased: u64,
    /// Exchanges that gave unused tokens back.
    pub returns: u64,
    /// Tokens given back unused, in total.
    pub returned: u64,
    /// Quota units dropped unused because their window ended.
    pub expired: u64,
    /// Times the shared table had no usable slot for a key, which then went to the local-only
    /// path for one lease TTL.
    pub table_full: u64,
    /// Requests decided on the inexact local-only path.
    pub local: u64,
    /// Live local entries evicted to make room for another key.
    pub evictions: u64,
    /// Tokens (units) held now: leased, not yet used. This core's drift.
    pub leased_tokens: u64,
    /// Keys in the local map now.
    pub keys: u64,
}

/// `x / unit`, rounded up.
#[inline]
pub(crate) fn ceil_secs(x: u64, unit: u64) -> u64 {
    x.div_ceil(unit)
}
