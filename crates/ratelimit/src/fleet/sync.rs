//! The approximate sync mode of a [`FleetLimiter`] (see the [parent's docs](super)): each host
//! decides on its own view of the fleet's state and flushes its counts on an interval.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{FleetKind, FleetLimiter, FleetVerdict};

/// Requests of one key to count in the store (the sync mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    /// The slot the store's answer goes to.
    pub slot: usize,
    /// The key's hash (the store key is derived from it).
    pub key: u64,
    /// Requests admitted here since the last flush.
    pub count: u64,
    /// How long ago the first of them was admitted (ns, at most two intervals).
    pub age_ns: u64,
    /// A quota's window index (0 for a rate).
    pub window: u64,
}

impl FleetLimiter {
    /// The sync mode's flush interval; `None` for leases.
    pub fn sync_interval(&self) -> Option<Duration> {
        self.opts.sync
    }

    /// Decides a request of slot `i` on the host's view of the fleet (the sync mode).
    pub(super) fn check_sync(&self, i: usize, now_ns: u64, now_ms: u64) -> FleetVerdict {
        let s = &self.slots[i];
        let mut v = s.view.load(Ordering::Acquire);
        let held = loop {
            let (next, held) = match self.kind {
                FleetKind::Rate(_) => {
                    let t = self.t_ns;
                    let limit = now_ns.saturating_add(self.tol_ns);
                    let next = v.max(now_ns).saturating_add(t);
                    if next > limit {
                        return FleetVerdict::Deny {
                            retry_after_ns: next - limit,
                        };
                    }
                    (next, (limit - next) / t)
                }
                FleetKind::Quota(q) => {
                    if v >= q.limit {
                        return FleetVerdict::Deny {
                            retry_after_ns: self.window_left_ns(now_ms),
                        };
                    }
                    (v + 1, q.limit - v - 1)
                }
            };
            match s
                .view
                .compare_exchange_weak(v, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break held,
                Err(now) => v = now,
            }
        };
        if s.unsynced.fetch_add(1, Ordering::AcqRel) == 0 {
            s.first_unsynced.store(now_ns, Ordering::Relaxed);
        }
        if !s.queued.load(Ordering::Relaxed) {
            self.queue_slot(i);
        }
        FleetVerdict::Allow { held }
    }

    /// The sync mode's work at `now_ns` (call it every interval): the keys with requests to
    /// count in the store, taken from their slots.
    pub fn take_sync(&self, now_ns: u64, flushes: &mut Vec<Flush>) {
        self.pending.store(false, Ordering::Release);
        // A first request's time read before it was written belongs to the batch before:
        // never date a batch back further than two intervals.
        let longest = self.opts.sync.map_or(0, |i| 2 * i.as_nanos() as u64);
        while let Some(i) = self.queue.pop() {
            let s = &self.slots[i];
            s.queued.store(false, Ordering::Release);
            // The count goes to the key and window the slot had before and after taking it:
            // a window reset or a takeover in between voids it (they zero the count too).
            let (key, window) = (
                s.key.load(Ordering::Acquire),
                s.window.load(Ordering::Acquire),
            );
            let first = s.first_unsynced.load(Ordering::Relaxed);
            let count = s.unsynced.swap(0, Ordering::AcqRel);
            if count == 0
                || key == super::MOVING
                || s.key.load(Ordering::Acquire) != key
                || s.window.load(Ordering::Acquire) != window
            {
                continue;
            }
            flushes.push(Flush {
                slot: i,
                key,
                count,
                age_ns: now_ns.saturating_sub(first).min(longest),
                window,
            });
        }
    }

