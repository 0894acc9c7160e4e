//! The shared side of a rate limit: [`Rate`], [`LimiterOptions`] and [`Limiter`], whose table
//! holds one GCRA theoretical arrival time (TAT, ns) per key, and the lease exchange.

use std::sync::Arc;
use std::time::Duration;

use crate::key::KeyHasher;
use crate::table::{Payload, Table};
use crate::{ceil_secs, Status};

/// Most tokens a core leases at once.
pub const LEASE_CAP: u64 = 32;
/// A lease is sized to last about this long at the full rate spread over all workers.
const LEASE_SPAN_NS: u64 = 2_000_000;

/// A rate limit: `requests` per `per`, of which up to `burst` may come at once from idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests admitted per `per` in the long run (0 is taken as 1).
    pub requests: u64,
    /// The period of `requests` (zero is taken as 1 ns).
    pub per: Duration,
    /// Requests admitted at once from idle (at least 1; 0 is taken as 1).
    pub burst: u64,
}

impl Rate {
    /// `requests` per second with a burst of `burst`.
    pub fn per_second(requests: u64, burst: u64) -> Rate {
        Rate {
            requests,
            per: Duration::from_secs(1),
            burst,
        }
    }

    /// The emission interval T = `per / requests`, rounded to the nearest ns (at least 1 ns).
    /// The limiter enforces exactly one request per T; the rounding is the only difference from
    /// `requests / per`.
    pub fn interval_ns(&self) -> u64 {
        let per = self.per.as_nanos().max(1);
        let n = u128::from(self.requests.max(1));
        u64::try_from((per + n / 2) / n).unwrap_or(u64::MAX).max(1)
    }
}

/// Sizing of a [`Limiter`] or [`crate::Quota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimiterOptions {
    /// Keys in the shared table (rounded up to a power of two); also the most keys a core's
    /// local map holds. Default 65,536.
    pub capacity: usize,
    /// Worker cores sharing the limit (sizes leases). Default 1.
    pub workers: usize,
    /// How long a core keeps a key's unused leased tokens after the key's last request there;
    /// then they are returned (by [`crate::Shard::sweep`] or the next request). Default 20 ms.
    pub lease_ttl: Duration,
}

impl Default for LimiterOptions {
    fn default() -> Self {
        LimiterOptions {
            capacity: 65_536,
            workers: 1,
            lease_ttl: Duration::from_millis(20),
        }
    }
}

/// GCRA state in a table slot: the TAT in ns. Idle (equivalent to fresh) once `TAT <= now`.
pub(crate) struct Tat;

impl Payload for Tat {
    fn idle(tat: u64, now: u64) -> bool {
        tat <= now
    }
    /// The duplicate's outstanding debt (`dup - now`) is added on top of the primary's.
    fn merge(primary: u64, dup: u64, now: u64) -> u64 {
        if dup <= now {
            primary
        } else {
            primary.max(now).saturating_add(dup - now)
        }
    }
}

/// Division by a fixed divisor with a multiply: `x / d` is on the fast path of every request
/// (tokens available), and a hardware divide costs more than the rest of that path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Divisor {
    d: u64,
    /// `floor((2^64 - 1) / d)`: `mulhi(x, m)` is `x / d` or at most 2 less.
    m: u64,
}

impl Divisor {
    pub(crate) fn new(d: u64) -> Self {
        let d = d.max(1);
        Divisor { d, m: u64::MAX / d }
    }

    #[inline]
    pub(crate) fn div(self, x: u64) -> u64 {
        let mut q = ((u128::from(x) * u128::from(self.m)) >> 64) as u64;
        while x - q * self.d >= self.d {
            q += 1;
        }
        q
    }
}

/// The outcome of one exchange with the shared state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grant {
    /// Tokens granted (0: none available).
    pub granted: u64,
    /// The key's TAT after the exchange.
    pub tat: u64,
}

/// One configured rate limit, shared by all cores (`Send + Sync`, held in an `Arc`).
///
/// Holds the GCRA state of every active key in a fixed-capacity lock-free table; cores take and
/// give back tokens through [`crate::Shard`]s.
pub struct Limiter {
    rate: Rate,
    /// Emission interval T, ns.
    pub(crate) t: u64,
    t_div: Divisor,
    /// Burst tolerance as a span: `burst * T`, ns.
    pub(crate) tau: u64,
    pub(crate) burst: u64,
    pub(crate) lease: u64,
    pub(crate) ttl: u64,
    window_secs: u64,
    capacity: usize,
    pub(crate) table: Table<Tat>,
    keys: KeyHasher,
}

