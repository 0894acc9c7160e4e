//! Request ids: kept from the client when well-formed, generated otherwise, never allocated.

/// Longest request id accepted from a client (and the length of generated ones' buffer).
pub const REQUEST_ID_MAX_LEN: usize = 64;

/// A request id stored inline (no heap allocation on the hot path).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; REQUEST_ID_MAX_LEN],
}

impl RequestId {
    /// Accepts a client-supplied id if it is 1..=64 bytes of `[A-Za-z0-9._:-]`; such ids are
    /// safe to echo in headers, logs and JSON without escaping.
    pub fn parse(value: &[u8]) -> Option<Self> {
        if value.is_empty() || value.len() > REQUEST_ID_MAX_LEN {
            return None;
        }
        if !value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return None;
        }
        let mut bytes = [0u8; REQUEST_ID_MAX_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(Self {
            len: value.len() as u8,
            bytes,
        })
    }

    /// The id's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `parse`, hex in `RequestIdGen`).
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Generates unique 32-hex-digit ids per core: a random 64-bit prefix fixed per generator
/// followed by a counter, so no two cores (or restarts) collide in practice.
#[derive(Debug)]
pub struct RequestIdGen {
    prefix: u64,
    counter: u64,
}

impl RequestIdGen {
    /// A generator whose prefix mixes `seed` (e.g. core index) with process-wide entropy.
    pub fn new(seed: u64) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(seed);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Self {
            prefix: h.finish(),
            counter: 0,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> RequestId {
        self.counter = self.counter.wrapping_add(1);
        let mut bytes = [0u8; REQUEST_ID_MAX_LEN];
        write_hex(&mut bytes[..16], self.prefix);
        write_hex(&mut bytes[16..32], self.counter);
        RequestId { len: 32, bytes }
    }
}

fn write_hex(out: &mut [u8], v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out.iter_mut().enumerate() {
        *b = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_safe_ids_only() {
        assert_eq!(
            RequestId::parse(b"abc-123_x.y:z").unwrap().as_str(),
            "abc-123_x.y:z"
        );
        for bad in [&b""[..], b"a b", b"a\"b", b"\xff", &[b'a'; 65]] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RequestId::parse(&[b'a'; 64]).is_some());
    }

    #[test]
    fn generated_ids_are_unique_hex() {
        let mut g = RequestIdGen::new(1);
        let a = g.next_id();
        let b = g.next_id();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert!(RequestId::parse(a.as_bytes()).is_some());
    }
}
