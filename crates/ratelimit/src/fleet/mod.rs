//! Fleet-wide rate limits: the host's side of token leases taken from a shared store (Redis),
//! one level above the cores. Pure: the store exchange is done by the caller (the binary runs
//! it on a side thread), time is passed in.
//!
//! # Mechanism
//!
//! A [`FleetLimiter`] holds, per key, the tokens this host was granted by the store and has
//! not used yet (`tokens`, an atomic count every core of the host takes from with one
//! compare-and-swap; no lock, no wait). The store keeps the fleet's GCRA state per key and
//! grants leases of up to [`FleetLimiter::lease_size`] tokens with one atomic script call
//! (GCRA on the store's clock, so host clocks do not matter).
//!
//! * A request takes a token if the host holds one. It may also take one **on credit**, down
//!   to `-lease` held, so a cold key or a host whose lease is on its way is not refused while
//!   the fleet has tokens: the next lease asks for the debt too and repays it first.
//! * When a key's tokens fall below half a lease (or into debt) its slot is queued for the
//!   store thread ([`FleetLimiter::take_work`]), which asks for `lease + debt`; a grant of
//!   fewer (the fleet bucket is short) defers the next ask until tokens have accrued
//!   ([`FleetLimiter::granted`]).
//! * Tokens held for a key idle for [`FleetOptions::idle_return`] go back to the store.
//! * The data plane never waits on the store: when it is marked down (after
//!   [`DOWN_AFTER`] failures in a row, probed again with backoff) requests get
//!   [`FleetVerdict::StoreDown`] and the caller applies the configured fallback.
//!
//! # Bound
//!
//! Per key, rate `r = 1/T`, burst `b`, `h` hosts, lease `k`: over any interval of length `W`,
//! admitted ≤ `b + ⌊W/T⌋ + h·k` (held at its start) `+ h·k` (credit), i.e. at most `2·h·k`
//! over a single GCRA (`k` = `r` × 20 ms, at least 1, at most the burst and
//! [`FLEET_LEASE_CAP`]); under sustained demand from a fresh start, admitted ≥
//! `b + ⌊W/T⌋ − h·k` (tokens held unused at the end). Outside the bound, all counted: the
//! fallback while the store is down, and keys beyond the table's capacity (decided by the
//! fallback too).
//!
//! # Slots
//!
//! A key takes a slot among 8 from its position; when all are taken, a slot whose key
//! has been idle for [`FleetOptions::reclaim_idle`] and holds nothing (no tokens, no debt, no
//! unflushed count, nothing queued) is taken over. A key that finds none is decided by the
//! fallback and counted (`table_full`). A request racing with the takeover of its idle key's
//! slot may be counted to the new key: an error of a request, not of a lease.
//!
//! # The approximate sync mode
//!
//! With [`FleetOptions::sync`] = `I`, no lease is asked: each host runs the GCRA (or the
//! quota's count) on its own view of the fleet's state, admits against it, and every `I`
//! flushes what it admitted per key to the store in one script call that returns the fleet's
//! state, which becomes the view (plus what was admitted here since). Store load is one call
//! per active key and host per `I`, whatever the request rate, and a request never waits for
//! a grant; the price is that a host does not see the others' requests of the last one or two
//! intervals. Over any window `W`, with `h` hosts: admitted ≤ `b + r·W + (h−1)·(b + 2·r·I)`
//! (each other host admits at most a burst plus two intervals' worth unseen: its own flush
//! interval and ours); a quota over its window ≤ `limit + (h−1)·(q_I)`, `q_I` the quota used
//! by a host in two intervals. It is the over-admission Kong's and APISIX's Redis modes have
//! ((nodes − 1) × rate × sync interval), made explicit and bounded by the burst; the leases
//! above are exact to a lease and should be preferred. Every flushed request stays counted,
//! so over-admission in one interval is paid back by the next ones. A flush that fails is
//! not retried: those requests are not counted by the fleet.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use siphasher::sip::SipHasher13;

use crate::{QuotaSpec, Rate};

mod scripts;
mod sync;

pub use scripts::{
    store_key, LEASE_SCRIPT, QUOTA_RETURN_SCRIPT, QUOTA_SCRIPT, QUOTA_SYNC_SCRIPT, RETURN_SCRIPT,
    SYNC_SCRIPT,
};
pub use sync::Flush;

