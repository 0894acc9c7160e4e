//! A core's bounded map of per-key lease state: a std `HashMap` keyed by the (already seeded and
//! hashed) key, never holding more than a fixed number of entries. When full, entries that hold
//! nothing are dropped, then the least recently used quarter is evicted and handed back to be
//! settled (their held tokens returned): O(1) amortized per insert, no growth under a flood of
//! new keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// What the map needs to know about an entry.
pub(crate) trait Entry: Default {
    /// Last access time (for LRU eviction).
    fn last(&self) -> u64;
    /// Whether dropping the entry at `now` loses anything (held tokens, a cached denial, state of
    /// the local fallback path).
    fn live(&self, now: u64) -> bool;
}

/// Keys are SipHash outputs under a secret seed: used as their own hash.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The bounded map.
pub(crate) struct LocalMap<E> {
    map: HashMap<u64, E, BuildHasherDefault<KeyHasher>>,
    max: usize,
    lasts: Vec<u64>,
}

impl<E: Entry> LocalMap<E> {
    /// A map holding at most `max_entries` (at least 4).
    pub(crate) fn new(max_entries: usize) -> Self {
        LocalMap {
            map: HashMap::default(),
            max: max_entries.max(4),
            lasts: Vec::new(),
        }
    }

    /// Most entries the map will ever hold.
    pub(crate) fn max_entries(&self) -> usize {
        self.max
    }

    /// The key's entry, inserted fresh (`Default`) if absent. When the map is full, first makes
    /// room, calling `evicted` for every live entry it drops.
    #[inline]
    pub(crate) fn get_or_insert(
        &mut self,
        key: u64,
        now: u64,
        evicted: impl FnMut(u64, &E),
    ) -> &mut E {
        if self.map.len() + 1 < self.max {
            // Room for one more: one lookup.
            return self.map.entry(key).or_default();
        }
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            self.make_room(now, evicted);
        }
        self.map.entry(key).or_default()
    }

    #[cold]
    fn make_room(&mut self, now: u64, mut evicted: impl FnMut(u64, &E)) {
        self.map.retain(|_, e| e.live(now));
        let keep = self.max - self.max / 4;
        if self.map.len() <= keep {
            return;
        }
        // Evict the least recently used entries down to three quarters of the bound.
        self.lasts.clear();
        self.lasts.extend(self.map.values().map(|e| e.last()));
        let cut = self.map.len() - keep;
        let (_, &mut threshold, _) = self.lasts.select_nth_unstable(cut - 1);
        let mut dropped = 0;
        self.map.retain(|&k, e| {
            if dropped < cut && e.last() <= threshold {
                dropped += 1;
                evicted(k, e);
                false
            } else {
                true
            }
        });
    }

    /// All entries, with their keys.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&u64, &mut E)> {
        self.map.iter_mut()
    }

    /// Entries in use.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Default, Debug)]
    struct E {
        last: u64,
        live_until: u64,
    }
    impl Entry for E {
        fn last(&self) -> u64 {
            self.last
        }
        fn live(&self, now: u64) -> bool {
            now < self.live_until
        }
    }

    fn touch(m: &mut LocalMap<E>, key: u64, now: u64, live_until: u64) -> usize {
        let mut evicted = 0;
        let e = m.get_or_insert(key, now, |_, _| evicted += 1);
        e.last = now;
        e.live_until = live_until;
        evicted
    }

    #[test]
    fn bounded_and_evicts_least_recently_used() {
        let mut m = LocalMap::<E>::new(256);
        let mut evicted = 0;
        for key in 1..=10_000u64 {
            evicted += touch(&mut m, key, key, u64::MAX);
            assert!(m.len() <= 256);
        }
        assert_eq!(evicted + m.len(), 10_000);
        assert!(m.len() > 192);
        // The most recent keys survive, the oldest do not.
        assert!(m.map.contains_key(&10_000));
        assert!(!m.map.contains_key(&1));
        assert!(m.map.capacity() < 1024, "no growth past the bound");
    }

    #[test]
    fn dead_entries_go_first_without_settling() {
        let mut m = LocalMap::<E>::new(64);
        // One live key, touched first (the oldest), then a flood of dead ones.
        touch(&mut m, 1, 0, u64::MAX);
        let mut evicted = 0;
        for key in 2..=100_000u64 {
            evicted += touch(&mut m, key, key, key);
        }
        assert_eq!(evicted, 0, "only dead entries were dropped");
        assert!(m.map.contains_key(&1), "the live entry stays");
    }

    #[test]
    fn recently_used_entries_are_kept() {
        let mut m = LocalMap::<E>::new(64);
        for round in 0..100u64 {
            // Key 7 is touched every round; 10 new keys per round.
            touch(&mut m, 7, round * 11, u64::MAX);
            for k in 0..10 {
                touch(&mut m, 1000 + round * 10 + k, round * 11 + k + 1, u64::MAX);
            }
        }
        assert!(m.map.contains_key(&7));
    }
}
