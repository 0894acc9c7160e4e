//! Odd ways of writing an address or CIDR, in every place the configuration takes one. Each
//! spelling is either refused with its exact path, or compiled into a set that holds exactly
//! what it says: there is no third outcome in which `validate` accepts an entry and the data
//! plane enforces something else (or nothing).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::IpAddr;

use ringway_config::from_yaml_str;
use ringway_config::model::Config;

/// What a spelling must become.
enum Expect {
    /// Refused; the message contains this.
    Refused(&'static str),
    /// Compiled: these addresses are in the set, those are not.
    Holds(&'static [&'static str], &'static [&'static str]),
}
use Expect::{Holds, Refused};

const TEN: &[&str] = &["10.0.0.1", "10.255.255.255", "::ffff:10.1.2.3"];
const NOT_TEN: &[&str] = &[
    "11.0.0.1",
    "9.255.255.255",
    "127.0.0.1",
    "::1",
    "2001:db8::1",
];

/// `(spelling, expectation)`. The two the issue was found with come first.
const TABLE: &[(&str, Expect)] = &[
    ("10.0.0.0/0008", Refused("invalid prefix length")),
    ("::ffff:10.0.0.0/0104", Refused("invalid prefix length")),
    // The plain forms, for contrast.
    ("10.0.0.0/8", Holds(TEN, NOT_TEN)),
    ("::ffff:10.0.0.0/104", Holds(TEN, NOT_TEN)),
    ("10.1.2.3/8", Holds(TEN, NOT_TEN)), // host bits are cleared, as firewalls do
    // Leading zeros, signs and spaces in the prefix.
    ("10.0.0.0/08", Refused("invalid prefix length")),
    ("10.0.0.0/+8", Refused("invalid prefix length")),
    ("10.0.0.0/-8", Refused("invalid prefix length")),
    ("10.0.0.0/ 8", Refused("invalid prefix length")),
    ("10.0.0.0/8 /8", Refused("invalid prefix length")),
    ("10.0.0.0/", Refused("invalid prefix length")),
    ("10.0.0.0/8/8", Refused("invalid prefix length")),
    ("10.0.0.0/1e1", Refused("invalid prefix length")),
    // Too long for the family.
    ("10.0.0.0/33", Refused("0..=32")),
    ("::ffff:10.0.0.0/129", Refused("0..=128")),
    ("2001:db8::/4294967304", Refused("0..=128")), // 2^32 + 8 must not wrap to 8
    // Spaces around the whole entry are trimmed; inside it they are not.
    (" 10.0.0.0/8", Holds(TEN, NOT_TEN)),
    ("10.0.0.0/8 ", Holds(TEN, NOT_TEN)),
    ("10.0.0.0 /8", Refused("invalid address")),
    ("10. 0.0.0/8", Refused("invalid address")),
    // Shorthand, octal-looking and hex octets (inet_aton would take some of these).
    ("10/8", Refused("invalid address")),
    ("10.0/16", Refused("invalid address")),
    ("10.0.0/24", Refused("invalid address")),
    ("010.0.0.0/8", Refused("invalid address")),
    ("0x0a.0.0.0/8", Refused("invalid address")),
    ("0xa000000/8", Refused("invalid address")),
    ("167772160/8", Refused("invalid address")),
    // Zone ids and brackets.
    ("fe80::1%eth0", Refused("invalid address")),
    ("fe80::%1/64", Refused("invalid address")),
    ("[2001:db8::1]", Refused("invalid address")),
    ("[2001:db8::]/32", Refused("invalid address")),
    // Not addresses at all.
    ("", Refused("empty entry")),
    ("localhost", Refused("invalid address")),
    ("10.0.0.0/8,11.0.0.0/8", Refused("invalid prefix length")),
    ("１０.0.0.0/8", Refused("invalid address")), // full-width digits
    // IPv6 forms that are valid and mean what they say.
    (
        "2001:DB8::/32",
        Holds(
            &["2001:db8::1", "2001:db8:ffff::1"],
            &["2001:db9::1", "10.0.0.1"],
        ),
    ),
    ("::1", Holds(&["::1"], &["::2", "127.0.0.1"])),
    (
        "0.0.0.0/0",
        Holds(&["1.2.3.4", "::ffff:8.8.8.8"], &["2001:db8::1", "::1"]),
    ),
    ("::/0", Holds(&["2001:db8::1", "1.2.3.4", "::1"], &[])),
    (
        "::ffff:0:0/96",
        Holds(&["1.2.3.4", "255.255.255.255"], &["2001:db8::1"]),
    ),
];