/// Most tokens one lease takes from the store.
pub const FLEET_LEASE_CAP: u64 = 1000;
/// A lease is sized to last about this long at the full rate.
const LEASE_SPAN_NS: u64 = 20_000_000;
/// Failures in a row that mark the store down.
pub const DOWN_AFTER: u32 = 3;
/// Probing a down store: first after this long, doubling up to [`PROBE_MAX_NS`].
const PROBE_FIRST_NS: u64 = 100_000_000;
const PROBE_MAX_NS: u64 = 2_000_000_000;
/// Slots a key may use, from its hash on.
const PROBES: usize = 8;
/// A slot's key while the slot passes from an idle key to a new one (no key hash is this).
const MOVING: u64 = u64::MAX;

/// What a [`FleetLimiter`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetKind {
    /// A rate (GCRA in the store).
    Rate(Rate),
    /// A quota per fixed UTC window (a count per window in the store). A host's held units
    /// belong to the window they were granted for and are void after it.
    Quota(QuotaSpec),
}

impl FleetKind {
    /// The `RateLimit` limit and window (s) clients are told.
    pub fn limit_and_window(&self) -> (u64, u64) {
        match self {
            FleetKind::Rate(r) => (r.requests, r.per.as_secs().max(1)),
            FleetKind::Quota(q) => (q.limit, q.window.secs()),
        }
    }
}

/// Sizing of a [`FleetLimiter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetOptions {
    /// Keys held at once (rounded up to a power of two). Default 65,536.
    pub capacity: usize,
    /// Tokens held for a key idle this long go back to the store. Default 100 ms.
    pub idle_return: Duration,
    /// A slot whose key has been idle this long, and holds nothing, may go to another key.
    /// Default 1 s.
    pub reclaim_idle: Duration,
    /// The approximate mode: count locally and flush the counts to the store this often
    /// (see [`sync`](self#the-approximate-sync-mode)); `None` (default): leases.
    pub sync: Option<Duration>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            idle_return: Duration::from_millis(100),
            reclaim_idle: Duration::from_secs(1),
            sync: None,
        }
    }
}

/// What [`FleetLimiter::check`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetVerdict {
    /// Admitted.
    Allow {
        /// Tokens the host still holds for the key.
        held: u64,
    },
    /// Refused.
    Deny {
        /// About how long until the store has a token again (0: asked for already).
        retry_after_ns: u64,
    },
    /// The store is down, or the key found no slot: the caller's fallback decides.
    StoreDown,
}

/// A lease to ask the store for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The slot the grant goes to.
    pub slot: usize,
    /// The key's hash (the store key is derived from it).
    pub key: u64,
    /// Tokens asked: a lease plus the debt.
    pub want: u64,
    /// A quota's window index (0 for a rate).
    pub window: u64,
}

/// Tokens to give back to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Give {
    /// The key's hash.
    pub key: u64,
    /// Tokens returned.
    pub tokens: u64,
    /// A quota's window index (0 for a rate).
    pub window: u64,
}

/// Counters of a [`FleetLimiter`] (all hosts' cores together on this host).
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Store calls (one per lease or return in a pipeline).
    pub commands: AtomicU64,
    /// Store calls that failed (timeout, connection, script error).
    pub errors: AtomicU64,
    /// Tokens granted by the store.
    pub granted: AtomicU64,
    /// Tokens given back to the store.
    pub returned: AtomicU64,
    /// Requests decided by the fallback (store down or table full).
    pub fallback: AtomicU64,
    /// Keys that found no slot.
    pub table_full: AtomicU64,
    /// Slots taken over from idle keys.
    pub reclaimed: AtomicU64,
    /// Requests counted to the store by flushes (the sync mode).
    pub synced: AtomicU64,
}

#[derive(Debug, Default)]
struct Slot {
    /// The key's hash; 0: free; [`MOVING`]: changing hands (see [`FleetLimiter::slot`]).
    key: AtomicU64,
    /// Tokens held by this host; negative: taken on credit.
    tokens: AtomicI64,
    /// Monotonic ns of the last request.
    last_use: AtomicU64,
    /// Queued for the store thread.
    queued: AtomicBool,
    /// Not to be asked again before this (ns): the fleet bucket was short.
    ask_after: AtomicU64,
    /// A quota's window the held units belong to.
    window: AtomicU64,
    /// The sync mode's view of the fleet: a rate's TAT (monotonic ns), a quota's count in the
    /// window; both with this host's requests not flushed yet.
    view: AtomicU64,
    /// The sync mode: requests admitted here and not flushed to the store yet.
    unsynced: AtomicU64,
    /// The sync mode: when the first of them was admitted (monotonic ns).
    first_unsynced: AtomicU64,
}

