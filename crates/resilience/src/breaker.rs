//! Circuit-breaker limits summed over every core, without a shared atomic per request.
//!
//! A [`SlotPool`] holds a limit's free slots. Each core's [`Lease`] takes them in chunks (one
//! compare-and-swap per chunk) and uses them locally; a release keeps at most `chunk − 1`
//! spare slots and gives the rest back, and [`Lease::flush`] (the core's tick) gives back all
//! spare ones. With `w` cores the limit trips somewhere between `limit − (w − 1)(chunk − 1)`
//! and `limit`; the chunk is `limit / (16 w)`, so small limits (chunk 1) are exact and large
//! ones cost one shared write per chunk of requests.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// A limit's free slots, shared by every core.
#[derive(Debug)]
pub struct SlotPool {
    free: AtomicU32,
    limit: u32,
    chunk: u32,
    /// Acquisitions refused (written only when one is).
    refused: AtomicU64,
}

impl SlotPool {
    /// A pool of `limit` slots shared by `cores` leases.
    pub fn new(limit: u32, cores: usize) -> Arc<Self> {
        let cores = u32::try_from(cores.max(1)).unwrap_or(u32::MAX);
        Arc::new(Self {
            free: AtomicU32::new(limit),
            limit,
            chunk: (limit / cores.saturating_mul(16)).max(1),
            refused: AtomicU64::new(0),
        })
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Acquisitions refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Slots not held by any core.
    pub fn free(&self) -> u32 {
        self.free.load(Ordering::Relaxed)
    }

    /// Takes up to `want` slots; returns how many (0: none free).
    fn take(&self, want: u32) -> u32 {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return 0;
            }
            let n = want.min(free);
            match self.free.compare_exchange_weak(
                free,
                free - n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return n,
                Err(now) => free = now,
            }
        }
    }

    fn give(&self, n: u32) {
        if n > 0 {
            self.free.fetch_add(n, Ordering::AcqRel);
        }
    }
}

/// One core's slots of a [`SlotPool`] (owned by the core: `&mut self`, no locking).
#[derive(Debug)]
pub struct Lease {
    pool: Arc<SlotPool>,
    held: u32,
    used: u32,
}

impl Lease {
    /// A lease holding nothing yet.
    pub fn new(pool: Arc<SlotPool>) -> Self {
        Self {
            pool,
            held: 0,
            used: 0,
        }
    }

    /// Takes a slot; `false` when the limit is reached.
    #[inline]
    pub fn try_acquire(&mut self) -> bool {
        if self.used == self.held {
            let got = self.pool.take(self.pool.chunk);
            if got == 0 {
                self.pool.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            self.held += got;
        }
        self.used += 1;
        true
    }

    /// Gives a slot back.
    #[inline]
    pub fn release(&mut self) {
        debug_assert!(self.used > 0, "release without acquire");
        self.used = self.used.saturating_sub(1);
        let spare = self.held - self.used;
        let keep = self.pool.chunk - 1;
        if spare > keep {
            self.pool.give(spare - keep);
            self.held -= spare - keep;
        }
    }

    /// Gives every spare slot back (so an idle core holds none).
    pub fn flush(&mut self) {
        self.pool.give(self.held - self.used);
        self.held = self.used;
    }

    /// Slots in use on this core.
    pub fn used(&self) -> u32 {
        self.used
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_limit_is_exact_across_cores() {
        let pool = SlotPool::new(3, 4);
        let mut cores: Vec<Lease> = (0..4).map(|_| Lease::new(Arc::clone(&pool))).collect();
        assert!(cores[0].try_acquire());
        assert!(cores[1].try_acquire());
        assert!(cores[2].try_acquire());
        assert!(!cores[3].try_acquire(), "the fourth is over the limit");
        cores[0].release();
        assert!(
            cores[3].try_acquire(),
            "a release anywhere frees a slot for any core"
        );
        assert!(!cores[0].try_acquire());
        assert_eq!(pool.refused(), 2);
    }

    #[test]
    fn a_large_limit_leases_in_chunks_and_flush_returns_spares() {
        let pool = SlotPool::new(1024, 2);
        let mut a = Lease::new(Arc::clone(&pool));
        let mut b = Lease::new(Arc::clone(&pool));
        assert!(a.try_acquire());
        assert_eq!(pool.free(), 1024 - 32, "one chunk of 1024 / 32");
        for _ in 0..31 {
            assert!(a.try_acquire());
        }
        assert_eq!(
            pool.free(),
            1024 - 32,
            "the chunk served 32 without the pool"
        );
        let mut n = 32;
        while b.try_acquire() || a.try_acquire() {
            n += 1;
        }
        assert_eq!(n, 1024, "never more than the limit");
        for _ in 0..a.used() {
            a.release();
        }
        assert!(pool.free() >= 1024 - b.used() - 32);
        a.flush();
        assert_eq!(pool.free(), 1024 - b.used());
        drop(b);
        assert_eq!(pool.free(), 1024);
    }
}
