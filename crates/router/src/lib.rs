//! Ringway's route table: a listener's routes compiled once into hash-indexed host buckets, then
//! looked up per request without allocating.
//!
//! # Matching
//!
//! A route matches a request when all of its criteria hold:
//!
//! * **Host** (any of the patterns; none = any host). The `Host` value is compared
//!   case-insensitively without its port (`Example.COM:8080` is `example.com`; an IPv6 literal
//!   keeps its brackets, `[::1]:8080` is `[::1]`). An exact pattern equals the host; a suffix
//!   pattern `*.example.com` (stored as `.example.com`) matches hosts ending in it with at least
//!   one character before, never `example.com` itself. A trailing dot is not removed. A
//!   missing or empty host matches only routes without a host criterion.
//! * **Path** (without the query string; bytes compared exactly, no decoding):
//!   exact equality; or a prefix on a segment boundary (`/api` matches `/api` and `/api/x`, not
//!   `/apix`; a prefix ending in `/` such as `/api/` matches paths starting with it, so not
//!   `/api`; `/` matches every path); or a pattern, whose segments are those after the leading
//!   slash (`/` has none, `/users/` has two: `users` and an empty one): literals compare exactly,
//!   a parameter matches one non-empty segment, and the counts must be equal, so
//!   `/users/{id}` matches `/users/42` but not `/users/` or `/users/42/x`. A path that does not
//!   start with `/` (`*`) matches only exact paths and the `/` prefix.
//! * **Method** (any of them; none = any method), case-sensitive.
//! * **Headers** (all of them): present, or some value exactly equal.
//!
//! # Precedence
//!
//! When several routes match, the most specific wins, deterministically:
//!
//! 1. **Host specificity**: routes with the exact host, then routes with the longest matching
//!    `*.suffix`, then shorter suffixes, then routes without a host criterion. A route is found
//!    in a less specific host bucket only when no route of a more specific bucket matches the
//!    rest of the request.
//! 2. **Path**: an exact path, then a pattern, then a prefix. Between patterns (which all have
//!    the request's segment count): more literal segments first, then the one with a literal
//!    where the other has a parameter at the first position they differ
//!    (`/users/me/{x}` before `/users/{id}/x`). Between prefixes: longer first.
//! 3. **Methods**: routes restricting methods before routes allowing any method.
//! 4. **Headers**: more (distinct) header criteria first.
//! 5. **File order**: the earlier route.
//!
//! # Shadowed routes
//!
//! [`Router::shadowed`] reports routes that can never be chosen because another route wins
//! every request they match. It is sound (never reports a route that can win) but not
//! complete. Detected:
//!
//! * routes with the same criteria as another (hosts, path, methods and headers as sets,
//!   pattern parameter names ignored): the later one in file order is shadowed;
//! * more generally, route `j` is shadowed by `i` when `j`'s hosts are a subset of `i`'s (or
//!   neither has any), `j`'s methods a subset of `i`'s (or `i` allows any), `i`'s header
//!   criteria are implied by `j`'s, the paths are the same criterion and `i` ranks first by
//!   rules 3–5 (e.g. a later `GET /x` after an earlier `GET,POST /x`);
//! * a pattern made only of literals when a route with that exact path covers it as above
//!   (exact paths come first whatever the file order).
//!
//! Not detected: `j` covered only by the union of several routes, or by a wider path
//! criterion of another kind.
//!
//! # Cost
//!
//! A lookup allocates nothing, and its cost depends on the shapes of the routes, not on their
//! number:
//!
//! * The path is hashed once: one pass cuts it at its slashes and hashes the pieces, which
//!   gives the hashes of the whole path, of every prefix ending at a segment boundary and of
//!   every segment.
//! * The host (without its port) is hashed ASCII case-insensitively and probed in the
//!   exact-host map, then each suffix starting at one of its dots, longest first, whose length
//!   some `*.suffix` has.
//! * In each host bucket visited (until one has a match): one probe for the exact path, one
//!   per distinct pattern shape (where its literals are) with the request's segment count,
//!   and one per segment boundary whose length some prefix of the bucket has.
//!
//! The maps are std `HashMap`s keyed by a small multiplicative hash the router computes
//! itself; each hit is confirmed by comparing bytes. Their keys come from the config, so
//! requests cannot build collision chains.

mod bucket;
mod criteria;
mod fx;
mod path;
mod shadow;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use ringway_config::model::Route;

use crate::bucket::{probe, slots, Bucket, LenSet, Request, Slot};
use crate::criteria::{Criteria, HostKey};
use crate::fx::{host_hash, same_host, IdMap};
use crate::path::PathInfo;

/// A compiled route table for one listener. Immutable and `Send + Sync`: build it once per
/// config and share it.
#[derive(Debug, Clone)]
pub struct Router {
    /// Normalised criteria per route, for [`Router::shadowed`].
    criteria: Vec<Criteria>,
    /// Lowercase exact host -> its bucket.
    exact_hosts: IdMap<Slot<Bucket>>,
    /// Lowercase suffix with its leading dot -> its bucket.
    suffix_hosts: IdMap<Slot<Bucket>>,
    /// Lengths of the keys of `suffix_hosts`.
    suffix_lens: LenSet,
    /// Routes without a host criterion.
    any_host: Bucket,
}

