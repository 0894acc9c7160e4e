//! A per-core cache of verified tokens.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use super::{Claims, JwtError, Provider};

/// Bytes at the end of a token that feed the hash.
const HASHED_TAIL: usize = 32;

/// Hashes a token by its length and last [`HASHED_TAIL`] bytes only (with seeded foldhash):
/// the end of a token is its signature, which is as good as random, and hashing all of a
/// ~1 KiB token would cost more than the rest of a hit. The hash only picks the bucket: keys
/// are always compared in full. Flooding is no concern either, since only tokens that verified
/// are inserted, and nobody can choose the signature bytes of a valid token.
#[derive(Default, Clone)]
struct TailHash(foldhash::fast::RandomState);

struct TailHasher(foldhash::fast::FoldHasher<'static>);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

impl Hasher for TailHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0.write_usize(n);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

type Map = HashMap<Box<[u8]>, Entry, TailHash>;

struct Entry {
    claims: Arc<Claims>,
    /// Provider key generation the token was verified with.
    generation: u64,
    /// First second at which the token is expired (`exp + leeway`).
    expires_at: u64,
    /// First second at which the token is valid (`nbf - leeway`, or 0).
    valid_from: u64,
}

/// Verified tokens of one core, so that a client sending the same token again costs a hash
/// lookup instead of a signature check. Not `Sync`: one per core, used through `&mut`.
///
/// * Keyed by the **full token bytes** (compared in full, never by hash alone: a collision
///   must not let one token pass for another), per provider index, and checked against the
///   provider's key generation (a key rotation or a new provider at the same index after a
///   reload invalidates entries).
/// * A hit re-checks `exp` and `nbf` against `now` (with the provider's leeway); an expired
///   entry is dropped and the token verified again, which then fails.
/// * Only successes are cached, so failed attempts cannot fill it.
/// * Bounded: at `capacity` entries, expired ones are swept; if that is not enough,
///   arbitrary entries (in the randomly seeded map order) are evicted down to 7/8 of the
///   capacity, so sweeps are amortized over at least `capacity / 8` insertions.
///
/// Memory: each entry holds the token (at most the provider's `max_token_bytes`) and its
/// parsed claims; size `capacity` accordingly (4,096 entries of 1 KiB tokens are a few MiB).
/// Maps are kept per provider index, so indexes should be the small, dense ones of the
/// configuration.
pub struct TokenCache {
    capacity: usize,
    len: usize,
    maps: Vec<Map>,
    hits: u64,
    misses: u64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            len: 0,
            maps: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The claims of `token` for provider `provider_index`: from the cache when it holds the
    /// token for the provider's current key generation and the token is still valid at
    /// `now_unix_secs`, otherwise from [`Provider::verify`] (caching a success).
    pub fn get_or_verify(
        &mut self,
        provider_index: usize,
        provider: &Provider,
        token: &[u8],
        now_unix_secs: u64,
    ) -> Result<Arc<Claims>, JwtError> {
        if provider_index >= self.maps.len() {
            self.maps.resize_with(provider_index + 1, Map::default);
        }
        let map = &mut self.maps[provider_index];
        if let Some(entry) = map.get(token) {
            if entry.generation == provider.generation()
                && now_unix_secs < entry.expires_at
                && now_unix_secs >= entry.valid_from
            {
                self.hits += 1;
                return Ok(Arc::clone(&entry.claims));
            }
            map.remove(token);
            self.len -= 1;
        }
        self.misses += 1;
        let (generation, result) = provider.verify_with_generation(token, now_unix_secs);
        let claims = Arc::new(result?);
        if self.capacity > 0 {
            if self.len >= self.capacity {
                self.make_room(now_unix_secs);
            }
            let leeway = provider.settings().leeway.as_secs();
            let entry = Entry {
                claims: Arc::clone(&claims),
                generation,
                expires_at: claims.exp.saturating_add(leeway),
                valid_from: claims.nbf.map_or(0, |n| n.saturating_sub(leeway)),
            };
            if self.maps[provider_index]
                .insert(token.into(), entry)
                .is_none()
            {
                self.len += 1;
            }
        }
        Ok(claims)
    }

    /// Drops expired entries; then, if still full, arbitrary ones down to 7/8 of capacity.
    fn make_room(&mut self, now: u64) {
        for map in &mut self.maps {
            map.retain(|_, e| now < e.expires_at);
        }
        self.len = self.maps.iter().map(HashMap::len).sum();
        if self.len >= self.capacity {
            let target = self.capacity - self.capacity.div_ceil(8);
            let mut excess = self.len - target;
            for map in &mut self.maps {
                map.retain(|_, _| {
                    if excess > 0 {
                        excess -= 1;
                        false
                    } else {
                        true
                    }
                });
            }
            self.len = target;
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most tokens held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lookups answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Lookups that went to [`Provider::verify`] so far.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Forgets every token.
    pub fn clear(&mut self) {
        self.maps.clear();
        self.len = 0;
    }
}
