//! The routes of one host bucket (an exact host, a host suffix, or "any host"), indexed by path.
//!
//! * Exact paths: one probe with the hash of the whole path.
//! * Patterns: grouped by segment count, then by which positions are literals (the "mask").
//!   Per mask, the hashes of the request's segments at the literal positions are folded and
//!   probed, so the cost is one probe per distinct mask with the request's segment count, not
//!   one comparison per pattern.
//! * Prefixes: one probe per segment boundary of the request path, longest first, skipped when
//!   no prefix of that length exists.
//!
//! All hashes come from the request's [`PathInfo`], computed once per lookup. Every key holds
//! its candidates already in precedence order, so the first whose method and header criteria
//! hold wins.

use std::collections::HashMap;

use crate::criteria::{first_match, Cand, Criteria, PathKey};
use crate::fx::{bytes_hash, combine, path_hash, same, IdMap, PATTERN_SEED};
use crate::path::PathInfo;
use crate::Headers;

/// One request, as the buckets see it.
pub(crate) struct Request<'a, H: ?Sized> {
    pub(crate) method: &'a [u8],
    pub(crate) path: &'a PathInfo<'a>,
    pub(crate) headers: &'a H,
    /// Segment count of the path (`None` if it does not start with `/`).
    pub(crate) segment_count: Option<usize>,
}

/// Keys with the same hash (almost always one), each with its value.
pub(crate) type Slot<V> = Box<[(Box<[u8]>, V)]>;

/// Groups `(key, value)` pairs by `hash(key)`.
pub(crate) fn slots<V>(
    pairs: impl IntoIterator<Item = (Box<[u8]>, V)>,
    hash: impl Fn(&[u8]) -> u64,
) -> IdMap<Slot<V>> {
    let mut grouped: IdMap<Vec<(Box<[u8]>, V)>> = IdMap::default();
    for (key, value) in pairs {
        grouped.entry(hash(&key)).or_default().push((key, value));
    }
    grouped.into_iter().map(|(h, v)| (h, v.into())).collect()
}

/// The value of `key` (whose hash is `hash`), keys compared with `eq`.
#[inline(always)]
pub(crate) fn probe<'m, V>(
    map: &'m IdMap<Slot<V>>,
    hash: u64,
    key: &[u8],
    eq: impl Fn(&[u8], &[u8]) -> bool,
) -> Option<&'m V> {
    map.get(&hash)?
        .iter()
        .find(|(k, _)| eq(k, key))
        .map(|(_, v)| v)
}

/// A set of small integers (lengths), as a bitmap.
#[derive(Debug, Clone, Default)]
pub(crate) struct LenSet {
    bits: Vec<u64>,
    min: Option<usize>,
}

impl LenSet {
    pub(crate) fn insert(&mut self, n: usize) {
        let word = n / 64;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (n % 64);
        self.min = Some(self.min.map_or(n, |m| m.min(n)));
    }

    #[inline]
    pub(crate) fn contains(&self, n: usize) -> bool {
        self.bits
            .get(n / 64)
            .is_some_and(|w| (w >> (n % 64)) & 1 == 1)
    }

    /// The smallest member (0 when empty).
    #[inline]
    pub(crate) fn min(&self) -> usize {
        self.min.unwrap_or(0)
    }
}

/// Patterns with one segment count and one literal mask.
#[derive(Debug, Clone)]
struct MaskGroup {
    /// Segment indexes holding literals, ascending.
    literal_at: Box<[usize]>,
    /// Segment indexes holding parameters, ascending.
    param_at: Box<[usize]>,
    /// Fold of the literal segments' hashes -> patterns with those literals (more than one
    /// only on a hash collision).
    by_literals: IdMap<Box<[PatternEntry]>>,
}

/// One distinct pattern (up to parameter names) and its routes.
#[derive(Debug, Clone)]
struct PatternEntry {
    /// The literal segments in order.
    literals: Box<[Box<[u8]>]>,
    cands: Box<[Cand]>,
}

/// The routes of one host bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    exact: IdMap<Slot<Box<[Cand]>>>,
    /// Indexed by segment count; groups in precedence order.
    patterns: Box<[Box<[MaskGroup]>]>,
    prefixes: IdMap<Slot<Box<[Cand]>>>,
    prefix_lens: LenSet,
}

type PatternsByMask = HashMap<Box<[bool]>, HashMap<Box<[Box<[u8]>]>, Vec<Cand>>>;

