//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) for one proxy hop: the
//! incoming `traceparent` is checked strictly, its trace id and sampled flag are kept, and the
//! request goes upstream with a new span id (the gateway's hop) as the parent. An invalid,
//! repeated or missing `traceparent` starts a new trace (not sampled: the gateway exports no
//! spans, the decision stays with tracers that do) and the `tracestate` beside it is dropped.

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// 16 bytes, not all zero.
    pub trace_id: [u8; 16],
    /// The caller's span, 8 bytes, not all zero.
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

/// The trace context a request is forwarded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceContext {
    /// The trace id (kept from a valid incoming `traceparent`, else new).
    pub trace_id: [u8; 16],
    /// The gateway's span: the upstream's parent.
    pub span_id: [u8; 8],
    /// The sampled flag passed on.
    pub sampled: bool,
    /// Whether the client's context was valid (its `tracestate` is then passed on).
    pub continued: bool,
}

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// Parses a `traceparent` value. Version `00` must be exactly 55 bytes; a later version may
/// carry more after a `-` (its known fields are read, as the spec asks); `ff` is invalid.
/// Hex must be lowercase; an all-zero trace id or parent id is invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<Parent> {
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_byte(&v[0..2])?;
    if version == 0xff
        || (version == 0 && v.len() != TRACEPARENT_LEN)
        || (v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-')
    {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
    }
    let mut parent_id = [0u8; 8];
    for (i, b) in parent_id.iter_mut().enumerate() {
        *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&v[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        parent_id,
        flags,
    })
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

/// A lowercase hex digit's value (uppercase is invalid in `traceparent`).
#[inline]
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl TraceContext {
    /// The context of this hop: `parent`'s trace (or a new one from `new_trace`) with
    /// `span` as the gateway's span id. Zero random values are replaced (ids are never all
    /// zero).
    pub fn hop(parent: Option<Parent>, new_trace: u128, span: u64) -> Self {
        let span_id = span.max(1).to_be_bytes();
        match parent {
            Some(p) => Self {
                trace_id: p.trace_id,
                span_id,
                sampled: p.flags & 1 == 1,
                continued: true,
            },
            None => Self {
                trace_id: new_trace.max(1).to_be_bytes(),
                span_id,
                sampled: false,
                continued: false,
            },
        }
    }

    /// Appends the `traceparent` value sent upstream (version 00).
    pub fn write_traceparent(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"00-");
        hex(&self.trace_id, out);
        out.push(b'-');
        hex(&self.span_id, out);
        out.extend_from_slice(if self.sampled { b"-01" } else { b"-00" });
    }

    /// Appends the trace id as 32 lowercase hex digits.
    pub fn write_trace_id(&self, out: &mut Vec<u8>) {
        hex(&self.trace_id, out);
    }
}

fn hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Into a stack buffer, then one copy: a push per digit costs a capacity check each.
    let mut buf = [0u8; 32];
    for (pair, b) in buf.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    out.extend_from_slice(&buf[..2 * bytes.len().min(16)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_parent_is_continued_with_a_new_span() {
        let p = parse_traceparent(VALID).unwrap();
        assert_eq!(p.flags, 1);
        let hop = TraceContext::hop(Some(p), 7, 0x1122_3344_5566_7788);
        let mut out = Vec::new();
        hop.write_traceparent(&mut out);
        assert_eq!(
            out,
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-1122334455667788-01".as_slice()
        );
        assert!(hop.continued);
        let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let hop = TraceContext::hop(parse_traceparent(unsampled), 7, 9);
        assert!(!hop.sampled, "the sampled flag is kept as it was");
    }

    #[test]
    fn invalid_values_are_refused() {
        let cases: [&[u8]; 12] = [
            b"",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            b"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for c in cases {
            assert!(
                parse_traceparent(c).is_none(),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
        // A later version may carry more fields after a dash.
        let future = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what";
        assert!(parse_traceparent(future).is_some());
    }

    #[test]
    fn a_new_trace_is_not_sampled_and_never_all_zero() {
        let hop = TraceContext::hop(None, 0, 0);
        assert_ne!(hop.trace_id, [0; 16]);
        assert_ne!(hop.span_id, [0; 8]);
        assert!(!hop.sampled && !hop.continued);
        let mut out = Vec::new();
        hop.write_traceparent(&mut out);
        assert!(parse_traceparent(&out).is_some(), "what we send parses");
    }
}
