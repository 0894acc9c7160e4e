//! A request path hashed once, for every map of every host bucket visited.
//!
//! The path is cut into its `/`-separated pieces (`/users/42` is `""`, `"users"`, `"42"`).
//! One pass hashes each piece and folds them, which yields at once the hash of the whole path
//! (exact paths), of every prefix ending just before or just after a slash (prefixes on a
//! segment boundary), and of every segment (pattern keys). The first [`MAX_PIECES`] pieces
//! are kept on the stack; the hashes of later ones, needed only for unusually deep paths, are
//! recomputed on demand with the same functions.

use crate::fx::{
    bytes_hash, combine, low_bytes, path_hash, short_hash, splat, word_at, zero_lanes, PATH_SEED,
};

/// Pieces kept on the stack.
pub(crate) const MAX_PIECES: usize = 16;

/// [`bytes_hash`] of `path[start..end]`, reading short pieces as one masked word.
#[inline(always)]
fn piece_hash(path: &[u8], start: usize, end: usize) -> u64 {
    let len = end - start;
    if len > 8 {
        return bytes_hash(&path[start..end]);
    }
    if len == 0 {
        return short_hash(0, 0);
    }
    let word = if start + 8 <= path.len() {
        word_at(path, start)
    } else if path.len() >= 8 {
        // The path's last 8 bytes, shifted so that the piece starts in lane 0.
        word_at(path, path.len() - 8) >> ((start + 8 - path.len()) * 8)
    } else {
        return bytes_hash(&path[start..end]);
    };
    short_hash(len, low_bytes(word, len))
}

/// Number of segments of a path for pattern matching: 0 for `/`, else the number of slashes
/// (`/users/` has two: `users` and an empty one). `None` if it does not start with `/`.
#[inline]
pub(crate) fn segment_count(path: &[u8]) -> Option<usize> {
    match path {
        [b'/'] => Some(0),
        [b'/', ..] => Some(path.iter().filter(|&&c| c == b'/').count()),
        _ => None,
    }
}

/// The segments counted by [`segment_count`] (for a path starting with `/`).
#[inline]
pub(crate) fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let rest = path.get(1..).unwrap_or_default();
    let take = if rest.is_empty() { 0 } else { usize::MAX };
    rest.split(|&c| c == b'/').take(take)
}

/// The hashes of one request path.
pub(crate) struct PathInfo<'a> {
    pub(crate) path: &'a [u8],
    /// Hash of the whole path ([`path_hash`]).
    pub(crate) full: u64,
    /// Number of pieces (slashes + 1).
    pieces: usize,
    /// `folds[k]`: hash of the first `k` pieces joined (`folds[0]` is the seed).
    folds: [u64; MAX_PIECES + 1],
    /// Hash and end of each of the first `MAX_PIECES` pieces (piece `k > 0` starts one past
    /// the end of piece `k - 1`).
    piece_hash: [u64; MAX_PIECES],
    ends: [usize; MAX_PIECES],
}

impl<'a> PathInfo<'a> {
    /// Hashes `path` (one pass).
    #[cfg(test)]
    pub(crate) fn new(path: &'a [u8]) -> Self {
        let mut info = Self::empty(path);
        info.scan();
        info
    }

    /// Nothing hashed yet; [`PathInfo::scan`] fills it in place.
    #[inline(always)]
    pub(crate) fn empty(path: &'a [u8]) -> Self {
        Self {
            path,
            full: PATH_SEED,
            pieces: 0,
            folds: [PATH_SEED; MAX_PIECES + 1],
            piece_hash: [0; MAX_PIECES],
            ends: [0; MAX_PIECES],
        }
    }

    /// Cuts the path into pieces and hashes them.
    #[inline]
    pub(crate) fn scan(&mut self) {
        let path = self.path;
        // Slashes found a word at a time; each ends a piece.
        let len = path.len();
        let mut start = 0;
        let mut i = 0;
        while i + 8 <= len {
            let mut slashes = zero_lanes(word_at(path, i) ^ splat(b'/'));
            while slashes != 0 {
                let end = i + (slashes.trailing_zeros() / 8) as usize;
                self.push(start, end);
                start = end + 1;
                slashes &= slashes - 1;
            }
            i += 8;
        }
        for (end, &c) in path.iter().enumerate().skip(i) {
            if c == b'/' {
                self.push(start, end);
                start = end + 1;
            }
        }
        self.push(start, len);
    }