/// A configuration whose only address list is `place`, holding `entry`.
fn config_with(place: &str, entry: &str) -> String {
    let quoted = format!("{entry:?}");
    let (top, route) = match place {
        "trusted_proxies" => (format!("trusted_proxies: [{quoted}]"), String::new()),
        "ip_filter.allow" => (format!("ip_filter: {{ allow: [{quoted}] }}"), String::new()),
        "ip_filter.deny" => (format!("ip_filter: {{ deny: [{quoted}] }}"), String::new()),
        "route.allow" => (
            String::new(),
            format!(", ip_filter: {{ allow: [{quoted}] }}"),
        ),
        "route.deny" => (
            String::new(),
            format!(", ip_filter: {{ deny: [{quoted}] }}"),
        ),
        other => panic!("{other}"),
    };
    format!(
        "upstreams:\n  u: {{ endpoints: [{{ address: \"127.0.0.1:9001\" }}] }}\n{top}\n\
         listeners:\n  - name: l\n    listen: 127.0.0.1:0\n    routes:\n      \
         - {{ name: r, proxy: {{ upstream: u }}{route} }}\n"
    )
}

/// The error path of the entry in `place`.
fn path_of(place: &str) -> &'static str {
    match place {
        "trusted_proxies" => "trusted_proxies[0]",
        "ip_filter.allow" => "ip_filter.allow[0]",
        "ip_filter.deny" => "ip_filter.deny[0]",
        "route.allow" => "listeners[0].routes[0].ip_filter.allow[0]",
        "route.deny" => "listeners[0].routes[0].ip_filter.deny[0]",
        other => panic!("{other}"),
    }
}

/// Whether the compiled set in `place` holds `ip`.
fn holds(config: &Config, place: &str, ip: IpAddr) -> bool {
    let p = &config.policies;
    let route = &config.listeners[0].routes[0].ip_filter;
    match place {
        "trusted_proxies" => p.trusted_proxies.is_trusted(ip),
        "ip_filter.allow" => p.ip_filter.allow.as_ref().unwrap().contains(ip),
        "ip_filter.deny" => p.ip_filter.deny.contains(ip),
        "route.allow" => route.allow.as_ref().unwrap().contains(ip),
        "route.deny" => route.deny.contains(ip),
        other => panic!("{other}"),
    }
}

#[test]
fn every_odd_spelling_is_refused_with_its_path_or_enforced_as_written() {
    let places = [
        "trusted_proxies",
        "ip_filter.allow",
        "ip_filter.deny",
        "route.allow",
        "route.deny",
    ];
    let mut checked = 0;
    for (entry, expect) in TABLE {
        for place in places {
            let yaml = config_with(place, entry);
            let result = from_yaml_str(&yaml);
            match (expect, result) {
                (Refused(fragment), Err(errors)) => {
                    let errors = errors.0;
                    assert_eq!(errors.len(), 1, "{entry:?} in {place}: {errors:#?}");
                    assert_eq!(errors[0].path, path_of(place), "{entry:?} in {place}");
                    assert!(
                        errors[0].message.contains(fragment),
                        "{entry:?} in {place}: {:?} lacks {fragment:?}",
                        errors[0].message
                    );
                }
                (Refused(_), Ok(_)) => panic!("{entry:?} in {place} was accepted"),
                (Holds(..), Err(errors)) => panic!("{entry:?} in {place} refused: {errors}"),
                (Holds(inside, outside), Ok(config)) => {
                    for ip in *inside {
                        let ip: IpAddr = ip.parse().unwrap();
                        assert!(holds(&config, place, ip), "{entry:?} in {place} lacks {ip}");
                    }
                    for ip in *outside {
                        let ip: IpAddr = ip.parse().unwrap();
                        assert!(!holds(&config, place, ip), "{entry:?} in {place} has {ip}");
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, TABLE.len() * places.len());
}

#[test]
fn an_empty_allow_list_is_refused_rather_than_read_as_no_list() {
    for (yaml, path) in [
        (
            config_with("ip_filter.allow", "x").replace("[\"x\"]", "[]"),
            "ip_filter.allow",
        ),
        (
            config_with("route.allow", "x").replace("[\"x\"]", "[]"),
            "listeners[0].routes[0].ip_filter.allow",
        ),
    ] {
        let errors = from_yaml_str(&yaml).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, path);
        assert!(errors[0].message.contains("admit nobody"), "{errors:#?}");
    }
}
