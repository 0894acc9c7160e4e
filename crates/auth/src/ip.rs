//! IP allow/deny lists and the client address behind trusted proxies.
//!
//! Addresses live in one 128-bit space: IPv6 as is, IPv4 as its IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`). So an IPv4 entry matches a client that arrives as `::ffff:1.2.3.4` on a
//! dual-stack socket, and the other way round. A consequence worth knowing: `::/0` is every
//! address, IPv4 included, and `::ffff:0:0/96` is every IPv4 address.
//!
//! A set is a sorted list of merged, disjoint ranges (kept as two tables: IPv4 in 32-bit
//! form, the rest of the space in 128-bit form); a lookup is one binary search in one table,
//! with no allocation.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where IPv4 addresses sit in the 128-bit space (`::ffff:0:0/96`).
const V4_MAPPED: u128 = 0xffff_u128 << 32;

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_MAPPED | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A set of addresses given as CIDR blocks and single addresses, IPv4 and IPv6.
///
/// Entries are `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7` (a /32) or `::1` (a /128).
/// An entry with host bits set (`10.1.2.3/8`) is accepted and normalized to its network
/// (`10.0.0.0/8`), as most firewalls do; the prefix must be a plain decimal number without
/// leading zeros, no larger than 32 (IPv4) or 128 (IPv6). Surrounding whitespace is ignored;
/// anything else unusual (`10/8`, `010.0.0.1`, `0x0a.0.0.0`, `fe80::1%eth0`, `/+8`, `/08`) is
/// refused.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    /// The IPv4 part: inclusive ranges as parallel `first`/`last` arrays, sorted, disjoint.
    v4: Table<u32>,
    /// Everything outside `::ffff:0:0/96`, the same way.
    v6: Table<u128>,
}

/// Sorted, disjoint inclusive ranges, as two arrays (the search touches only `first`).
#[derive(Clone, Default, PartialEq, Eq)]
struct Table<T> {
    first: Vec<T>,
    last: Vec<T>,
}

impl<T: Copy + Ord> Table<T> {
    fn push(&mut self, first: T, last: T) {
        self.first.push(first);
        self.last.push(last);
    }

    #[inline]
    fn contains(&self, k: T) -> bool {
        let i = self.first.partition_point(|&f| f <= k);
        i > 0 && self.last[i - 1] >= k
    }

    fn len(&self) -> usize {
        self.first.len()
    }
}

impl fmt::Debug for IpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpSet")
            .field("v4_ranges", &self.v4.len())
            .field("v6_ranges", &self.v6.len())
            .finish()
    }
}

/// Parses one entry into an inclusive range of the 128-bit space. This is the only CIDR
/// parser in Ringway: the configuration compiler builds its sets with it, so what `validate`
/// accepts is exactly what the data plane enforces.
fn parse_entry(entry: &str) -> Result<(u128, u128), String> {
    let trimmed = entry.trim();
    if trimmed.is_empty() {
        return Err("empty entry: use an IPv4/IPv6 address or CIDR such as 10.0.0.0/8".to_owned());
    }
    let (addr, prefix) = match trimmed.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (trimmed, None),
    };
    // std's parsers are strict: no leading zeros or hex in IPv4 octets, no shorthand such as
    // `10/8`, no zone ids (`fe80::1%eth0`), nothing around the address.
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "invalid address {entry:?}: not an IPv4 or IPv6 address; use an address or CIDR \
such as 10.0.0.0/8 or 2001:db8::/32"
        )
    })?;
    let (max, family) = if ip.is_ipv4() {
        (32, "IPv4")
    } else {
        (128, "IPv6")
    };
    let prefix = match prefix {
        None => max,
        Some(p) => {
            // Plain decimal: no sign, no spaces, no leading zeros (`/08` could be meant as
            // octal or be a typo; either way it is not written the way anyone reads it).
            let canonical = !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'));
            match p.parse::<u32>() {
                Ok(n) if canonical && n <= max => n,
                _ => {
                    return Err(format!(
                        "invalid prefix length in {entry:?}: use a plain decimal number in \
0..={max} for {family}"
                    ))
                }
            }
        }
    };
    // Host bits in the 128-bit space: an IPv4 /p is a /(96 + p) there.
    let host_bits = max - prefix;
    let host_mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let first = key(ip) & !host_mask;
    Ok((first, first | host_mask))
}

impl IpSet {
    /// An empty set.
    pub fn empty() -> IpSet {
        IpSet::default()
    }

    /// Parses entries (see the type's documentation). Every bad entry is reported, with its
    /// index, in one go.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpSet, Vec<(usize, String)>> {
        let mut ranges = Vec::with_capacity(entries.len());
        let mut errors = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match parse_entry(e.as_ref()) {
                Ok(r) => ranges.push(r),
                Err(msg) => errors.push((i, msg)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(IpSet::from_ranges(ranges))
    }

    fn from_ranges(mut ranges: Vec<(u128, u128)>) -> IpSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (first, last) in ranges {
            match merged.last_mut() {
                // Overlapping or adjacent: extend.
                Some(prev) if prev.1 == u128::MAX || first <= prev.1 + 1 => {
                    prev.1 = prev.1.max(last);
                }
                _ => merged.push((first, last)),
            }
        }
        // Split at the edges of the IPv4 block, so IPv4 lookups search 32-bit values.
        const V4_LAST: u128 = V4_MAPPED | 0xffff_ffff;
        let mut set = IpSet::default();
        for (first, last) in merged {
            if first < V4_MAPPED {
                set.v6.push(first, last.min(V4_MAPPED - 1));
            }
            if first <= V4_LAST && last >= V4_MAPPED {
                // Both ends are inside the IPv4 block here: the low 32 bits are the address.
                set.v4
                    .push(first.max(V4_MAPPED) as u32, last.min(V4_LAST) as u32);
            }
            if last > V4_LAST {
                set.v6.push(first.max(V4_LAST + 1), last);
            }
        }
        set
    }