    /// Adds the piece `path[start..end]`.
    #[inline(always)]
    fn push(&mut self, start: usize, end: usize) {
        let h = piece_hash(self.path, start, end);
        self.full = combine(self.full, h);
        let k = self.pieces;
        if k < MAX_PIECES {
            self.piece_hash[k] = h;
            self.ends[k] = end;
            self.folds[k + 1] = self.full;
        }
        self.pieces = k + 1;
    }

    /// Segment count for patterns (see [`segment_count`]).
    #[inline]
    pub(crate) fn segment_count(&self) -> Option<usize> {
        match self.path {
            [b'/'] => Some(0),
            [b'/', ..] => Some(self.pieces - 1),
            _ => None,
        }
    }

    /// Hash of `path[..len]` where `len` is the whole length, or the position of the slash
    /// with ordinal `slash` (counted from 0 at the left), or one past it.
    #[inline]
    pub(crate) fn prefix_hash(&self, len: usize, slash: usize) -> u64 {
        if len == self.path.len() {
            return self.full;
        }
        // Pieces `0..=slash`, plus an empty one when the slash itself is included.
        if slash < MAX_PIECES {
            let through = self.folds[slash + 1];
            if len == self.ends[slash] {
                return through;
            }
            return combine(through, bytes_hash(b""));
        }
        path_hash(&self.path[..len])
    }

    /// The slashes of the path from the right: `(position, ordinal from the left)`.
    #[inline]
    pub(crate) fn slashes_rev(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.pieces - 1;
        let stored = n.min(MAX_PIECES);
        let tail_start = if n > MAX_PIECES {
            self.ends[MAX_PIECES - 1] + 1
        } else {
            self.path.len()
        };
        let tail = self.path[tail_start..]
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, &c)| c == b'/')
            .zip((MAX_PIECES..n).rev())
            .map(move |((i, _), s)| (tail_start + i, s));
        let head = (0..stored).rev().map(|s| (self.ends[s], s));
        tail.chain(head)
    }

    /// Hash and bytes of segment `i` (piece `i + 1`), for paths starting with `/` and not `/`.
    #[inline(always)]
    pub(crate) fn segment(&self, i: usize) -> (u64, &'a [u8]) {
        let k = i + 1;
        if k < MAX_PIECES {
            let seg = &self.path[self.ends[k - 1] + 1..self.ends[k]];
            return (self.piece_hash[k], seg);
        }
        self.deep_segment(i)
    }

    #[cold]
    fn deep_segment(&self, i: usize) -> (u64, &'a [u8]) {
        let seg = segments(self.path).nth(i).unwrap_or_default();
        (bytes_hash(seg), seg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_hashes_equal_direct_hashes() {
        let deep = format!("{}/x/", "/s".repeat(MAX_PIECES + 3));
        for path in [
            "/",
            "",
            "*",
            "/a",
            "/a/",
            "//",
            "/a//b",
            "/users/42/orders/7",
            "a/b",
            deep.as_str(),
        ] {
            let p = path.as_bytes();
            let info = PathInfo::new(p);
            assert_eq!(info.full, path_hash(p), "{path}");
            assert_eq!(info.segment_count(), segment_count(p), "{path}");
            let mut slash = 0;
            for (i, &c) in p.iter().enumerate() {
                if c == b'/' {
                    assert_eq!(
                        info.prefix_hash(i, slash),
                        path_hash(&p[..i]),
                        "{path} ..{i}"
                    );
                    assert_eq!(
                        info.prefix_hash(i + 1, slash),
                        path_hash(&p[..=i]),
                        "{path} ..={i}"
                    );
                    slash += 1;
                }
            }
            let mut slashes: Vec<(usize, usize)> = p
                .iter()
                .enumerate()
                .filter(|(_, &c)| c == b'/')
                .enumerate()
                .map(|(s, (i, _))| (i, s))
                .collect();
            slashes.reverse();
            assert_eq!(info.slashes_rev().collect::<Vec<_>>(), slashes, "{path}");
            if let Some(n) = info.segment_count() {
                for (i, seg) in segments(p).enumerate() {
                    assert_eq!(
                        info.segment(i),
                        (bytes_hash(seg), seg),
                        "{path} segment {i}"
                    );
                }
                assert_eq!(segments(p).count(), n);
            }
        }
    }
}