/// The host's share of one fleet-wide limit; see the [module docs](self).
#[derive(Debug)]
pub struct FleetLimiter {
    kind: FleetKind,
    /// The key hash every host computes alike (the store key is made of it).
    hasher: SipHasher13,
    /// This host's random mix of keys into table positions: clients know the key hash, not
    /// where it lands here.
    seed: u64,
    lease: u64,
    /// A rate's emission interval and burst tolerance (ns), worked out once (0 for a quota).
    t_ns: u64,
    tol_ns: u64,
    opts: FleetOptions,
    slots: Box<[Slot]>,
    /// The slots claimed so far, each as index + 1 (0: being written), in `claimed_len`
    /// entries: the idle scan walks these, not the whole table.
    claimed: Box<[AtomicUsize]>,
    claimed_len: AtomicUsize,
    /// Slots waiting for the store thread (a bounded ring: a full one drops, and the slot is
    /// queued again by its next request).
    queue: crossbeam_queue::ArrayQueue<usize>,
    up: AtomicBool,
    failures: AtomicU64,
    next_probe: AtomicU64,
    probe_wait: AtomicU64,
    /// Set when work was queued since the store thread last looked.
    pending: AtomicBool,
    /// Counters.
    pub stats: FleetStats,
}

impl FleetLimiter {
    /// A limit of `rate` over the fleet, named `name` (hosts with the same name and store
    /// share its counts).
    pub fn new(name: &str, kind: FleetKind, opts: FleetOptions) -> Self {
        let mut h = SipHasher13::new_with_keys(0x7269_6e67_7761_7921, 0x666c_6565_742d_6b31);
        h.write(name.as_bytes());
        let k0 = h.finish();
        h.write_u8(0xff);
        let k1 = h.finish();
        let cap = opts.capacity.max(PROBES).next_power_of_two();
        let lease = match kind {
            FleetKind::Rate(rate) => (LEASE_SPAN_NS / rate.interval_ns())
                .clamp(1, FLEET_LEASE_CAP)
                .min(rate.burst.max(1)),
            // A hundredth of the quota: the fleet may run over by a lease per host.
            FleetKind::Quota(q) => (q.limit / 100).clamp(1, FLEET_LEASE_CAP),
        };
        let (t_ns, tol_ns) = match kind {
            FleetKind::Rate(r) => (
                r.interval_ns(),
                r.burst.max(1).saturating_mul(r.interval_ns()),
            ),
            FleetKind::Quota(_) => (0, 0),
        };
        Self {
            kind,
            hasher: SipHasher13::new_with_keys(k0, k1),
            seed: RandomState::new().hash_one(0u8) | 1,
            lease,
            t_ns,
            tol_ns,
            opts,
            slots: (0..cap).map(|_| Slot::default()).collect(),
            claimed: (0..cap).map(|_| AtomicUsize::new(0)).collect(),
            claimed_len: AtomicUsize::new(0),
            queue: crossbeam_queue::ArrayQueue::new(cap.min(1 << 16)),
            up: AtomicBool::new(true),
            failures: AtomicU64::new(0),
            next_probe: AtomicU64::new(0),
            probe_wait: AtomicU64::new(PROBE_FIRST_NS),
            pending: AtomicBool::new(false),
            stats: FleetStats::default(),
        }
    }

    /// The fleet-wide hash of a client key's bytes (never 0): the same on every host, so every
    /// host counts the client under one store key. SipHash-1-3 with keys derived from the
    /// limit's name (stable across builds, unlike `std`'s hasher).
    pub fn key(&self, bytes: &[u8]) -> u64 {
        let mut h = self.hasher;
        h.write_u8(1);
        h.write(bytes);
        h.finish().clamp(1, MOVING - 1)
    }

