//! IP filter, trusted proxies, API keys and WWW-Authenticate.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::IpAddr;

use ringway_auth::apikey::{self, ApiKeys};
use ringway_auth::ip::{IpFilter, IpSet, TrustedProxies};
use ringway_auth::jwt::JwtError;
use ringway_auth::www;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set(entries: &[&str]) -> IpSet {
    IpSet::parse(entries).unwrap()
}

// ---------------------------------------------------------------- IpSet

#[test]
fn ipset_membership_table() {
    let s = set(&[
        "10.0.0.0/8",
        "192.0.2.7",
        "172.16.5.9/12", // host bits set: normalized to 172.16.0.0/12
        "2001:db8::/32",
        "::1",
        "fe80::1/10",
    ]);
    let table = [
        ("10.0.0.0", true),
        ("10.255.255.255", true),
        ("11.0.0.0", false),
        ("9.255.255.255", false),
        ("192.0.2.7", true),
        ("192.0.2.6", false),
        ("192.0.2.8", false),
        ("172.16.0.0", true),
        ("172.31.255.255", true),
        ("172.32.0.0", false),
        ("::ffff:10.1.2.3", true), // IPv4-mapped IPv6 matches the IPv4 entry
        ("::ffff:192.0.2.7", true),
        ("::ffff:11.1.2.3", false),
        ("2001:db8::1", true),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2001:db9::", false),
        ("2001:db7:ffff::", false),
        ("::1", true),
        ("::2", false),
        ("::", false),
        ("fe80::", true),
        ("febf:ffff::1", true),
        ("fec0::", false),
        ("0.0.0.0", false),
        ("255.255.255.255", false),
    ];
    for (addr, expected) in table {
        assert_eq!(s.contains(ip(addr)), expected, "{addr}");
    }
}

#[test]
fn ipset_prefix_edges() {
    let all4 = set(&["0.0.0.0/0"]);
    assert!(all4.contains(ip("0.0.0.0")));
    assert!(all4.contains(ip("255.255.255.255")));
    assert!(all4.contains(ip("::ffff:1.2.3.4")));
    assert!(
        !all4.contains(ip("2001:db8::1")),
        "IPv4 /0 is every IPv4 address only"
    );
    let all6 = set(&["::/0"]);
    assert!(all6.contains(ip("::")));
    assert!(all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(
        all6.contains(ip("1.2.3.4")),
        "::/0 is every address (IPv4 is mapped)"
    );
    let host4 = set(&["198.51.100.1/32"]);
    assert!(host4.contains(ip("198.51.100.1")));
    assert!(!host4.contains(ip("198.51.100.0")));
    assert!(!host4.contains(ip("198.51.100.2")));
    let host6 = set(&["2001:db8::5/128"]);
    assert!(host6.contains(ip("2001:db8::5")));
    assert!(!host6.contains(ip("2001:db8::4")));
    assert!(!host6.contains(ip("2001:db8::6")));
    let mapped = set(&["::ffff:0:0/96"]);
    assert!(mapped.contains(ip("8.8.8.8")));
    assert!(!mapped.contains(ip("2001:db8::1")));
    assert!(!IpSet::empty().contains(ip("1.2.3.4")));
    assert!(set(&[" 10.0.0.0/8 "]).contains(ip("10.1.1.1")));
}

#[test]
fn ipset_rejects_bad_entries_all_at_once() {
    let err = IpSet::parse(&[
        "10.0.0.0/8",
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0.0/-1",
        "10.0.0.0/8/9",
        "10.0.0/8",
        "010.0.0.1",
        "example.com",
        "",
        "fe80::1%eth0",
        "1.2.3.4/ 8",
    ])
    .unwrap_err();
    let indexes: Vec<usize> = err.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, (1..=10).collect::<Vec<_>>(), "{err:?}");
    assert!(
        err[0].1.contains("/33") && err[0].1.contains("32"),
        "{}",
        err[0].1
    );
    assert!(err[1].1.contains("128"), "{}", err[1].1);
}

