//! A route's match criteria, normalised once: hosts and header names lowercased, sets sorted
//! and deduplicated, pattern parameters reduced to "any one non-empty segment".

use std::cmp::Reverse;

use ringway_config::model::{HostMatch, PathMatch, Route, Segment};

use crate::fx::same;
use crate::Headers;

/// One host pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HostKey {
    /// The whole host, lowercase.
    Exact(Box<[u8]>),
    /// The suffix with its leading dot, lowercase.
    Suffix(Box<[u8]>),
}

/// A route's path criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathKey {
    /// Exactly these bytes.
    Exact(Box<[u8]>),
    /// A prefix on a segment boundary (always on one if it ends with `/`).
    Prefix(Box<[u8]>),
    /// One entry per segment: `Some(literal)` or `None` for a parameter.
    Pattern(Box<[Option<Box<[u8]>>]>),
}

/// A header criterion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HeaderCrit {
    /// Lowercase name.
    pub(crate) name: Box<str>,
    /// `None`: present with any value; `Some(v)`: some value equals `v` exactly.
    pub(crate) value: Option<Box<[u8]>>,
}

/// All criteria of one route.
#[derive(Debug, Clone)]
pub(crate) struct Criteria {
    /// Host patterns, sorted and deduplicated; empty = any host.
    pub(crate) hosts: Vec<HostKey>,
    /// Path criterion.
    pub(crate) path: PathKey,
    /// Methods, sorted and deduplicated; empty = any method.
    pub(crate) methods: Box<[Box<[u8]>]>,
    /// Header criteria, sorted and deduplicated; all must hold.
    pub(crate) headers: Box<[HeaderCrit]>,
}

impl Criteria {
    /// Normalises one route's criteria.
    pub(crate) fn new(route: &Route) -> Self {
        let m = &route.matcher;
        let mut hosts: Vec<HostKey> = m
            .hosts
            .iter()
            .map(|h| match h {
                HostMatch::Exact(host) => HostKey::Exact(lower(host)),
                HostMatch::Suffix(suffix) => {
                    let mut s = lower(suffix).into_vec();
                    if s.first() != Some(&b'.') {
                        s.insert(0, b'.');
                    }
                    HostKey::Suffix(s.into())
                }
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        let path = match &m.path {
            PathMatch::Exact(p) => PathKey::Exact(bytes(p)),
            // An empty prefix would match nothing on a boundary; read it as the catch-all.
            PathMatch::Prefix(p) if p.is_empty() => PathKey::Prefix(bytes("/")),
            PathMatch::Prefix(p) => PathKey::Prefix(bytes(p)),
            PathMatch::Pattern(segments) => PathKey::Pattern(
                segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(text) => Some(bytes(text)),
                        Segment::Param(_) => None,
                    })
                    .collect(),
            ),
        };
        let mut methods: Vec<Box<[u8]>> = m.methods.iter().map(|s| bytes(s)).collect();
        methods.sort();
        methods.dedup();
        let mut headers: Vec<HeaderCrit> = m
            .headers
            .iter()
            .map(|h| HeaderCrit {
                name: h.name.to_ascii_lowercase().into(),
                value: h.value.as_deref().map(bytes),
            })
            .collect();
        headers.sort();
        headers.dedup();
        Self {
            hosts,
            path,
            methods: methods.into(),
            headers: headers.into(),
        }
    }
}

fn bytes(s: &str) -> Box<[u8]> {
    s.as_bytes().into()
}

fn lower(s: &str) -> Box<[u8]> {
    s.to_ascii_lowercase().into_bytes().into()
}

/// Order among routes with the same path criterion in the same host bucket: routes restricting
/// methods first, then more header criteria, then file order (smaller is better).
pub(crate) fn rank(index: usize, methods: &[Box<[u8]>], headers: &[HeaderCrit]) -> RankKey {
    (methods.is_empty(), Reverse(headers.len()), index)
}

/// See [`rank`].
pub(crate) type RankKey = (bool, Reverse<usize>, usize);

/// A route as a member of a host bucket, with what is left to check once host and path match.
#[derive(Debug, Clone)]
pub(crate) struct Cand {
    /// Index into the routes given to `Router::new`.
    pub(crate) route: usize,
    methods: Box<[Box<[u8]>]>,
    headers: Box<[HeaderCrit]>,
}

impl Cand {
    pub(crate) fn new(route: usize, criteria: &Criteria) -> Self {
        Self {
            route,
            methods: criteria.methods.clone(),
            headers: criteria.headers.clone(),
        }
    }

    /// See [`rank`].
    pub(crate) fn rank(&self) -> RankKey {
        rank(self.route, &self.methods, &self.headers)
    }

    /// Whether the method and header criteria hold.
    #[inline]
    pub(crate) fn matches<H: Headers + ?Sized>(&self, method: &[u8], headers: &H) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| same(m, method)))
            && self.headers.iter().all(|c| match &c.value {
                None => headers.any_value(&c.name, &mut |_| true),
                Some(want) => headers.any_value(&c.name, &mut |v| same(v, want)),
            })
    }
}

/// The first candidate (in precedence order) whose method and header criteria hold.
#[inline]
pub(crate) fn first_match<H: Headers + ?Sized>(
    cands: &[Cand],
    method: &[u8],
    headers: &H,
) -> Option<usize> {
    cands
        .iter()
        .find(|c| c.matches(method, headers))
        .map(|c| c.route)
}