    /// The hash of the limit's one global key.
    pub fn key_global(&self) -> u64 {
        let mut h = self.hasher;
        h.write_u8(2);
        h.finish().clamp(1, MOVING - 1)
    }

    /// What it counts.
    pub fn kind(&self) -> FleetKind {
        self.kind
    }

    /// A quota's window index at `now_ms` (unix ms), 0 for a rate.
    pub fn window(&self, now_ms: u64) -> u64 {
        match self.kind {
            FleetKind::Rate(_) => 0,
            FleetKind::Quota(q) => now_ms / (q.window.secs() * 1000),
        }
    }

    /// Nanoseconds from `now_ms` to the end of its quota window (0 for a rate).
    pub fn window_left_ns(&self, now_ms: u64) -> u64 {
        match self.kind {
            FleetKind::Rate(_) => 0,
            FleetKind::Quota(q) => {
                let len = q.window.secs() * 1000;
                (len - now_ms % len) * 1_000_000
            }
        }
    }

    /// A rate's emission interval and burst tolerance in ns (`(0, 0)` for a quota).
    pub fn rate_ns(&self) -> (u64, u64) {
        (self.t_ns, self.tol_ns)
    }

    /// Tokens one lease asks for (also the credit a host may run ahead by).
    pub fn lease_size(&self) -> u64 {
        self.lease
    }

    /// Whether the store is taken as up.
    pub fn store_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Decides one request of `key` (a non-zero hash) at `now_ns` (monotonic) and `now_ms`
    /// (unix, for quota windows). Returns whether the store thread has new work (the caller
    /// wakes it).
    pub fn check(&self, key: u64, now_ns: u64, now_ms: u64) -> (FleetVerdict, bool) {
        if !self.store_up() {
            self.stats.fallback.fetch_add(1, Ordering::Relaxed);
            return (FleetVerdict::StoreDown, false);
        }
        let Some(i) = self.slot(key, now_ns, now_ms) else {
            self.stats.table_full.fetch_add(1, Ordering::Relaxed);
            self.stats.fallback.fetch_add(1, Ordering::Relaxed);
            return (FleetVerdict::StoreDown, false);
        };
        let s = &self.slots[i];
        s.last_use.store(now_ns, Ordering::Relaxed);
        let w = self.window(now_ms);
        let held_for = s.window.load(Ordering::Acquire);
        if held_for != w
            && s.window
                .compare_exchange(held_for, w, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // Units of an earlier window are void (and so is a debt in it).
            s.tokens.store(0, Ordering::Release);
            s.ask_after.store(0, Ordering::Relaxed);
            s.view.store(0, Ordering::Release);
            s.unsynced.store(0, Ordering::Release);
        }
        if self.opts.sync.is_some() {
            return (self.check_sync(i, now_ns, now_ms), false);
        }
        let credit = -(self.lease as i64);
        let mut t = s.tokens.load(Ordering::Acquire);
        loop {
            if t <= credit {
                let wake = self.queue_slot(i);
                let after = s.ask_after.load(Ordering::Relaxed);
                return (
                    FleetVerdict::Deny {
                        retry_after_ns: after.saturating_sub(now_ns),
                    },
                    wake,
                );
            }
            match s
                .tokens
                .compare_exchange_weak(t, t - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => t = now,
            }
        }
        let left = t - 1;
        let wake = left < (self.lease / 2) as i64 && self.queue_slot(i);
        (
            FleetVerdict::Allow {
                held: left.max(0) as u64,
            },
            wake,
        )
    }

