//! Checks of single values: names, header fields, methods, hosts, paths, addresses. Each
//! returns the normalized value or a message saying what is wrong with the value.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::model::{HostMatch, Segment};

/// Upstream, listener and route names: `[a-z0-9_-]+`, at most 64 bytes.
pub(crate) fn name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("a name is required".to_owned());
    }
    if text.len() > 64 {
        return Err(format!("name {text:?} is longer than 64 bytes"));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid name {text:?}: use lowercase letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether a byte is a `tchar` (RFC 9110 token character).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether the text is a non-empty RFC 9110 token.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

/// A header field name: a token; returned lowercase.
pub(crate) fn header_name(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("a header name is required".to_owned());
    }
    if !is_token(text) {
        return Err(format!(
            "invalid header name {text:?}: only letters, digits and !#$%&'*+-.^_`|~ are allowed"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// A header field value: no control characters (CR, LF, NUL, ...) other than tab.
pub(crate) fn header_value(text: &str) -> Result<(), String> {
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "invalid header value {text:?}: control characters (CR, LF, NUL, ...) are not allowed"
        ));
    }
    Ok(())
}

/// A cookie name: a token.
pub(crate) fn cookie_name(text: &str) -> Result<(), String> {
    if !is_token(text) {
        return Err(format!("invalid cookie name {text:?}: must be a token"));
    }
    Ok(())
}

/// A request method: a token; returned uppercase.
pub(crate) fn method(text: &str) -> Result<String, String> {
    if !is_token(text) {
        return Err(format!(
            "invalid method {text:?}: must be a token such as GET"
        ));
    }
    Ok(text.to_ascii_uppercase())
}

/// Checks host labels: `[a-z0-9_-]`, 1..=63 bytes, not starting or ending with `-`.
fn host_labels(host: &str) -> Result<(), String> {
    if host.len() > 253 {
        return Err("longer than 253 bytes".to_owned());
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or double dot)".to_owned());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 bytes"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(if c.is_ascii() {
                format!("character {c:?} is not allowed")
            } else {
                "non-ASCII characters are not allowed (use the xn-- form)".to_owned()
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    Ok(())
}

/// A host pattern: `api.example.com`, `*.example.com` or `[::1]`; lowercase, no port.
pub(crate) fn host_pattern(text: &str) -> Result<HostMatch, String> {
    let lower = text.to_ascii_lowercase();
    let invalid = |why: &str| Err(format!("invalid host pattern {text:?}: {why}"));
    if lower.is_empty() {
        return invalid("empty");
    }
    if let Some(inner) = lower.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => Ok(HostMatch::Exact(lower)),
            Err(_) => invalid("not an IPv6 address"),
        };
    }
    let (wildcard, rest) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    if rest.contains('*') {
        return invalid("'*' is only allowed as the whole first label, as in *.example.com");
    }
    if rest.contains(':') {
        return invalid("a host pattern has no port (the port is ignored when matching)");
    }
    if let Err(why) = host_labels(rest) {
        return invalid(&why);
    }
    Ok(if wildcard {
        HostMatch::Suffix(format!(".{rest}"))
    } else {
        HostMatch::Exact(lower)
    })
}

/// An authority to send as the upstream Host header: a host name or IP, optionally `:port`.
pub(crate) fn authority(text: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("invalid host {text:?}: {why}"));
    if text.is_empty() {
        return invalid("empty");
    }
    let port = if let Some(rest) = text.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return invalid("missing ']'");
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return invalid("not an IPv6 address in brackets");
        }
        match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return invalid("unexpected text after ']'"),
        }
    } else {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if let Err(why) = host_labels(&host.to_ascii_lowercase()) {
            return invalid(&why);
        }
        port
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return invalid("invalid port");
    }
    Ok(())
}

/// Characters that are never valid in a path as written (RFC 3986: they must be
/// percent-encoded), besides whitespace and controls.
const PATH_FORBIDDEN: &[u8] = b"\"<>\\^`{|}";