    /// The store counted `flush` and answered the fleet's state at `now_ns`: a rate's debt
    /// (ns from now to its TAT) or a quota's count in the window. It becomes the host's view,
    /// with the requests admitted here since the flush was taken.
    pub fn synced(&self, flush: &Flush, fleet: u64, now_ns: u64) {
        self.stats.synced.fetch_add(flush.count, Ordering::Relaxed);
        let s = &self.slots[flush.slot];
        let moved = || {
            s.window.load(Ordering::Acquire) != flush.window
                || s.key.load(Ordering::Acquire) != flush.key
        };
        if moved() {
            // The state of a window that has ended here, or of a key whose slot went to
            // another.
            return;
        }
        let mut v = s.view.load(Ordering::Acquire);
        let target = loop {
            let own = s.unsynced.load(Ordering::Acquire);
            let target = match self.kind {
                FleetKind::Rate(_) => now_ns
                    .saturating_add(fleet)
                    .saturating_add(own.saturating_mul(self.t_ns)),
                FleetKind::Quota(_) => fleet.saturating_add(own),
            };
            match s
                .view
                .compare_exchange_weak(v, target, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break target,
                Err(now) => v = now,
            }
        };
        if moved() {
            // Reset meanwhile: the old state must not stay as the new one's view.
            let _ = s
                .view
                .compare_exchange(target, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FleetOptions;
    use super::*;
    use crate::{QuotaSpec, Rate, Window};

    const MS: u64 = 1_000_000;

    /// The sync script's GCRA (ns).
    struct Store {
        tat: u64,
        t: u64,
    }

    impl Store {
        fn flush(&mut self, n: u64, age: u64, now: u64) -> u64 {
            self.tat = self.tat.max(now.saturating_sub(age)) + n * self.t;
            self.tat.saturating_sub(now)
        }
    }

    fn limiters(hosts: usize, kind: FleetKind, interval_ms: u64) -> Vec<FleetLimiter> {
        let opts = FleetOptions {
            sync: Some(Duration::from_millis(interval_ms)),
            ..FleetOptions::default()
        };
        (0..hosts)
            .map(|_| FleetLimiter::new("s", kind, opts))
            .collect()
    }

    /// `hosts` hosts offered `offered`/s each for `secs` at a rate of `rate`/s (burst `burst`),
    /// flushing every `interval_ms` (host `h` offset by `h` ms): what was admitted.
    fn run(hosts: usize, rate: u64, burst: u64, offered: u64, interval_ms: u64, secs: u64) -> u64 {
        let r = Rate::per_second(rate, burst);
        let ls = limiters(hosts, FleetKind::Rate(r), interval_ms);
        let mut store = Store {
            tat: 0,
            t: r.interval_ns(),
        };
        let gap = 1_000_000_000 / offered;
        let (mut admitted, mut next_req) = (0, vec![0u64; hosts]);
        let mut now = 0;
        while now < secs * 1000 * MS {
            for (h, l) in ls.iter().enumerate() {
                while next_req[h] <= now {
                    if let (FleetVerdict::Allow { .. }, _) = l.check(42, next_req[h], 0) {
                        admitted += 1;
                    }
                    next_req[h] += gap;
                }
                if (now / MS + h as u64).is_multiple_of(interval_ms) {
                    let mut flushes = Vec::new();
                    l.take_sync(now, &mut flushes);
                    for f in &flushes {
                        let debt = store.flush(f.count, f.age_ns, now);
                        l.synced(f, debt, now);
                    }
                }
            }
            now += MS;
        }
        admitted
    }

    #[test]
    fn the_fleet_stays_within_the_sync_bound_and_near_the_rate() {
        let (rate, burst, interval, secs) = (1000, 100, 100, 5);
        for (hosts, factor) in [(2_u64, 2_u64), (3, 10)] {
            let admitted = run(
                hosts as usize,
                rate,
                burst,
                rate * factor / hosts,
                interval,
                secs,
            );
            let bound = burst + rate * secs + (hosts - 1) * (burst + 2 * rate * interval / 1000);
            assert!(
                admitted <= bound,
                "{hosts} hosts ×{factor}: {admitted} > {bound}"
            );
            // Over-admission in one interval is paid back in the next ones.
            let target = rate * secs;
            assert!(
                admitted * 100 <= target * 105 && admitted * 100 >= target * 95,
                "{hosts} hosts ×{factor}: {admitted} not within 5% of {target}"
            );
        }
    }

    #[test]
    fn a_host_at_the_rate_is_not_refused_for_its_own_flushes() {
        // A burst far below a flush interval's worth: counting the flushed requests from the
        // flush (not from the first of them) would put the host an interval in debt.
        let admitted = run(1, 1000, 10, 990, 100, 3);
        assert_eq!(admitted, 990 * 3);
    }

    #[test]
    fn an_idle_key_still_in_debt_keeps_its_slot() {
        let opts = FleetOptions {
            capacity: 8,
            sync: Some(Duration::from_millis(100)),
            ..FleetOptions::default()
        };
        let f = FleetLimiter::new("s", FleetKind::Rate(Rate::per_second(10, 10)), opts);
        for k in 1..=8 {
            assert!(matches!(f.check(k, 0, 0).0, FleetVerdict::Allow { .. }));
        }
        let mut flushes = Vec::new();
        f.take_sync(MS, &mut flushes);
        for fl in &flushes {
            // Key 1's fleet is 10 s in debt; the others are idle at the store.
            let debt = if fl.key == 1 { 10_000 * MS } else { 0 };
            f.synced(fl, debt, MS);
        }
        // 1.5 s on, keys 2..=8 busy again and key 1 idle: the ninth key finds no slot, as
        // taking key 1's would forget its debt.
        for k in 2..=8 {
            let _ = f.check(k, 1400 * MS, 0);
        }
        assert_eq!(f.check(9, 1500 * MS, 0).0, FleetVerdict::StoreDown);
        assert!(matches!(
            f.check(1, 1500 * MS, 0).0,
            FleetVerdict::Deny { .. }
        ));
        // Once its debt is paid (10 s), the slot can go.
        assert!(matches!(
            f.check(9, 12_000 * MS, 0).0,
            FleetVerdict::Allow { .. }
        ));
    }

    #[test]
    fn a_quota_counts_the_fleet_and_resets_with_its_window() {
        let spec = QuotaSpec {
            limit: 100,
            window: Window::Minute,
        };
        let ls = limiters(2, FleetKind::Quota(spec), 100);
        let minute = 60_000;
        let mut store = 0;
        let mut admitted = 0;
        // Each host offered 10 a ms for 50 ms: 1,000 asked of a quota of 100.
        for ms in 0..50 {
            for l in &ls {
                for _ in 0..10 {
                    if let (FleetVerdict::Allow { .. }, _) = l.check(3, ms * MS, minute + ms) {
                        admitted += 1;
                    }
                }
                if ms.is_multiple_of(10) {
                    let mut flushes = Vec::new();
                    l.take_sync(ms * MS, &mut flushes);
                    for f in &flushes {
                        assert_eq!(f.window, 1);
                        store += f.count;
                        l.synced(f, store, ms * MS);
                    }
                }
            }
        }
        // The second host admits its first interval unseen, then both see the fleet's count.
        assert!(admitted <= 100 + 100, "{admitted}");
        // ... and the second host's first flush brought it the first host's count: counting
        // alone, each would have admitted the whole quota.
        assert!(
            admitted < 200,
            "{admitted}: the hosts did not see each other"
        );
        assert_eq!(store, admitted, "every admitted request is counted");
        assert!(matches!(
            ls[0].check(3, 60 * MS, minute + 60).0,
            FleetVerdict::Deny { .. }
        ));
        // The next window starts from nothing.
        assert!(matches!(
            ls[0].check(3, 61 * MS, 2 * minute).0,
            FleetVerdict::Allow { held: 99 }
        ));
    }
}