    /// The key's slot, claimed if new (a free one, or one an idle key holds nothing in).
    fn slot(&self, key: u64, now_ns: u64, now_ms: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        // A multiply-xorshift of the key with this host's seed.
        let m = (key ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let start = ((m ^ (m >> 29)) as usize) & mask;
        // Slots are never freed: a key is in the first free slot of its probes, or before it.
        for p in 0..PROBES {
            let i = (start + p) & mask;
            match self.slots[i].key.load(Ordering::Acquire) {
                k if k == key => return Some(i),
                0 => {}
                _ => continue,
            }
            match self.slots[i]
                .key
                .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Slots are claimed once each: the list never overflows.
                    let n = self.claimed_len.fetch_add(1, Ordering::AcqRel);
                    self.claimed[n].store(i + 1, Ordering::Release);
                    return Some(i);
                }
                Err(k) if k == key => return Some(i),
                Err(_) => {}
            }
        }
        // All taken: an idle key's slot, if one holds nothing. The winner of the old key
        // marks the slot as moving, resets it, then gives it the new key: nobody else resets
        // it meanwhile (a core still on the old key may count one request to the new one).
        let (i, old) = (0..PROBES).find_map(|p| {
            let i = (start + p) & mask;
            let k = self.slots[i].key.load(Ordering::Acquire);
            (k == key || (k != MOVING && self.reclaimable(i, now_ns, now_ms))).then_some((i, k))
        })?;
        let s = &self.slots[i];
        if old == key {
            return Some(i);
        }
        if s.key
            .compare_exchange(old, MOVING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        s.tokens.store(0, Ordering::Release);
        s.ask_after.store(0, Ordering::Relaxed);
        s.view.store(0, Ordering::Release);
        s.unsynced.store(0, Ordering::Release);
        s.last_use.store(now_ns, Ordering::Relaxed);
        s.key.store(key, Ordering::Release);
        self.stats.reclaimed.fetch_add(1, Ordering::Relaxed);
        Some(i)
    }

    /// Whether slot `i`'s key has been idle long enough and holds nothing: no tokens or debt,
    /// nothing queued for the store, nothing unflushed, and in the sync mode a view with no
    /// debt (a rate's TAT not ahead of now, a quota's count zero); a quota's state of an ended
    /// window is void.
    fn reclaimable(&self, i: usize, now_ns: u64, now_ms: u64) -> bool {
        let s = &self.slots[i];
        let stale = s.window.load(Ordering::Acquire) != self.window(now_ms);
        let empty = match self.kind {
            FleetKind::Rate(_) => {
                s.tokens.load(Ordering::Acquire) == 0 && s.view.load(Ordering::Acquire) <= now_ns
            }
            FleetKind::Quota(_) => {
                stale
                    || (s.tokens.load(Ordering::Acquire) == 0
                        && s.view.load(Ordering::Acquire) == 0)
            }
        };
        now_ns.saturating_sub(s.last_use.load(Ordering::Relaxed))
            >= self.opts.reclaim_idle.as_nanos() as u64
            && empty
            && !s.queued.load(Ordering::Acquire)
            && s.unsynced.load(Ordering::Acquire) == 0
    }

    /// Queues slot `i` for the store thread unless it is already. Returns whether it queued.
    fn queue_slot(&self, i: usize) -> bool {
        if self.slots[i].queued.swap(true, Ordering::AcqRel) {
            return false;
        }
        if self.queue.push(i).is_err() {
            self.slots[i].queued.store(false, Ordering::Release);
            return false;
        }
        self.pending.store(true, Ordering::Release);
        true
    }

    /// The store thread's work at `now_ns`: leases to ask for (queued keys short of tokens,
    /// not deferred) and tokens of idle keys to give back (taken from the slots now). Keys
    /// deferred by a short grant are kept in `deferred` and asked for when due. With
    /// `scan_idle`, every key is looked at for idleness (do it every few ms, not per call).
    pub fn take_work(
        &self,
        now_ns: u64,
        scan_idle: bool,
        deferred: &mut Vec<usize>,
        asks: &mut Vec<Ask>,
        gives: &mut Vec<Give>,
    ) {
        self.pending.store(false, Ordering::Release);
        let consider = |i: usize, asks: &mut Vec<Ask>, deferred: &mut Vec<usize>| {
            let s = &self.slots[i];
            let t = s.tokens.load(Ordering::Acquire);
            if t >= (self.lease / 2) as i64 || asks.iter().any(|a| a.slot == i) {
                return;
            }
            if s.ask_after.load(Ordering::Relaxed) > now_ns {
                if !deferred.contains(&i) {
                    deferred.push(i);
                }
                return;
            }
            let key = s.key.load(Ordering::Acquire);
            if key == MOVING {
                // Changing hands: its next request queues it again.
                return;
            }
            asks.push(Ask {
                slot: i,
                key,
                want: self.lease + (-t).max(0) as u64,
                window: s.window.load(Ordering::Acquire),
            });
        };
        let waiting: Vec<usize> = std::mem::take(deferred);
        for i in waiting {
            consider(i, asks, deferred);
        }
        while let Some(i) = self.queue.pop() {
            self.slots[i].queued.store(false, Ordering::Release);
            consider(i, asks, deferred);
        }
        if scan_idle {
            let idle = self.opts.idle_return.as_nanos() as u64;
            let n = self.claimed_len.load(Ordering::Acquire);
            for c in &self.claimed[..n] {
                let Some(i) = c.load(Ordering::Acquire).checked_sub(1) else {
                    continue;
                };
                let s = &self.slots[i];
                let key = s.key.load(Ordering::Acquire);
                if key == 0
                    || key == MOVING
                    || now_ns.saturating_sub(s.last_use.load(Ordering::Relaxed)) < idle
                {
                    continue;
                }
                let mut t = s.tokens.load(Ordering::Acquire);
                while t > 0 {
                    match s
                        .tokens
                        .compare_exchange_weak(t, 0, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => {
                            gives.push(Give {
                                key,
                                tokens: t as u64,
                                window: s.window.load(Ordering::Acquire),
                            });
                            break;
                        }
                        Err(now) => t = now,
                    }
                }
            }
        }
    }

