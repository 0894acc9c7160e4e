//! Byte classes from RFC 9110/9112, as lookup tables.

macro_rules! table {
    ($pred:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $pred(i as u8);
            i += 1;
        }
        t
    }};
}

const fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// `field-vchar / SP / HTAB`: visible ASCII, obs-text (0x80..), space and tab. No other controls.
const fn field_char(b: u8) -> bool {
    b == b'\t' || b == b' ' || (b >= 0x21 && b != 0x7f)
}

/// Request-target bytes: visible ASCII only (no space, no controls, no raw UTF-8).
const fn target_char(b: u8) -> bool {
    b >= 0x21 && b <= 0x7e
}

/// `qdtext` of a quoted-string (RFC 9110 §5.6.4).
const fn qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || b == 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b != 0x7f)
}

static TCHAR: [bool; 256] = table!(tchar);
static FIELD: [bool; 256] = table!(field_char);
static TARGET: [bool; 256] = table!(target_char);
static QDTEXT: [bool; 256] = table!(qdtext);

/// Token character (methods, field names, coding names).
#[inline(always)]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// Allowed inside a field value.
#[inline(always)]
pub(crate) fn is_field_char(b: u8) -> bool {
    FIELD[b as usize]
}

/// Allowed in a request target.
#[inline(always)]
pub(crate) fn is_target_char(b: u8) -> bool {
    TARGET[b as usize]
}

/// Allowed unescaped inside a quoted string.
#[inline(always)]
pub(crate) fn is_qdtext(b: u8) -> bool {
    QDTEXT[b as usize]
}

/// Optional whitespace.
#[inline(always)]
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims optional whitespace from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Iterates the elements of a comma-separated list, trimmed; empty elements are yielded too
/// (RFC 9110 §5.6.1 lets recipients ignore them; callers decide).
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// Whether `s` is a non-empty token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_tchar(b'a') && is_tchar(b'~') && !is_tchar(b':') && !is_tchar(b' '));
        assert!(is_field_char(b'\t') && is_field_char(0xff) && !is_field_char(0x0c));
        assert!(!is_field_char(0x7f) && !is_field_char(0) && !is_field_char(b'\r'));
        assert!(is_target_char(b'|') && !is_target_char(0xb6) && !is_target_char(b' '));
        assert!(is_qdtext(b'a') && !is_qdtext(b'"') && !is_qdtext(b'\\') && !is_qdtext(b'\r'));
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(
            list_items(b"a, b ,,c").collect::<Vec<_>>(),
            [&b"a"[..], b"b", b"", b"c"]
        );
    }
}
