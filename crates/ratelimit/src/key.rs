//! Key hashing with per-limiter random keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// SipHash-1-3 (std's `RandomState`) with random keys drawn per limiter. A keyed PRF rather than
/// a fast unkeyed mix: clients choose the bytes, and colliding keys would share a probe window
/// and could push each other onto the inexact table-full path.
pub(crate) struct KeyHasher(RandomState);

/// Domain separation between client keys and the global key.
const CLIENT: u8 = 1;
const GLOBAL: u8 = 2;

impl KeyHasher {
    pub(crate) fn new() -> Self {
        KeyHasher(RandomState::new())
    }

    pub(crate) fn key(&self, bytes: &[u8]) -> u64 {
        let mut h = self.0.build_hasher();
        h.write_u8(CLIENT);
        h.write(bytes);
        nonzero(h.finish())
    }

    pub(crate) fn global(&self) -> u64 {
        let mut h = self.0.build_hasher();
        h.write_u8(GLOBAL);
        nonzero(h.finish())
    }
}

/// Keys are never 0: tag 0 marks an empty slot.
#[inline]
pub(crate) fn nonzero(h: u64) -> u64 {
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_seeded_stable_and_nonzero() {
        let (a, b) = (KeyHasher::new(), KeyHasher::new());
        assert_eq!(a.key(b"alice"), a.key(b"alice"));
        assert_ne!(a.key(b"alice"), a.key(b"bob"));
        assert_ne!(a.key(b"alice"), b.key(b"alice"), "per-limiter seed");
        assert_ne!(a.key(b""), a.global());
        assert_eq!(a.global(), a.global());
        assert_eq!(nonzero(0), 1);
    }
}