#[test]
fn ipset_large_matches_linear_scan() {
    // 1,000 scattered CIDRs against a brute-force check.
    let mut entries = Vec::new();
    let mut rng = fastrand::Rng::with_seed(12345);
    let mut next = || rng.u32(..);
    for _ in 0..1000 {
        let a = next();
        let p = 8 + next() % 25;
        entries.push(format!("{}/{p}", std::net::Ipv4Addr::from(a)));
    }
    let s = IpSet::parse(&entries).unwrap();
    let nets: Vec<(u32, u32)> = entries
        .iter()
        .map(|e| {
            let (a, p) = e.split_once('/').unwrap();
            let a = u32::from(a.parse::<std::net::Ipv4Addr>().unwrap());
            let p: u32 = p.parse().unwrap();
            let mask = u32::MAX << (32 - p);
            (a & mask, mask)
        })
        .collect();
    for _ in 0..20_000 {
        let probe = next();
        let linear = nets.iter().any(|&(n, m)| probe & m == n);
        assert_eq!(s.contains(IpAddr::V4(probe.into())), linear, "{probe}");
    }
    assert!(s.range_count() <= 1000);
}

#[test]
fn ip_filter_deny_wins_and_no_allow_list_allows_all() {
    let open = IpFilter::default();
    assert!(open.permits(ip("1.2.3.4")));
    let deny_only = IpFilter {
        allow: None,
        deny: set(&["203.0.113.0/24"]),
    };
    assert!(deny_only.permits(ip("1.2.3.4")));
    assert!(!deny_only.permits(ip("203.0.113.9")));
    assert!(!deny_only.permits(ip("::ffff:203.0.113.9")));
    let both = IpFilter {
        allow: Some(set(&["10.0.0.0/8", "2001:db8::/32"])),
        deny: set(&["10.6.6.0/24"]),
    };
    assert!(both.permits(ip("10.1.1.1")));
    assert!(both.permits(ip("2001:db8::9")));
    assert!(!both.permits(ip("10.6.6.6")), "deny wins over allow");
    assert!(
        !both.permits(ip("11.1.1.1")),
        "not in a non-empty allow list"
    );
    assert!(!both.permits(ip("2001:db9::1")));
}

// ---------------------------------------------------------------- trusted proxies

#[test]
fn xff_walk_table() {
    let proxies = TrustedProxies(set(&["10.0.0.0/8", "2001:db8:ffff::/48"]));
    let peer_trusted = ip("10.0.0.1");
    let table: &[(&str, &[&str], &str)] = &[
        // (peer, X-Forwarded-For fields, client)
        ("203.0.113.5", &["1.1.1.1"], "203.0.113.5"), // untrusted peer: header ignored
        ("10.0.0.1", &[], "10.0.0.1"),                // no header: the peer
        ("10.0.0.1", &["1.1.1.1"], "1.1.1.1"),
        ("10.0.0.1", &["9.9.9.9, 1.1.1.1"], "1.1.1.1"), // rightmost untrusted; 9.9.9.9 is a claim
        ("10.0.0.1", &["9.9.9.9, 1.1.1.1, 10.0.0.7"], "1.1.1.1"), // trusted hops skipped
        ("10.0.0.1", &["9.9.9.9", "1.1.1.1, 10.0.0.7"], "1.1.1.1"), // over several fields
        ("10.0.0.1", &["1.1.1.1", "10.0.0.7"], "1.1.1.1"),
        ("10.0.0.1", &["10.0.0.5, 10.0.0.6"], "10.0.0.5"), // all trusted: the leftmost
        ("10.0.0.1", &["garbage, 1.1.1.1"], "1.1.1.1"),    // garbage left of the client: unseen
        ("10.0.0.1", &["1.1.1.1, garbage"], "10.0.0.1"),   // garbage first: the peer
        ("10.0.0.1", &["1.1.1.1, garbage, 10.0.0.7"], "10.0.0.7"), // last trusted hop
        (
            "10.0.0.1",
            &["1.1.1.1, garbage, 10.0.0.7, 10.0.0.8"],
            "10.0.0.7",
        ),
        ("10.0.0.1", &["1.1.1.1,,10.0.0.7"], "10.0.0.7"), // an empty element is garbage
        ("10.0.0.1", &[""], "10.0.0.1"),
        ("10.0.0.1", &["1.1.1.1:4711"], "1.1.1.1"), // ports ignored
        ("10.0.0.1", &["[2001:db8::9]:443"], "2001:db8::9"),
        ("10.0.0.1", &["[2001:db8::9]"], "2001:db8::9"),
        ("10.0.0.1", &["2001:db8::9"], "2001:db8::9"),
        (
            "10.0.0.1",
            &["2001:db8::9, 2001:db8:ffff::1"],
            "2001:db8::9",
        ),
        ("10.0.0.1", &["::ffff:1.1.1.1"], "1.1.1.1"), // canonical form
        ("10.0.0.1", &["\t1.1.1.1 ,  10.0.0.2 "], "1.1.1.1"),
        ("10.0.0.1", &["1.1.1.1:99999999"], "10.0.0.1"),
        ("10.0.0.1", &["unknown"], "10.0.0.1"),
        ("::ffff:10.0.0.1", &["1.1.1.1"], "1.1.1.1"), // mapped peer is trusted too
        ("::ffff:203.0.113.5", &["1.1.1.1"], "203.0.113.5"),
    ];
    for (peer, fields, client) in table {
        let mut it = fields.iter().map(|f| f.as_bytes());
        assert_eq!(
            proxies.client_ip(ip(peer), &mut it),
            ip(client),
            "peer {peer}, XFF {fields:?}"
        );
    }
    assert!(proxies.is_trusted(peer_trusted));
    // No trusted proxies: the peer, always.
    let none = TrustedProxies::default();
    let mut it = ["1.1.1.1"].iter().map(|f| f.as_bytes());
    assert_eq!(none.client_ip(peer_trusted, &mut it), peer_trusted);
}

