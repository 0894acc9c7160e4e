//! Where a request carries its token.

use thiserror::Error;

use crate::www::error::INVALID_REQUEST;

/// Why no token could be taken from a request (400, `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExtractError {
    /// The header (or cookie) appears more than once. Never resolved by picking one: two
    /// parsers picking differently is how request smuggling of credentials works.
    #[error("credential sent more than once")]
    Duplicate,
    /// The header is there but not in the expected form (another scheme than `Bearer`, an
    /// empty token, stray spaces).
    #[error("malformed credential")]
    Malformed,
}

impl ExtractError {
    /// The RFC 6750 error code and a short description for `WWW-Authenticate`.
    pub fn oauth_error(&self) -> (&'static str, &'static str) {
        match self {
            ExtractError::Duplicate => (INVALID_REQUEST, "credential sent more than once"),
            ExtractError::Malformed => (INVALID_REQUEST, "malformed credential"),
        }
    }
}

/// Where the token is read from. Header and cookie names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `<header>: Bearer <token>`: the scheme in any case, then exactly one space, then the
    /// token (RFC 6750 §2.1; the token68 characters only).
    Bearer {
        /// The header name, normally `authorization`.
        header: String,
    },
    /// The whole value of this header is the token.
    Header(String),
    /// The value of this cookie is the token (surrounding double quotes removed).
    Cookie(String),
}

impl Default for TokenSource {
    fn default() -> Self {
        TokenSource::Bearer {
            header: "authorization".to_owned(),
        }
    }
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

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &[u8]) -> bool {
    let body_len = s.len() - s.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && s[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Exactly one field named `name`: `Ok(None)` when absent, `Duplicate` when repeated.
fn single<'a, I>(headers: I, name: &str) -> Result<Option<&'a [u8]>, ExtractError>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut found = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(name.as_bytes()) {
            if found.is_some() {
                return Err(ExtractError::Duplicate);
            }
            found = Some(v);
        }
    }
    Ok(found)
}

impl TokenSource {
    /// The header field the token travels in (`cookie` for a cookie), as configured.
    pub fn field_name(&self) -> &str {
        match self {
            TokenSource::Bearer { header } | TokenSource::Header(header) => header,
            TokenSource::Cookie(_) => "cookie",
        }
    }

    /// The token in these request header fields (`(name, value)` pairs in order).
    /// `Ok(None)` when the request carries none.
    pub fn extract<'a, I>(&self, headers: I) -> Result<Option<&'a [u8]>, ExtractError>
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        match self {
            TokenSource::Bearer { header } => {
                let Some(value) = single(headers, header)? else {
                    return Ok(None);
                };
                let value = trim_ows(value);
                if value.len() < 7
                    || !value[..6].eq_ignore_ascii_case(b"bearer")
                    || value[6] != b' '
                {
                    return Err(ExtractError::Malformed);
                }
                let token = &value[7..];
                if !is_token68(token) {
                    return Err(ExtractError::Malformed);
                }
                Ok(Some(token))
            }
            TokenSource::Header(name) => {
                let Some(value) = single(headers, name)? else {
                    return Ok(None);
                };
                let token = trim_ows(value);
                if token.is_empty() || token.iter().any(|&b| b <= b' ' || b == 0x7f) {
                    return Err(ExtractError::Malformed);
                }
                Ok(Some(token))
            }
            TokenSource::Cookie(name) => {
                let mut found: Option<&'a [u8]> = None;
                for (n, v) in headers {
                    if !n.eq_ignore_ascii_case(b"cookie") {
                        continue;
                    }
                    // HTTP/2 may split cookies over several fields: read them all.
                    for pair in v.split(|&b| b == b';') {
                        let pair = trim_ows(pair);
                        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                            continue;
                        };
                        if !pair[..eq].eq_ignore_ascii_case(name.as_bytes()) {
                            continue;
                        }
                        if found.is_some() {
                            return Err(ExtractError::Duplicate);
                        }
                        let mut value = &pair[eq + 1..];
                        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                            value = &value[1..value.len() - 1];
                        }
                        found = Some(value);
                    }
                }
                match found {
                    Some([]) => Err(ExtractError::Malformed),
                    other => Ok(other),
                }
            }
        }
    }
}