    /// Whether work was queued since the last [`FleetLimiter::take_work`].
    pub fn has_work(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The store granted `granted` tokens for the ask of `slot`; `next_ns` is how long until
    /// its bucket has a token again when it granted fewer than asked.
    pub fn granted(&self, ask: &Ask, granted: u64, next_ns: u64, now_ns: u64) {
        let s = &self.slots[ask.slot];
        self.stats.granted.fetch_add(granted, Ordering::Relaxed);
        if s.window.load(Ordering::Acquire) != ask.window
            || s.key.load(Ordering::Acquire) != ask.key
        {
            // Granted for a window that has ended here, or for a key whose slot went to
            // another (idle for a second: what it held was nothing): void.
            return;
        }
        s.tokens.fetch_add(granted as i64, Ordering::AcqRel);
        if granted < ask.want {
            let wait = match self.kind {
                // Ask again once about half a lease has accrued (or the next token is due).
                FleetKind::Rate(_) => next_ns.max((self.lease / 2).max(1) * self.t_ns),
                // The quota is spent: the store's `next_ns` is the window's end.
                FleetKind::Quota(_) => next_ns,
            };
            s.ask_after.store(now_ns + wait, Ordering::Relaxed);
        } else {
            s.ask_after.store(0, Ordering::Relaxed);
        }
    }

    /// Counts tokens given back.
    pub fn returned(&self, tokens: u64) {
        self.stats.returned.fetch_add(tokens, Ordering::Relaxed);
    }

    /// The store answered: it is up.
    pub fn store_ok(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.probe_wait.store(PROBE_FIRST_NS, Ordering::Relaxed);
        self.up.store(true, Ordering::Release);
    }

    /// A store call failed at `now_ns`; after [`DOWN_AFTER`] in a row the store is down.
    pub fn store_failed(&self, now_ns: u64) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= u64::from(DOWN_AFTER) {
            if self.up.swap(false, Ordering::AcqRel) {
                self.probe_wait.store(PROBE_FIRST_NS, Ordering::Relaxed);
            }
            let wait = self.probe_wait.load(Ordering::Relaxed);
            self.next_probe.store(now_ns + wait, Ordering::Relaxed);
            self.probe_wait
                .store((wait * 2).min(PROBE_MAX_NS), Ordering::Relaxed);
        }
    }

