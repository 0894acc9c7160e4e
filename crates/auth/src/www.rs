//! `WWW-Authenticate` values for bearer-token refusals (RFC 6750 §3).
//!
//! The output never contains CR, LF, NUL or any other control character, whatever the
//! inputs: the realm is a quoted-string with `"` and `\` escaped and other unsafe characters
//! dropped; the error code and description keep only the characters RFC 6750 allows there
//! (`%x20-21 / %x23-5B / %x5D-7E`), with `"` and `\` replaced by `'` and `/`.

/// The RFC 6750 error codes.
pub mod error {
    /// The request is malformed (a duplicate or badly formed credential), 400.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The token is expired, malformed or otherwise invalid, 401.
    pub const INVALID_TOKEN: &str = "invalid_token";
    /// The token lacks a required scope or claim, 403.
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
}

/// A `WWW-Authenticate` value: `Bearer realm="…"`, plus `error` and `error_description`
/// when `error` is given as `(code, description)`. Per RFC 6750 §3.1, leave `error` out when
/// the request carried no credential at all.
pub fn authenticate(realm: &str, error: Option<(&str, &str)>) -> String {
    let mut out = String::with_capacity(32 + realm.len());
    out.push_str("Bearer realm=\"");
    for c in realm.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '\t' => out.push(c),
            c if c.is_ascii_graphic() => out.push(c),
            // Control characters (CR, LF, NUL, DEL...) and non-ASCII are dropped.
            _ => {}
        }
    }
    out.push('"');
    if let Some((code, description)) = error {
        out.push_str(", error=\"");
        push_restricted(&mut out, code);
        out.push('"');
        if !description.is_empty() {
            out.push_str(", error_description=\"");
            push_restricted(&mut out, description);
            out.push('"');
        }
    }
    out
}

/// Appends the characters RFC 6750 allows in `error` and `error_description`.
fn push_restricted(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push('\''),
            '\\' => out.push('/'),
            ' ' | '!' | '#'..='[' | ']'..='~' => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_challenge() {
        assert_eq!(authenticate("api", None), r#"Bearer realm="api""#);
    }

    #[test]
    fn with_error() {
        assert_eq!(
            authenticate("api", Some((error::INVALID_TOKEN, "token expired"))),
            r#"Bearer realm="api", error="invalid_token", error_description="token expired""#
        );
    }

    #[test]
    fn escapes_and_strips() {
        let v = authenticate(
            "a\"b\\c\r\nSet-Cookie: x=1\0é",
            Some(("invalid_token\r\n", "bad \"x\" \\ y\r\nInjected: 1")),
        );
        assert_eq!(
            v,
            r#"Bearer realm="a\"b\\cSet-Cookie: x=1", error="invalid_token", error_description="bad 'x' / yInjected: 1""#
        );
        assert!(!v.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
}
