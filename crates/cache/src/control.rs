//! `Cache-Control` (RFC 9111 §5.2), parsed strictly: directives are case-insensitive tokens,
//! arguments a token or a quoted string. A directive whose argument is not what it must be
//! (`max-age=soon`), or one given twice with different values, is *conflicting*: the response
//! is then treated as stale (§4.2.1: "the response should be considered stale") rather than
//! trusting either value.

/// The directives of a response (`Cache-Control` on every field line, joined).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseControl {
    /// `max-age`, seconds.
    pub max_age: Option<u64>,
    /// `s-maxage`, seconds (for shared caches, over `max-age`).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without field names: either way, revalidate before each use).
    pub no_cache: bool,
    /// `private` (with or without field names: a shared cache stores none of it).
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate` (RFC 5861), seconds.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861), seconds.
    pub stale_if_error: Option<u64>,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `must-understand`: store only a status whose caching rules are understood.
    pub must_understand: bool,
    /// A directive with a bad or conflicting argument was seen: treat as stale.
    pub conflicting: bool,
}

/// `Surrogate-Control` (W3C Edge Architecture note): what the origin tells gateway caches,
/// over `Cache-Control`. Directives targeted at a named device (`max-age=60;edge`) are
/// ignored: this cache advertises no target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SurrogateControl {
    /// `max-age`, seconds: the freshness lifetime, over every `Cache-Control` one (and over
    /// its `no-store`).
    pub max_age: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
}

impl SurrogateControl {
    /// The untargeted directives of the `Surrogate-Control` field lines; `None` when there is
    /// no field or nothing in it applies here.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let mut c = Self::default();
        let mut any = false;
        for value in values {
            for item in value.split(|&b| b == b',') {
                let item = String::from_utf8_lossy(item).trim().to_ascii_lowercase();
                if item.contains(';') {
                    continue;
                }
                match item.split_once('=') {
                    Some(("max-age", v)) => {
                        if let Some(s) = delta_seconds(v) {
                            c.max_age = Some(s);
                            any = true;
                        }
                    }
                    None if item == "no-store" => {
                        c.no_store = true;
                        any = true;
                    }
                    _ => {}
                }
            }
        }
        any.then_some(c)
    }
}

/// The directives of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestControl {
    /// `no-store`: do not store the response.
    pub no_store: bool,
    /// `no-cache`: do not use a stored response without revalidating it.
    pub no_cache: bool,
    /// `max-age`: not older than this, seconds.
    pub max_age: Option<u64>,
    /// `max-stale`: stale by up to this (`Some(u64::MAX)` without an argument).
    pub max_stale: Option<u64>,
    /// `min-fresh`: fresh for at least this much longer.
    pub min_fresh: Option<u64>,
    /// `only-if-cached`.
    pub only_if_cached: bool,
}

/// One directive: lowercased name, argument (quotes removed) if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    name: String,
    arg: Option<String>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits field values into directives. `None` when the syntax is broken (the caller treats
/// the whole field as conflicting).
fn directives<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<Directive>> {
    let mut out = Vec::new();
    for value in values {
        let mut rest = value;
        loop {
            rest = trim_start(rest);
            if rest.is_empty() {
                break;
            }
            if rest[0] == b',' {
                rest = &rest[1..];
                continue;
            }
            let n = rest.iter().take_while(|&&b| is_tchar(b)).count();
            if n == 0 {
                return None;
            }
            let name = String::from_utf8_lossy(&rest[..n]).to_ascii_lowercase();
            rest = trim_start(&rest[n..]);
            let mut arg = None;
            if rest.first() == Some(&b'=') {
                rest = trim_start(&rest[1..]);
                if rest.first() == Some(&b'"') {
                    let (text, after) = quoted(&rest[1..])?;
                    arg = Some(text);
                    rest = after;
                } else {
                    let m = rest.iter().take_while(|&&b| is_tchar(b)).count();
                    if m == 0 {
                        return None;
                    }
                    arg = Some(String::from_utf8_lossy(&rest[..m]).into_owned());
                    rest = &rest[m..];
                }
            }
            rest = trim_start(rest);
            if !rest.is_empty() && rest[0] != b',' {
                return None;
            }
            out.push(Directive { name, arg });
        }
    }
    Some(out)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

/// A quoted string's content (after the opening quote) and what follows its closing quote.
fn quoted(b: &[u8]) -> Option<(String, &[u8])> {
    let mut text = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((String::from_utf8_lossy(&text).into_owned(), &b[i + 1..])),
            b'\\' if i + 1 < b.len() => {
                text.push(b[i + 1]);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    None
}

/// `delta-seconds` (§1.2.2): digits only; values past 2^31 are 2^31.
pub fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX).min(1 << 31))
}

/// Records a seconds-valued directive; a bad or different second value marks a conflict.
fn seconds(slot: &mut Option<u64>, arg: Option<&str>, conflicting: &mut bool) {
    match arg.and_then(delta_seconds) {
        Some(v) if slot.is_none_or(|old| old == v) => *slot = Some(v),
        _ => *conflicting = true,
    }
}

impl ResponseControl {
    /// The directives of the response's `Cache-Control` field lines (`values`: each line's
    /// value). Unknown directives are ignored (§5.2.3).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut c = Self::default();
        let Some(list) = directives(values) else {
            c.conflicting = true;
            return c;
        };
        for d in list {
            let arg = d.arg.as_deref();
            match d.name.as_str() {
                "max-age" => seconds(&mut c.max_age, arg, &mut c.conflicting),
                "s-maxage" => seconds(&mut c.s_maxage, arg, &mut c.conflicting),
                "stale-while-revalidate" => {
                    seconds(&mut c.stale_while_revalidate, arg, &mut c.conflicting);
                }
                "stale-if-error" => seconds(&mut c.stale_if_error, arg, &mut c.conflicting),
                "no-store" => c.no_store = true,
                "no-cache" => c.no_cache = true,
                "private" => c.private = true,
                "public" => c.public = true,
                "must-revalidate" => c.must_revalidate = true,
                "proxy-revalidate" => c.proxy_revalidate = true,
                "immutable" => c.immutable = true,
                "must-understand" => c.must_understand = true,
                _ => {}
            }
        }
        c
    }
}

impl RequestControl {
    /// The directives of the request's `Cache-Control` field lines. A request whose field
    /// cannot be parsed is treated as `no-cache` (never served a stored response it may not
    /// have wanted).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut c = Self::default();
        let Some(list) = directives(values) else {
            c.no_cache = true;
            return c;
        };
        let mut bad = false;
        for d in list {
            let arg = d.arg.as_deref();
            match d.name.as_str() {
                "no-store" => c.no_store = true,
                "no-cache" => c.no_cache = true,
                "only-if-cached" => c.only_if_cached = true,
                "max-age" => seconds(&mut c.max_age, arg, &mut bad),
                "min-fresh" => seconds(&mut c.min_fresh, arg, &mut bad),
                "max-stale" => match arg {
                    None => c.max_stale = Some(u64::MAX),
                    Some(_) => seconds(&mut c.max_stale, arg, &mut bad),
                },
                _ => {}
            }
        }
        if bad {
            c.no_cache = true;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(v: &[&str]) -> ResponseControl {
        ResponseControl::parse(v.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn response_directives_across_lines_case_and_quotes() {
        let c = resp(&[
            "Public, MAX-AGE=60",
            "s-maxage=\"120\", stale-while-revalidate=30",
        ]);
        assert_eq!(c.max_age, Some(60));
        assert_eq!(c.s_maxage, Some(120));
        assert_eq!(c.stale_while_revalidate, Some(30));
        assert!(c.public && !c.conflicting);
        let c = resp(&["private=\"set-cookie, x-a\", no-cache=\"x-b\", extension=\"a,b\""]);
        assert!(c.private && c.no_cache && !c.conflicting);
    }

    #[test]
    fn bad_or_repeated_values_conflict() {
        for bad in [
            &["max-age=soon"][..],
            &["max-age=-1"],
            &["max-age=1.5"],
            &["max-age"],
            &["max-age=60, max-age=30"],
            &["max-age=60", "max-age=61"],
            &["max-age=\"60"],
            &["max-age=60 junk"],
        ] {
            assert!(resp(bad).conflicting, "{bad:?}");
        }
        // The same value twice is no conflict; huge values saturate.
        assert!(!resp(&["max-age=60, max-age=60"]).conflicting);
        assert_eq!(
            resp(&["max-age=99999999999999999999"]).max_age,
            Some(1 << 31)
        );
        // Empty list elements are allowed (RFC 9110 §5.6.1).
        assert_eq!(resp(&[", ,max-age=5,"]).max_age, Some(5));
    }

    #[test]
    fn surrogate_control_untargeted_only() {
        let sc = |v: &str| SurrogateControl::parse([v.as_bytes()]);
        assert_eq!(sc("max-age=60").unwrap().max_age, Some(60));
        assert_eq!(sc("foo, MaX-aGe=60").unwrap().max_age, Some(60));
        assert!(sc("no-store").unwrap().no_store);
        assert_eq!(sc("max-age=60;other"), None, "targeted elsewhere");
        assert_eq!(sc("max-age =60"), None);
        assert_eq!(sc(""), None);
    }

    #[test]
    fn request_directives() {
        let c = RequestControl::parse(["max-stale, min-fresh=5, only-if-cached".as_bytes()]);
        assert_eq!(c.max_stale, Some(u64::MAX));
        assert_eq!(c.min_fresh, Some(5));
        assert!(c.only_if_cached && !c.no_cache);
        let c = RequestControl::parse(["max-age=x".as_bytes()]);
        assert!(
            c.no_cache,
            "an unreadable request directive never gets a stored response"
        );
    }
}
