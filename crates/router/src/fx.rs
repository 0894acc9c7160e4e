//! Hashing for the route maps: a small multiplicative hash (FxHash-style, with a folded
//! multiply), computed by the router itself so that a request's host and path are hashed once
//! and probed in several maps.
//!
//! The maps are keyed by these `u64` hashes (passed through unchanged by [`IdHasher`]) and
//! every hit is confirmed by comparing the bytes. Their keys come from the config; requests
//! only look them up, so a client cannot build a collision chain.
//!
//! * [`bytes_hash`]: a byte string (one path segment, one host).
//! * [`host_hash`]: a host, ASCII case-insensitively.
//! * [`path_hash`]: a path as the fold of its `/`-separated pieces, so that the hashes of all
//!   its prefixes ending at a slash come out of one pass (see `path::PathInfo`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The multiplier of rustc's `FxHasher` (v2).
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Start value of [`path_hash`] folds.
pub(crate) const PATH_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// Start value of pattern keys (the fold of their literal segments).
pub(crate) const PATTERN_SEED: u64 = 0x1319_8a2e_0370_7344;

/// A `HashMap` keyed by one of this module's hashes.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Passes a `u64` key through: the keys are already well-mixed hashes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher {
    hash: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed with this; anything else still gets a usable hash.
        self.hash ^= bytes_hash(bytes);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.hash = n;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The 128-bit product of `a` and `b`, high half xor low half: every input bit reaches every
/// output bit (a plain 64-bit multiply never carries a difference in the high bytes of a word
/// down to the low bits, so keys such as `/app10` and `/app11` would share buckets).
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
pub(crate) fn word_at(bytes: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    u64::from_le_bytes(word)
}

#[inline]
fn half_at(bytes: &[u8], i: usize) -> u32 {
    let mut half = [0u8; 4];
    half.copy_from_slice(&bytes[i..i + 4]);
    u32::from_le_bytes(half)
}

/// Bytes 0..len of a little-endian word (len <= 8).
#[inline(always)]
pub(crate) fn low_bytes(word: u64, len: usize) -> u64 {
    if len >= 8 {
        word
    } else {
        word & ((1u64 << (len * 8)) - 1)
    }
}

/// Up to 8 bytes as a zero-padded little-endian word.
#[inline]
fn small_word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |w, (i, &b)| w | (u64::from(b) << (i * 8)))
}

/// Hash of a string of `len <= 8` bytes given as a zero-padded word ([`bytes_hash`] of it).
#[inline(always)]
pub(crate) fn short_hash(len: usize, word: u64) -> u64 {
    fold_mul((len as u64).wrapping_mul(K) ^ word, K)
}

/// Hash of `bytes` (length included), each word passed through `map` first.
#[inline(always)]
fn hash_words(bytes: &[u8], map: impl Fn(u64) -> u64) -> u64 {
    let len = bytes.len();
    if len <= 8 {
        return short_hash(len, map(small_word(bytes)));
    }
    // Whole words, then the last 8 bytes (overlapping): no copy of a variable tail.
    let mut h = (len as u64).wrapping_mul(K);
    let mut i = 0;
    while i + 8 < len {
        h = fold_mul(h ^ map(word_at(bytes, i)), K);
        i += 8;
    }
    fold_mul(h ^ map(word_at(bytes, len - 8)), K)
}

/// Hash of a byte string.
#[inline]
pub(crate) fn bytes_hash(bytes: &[u8]) -> u64 {
    hash_words(bytes, |w| w)
}

/// Hash of a host, the same for any ASCII case.
#[inline]
pub(crate) fn host_hash(host: &[u8]) -> u64 {
    hash_words(host, lower_word)
}

/// ASCII-lowercases the 8 bytes of a word at once (other bytes are left alone).
#[inline]
fn lower_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = w & (0x7f * ONES);
    // High bit of each byte lane: set if the lane (without its high bit) is >= 'A' / > 'Z'.
    let ge_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let gt_z = low7 + (0x7f - u64::from(b'Z')) * ONES;
    let upper = ge_a & !gt_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

/// Folds the next piece's or segment's hash into a path or pattern key.
#[inline]
pub(crate) fn combine(key: u64, piece_hash: u64) -> u64 {
    fold_mul(key ^ piece_hash, K)
}

/// Hash of a path (or any string) as the fold of its `/`-separated pieces from
/// [`PATH_SEED`]: `/a/` is the pieces `""`, `"a"`, `""`.
pub(crate) fn path_hash(path: &[u8]) -> u64 {
    path.split(|&c| c == b'/')
        .fold(PATH_SEED, |h, piece| combine(h, bytes_hash(piece)))
}