// ---------------------------------------------------------------- API keys

#[test]
fn api_key_hash_format() {
    // SHA-256("") and SHA-256("abc"), from FIPS 180-2.
    assert_eq!(
        apikey::hash(b""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        apikey::hash(b"abc"),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn api_key_lookup() {
    let keys = ApiKeys::new([
        (apikey::hash(b"key-of-alice-0123456789"), 0),
        (apikey::hash(b"key-of-bob-0123456789"), 1),
        (apikey::hash(b"second-key-of-alice"), 0),
    ])
    .unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.lookup(b"key-of-alice-0123456789"), Some(0));
    assert_eq!(keys.lookup(b"second-key-of-alice"), Some(0));
    assert_eq!(keys.lookup(b"key-of-bob-0123456789"), Some(1));
    assert_eq!(keys.lookup(b"key-of-bob-012345678"), None);
    assert_eq!(keys.lookup(b"KEY-OF-BOB-0123456789"), None);
    assert_eq!(keys.lookup(b""), None);
    // The stored hash is not a key.
    assert_eq!(
        keys.lookup(apikey::hash(b"key-of-bob-0123456789").as_bytes()),
        None
    );
    // Over 256 bytes or with control characters: refused before hashing.
    let long = vec![b'k'; 257];
    let keys2 = ApiKeys::new([
        (apikey::hash(&long), 0),
        (apikey::hash(b"ok\r\n"), 1),
        (apikey::hash(&[b'k'; 256]), 2),
    ])
    .unwrap();
    assert_eq!(keys2.lookup(&long), None);
    assert_eq!(keys2.lookup(b"ok\r\n"), None);
    assert_eq!(keys2.lookup(&[b'k'; 256]), Some(2));
}

#[test]
fn api_key_config_errors() {
    let good = apikey::hash(b"k");
    let err = ApiKeys::new([
        (good.clone(), 0),
        ("k".to_owned(), 0),
        (good.to_uppercase().replace("SHA256", "sha256"), 1),
        (format!("{good}0"), 1),
        ("md5:0123".to_owned(), 1),
        (good.clone(), 2),
        (good[..70].to_owned(), 2),
    ])
    .unwrap_err();
    let indexes: Vec<usize> = err.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6], "{err:?}");
    assert!(err[4].1.contains("entry 0"), "{err:?}");
}

// ---------------------------------------------------------------- WWW-Authenticate

#[test]
fn www_authenticate_values() {
    assert_eq!(
        www::authenticate("ringway", None),
        r#"Bearer realm="ringway""#
    );
    let (code, desc) = JwtError::Expired.oauth_error();
    assert_eq!(
        www::authenticate("ringway", Some((code, desc))),
        r#"Bearer realm="ringway", error="invalid_token", error_description="token expired""#
    );
    let (code, desc) = JwtError::Malformed("x").oauth_error();
    assert_eq!(
        www::authenticate("my \"api\"", Some((code, desc))),
        r#"Bearer realm="my \"api\"", error="invalid_token", error_description="malformed token""#
    );
    let v = www::authenticate("a\r\nb", Some(("invalid_request", "x\ny\0z\u{7f}é")));
    assert_eq!(
        v,
        r#"Bearer realm="ab", error="invalid_request", error_description="xyz""#
    );
}