/// A literal path: starts with `/`, visible ASCII only, no query or fragment.
pub(crate) fn literal_path(text: &str) -> Result<(), String> {
    path_chars(text, false)
}

fn path_chars(text: &str, braces_allowed: bool) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err(format!("invalid path {text:?}: must start with \"/\""));
    }
    for c in text.chars() {
        let why = if !c.is_ascii() {
            "non-ASCII characters must be percent-encoded"
        } else if c.is_ascii_whitespace() || c.is_ascii_control() {
            "whitespace and control characters are not allowed"
        } else if c == '?' || c == '#' {
            "a path has no query ('?') or fragment ('#')"
        } else if PATH_FORBIDDEN.contains(&(c as u8)) && !(braces_allowed && (c == '{' || c == '}'))
        {
            "this character must be percent-encoded"
        } else {
            continue;
        };
        return Err(format!("invalid path {text:?}: {why} (at {c:?})"));
    }
    Ok(())
}

/// A path pattern such as `/users/{id}/orders`: parameters are whole segments with names
/// `[A-Za-z_][A-Za-z0-9_]*`, unique; no empty segments.
pub(crate) fn pattern(text: &str) -> Result<Vec<Segment>, String> {
    path_chars(text, true)?;
    let invalid = |why: String| Err(format!("invalid pattern {text:?}: {why}"));
    if text == "/" {
        return Ok(Vec::new());
    }
    let mut segments = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for segment in text[1..].split('/') {
        if segment.is_empty() {
            return invalid("empty segment (\"//\" or a trailing \"/\")".to_owned());
        }
        if !segment.contains(['{', '}']) {
            segments.push(Segment::Literal(segment.to_owned()));
            continue;
        }
        let Some(name) = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|s| !s.contains(['{', '}']))
        else {
            return invalid(format!(
                "segment {segment:?}: a parameter must be a whole segment, such as {{id}}"
            ));
        };
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return invalid(format!(
                "parameter name {name:?}: use letters, digits and '_', not starting with a digit"
            ));
        }
        if names.contains(&name) {
            return invalid(format!("parameter {{{name}}} appears twice"));
        }
        names.push(name);
        segments.push(Segment::Param(name.to_owned()));
    }
    Ok(segments)
}

/// Resolves `host:port` (an IP address, or a name looked up now; IPv4 preferred).
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    if text.is_empty() {
        return Err("an address (host:port) is required".to_owned());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = |why: &str| Err(format!("invalid address {text:?}: {why}"));
    let Some((host, port)) = text.rsplit_once(':') else {
        return invalid("expected host:port, such as 127.0.0.1:8080");
    };
    if host.is_empty() {
        return invalid("missing host (0.0.0.0:PORT listens on every interface)");
    }
    if host.contains(':') || host.starts_with('[') {
        return invalid("IPv6 addresses are written in brackets, such as [::1]:8080");
    }
    let Ok(port) = port.parse::<u16>() else {
        return invalid("invalid port");
    };
    if host.parse::<IpAddr>().is_err() {
        if let Err(why) = host_labels(&host.to_ascii_lowercase()) {
            return invalid(&why);
        }
    }
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Err(format!("cannot resolve {text:?}: {e}")),
    };
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("cannot resolve {text:?}: no addresses"))
}

/// A JWKS URL: `https://host[:port]/path`, or `http://` to a loopback host (a key server on
/// the same machine). Signing keys fetched over a network in plaintext could be replaced by
/// anyone on the path, so plain http elsewhere is refused.
pub(crate) fn jwks_url(text: &str) -> Result<(), String> {
    let (secure, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "invalid URL {text:?}: must start with https:// (or http:// to a loopback address)"
        ));
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    authority(host).map_err(|message| format!("invalid URL {text:?}: {message}"))?;
    if path.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'#') {
        return Err(format!(
            "invalid URL {text:?}: the path has spaces, controls or a fragment"
        ));
    }
    if !secure && !is_loopback(host) {
        return Err(format!(
            "{text:?}: signing keys must not travel in plaintext: use https:// (http:// only to a loopback address)"
        ));
    }
    Ok(())
}

