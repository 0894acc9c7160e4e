//! `RateLimit-Policy` / `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers, and
//! `Retry-After`.

use crate::Decision;

/// Appends the IETF draft-ietf-httpapi-ratelimit-headers fields for a decision:
/// `RateLimit-Policy: "name";q=<limit>;w=<window>` and `RateLimit: "name";r=<remaining>;t=<reset>`,
/// each ending in `\r\n`, plus `Retry-After: <secs>\r\n` on [`Decision::Deny`].
///
/// The name is written as a structured-field string (RFC 8941): `"` and `\` are escaped, and
/// characters outside printable ASCII become `_`. Nothing is allocated beyond `out`'s growth.
pub fn write_headers(policy_name: &str, decision: &Decision, out: &mut Vec<u8>) {
    let s = decision.status();
    out.extend_from_slice(b"RateLimit-Policy: ");
    sf_string(policy_name, out);
    out.extend_from_slice(b";q=");
    uint(s.limit, out);
    out.extend_from_slice(b";w=");
    uint(s.window_secs, out);
    out.extend_from_slice(b"\r\nRateLimit: ");
    sf_string(policy_name, out);
    out.extend_from_slice(b";r=");
    uint(s.remaining, out);
    out.extend_from_slice(b";t=");
    uint(s.reset_secs, out);
    out.extend_from_slice(b"\r\n");
    if let Decision::Deny(_) = decision {
        out.extend_from_slice(b"Retry-After: ");
        uint(s.retry_after_secs.max(1), out);
        out.extend_from_slice(b"\r\n");
    }
}

fn sf_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' | '\\' => out.extend_from_slice(&[b'\\', c as u8]),
            ' '..='~' => out.push(c as u8),
            _ => out.push(b'_'),
        }
    }
    out.push(b'"');
}

fn uint(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn status(remaining: u64, reset: u64, retry: u64) -> Status {
        Status {
            limit: 100,
            window_secs: 60,
            remaining,
            reset_secs: reset,
            retry_after_secs: retry,
        }
    }

    #[test]
    fn fields() {
        let cases: [(&str, Decision, &str); 5] = [
            (
                "default",
                Decision::Allow(status(99, 1, 0)),
                "RateLimit-Policy: \"default\";q=100;w=60\r\nRateLimit: \"default\";r=99;t=1\r\n",
            ),
            (
                "default",
                Decision::Deny(status(0, 60, 7)),
                "RateLimit-Policy: \"default\";q=100;w=60\r\nRateLimit: \"default\";r=0;t=60\r\n\
                 Retry-After: 7\r\n",
            ),
            (
                "a\"b\\c",
                Decision::Allow(status(0, 0, 0)),
                "RateLimit-Policy: \"a\\\"b\\\\c\";q=100;w=60\r\nRateLimit: \"a\\\"b\\\\c\";r=0;t=0\r\n",
            ),
            (
                "é\r\n",
                Decision::Allow(status(18_446_744_073_709_551_615, 10, 0)),
                "RateLimit-Policy: \"___\";q=100;w=60\r\n\
                 RateLimit: \"___\";r=18446744073709551615;t=10\r\n",
            ),
            (
                "",
                Decision::Deny(status(0, 0, 0)),
                "RateLimit-Policy: \"\";q=100;w=60\r\nRateLimit: \"\";r=0;t=0\r\nRetry-After: 1\r\n",
            ),
        ];
        for (name, d, want) in cases {
            let mut out = b"HTTP/1.1 429 Too Many Requests\r\n".to_vec();
            write_headers(name, &d, &mut out);
            assert_eq!(
                std::str::from_utf8(&out[32..]).unwrap(),
                want,
                "{name:?} {d:?}"
            );
        }
    }
}