    /// Whether a down store is due for a probe at `now_ns`.
    pub fn probe_due(&self, now_ns: u64) -> bool {
        !self.store_up() && now_ns >= self.next_probe.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's GCRA, in ns, for the model.
    struct Store {
        tat: u64,
        t: u64,
        tol: u64,
    }

    impl Store {
        fn lease(&mut self, want: u64, now: u64) -> (u64, u64) {
            let tat = self.tat.max(now);
            let avail = (now + self.tol).saturating_sub(tat) / self.t;
            let g = want.min(avail);
            self.tat = tat + g * self.t;
            (g, (self.tat + self.t).saturating_sub(self.tol + now))
        }

        fn give(&mut self, n: u64, now: u64) {
            self.tat = self.tat.saturating_sub(n * self.t).max(now);
        }
    }

    /// `hosts` hosts offered `offered` requests per second each for `secs`, one store thread
    /// step every ms: admitted stays within the bound.
    fn run(hosts: usize, rate: u64, offered: u64, secs: u64) -> (u64, u64) {
        let r = Rate::per_second(rate, rate / 10);
        let limiters: Vec<FleetLimiter> = (0..hosts)
            .map(|_| FleetLimiter::new("t", FleetKind::Rate(r), FleetOptions::default()))
            .collect();
        let mut store = Store {
            tat: 0,
            t: r.interval_ns(),
            tol: r.burst * r.interval_ns(),
        };
        let mut deferred: Vec<Vec<usize>> = vec![Vec::new(); hosts];
        let gap = 1_000_000_000 / offered;
        let mut admitted = 0;
        let end = secs * 1_000_000_000;
        let mut next_req = vec![0u64; hosts];
        let mut now = 0;
        while now < end {
            for h in 0..hosts {
                while next_req[h] <= now {
                    if let (FleetVerdict::Allow { .. }, _) = limiters[h].check(42, next_req[h], 0) {
                        admitted += 1;
                    }
                    next_req[h] += gap;
                }
                let (mut asks, mut gives) = (Vec::new(), Vec::new());
                limiters[h].take_work(
                    now,
                    now % 10_000_000 == 0,
                    &mut deferred[h],
                    &mut asks,
                    &mut gives,
                );
                for a in &asks {
                    let (g, next) = store.lease(a.want, now);
                    limiters[h].granted(a, g, next, now);
                }
                for g in &gives {
                    store.give(g.tokens, now);
                }
            }
            now += 1_000_000;
        }
        let bound = r.burst + rate * secs + 2 * hosts as u64 * limiters[0].lease_size();
        (admitted, bound)
    }

    #[test]
    fn fleet_admits_the_rate_within_the_bound() {
        for (hosts, factor) in [(2, 2), (3, 10), (1, 3)] {
            let rate = 1000;
            let (admitted, bound) = run(hosts, rate, rate * factor / hosts as u64, 5);
            let target = rate * 5;
            assert!(
                admitted <= bound,
                "{hosts} hosts ×{factor}: {admitted} > {bound}"
            );
            assert!(
                admitted * 100 >= target * 95,
                "{hosts} hosts ×{factor}: {admitted} < 95% of {target}"
            );
        }
    }

    #[test]
    fn under_the_limit_everything_is_admitted() {
        let rate = 1000;
        // Half the rate over two hosts: all admitted.
        let (admitted, _) = run(2, rate, rate / 4, 3);
        assert!(admitted >= 1500 - 2, "{admitted}");
    }

    #[test]
    fn a_cold_key_is_admitted_on_credit_and_the_debt_is_asked_for() {
        let f = FleetLimiter::new(
            "t",
            FleetKind::Rate(Rate::per_second(100, 100)),
            FleetOptions::default(),
        );
        let k = f.lease_size() as i64;
        assert_eq!(k, 2);
        let (v, wake) = f.check(7, 0, 0);
        assert!(matches!(v, FleetVerdict::Allow { .. }));
        assert!(wake);
        assert!(matches!(f.check(7, 1, 0).0, FleetVerdict::Allow { .. }));
        // Credit used up: refused until the store grants.
        assert!(matches!(f.check(7, 2, 0).0, FleetVerdict::Deny { .. }));
        let (mut d, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        f.take_work(3, false, &mut d, &mut asks, &mut gives);
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].want, 2 + 2, "a lease plus the debt");
        f.granted(&asks[0], 4, 0, 3);
        assert!(matches!(
            f.check(7, 4, 0).0,
            FleetVerdict::Allow { held: 1 }
        ));
    }