/// Whether an authority (`host[:port]`, checked) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("users-v2_b").is_ok());
        for bad in ["", "Users", "a b", "a.b", "ü", &"a".repeat(65)] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_names_are_tokens_lowercased() {
        assert_eq!(header_name("X-User-Id").unwrap(), "x-user-id");
        for bad in ["", "x y", "x:y", "x\r\ny", "ä", "(x)"] {
            assert!(header_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_values_have_no_controls() {
        assert!(header_value("a b\tc ü").is_ok());
        assert!(header_value("").is_ok());
        for bad in ["a\rb", "a\nb", "a\0b", "a\x7fb", "\x01"] {
            assert!(header_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn methods_are_tokens_uppercased() {
        assert_eq!(method("get").unwrap(), "GET");
        assert_eq!(method("PROPFIND").unwrap(), "PROPFIND");
        for bad in ["", "G ET", "GET\n", "GE/T"] {
            assert!(method(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_patterns() {
        assert_eq!(
            host_pattern("API.Example.com"),
            Ok(HostMatch::Exact("api.example.com".into()))
        );
        assert_eq!(
            host_pattern("*.Example.com"),
            Ok(HostMatch::Suffix(".example.com".into()))
        );
        assert_eq!(host_pattern("[::1]"), Ok(HostMatch::Exact("[::1]".into())));
        assert_eq!(
            host_pattern("127.0.0.1"),
            Ok(HostMatch::Exact("127.0.0.1".into()))
        );
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "*example.com",
            "**.example.com",
            "example.com:8080",
            "exa mple.com",
            "example..com",
            ".example.com",
            "example.com.",
            "-a.com",
            "bücher.de",
            "[nope]",
            "a/b",
        ] {
            assert!(host_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn authorities() {
        for ok in [
            "users.internal",
            "users.internal:8080",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(authority(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "a b", "a:port", "a\r\n", "[::1]x", "[zz]:80"] {
            assert!(authority(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jwks_urls_are_https_or_loopback_http() {
        for ok in [
            "https://id.example.com/.well-known/jwks.json",
            "https://10.0.0.5:8443/jwks",
            "http://127.0.0.1:9000/jwks",
            "http://localhost/jwks",
            "http://[::1]:80/jwks",
        ] {
            assert!(jwks_url(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "http://id.example.com/jwks",
            "http://10.0.0.5/jwks",
            "http://127.0.0.1.example.com/jwks",
            "ftp://x/jwks",
            "https://a b/jwks",
            "https://id.example.com/jw ks",
        ] {
            assert!(jwks_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        for ok in ["/", "/a", "/a/b.c", "/a-b_c~d%20e", "/a//b"] {
            assert!(literal_path(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "a", "/a b", "/a?b", "/a#b", "/ä", "/a{b}", "/a\n"] {
            assert!(literal_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(pattern("/"), Ok(vec![]));
        assert_eq!(
            pattern("/users/{id}/orders"),
            Ok(vec![
                Segment::Literal("users".into()),
                Segment::Param("id".into()),
                Segment::Literal("orders".into()),
            ])
        );
        for bad in [
            "users/{id}",
            "/users/{id}/",
            "/users//{id}",
            "/users/x{id}",
            "/users/{id}x",
            "/users/{}",
            "/users/{1d}",
            "/users/{i-d}",
            "/users/{{id}}",
            "/users/{id}/{id}",
            "/users/{id",
        ] {
            assert!(pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(
            socket_addr("127.0.0.1:8080"),
            Ok("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(socket_addr("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            socket_addr("localhost:9001"),
            Ok("127.0.0.1:9001".parse().unwrap())
        );
        for bad in ["", "127.0.0.1", ":80", "::1:80", "a:99999", "a b:80", "a:x"] {
            assert!(socket_addr(bad).is_err(), "{bad:?}");
        }
    }
}