impl Bucket {
    /// Indexes `members` (route index and criteria).
    pub(crate) fn new<'a>(members: impl IntoIterator<Item = (usize, &'a Criteria)>) -> Self {
        let mut exact: HashMap<Box<[u8]>, Vec<Cand>> = HashMap::new();
        let mut prefixes: HashMap<Box<[u8]>, Vec<Cand>> = HashMap::new();
        let mut patterns: Vec<PatternsByMask> = Vec::new();
        for (route, criteria) in members {
            let cand = Cand::new(route, criteria);
            match &criteria.path {
                PathKey::Exact(p) => exact.entry(p.clone()).or_default().push(cand),
                PathKey::Prefix(p) => prefixes.entry(p.clone()).or_default().push(cand),
                PathKey::Pattern(segs) => {
                    if patterns.len() <= segs.len() {
                        patterns.resize_with(segs.len() + 1, HashMap::new);
                    }
                    let mask: Box<[bool]> = segs.iter().map(Option::is_some).collect();
                    let literals: Box<[Box<[u8]>]> = segs.iter().flatten().cloned().collect();
                    patterns[segs.len()]
                        .entry(mask)
                        .or_default()
                        .entry(literals)
                        .or_default()
                        .push(cand);
                }
            }
        }
        let mut prefix_lens = LenSet::default();
        for p in prefixes.keys() {
            prefix_lens.insert(p.len());
        }
        Self {
            exact: slots(exact.into_iter().map(|(k, v)| (k, sorted(v))), path_hash),
            patterns: patterns.into_iter().map(mask_groups).collect(),
            prefixes: slots(prefixes.into_iter().map(|(k, v)| (k, sorted(v))), path_hash),
            prefix_lens,
        }
    }

    /// The most specific matching route of this bucket.
    #[inline]
    pub(crate) fn find<H: Headers + ?Sized>(&self, req: &Request<'_, H>) -> Option<usize> {
        let path = req.path;
        if !self.exact.is_empty() {
            if let Some(cands) = probe(&self.exact, path.full, path.path, same) {
                if let Some(r) = first_match(cands, req.method, req.headers) {
                    return Some(r);
                }
            }
        }
        if let Some(groups) = req.segment_count.and_then(|n| self.patterns.get(n)) {
            if let Some(r) = find_pattern(groups, req) {
                return Some(r);
            }
        }
        if !self.prefixes.is_empty() {
            return self.find_prefix(req);
        }
        None
    }

    fn find_prefix<H: Headers + ?Sized>(&self, req: &Request<'_, H>) -> Option<usize> {
        let info = req.path;
        let path = info.path;
        let mut last = usize::MAX;
        let mut try_len = |len: usize, slash: usize| {
            if len == last || !self.prefix_lens.contains(len) {
                return None;
            }
            last = len;
            let hash = info.prefix_hash(len, slash);
            let cands = probe(&self.prefixes, hash, &path[..len], same)?;
            first_match(cands, req.method, req.headers)
        };
        // Lengths where a prefix can match, longest first: the whole path; then, for each
        // slash from the right, the prefix through the slash and the prefix before it.
        if let Some(r) = try_len(path.len(), 0) {
            return Some(r);
        }
        let min = self.prefix_lens.min();
        for (i, slash) in info.slashes_rev() {
            if i + 1 < min {
                break;
            }
            if let Some(r) = try_len(i + 1, slash) {
                return Some(r);
            }
            if i > 0 {
                if let Some(r) = try_len(i, slash) {
                    return Some(r);
                }
            }
        }
        // `/` matches every path, also ones that do not start with a slash (`*`).
        if path.first() != Some(&b'/') {
            let cands = probe(&self.prefixes, path_hash(b"/"), b"/", same)?;
            return first_match(cands, req.method, req.headers);
        }
        None
    }
}

fn find_pattern<H: Headers + ?Sized>(groups: &[MaskGroup], req: &Request<'_, H>) -> Option<usize> {
    let info = req.path;
    for group in groups {
        if group.param_at.iter().any(|&i| info.segment(i).1.is_empty()) {
            continue;
        }
        let key = group
            .literal_at
            .iter()
            .fold(PATTERN_SEED, |key, &i| combine(key, info.segment(i).0));
        let Some(entries) = group.by_literals.get(&key) else {
            continue;
        };
        for entry in entries.iter() {
            let literals_equal = group
                .literal_at
                .iter()
                .zip(entry.literals.iter())
                .all(|(&i, want)| same(want, info.segment(i).1));
            if literals_equal {
                if let Some(r) = first_match(&entry.cands, req.method, req.headers) {
                    return Some(r);
                }
            }
        }
    }
    None
}

/// Candidates in precedence order.
fn sorted(mut cands: Vec<Cand>) -> Box<[Cand]> {
    cands.sort_by_key(Cand::rank);
    cands.into()
}

/// Mask groups of one segment count in precedence order: more literal segments first, then
/// the one with a literal at the first position where the masks differ.
fn mask_groups(by_mask: PatternsByMask) -> Box<[MaskGroup]> {
    let mut groups: Vec<(Box<[bool]>, MaskGroup)> = by_mask
        .into_iter()
        .map(|(mask, by_literals)| {
            let mut map: IdMap<Vec<PatternEntry>> = IdMap::default();
            for (literals, cands) in by_literals {
                let key = literals
                    .iter()
                    .fold(PATTERN_SEED, |key, lit| combine(key, bytes_hash(lit)));
                map.entry(key).or_default().push(PatternEntry {
                    literals,
                    cands: sorted(cands),
                });
            }
            let positions = |literal: bool| -> Box<[usize]> {
                (0..mask.len()).filter(|&i| mask[i] == literal).collect()
            };
            let group = MaskGroup {
                literal_at: positions(true),
                param_at: positions(false),
                by_literals: map.into_iter().map(|(k, v)| (k, v.into())).collect(),
            };
            (mask, group)
        })
        .collect();
    groups.sort_by(|(a, _), (b, _)| {
        let count = |m: &[bool]| m.iter().filter(|&&l| l).count();
        count(b).cmp(&count(a)).then_with(|| b.cmp(a))
    });
    groups.into_iter().map(|(_, g)| g).collect()
}
