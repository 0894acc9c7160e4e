//! Hashing of consistent-hash keys and ring points: FNV-1a, then a finaliser so that short,
//! similar inputs (`user-1`, `user-2`) land far apart on the ring.

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// A well-mixed 64-bit hash of `bytes`, stable across runs, platforms and versions of Rust.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix64(h)
}

/// The ring position of virtual node `replica` of the endpoint whose identity hashes to `id`.
pub(crate) fn point(id: u64, replica: u32) -> u64 {
    mix64(id ^ mix64(u64::from(replica).wrapping_add(0x632B_E59B_D9B4_E019)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // FNV-1a of "" is the offset basis; pin the finalised values so the ring never
        // silently changes between releases (that would move every sticky key).
        assert_eq!(hash64(b""), mix64(FNV_OFFSET));
        assert_eq!(hash64(b"a"), mix64(0xAF63_DC4C_8601_EC8C));
        assert_ne!(hash64(b"user-1"), hash64(b"user-2"));
        assert_ne!(point(1, 0), point(1, 1));
        assert_ne!(point(1, 0), point(2, 0));
    }
}

/// A generator for `seed`, spread through [`mix64`] first: nearby seeds (core 0, core 1) give
/// unrelated sequences.
pub(crate) fn seeded(seed: u64) -> crate::Rng {
    crate::Rng::with_seed(mix64(seed))
}

/// The splitmix64 / murmur3 finaliser: a bijection on `u64` with full avalanche. Kept by hand
/// on purpose: ring points must stay where they are across versions and processes (a
/// generator crate makes no such promise), so a reload or upgrade moves no keys.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod mix_tests {
    #[test]
    fn mix64_is_the_splitmix64_finaliser() {
        // splitmix64 seeded with 0: its first two outputs are mix64 of 1 and 2 golden steps.
        const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
        assert_eq!(super::mix64(GOLDEN), 0xE220_A839_7B1D_CDAF);
        assert_eq!(super::mix64(GOLDEN.wrapping_mul(2)), 0x6E78_9E6A_A1B9_65F4);
    }
}