    #[test]
    fn quota_units_belong_to_their_window() {
        let spec = QuotaSpec {
            limit: 1000,
            window: crate::Window::Minute,
        };
        let f = FleetLimiter::new("q", FleetKind::Quota(spec), FleetOptions::default());
        assert_eq!(f.lease_size(), 10);
        let minute = 60_000;
        assert!(matches!(
            f.check(5, 0, minute + 1).0,
            FleetVerdict::Allow { .. }
        ));
        let (mut d, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        f.take_work(1, false, &mut d, &mut asks, &mut gives);
        assert_eq!((asks[0].window, asks[0].want), (1, 11));
        f.granted(&asks[0], 11, 0, 1);
        assert!(matches!(
            f.check(5, 2, minute + 2).0,
            FleetVerdict::Allow { held: 9 }
        ));
        // The next window: what was held is void, the key starts on credit again.
        assert!(matches!(
            f.check(5, 3, 2 * minute).0,
            FleetVerdict::Allow { held: 0 }
        ));
        asks.clear();
        f.take_work(4, false, &mut d, &mut asks, &mut gives);
        assert_eq!((asks[0].window, asks[0].want), (2, 11));
        // A grant for a window that ended here is dropped.
        let stale = Ask {
            window: 1,
            ..asks[0]
        };
        f.granted(&stale, 11, 0, 5);
        assert!(matches!(
            f.check(5, 6, 2 * minute + 1).0,
            FleetVerdict::Allow { held: 0 }
        ));
        assert_eq!(f.window_left_ns(2 * minute + 1), (minute - 1) * 1_000_000);
    }

    #[test]
    fn a_full_table_gives_an_idle_keys_slot_to_a_new_key_but_not_one_in_debt() {
        let opts = FleetOptions {
            capacity: PROBES,
            ..FleetOptions::default()
        };
        let f = FleetLimiter::new("t", FleetKind::Rate(Rate::per_second(1000, 1000)), opts);
        // Eight keys fill the eight slots, each on credit; all granted but key 1 (its fleet
        // bucket is short: it stays in debt).
        for k in 1..=8 {
            assert!(matches!(f.check(k, 0, 0).0, FleetVerdict::Allow { .. }));
        }
        let (mut d, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        f.take_work(1, false, &mut d, &mut asks, &mut gives);
        assert_eq!(asks.len(), 8);
        for a in &asks {
            let g = if a.key == 1 { 0 } else { a.want };
            f.granted(a, g, 10_000_000_000, 1);
        }
        // Full, and nobody idle yet: the ninth key falls back.
        assert_eq!(f.check(9, 2, 0).0, FleetVerdict::StoreDown);
        assert_eq!(f.stats.table_full.load(Ordering::Relaxed), 1);
        // A second later the idle keys' tokens went back; the ninth key takes one of their
        // slots, never the one of key 1, which still owes the store.
        let later = 1_500_000_000;
        f.take_work(later, true, &mut d, &mut Vec::new(), &mut gives);
        assert_eq!(gives.len(), 7);
        assert!(matches!(f.check(9, later, 0).0, FleetVerdict::Allow { .. }));
        assert_eq!(f.stats.reclaimed.load(Ordering::Relaxed), 1);
        let keys: Vec<u64> = f
            .slots
            .iter()
            .map(|s| s.key.load(Ordering::Relaxed))
            .collect();
        assert!(keys.contains(&1) && keys.contains(&9), "{keys:?}");
        // A grant for the key that lost its slot does not land on the new one.
        let stale = asks.iter().find(|a| !keys.contains(&a.key)).unwrap();
        f.granted(stale, 50, 0, later);
        assert_eq!(f.check(9, later + 1, 0).0, FleetVerdict::Allow { held: 0 });
    }

    #[test]
    fn idle_tokens_go_back_and_a_failing_store_goes_down_then_is_probed() {
        let f = FleetLimiter::new(
            "t",
            FleetKind::Rate(Rate::per_second(1000, 1000)),
            FleetOptions::default(),
        );
        let _ = f.check(9, 0, 0);
        let (mut d, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        f.take_work(0, false, &mut d, &mut asks, &mut gives);
        f.granted(&asks[0], asks[0].want, 0, 0);
        let held = asks[0].want - 1;
        f.take_work(200_000_000, true, &mut d, &mut Vec::new(), &mut gives);
        assert_eq!(
            gives,
            vec![Give {
                key: 9,
                tokens: held,
                window: 0
            }]
        );
        for i in 0..DOWN_AFTER {
            assert!(f.store_up());
            f.store_failed(u64::from(i));
        }
        assert!(!f.store_up());
        assert_eq!(f.check(9, 10, 0).0, FleetVerdict::StoreDown);
        assert!(!f.probe_due(10));
        assert!(f.probe_due(10 + PROBE_FIRST_NS));
        f.store_ok();
        assert!(f.store_up());
    }
}