    /// Whether `ip` is in the set. O(log n), no allocation.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.contains(u32::from(v4)),
                None => self.v6.contains(u128::from(v6)),
            },
        }
    }

    /// Whether the set has no address.
    pub fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.len() == 0
    }

    /// Number of disjoint ranges after merging (a range crossing the edge of the IPv4 block
    /// counts once per side).
    pub fn range_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// An allow list and a deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFilter {
    /// `Some`: only these addresses are permitted (an empty set permits nobody). `None`: no
    /// allow list, everyone not denied is permitted.
    pub allow: Option<IpSet>,
    /// Never permitted; wins over `allow`.
    pub deny: IpSet,
}

impl IpFilter {
    /// Whether `ip` may be served: not denied, and in the allow list if there is one.
    #[inline]
    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.deny.contains(ip) && self.allow.as_ref().is_none_or(|allow| allow.contains(ip))
    }

    /// Whether the filter permits everyone (no allow list, nothing denied).
    pub fn is_open(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }
}

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub IpSet);

/// Parses one `X-Forwarded-For` element: an IPv4 or IPv6 address, optionally with a port
/// (`1.2.3.4:80`, `[2001:db8::1]:80`) or in brackets (`[2001:db8::1]`).
fn parse_forwarded(element: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(element).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let ip: Ipv6Addr = addr.parse().ok()?;
        return match tail {
            "" => Some(IpAddr::V6(ip)),
            t if is_port(t.strip_prefix(':')?) => Some(IpAddr::V6(ip)),
            _ => None,
        };
    }
    let (addr, port) = s.rsplit_once(':')?;
    let ip: Ipv4Addr = addr.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Where the right-to-left walk stands after the elements seen so far (see
/// [`TrustedProxies::client_ip`]); lets the walk run left to right without collecting.
enum Walk {
    /// Every element so far is a trusted address; the leftmost one, if any.
    AllTrusted(Option<IpAddr>),
    /// The rightmost stop so far is this untrusted address; everything after it is trusted.
    Client(IpAddr),
    /// The rightmost stop so far is garbage; the trusted address right after it, if any.
    Garbage(Option<IpAddr>),
}

impl TrustedProxies {
    /// Whether `ip` is a trusted proxy.
    #[inline]
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }

    /// The client address of a request that came from `peer` with these `X-Forwarded-For`
    /// field values (in the order they appear; each a comma-separated list).
    ///
    /// nginx's `real_ip_recursive on` semantics: when `peer` is not trusted it is the client,
    /// and the header is not even read. Otherwise the elements are walked from the right
    /// (the last element of the last field first), skipping trusted proxies; the first
    /// untrusted address is the client. When every element is trusted, the leftmost one is
    /// the client. A malformed element (not an address, an empty element) ends the walk: the
    /// client is the last trusted hop before it (the element to its right, or `peer`), since
    /// nothing beyond garbage can be believed. Elements may carry a port (`1.2.3.4:5678`,
    /// `[2001:db8::1]:443`), which is ignored. The result is canonical: an IPv4-mapped IPv6
    /// address comes back as IPv4. No allocation.
    pub fn client_ip(
        &self,
        peer: IpAddr,
        forwarded_for: &mut dyn Iterator<Item = &[u8]>,
    ) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer.to_canonical();
        }
        let mut walk = Walk::AllTrusted(None);
        for field in forwarded_for {
            for element in field.split(|&b| b == b',') {
                walk = match parse_forwarded(trim_ows(element)) {
                    None => Walk::Garbage(None),
                    Some(ip) if !self.is_trusted(ip) => Walk::Client(ip),
                    Some(ip) => match walk {
                        Walk::AllTrusted(None) => Walk::AllTrusted(Some(ip)),
                        Walk::Garbage(None) => Walk::Garbage(Some(ip)),
                        other => other,
                    },
                };
            }
        }
        let ip = match walk {
            Walk::AllTrusted(first) => first.unwrap_or(peer),
            Walk::Client(ip) => ip,
            Walk::Garbage(after) => after.unwrap_or(peer),
        };
        ip.to_canonical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_errors_are_clear() {
        let err =
            IpSet::parse(&["10.0.0.0/33", "::1/129", "x", "10.0.0.0/", "1.2.3.4/+8"]).unwrap_err();
        assert_eq!(err.len(), 5);
        assert!(err[0].1.contains("/33"), "{err:?}");
        assert!(err[1].1.contains("IPv6"), "{err:?}");
        assert!(err[2].1.contains("not an IPv4 or IPv6"), "{err:?}");
    }

    #[test]
    fn merge_adjacent_and_overlapping() {
        let set = IpSet::parse(&["10.0.0.0/25", "10.0.0.128/25", "10.0.0.7"]).unwrap();
        assert_eq!(set.range_count(), 1);
        // ::/0 is the IPv6 space below and above the IPv4 block, and the IPv4 block.
        let set = IpSet::parse(&["::/0", "10.0.0.0/8"]).unwrap();
        assert_eq!(set.range_count(), 3);
        let set = IpSet::parse(&["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24"]).unwrap();
        assert_eq!(set.range_count(), 1);
        let set = IpSet::parse(&["10.0.0.0/25", "10.0.1.0/24"]).unwrap();
        assert_eq!(set.range_count(), 2);
    }
}