impl Limiter {
    /// A limiter enforcing `rate` per key across `opts.workers` cores.
    pub fn new(rate: Rate, opts: LimiterOptions) -> Arc<Limiter> {
        let rate = Rate {
            requests: rate.requests.max(1),
            per: rate.per.max(Duration::from_nanos(1)),
            burst: rate.burst.max(1),
        };
        let t = rate.interval_ns();
        let workers = opts.workers.max(1) as u64;
        let lease = (LEASE_SPAN_NS / t / workers)
            .clamp(1, LEASE_CAP)
            .min((rate.burst / workers).max(1));
        Arc::new(Limiter {
            rate,
            t,
            t_div: Divisor::new(t),
            tau: rate.burst.saturating_mul(t),
            burst: rate.burst,
            lease,
            ttl: u64::try_from(opts.lease_ttl.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            window_secs: rate.per.as_secs() + u64::from(rate.per.subsec_nanos() > 0),
            capacity: opts.capacity,
            table: Table::new(opts.capacity),
            keys: KeyHasher::new(),
        })
    }

    /// The rate enforced (zeros raised to their minimum).
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Tokens a core leases at once: about `rate * 2 ms / workers`, at least 1, at most
    /// [`LEASE_CAP`] and at most `burst / workers` (when that is at least 1).
    pub fn lease_size(&self) -> u64 {
        self.lease
    }

    /// Keys the shared table holds.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The key of a client identity (API key, consumer id, IP bytes, ...): SipHash-1-3 with this
    /// limiter's random keys, so clients cannot craft table collisions. Never 0.
    pub fn key(&self, bytes: &[u8]) -> u64 {
        self.keys.key(bytes)
    }

    /// The single key of a global (all clients together) limit. Never 0.
    pub fn key_global(&self) -> u64 {
        self.keys.global()
    }

    pub(crate) fn local_capacity(&self) -> usize {
        self.capacity
    }

    /// One CAS on the key's slot: gives back `ret` unused tokens (TAT -= ret*T, never below now),
    /// folds in `carry` (a TAT kept by the local fallback path, 0 for none), then leases up to
    /// `want` tokens as far as the burst tolerance allows (TAT = max(TAT, now) + granted*T).
    /// `None` when the key has no slot and none is usable.
    pub(crate) fn exchange(
        &self,
        key: u64,
        now: u64,
        ret: u64,
        want: u64,
        carry: u64,
    ) -> Option<Grant> {
        let (t, tau) = (self.t, self.tau);
        self.table.update(key, now, |cur| {
            let mut tat = Tat::merge(cur, carry, now);
            if ret > 0 && tat > now {
                tat = tat.saturating_sub(ret.saturating_mul(t)).max(now);
            }
            let base = tat.max(now);
            let granted = want.min(now.saturating_add(tau).saturating_sub(base) / t);
            if granted > 0 {
                tat = base + granted * t;
            }
            let write = (tat != cur).then_some(tat);
            (write, Grant { granted, tat })
        })
    }

    /// Tokens available in the shared state at `now` given a TAT, at most `burst`.
    #[inline]
    pub(crate) fn available(&self, tat: u64, now: u64) -> u64 {
        let span = now.saturating_add(self.tau).saturating_sub(tat.max(now));
        self.t_div.div(span).min(self.burst)
    }

    /// When one token is available again given a TAT (after `now` when none is).
    #[inline]
    pub(crate) fn next_token(&self, tat: u64, now: u64) -> u64 {
        tat.max(now).saturating_add(self.t).saturating_sub(self.tau)
    }

    #[inline]
    pub(crate) fn status(&self, remaining: u64, tat: u64, now: u64, retry_ns: u64) -> Status {
        Status {
            limit: self.rate.requests,
            window_secs: self.window_secs.max(1),
            remaining: remaining.min(self.burst),
            reset_secs: ceil_secs(tat.saturating_sub(now), 1_000_000_000),
            retry_after_secs: if retry_ns == 0 {
                0
            } else {
                ceil_secs(retry_ns, 1_000_000_000).max(1)
            },
        }
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("rate", &self.rate)
            .field("interval_ns", &self.t)
            .field("lease", &self.lease)
            .field("lease_ttl_ns", &self.ttl)
            .field("capacity", &self.table.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_and_lease_size() {
        let ms = Duration::from_millis;
        // (requests, per, burst, workers) -> (T ns, lease)
        let cases = [
            ((1_000, ms(1000), 50, 1), (1_000_000, 2)),
            ((1_000, ms(1000), 50, 4), (1_000_000, 1)),
            ((100_000, ms(1000), 1000, 4), (10_000, 32)),
            ((100_000, ms(1000), 1000, 16), (10_000, 12)),
            ((100_000, ms(1000), 40, 16), (10_000, 2)),
            ((100_000, ms(1000), 10, 16), (10_000, 1)),
            ((3, ms(1000), 1, 1), (333_333_333, 1)),
            ((60, Duration::from_secs(60), 60, 64), (1_000_000_000, 1)),
            ((0, ms(0), 0, 0), (1, 1)),
        ];
        for ((requests, per, burst, workers), (t, lease)) in cases {
            let l = Limiter::new(
                Rate {
                    requests,
                    per,
                    burst,
                },
                LimiterOptions {
                    workers,
                    ..LimiterOptions::default()
                },
            );
            assert_eq!(
                (l.t, l.lease_size()),
                (t, lease),
                "{requests}/{per:?} b{burst} w{workers}"
            );
        }
    }

    #[test]
    fn divisor_is_exact() {
        let xs = [
            0,
            1,
            2,
            3,
            999,
            1000,
            1001,
            u64::MAX / 3,
            u64::MAX - 1,
            u64::MAX,
        ];
        for d in [
            1,
            2,
            3,
            7,
            10,
            1000,
            333_333_333,
            1 << 40,
            u64::MAX / 2,
            u64::MAX,
        ] {
            let div = Divisor::new(d);
            for x in xs
                .iter()
                .copied()
                .chain((0..1000).map(|i| i * 7919 + d / 2))
            {
                assert_eq!(div.div(x), x / d, "{x} / {d}");
            }
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..100_000 {
            let x = rng.u64(..);
            let d = (x >> (x % 64)).max(1);
            assert_eq!(Divisor::new(d).div(x), x / d, "{x} / {d}");
        }
    }

    #[test]
    fn merge_adds_outstanding_debt() {
        // (primary, dup, now) -> merged
        for ((p, d, now), m) in [
            ((0, 0, 100), 0),
            ((150, 90, 100), 150),
            ((150, 130, 100), 180),
            ((50, 130, 100), 130),
            ((0, 130, 100), 130),
        ] {
            assert_eq!(Tat::merge(p, d, now), m, "{p} {d} {now}");
        }
    }
}