/// Byte equality, a word at a time.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && words_equal(a, b, |w| w)
}

/// ASCII case-insensitive equality of `key` (lowercase) and `other` (any case).
#[inline]
pub(crate) fn same_host(key: &[u8], other: &[u8]) -> bool {
    // Hosts usually arrive in lowercase already: try plain equality first.
    key.len() == other.len()
        && (words_equal(key, other, |w| w) || words_equal(key, other, lower_word))
}

/// Compares equal-length strings as (overlapping) words after `map`.
#[inline(always)]
fn words_equal(a: &[u8], b: &[u8], map: impl Fn(u64) -> u64) -> bool {
    let len = a.len();
    let byte = |x: u8| map(u64::from(x));
    match len {
        0 => true,
        1..=3 => {
            byte(a[0]) == byte(b[0])
                && byte(a[len / 2]) == byte(b[len / 2])
                && byte(a[len - 1]) == byte(b[len - 1])
        }
        4..=7 => {
            let pair = |x: &[u8]| u64::from(half_at(x, 0)) | (u64::from(half_at(x, len - 4)) << 32);
            map(pair(a)) == map(pair(b))
        }
        _ => {
            let mut i = 0;
            while i + 8 < len {
                if map(word_at(a, i)) != map(word_at(b, i)) {
                    return false;
                }
                i += 8;
            }
            map(word_at(a, len - 8)) == map(word_at(b, len - 8))
        }
    }
}

/// One `byte` in every lane of a word.
#[inline(always)]
pub(crate) const fn splat(byte: u8) -> u64 {
    0x0101_0101_0101_0101 * byte as u64
}

/// The high bit set exactly in the lanes of `x` that are zero.
#[inline(always)]
pub(crate) fn zero_lanes(x: u64) -> u64 {
    const LOW7: u64 = splat(0x7f);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_hash_equal_and_neighbours_differ() {
        assert_eq!(
            bytes_hash(b"/api/v1/users/1"),
            bytes_hash(String::from("/api/v1/users/1").as_bytes())
        );
        assert_ne!(
            bytes_hash(b"/api/v1/users/1"),
            bytes_hash(b"/api/v1/users/2")
        );
        assert_ne!(bytes_hash(b"/legacy/app10"), bytes_hash(b"/legacy/app11"));
        assert_ne!(bytes_hash(b"ab"), bytes_hash(b"ab\0"));
        assert_ne!(bytes_hash(b""), bytes_hash(b"\0"));
        assert_ne!(path_hash(b"/a"), path_hash(b"/a/"));
        assert_ne!(path_hash(b"/"), path_hash(b""));
    }

    #[test]
    fn host_hash_ignores_ascii_case_only() {
        for (a, b) in [
            ("API.Example.COM", "api.example.com"),
            ("X", "x"),
            ("[::1]", "[::1]"),
            ("ÄBC.example", "Äbc.EXAMPLE"),
        ] {
            assert_eq!(host_hash(a.as_bytes()), host_hash(b.as_bytes()), "{a}");
        }
        // Only A-Z fold: '@' / '`' and '[' / '{' differ by 0x20 too.
        assert_ne!(host_hash(b"@"), host_hash(b"`"));
        assert_ne!(host_hash(b"a[b"), host_hash(b"a{b"));
        assert_ne!(host_hash(&[0xc1]), host_hash(&[0xe1]));
        for byte in 0..=255u8 {
            let word = u64::from(byte) << 24;
            assert_eq!(lower_word(word), u64::from(byte.to_ascii_lowercase()) << 24);
        }
    }

    #[test]
    fn same_host_ignores_ascii_case() {
        let hosts: [&[u8]; 6] = [
            b"a",
            b"ab.c",
            b"api.example",
            b"api.example.com",
            b"a.very.long.host.example.com",
            b"[::1]",
        ];
        for a in hosts {
            let upper = a.to_ascii_uppercase();
            assert!(same_host(a, &upper));
            for b in hosts {
                assert_eq!(same_host(a, b), a == b);
            }
            for i in 0..a.len() {
                let mut c = a.to_vec();
                c[i] ^= 1;
                assert!(!same_host(a, &c));
            }
        }
    }

    #[test]
    fn same_is_byte_equality() {
        let words: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b);
            }
            for i in 0..a.len() {
                let mut c = a.to_vec();
                c[i] ^= 1;
                assert!(!same(a, &c), "{a:?} {i}");
            }
        }
    }
}