impl Router {
    /// Compiles a listener's routes (in file order). Index `i` refers to `routes[i]`.
    pub fn new(routes: &[Route]) -> Self {
        let criteria: Vec<Criteria> = routes.iter().map(Criteria::new).collect();
        let mut by_host: HashMap<&HostKey, Vec<usize>> = HashMap::new();
        let mut any_host = Vec::new();
        for (i, c) in criteria.iter().enumerate() {
            if c.hosts.is_empty() {
                any_host.push(i);
            }
            for host in &c.hosts {
                by_host.entry(host).or_default().push(i);
            }
        }
        let bucket =
            |members: Vec<usize>| Bucket::new(members.into_iter().map(|i| (i, &criteria[i])));
        let mut exact = Vec::new();
        let mut suffix = Vec::new();
        let mut suffix_lens = LenSet::default();
        for (host, members) in by_host {
            match host {
                HostKey::Exact(h) => exact.push((h.clone(), bucket(members))),
                HostKey::Suffix(s) => {
                    suffix_lens.insert(s.len());
                    suffix.push((s.clone(), bucket(members)));
                }
            }
        }
        let any_host = bucket(any_host);
        Self {
            criteria,
            exact_hosts: slots(exact, host_hash),
            suffix_hosts: slots(suffix, host_hash),
            suffix_lens,
            any_host,
        }
    }

    /// The most specific route matching the request (see the crate docs for the rules), by
    /// index into the routes given to [`Router::new`]; `None` if no route matches.
    ///
    /// * `host`: the `Host` header value as received (may carry `:port`, any case).
    /// * `method`: as received (case-sensitive; methods in the config are uppercase).
    /// * `path`: the request path without the query string, e.g. `b"/users/42"`.
    /// * `headers`: the request's header fields.
    pub fn route(
        &self,
        host: &[u8],
        method: &[u8],
        path: &[u8],
        headers: &(impl Headers + ?Sized),
    ) -> Option<usize> {
        // Filled in place: the struct is a few hundred bytes, not worth a move.
        let mut path = PathInfo::empty(path);
        path.scan();
        let req = Request {
            method,
            segment_count: path.segment_count(),
            path: &path,
            headers,
        };
        if !(self.exact_hosts.is_empty() && self.suffix_hosts.is_empty()) {
            let host = host_name(host);
            if !host.is_empty() {
                if let Some(r) = self.find_host(host, &req) {
                    return Some(r);
                }
            }
        }
        self.any_host.find(&req)
    }

    /// The exact-host bucket, then the suffix buckets from the longest, as far as one matches.
    #[inline]
    fn find_host<H: Headers + ?Sized>(&self, host: &[u8], req: &Request<'_, H>) -> Option<usize> {
        if !self.exact_hosts.is_empty() {
            if let Some(bucket) = probe(&self.exact_hosts, host_hash(host), host, same_host) {
                if let Some(r) = bucket.find(req) {
                    return Some(r);
                }
            }
        }
        if !self.suffix_hosts.is_empty() {
            // Longest suffix first: from the leftmost dot (not at position 0).
            for (i, _) in host.iter().enumerate().skip(1).filter(|(_, &c)| c == b'.') {
                let suffix = &host[i..];
                if !self.suffix_lens.contains(suffix.len()) {
                    continue;
                }
                if let Some(bucket) =
                    probe(&self.suffix_hosts, host_hash(suffix), suffix, same_host)
                {
                    if let Some(r) = bucket.find(req) {
                        return Some(r);
                    }
                }
            }
        }
        None
    }

    /// Routes that can never be chosen because another route wins every request they match,
    /// as `(shadowed index, shadowing index)` pairs in order of the shadowed route. Sound (a
    /// reported route can never win) but not complete; see the crate docs for what is
    /// detected.
    pub fn shadowed(&self) -> Vec<(usize, usize)> {
        shadow::shadowed(&self.criteria)
    }

    /// Number of routes compiled.
    pub fn len(&self) -> usize {
        self.criteria.len()
    }

    /// Whether there are no routes (every lookup returns `None`).
    pub fn is_empty(&self) -> bool {
        self.criteria.is_empty()
    }
}

/// The host without its port (an IPv6 literal keeps its brackets).
#[inline]
fn host_name(host: &[u8]) -> &[u8] {
    let end = if host.first() == Some(&b'[') {
        memchr::memchr(b']', host).map_or(host.len(), |i| i + 1)
    } else {
        memchr::memchr(b':', host).unwrap_or(host.len())
    };
    &host[..end]
}

/// Header access for matching, implemented by the data plane over its parsed head without
/// allocation.
pub trait Headers {
    /// Calls `f` with each value of header `name` (lowercase ASCII name; the implementor
    /// compares names case-insensitively) until `f` returns true; returns whether it did.
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

/// `(name, value)` pairs, names in any case: for tests, benches and tools.
impl Headers for [(&str, &str)] {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && f(v.as_bytes()))
    }
}

/// Same as the slice implementation.
impl<const N: usize> Headers for [(&str, &str); N] {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self[..].any_value(name, f)
    }
}

/// A request without header fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn any_value(&self, _name: &str, _f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
}
