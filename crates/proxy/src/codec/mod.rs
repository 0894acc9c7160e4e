//! The HTTP/1.1 codec seam: strict head parsing, chunked decoding and head rewriting.
//!
//! Pure functions over byte slices (no I/O, no monoio), so the connection code in
//! `crate::session` can change without touching the rules, and benches can drive them directly.
//!
//! Written here rather than taken from a crate, for strictness and cost, both measured:
//! httparse (behind monoio-http and hyper's h1) accepts bare-LF line endings and leaves
//! framing conflicts to the caller, which is how smuggling gets through (the llhttp corpus in
//! `tests/corpus.rs` holds the cases); and parsing into spans of the read buffer, with the
//! header names classified once, takes 190 ns for a curl request against httparse plus
//! owned strings at 837 ns (`cargo bench -p ringway-benches --bench codec`).

mod chars;
mod chunked;
mod head;
mod rewrite;

pub(crate) use chars::trim_ows as trim;
pub(crate) use chunked::write_hex_line;
pub use chunked::{parse_grpc_status, ChunkedDecoder, Output};
pub use head::{
    find_head_end, Body, HeadLimits, Header, Method, Name, RequestHead, ResponseHead, Span, Version,
};
pub use rewrite::{
    write_chunk, write_direct_response, write_error_response, write_request_head,
    write_response_head, write_stored_head, ForwardInfo, OutBody, RequestEdits,
};

/// Length of the empty lines (CRLF pairs) that may precede a request line (RFC 9112 §2.2).
/// Returns `Err` for a bare LF, `Ok(n)` with `n` bytes to skip.
pub fn leading_empty_lines(buf: &[u8]) -> Result<usize, ringway_core::ErrorKind> {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => return Err(ringway_core::ErrorKind::BadRequest),
            _ => return Ok(i),
        }
    }
}

#[cfg(test)]
mod tests;
