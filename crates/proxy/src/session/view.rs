//! The parsed head seen as the router and the policy stage see a request, and the small pure
//! helpers that read or rewrite parts of it.

use ringway_config::model::ProxyAction;
use ringway_core::HeaderFields;

use crate::codec::Header;

/// Request header fields over the parsed head: lookups borrow the read buffer, nothing is
/// copied.
pub(super) struct HeaderView<'a> {
    pub buf: &'a [u8],
    pub headers: &'a [Header],
}

impl HeaderFields for HeaderView<'_> {
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|h| (h.name.of(self.buf), h.value.of(self.buf)))
    }
}

impl ringway_router::Headers for HeaderView<'_> {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.values(name.as_bytes()).any(f)
    }
}

/// The value of the first field named `name`.
pub(super) fn header_value<'a>(buf: &'a [u8], headers: &[Header], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.of(buf))
}

/// The value of cookie `name` in any `Cookie` field.
pub(super) fn cookie_value<'a>(buf: &'a [u8], headers: &[Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"cookie"))
        .flat_map(|h| h.value.of(buf).split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = crate::codec::trim(pair);
            let eq = memchr::memchr(b'=', pair)?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
}

/// The route's path rewrite of `path` (without its query) followed by `query_part` (`?...` or
/// empty), into `out`. Returns false, leaving `out` alone, when the route rewrites nothing.
pub(super) fn rewrite_path(
    action: &ProxyAction,
    path: &[u8],
    query_part: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    if action.strip_prefix.is_none() && action.rewrite_path.is_none() {
        return false;
    }
    let mut p = path;
    if let Some(prefix) = &action.strip_prefix {
        let prefix = prefix.trim_end_matches('/').as_bytes();
        if p.starts_with(prefix) && (p.len() == prefix.len() || p[prefix.len()] == b'/') {
            p = &p[prefix.len()..];
        }
    }
    out.clear();
    match &action.rewrite_path {
        Some(new) => out.extend_from_slice(new.as_bytes()),
        None if p.is_empty() => out.push(b'/'),
        None => out.extend_from_slice(p),
    }
    out.extend_from_slice(query_part);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(strip: Option<&str>, rewrite: Option<&str>) -> ProxyAction {
        ProxyAction {
            backends: Vec::new(),
            force_header: None,
            strip_prefix: strip.map(str::to_owned),
            rewrite_path: rewrite.map(str::to_owned),
            host: None,
            request_headers: Default::default(),
            response_headers: Default::default(),
        }
    }

    #[test]
    fn path_rewrites_keep_the_query_and_segment_boundaries() {
        let mut out = Vec::new();
        // (strip_prefix, rewrite_path, path, query, forwarded)
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
            &'static str,
            &'static str,
        );
        let table: &[Row] = &[
            (Some("/api"), None, "/api/users", "?a=1", "/users?a=1"),
            (Some("/api/"), None, "/api", "", "/"),
            (Some("/api"), None, "/apix/users", "", "/apix/users"),
            (None, Some("/v2/all"), "/anything", "?q", "/v2/all?q"),
            (Some("/api"), Some("/fixed"), "/api/x", "", "/fixed"),
        ];
        for &(strip, rewrite, path, query, want) in table {
            let a = action(strip, rewrite);
            assert!(rewrite_path(
                &a,
                path.as_bytes(),
                query.as_bytes(),
                &mut out
            ));
            assert_eq!(out, want.as_bytes(), "{strip:?} {rewrite:?} {path}{query}");
        }
        assert!(!rewrite_path(&action(None, None), b"/a", b"", &mut out));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        use crate::codec::{HeadLimits, RequestHead};
        let buf =
            b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; session=abc ;b=2\r\nCOOKIE: late=3\r\n\r\n";
        let mut head = RequestHead::default();
        head.parse(buf, &HeadLimits::default()).unwrap();
        let value = |name| cookie_value(buf, &head.headers, name);
        assert_eq!(value("session"), Some(&b"abc"[..]));
        assert_eq!(value("late"), Some(&b"3"[..]));
        assert_eq!(value("sess"), None);
        assert_eq!(header_value(buf, &head.headers, b"HOST"), Some(&b"a"[..]));
    }
}
