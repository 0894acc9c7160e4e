//! API keys, stored as SHA-256 digests.
//!
//! The configuration never holds a key, only `sha256:<64 lowercase hex>` of it ([`hash`],
//! which `ringway hash-key` prints). A presented key is hashed and looked up exactly.
//!
//! Why no constant-time comparison is needed: what is compared is the SHA-256 digest of the
//! presented key, never the key itself. A timing difference could at most tell an attacker
//! how many leading bytes of *the digest of their own guess* match a stored digest (or which
//! hash bucket it falls in). Learning digest bytes does not help to find a key that hashes to
//! them (SHA-256 preimage resistance), and keys are expected to be long random strings, so
//! there is nothing to guess byte by byte as with a plain string comparison.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// The prefix of a stored key hash.
pub const HASH_PREFIX: &str = "sha256:";

/// Longest key accepted, in bytes. Longer presented keys are refused without hashing.
pub const MAX_KEY_BYTES: usize = 256;

/// The stored form of `key`: `sha256:` and 64 lowercase hex digits.
pub fn hash(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
    out.push_str(HASH_PREFIX);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The SHA-256 digest of an API key: what the configuration stores (`sha256:<hex>`), parsed
/// once when the configuration is compiled.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// Parses the stored form `sha256:<64 lowercase hex digits>`.
    pub fn parse(stored: &str) -> Result<KeyDigest, String> {
        parse_stored(stored).map(KeyDigest)
    }

    /// The digest of a presented key.
    pub fn of(key: &[u8]) -> KeyDigest {
        KeyDigest(Sha256::digest(key).into())
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HASH_PREFIX)?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Parses a stored hash into its digest.
fn parse_stored(stored: &str) -> Result<[u8; 32], String> {
    let hex = stored.strip_prefix(HASH_PREFIX).ok_or_else(|| {
        format!("expected `{HASH_PREFIX}<64 lowercase hex digits>`, not a raw key or another hash")
    })?;
    if hex.len() != 64 {
        return Err(format!(
            "expected 64 hex digits after `{HASH_PREFIX}`, found {}",
            hex.len()
        ));
    }
    let mut digest = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => digest[i] = (h << 4) | l,
            _ => return Err("hex digits must be 0-9 or lowercase a-f".to_owned()),
        }
    }
    Ok(digest)
}

/// Whether a presented key has an acceptable shape: 1 to [`MAX_KEY_BYTES`] bytes, no
/// control characters.
fn acceptable(presented: &[u8]) -> bool {
    !presented.is_empty()
        && presented.len() <= MAX_KEY_BYTES
        && !presented.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// The configured API keys, each naming a consumer by index.
#[derive(Clone, Default)]
pub struct ApiKeys {
    by_digest: HashMap<[u8; 32], usize>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.by_digest.len())
            .finish()
    }
}

impl ApiKeys {
    /// Builds the table from `(stored hash, consumer index)` pairs. Malformed hashes and a
    /// hash listed twice (for the same or another consumer) are all reported, each with the
    /// index of the entry.
    pub fn new(
        entries: impl IntoIterator<Item = (String, usize)>,
    ) -> Result<ApiKeys, Vec<(usize, String)>> {
        let mut digests = Vec::new();
        let mut errors = Vec::new();
        for (i, (stored, consumer)) in entries.into_iter().enumerate() {
            match KeyDigest::parse(&stored) {
                Ok(digest) => digests.push((i, digest, consumer)),
                Err(msg) => errors.push((i, msg)),
            }
        }
        match ApiKeys::indexed(digests) {
            Ok(keys) if errors.is_empty() => Ok(keys),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                errors.sort_by_key(|(i, _)| *i);
                Err(errors)
            }
        }
    }

    /// Builds the table from parsed `(digest, consumer index)` pairs (as the configuration
    /// compiler produces them). A digest listed twice is reported with both entry indexes.
    pub fn from_digests(
        entries: impl IntoIterator<Item = (KeyDigest, usize)>,
    ) -> Result<ApiKeys, Vec<(usize, String)>> {
        ApiKeys::indexed(
            entries
                .into_iter()
                .enumerate()
                .map(|(i, (digest, consumer))| (i, digest, consumer)),
        )
    }

    fn indexed(
        entries: impl IntoIterator<Item = (usize, KeyDigest, usize)>,
    ) -> Result<ApiKeys, Vec<(usize, String)>> {
        let mut by_digest = HashMap::new();
        let mut first_seen: HashMap<[u8; 32], usize> = HashMap::new();
        let mut errors = Vec::new();
        for (i, KeyDigest(digest), consumer) in entries {
            if let Some(&j) = first_seen.get(&digest) {
                errors.push((i, format!("the same key hash is already entry {j}")));
            } else {
                first_seen.insert(digest, i);
                by_digest.insert(digest, consumer);
            }
        }
        if errors.is_empty() {
            Ok(ApiKeys { by_digest })
        } else {
            Err(errors)
        }
    }

    /// The consumer whose key this is. `None` for an unknown key, and for a key longer than
    /// [`MAX_KEY_BYTES`], empty, or holding control characters (refused without a lookup).
    pub fn lookup(&self, presented: &[u8]) -> Option<usize> {
        if !acceptable(presented) {
            return None;
        }
        self.by_digest.get(&KeyDigest::of(presented).0).copied()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}
