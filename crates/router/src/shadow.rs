//! Detection of routes that can never be chosen.
//!
//! Route `j` is reported as shadowed by route `i` when all of these hold, which together mean
//! that whenever `j` matches a request, `i` matches it too and is preferred:
//!
//! 1. Hosts: both have no host criterion, or `j`'s host patterns are a subset of `i`'s (then for
//!    every host, `i` sits in a host bucket at least as specific as `j`'s best one).
//! 2. Methods: `i` allows any method, or `j` restricts methods to a subset of `i`'s.
//! 3. Headers: every header criterion of `i` is implied by `j`'s (same name and value, or `i`
//!    only asks for presence of a header `j` also constrains).
//! 4. Path and order: the paths are the same criterion (patterns compared without parameter
//!    names) and `i` ranks first within the bucket (method restriction, header count, file
//!    order); or `i` has an exact path and `j` a pattern of only literals spelling that path.
//!
//! Not detected (never reported, so never a false positive): overlaps where `i` covers `j`'s
//! requests only as a union with other routes, or covers them with a different but wider path
//! criterion that still loses on precedence, and routes that can match nothing at all.

use crate::criteria::{rank, Criteria, PathKey};
use crate::path::{segment_count, segments};

/// `(shadowed, shadowing)` pairs, one per shadowed route, in route order; the shadowing route
/// is the first in file order that satisfies the rules.
pub(crate) fn shadowed(routes: &[Criteria]) -> Vec<(usize, usize)> {
    routes
        .iter()
        .enumerate()
        .filter_map(|(j, cj)| {
            routes
                .iter()
                .enumerate()
                .find(|&(i, ci)| i != j && always_beats(i, ci, j, cj))
                .map(|(i, _)| (j, i))
        })
        .collect()
}

/// Whether route `i` wins every request route `j` matches.
fn always_beats(i: usize, ci: &Criteria, j: usize, cj: &Criteria) -> bool {
    let hosts = if cj.hosts.is_empty() {
        ci.hosts.is_empty()
    } else {
        cj.hosts.iter().all(|h| ci.hosts.contains(h))
    };
    let methods = ci.methods.is_empty()
        || (!cj.methods.is_empty() && cj.methods.iter().all(|m| ci.methods.contains(m)));
    let headers = ci.headers.iter().all(|want| {
        cj.headers.iter().any(|have| {
            have.name == want.name && (want.value.is_none() || have.value == want.value)
        })
    });
    let path = if ci.path == cj.path {
        rank(i, &ci.methods, &ci.headers) < rank(j, &cj.methods, &cj.headers)
    } else {
        match (&ci.path, &cj.path) {
            (PathKey::Exact(exact), PathKey::Pattern(pattern)) => spells(pattern, exact),
            _ => false,
        }
    };
    hosts && methods && headers && path
}

/// Whether a pattern has only literal segments and matches exactly `path`.
fn spells(pattern: &[Option<Box<[u8]>>], path: &[u8]) -> bool {
    segment_count(path) == Some(pattern.len())
        && segments(path)
            .zip(pattern)
            .all(|(seg, lit)| lit.as_deref() == Some(seg))
}
