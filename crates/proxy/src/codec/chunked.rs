//! Incremental, strict decoder for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//!
//! The decoder validates every byte and writes the body out again with one canonical framing:
//! re-chunked without extensions (to an HTTP/1.1 peer) or raw (to a close-delimited HTTP/1.0
//! peer). Whatever a sender put in sizes, extensions or trailers, the receiver of our output
//! can only read it one way. Trailers are dropped, or — for a client that asked for them with
//! `TE: trailers` (gRPC) — re-written after the last chunk, minus the fields that must never be
//! trailers (framing, routing, authentication, content metadata).

use ringway_core::ErrorKind;

use super::chars::{is_field_char, is_qdtext, is_tchar};

/// Longest trailer section accepted, in bytes.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Longest chunk extension list accepted per chunk, in bytes.
const MAX_EXT_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    /// Inside the chunk size.
    Size,
    /// After `;`: an extension name must follow.
    ExtNameStart,
    ExtName,
    /// After `=`.
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtQuotedEscape,
    /// After the closing quote: `;` or CR.
    ExtAfterQuoted,
    /// CR seen at the end of a size line.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// How decoded data is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Canonical chunked framing (`{hex}\r\n{data}\r\n` ... `0\r\n\r\n`).
    Rechunk,
    /// The data bytes alone.
    Raw,
    /// Nothing: validate and measure only.
    Discard,
}

/// Streaming chunked decoder. Feed it input as it arrives; it never buffers data itself.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: u8,
    ext_bytes: usize,
    trailer_bytes: usize,
    output: Output,
    data_bytes: u64,
    /// Re-write the trailer section (`Rechunk` only): the kept lines so far, and where the
    /// line being read starts.
    keep_trailers: bool,
    trailers: Vec<u8>,
    line_start: usize,
    /// The `grpc-status` trailer's value, when kept trailers carried one.
    grpc_status: Option<u8>,
}

/// Fields never relayed as trailers (RFC 9110 §6.5.1): framing, routing, connection,
/// authentication, content metadata and response control.
const NOT_TRAILERS: [&str; 18] = [
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "max-forwards",
    "pragma",
    "proxy-authorization",
    "range",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
];

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new(output: Output) -> Self {
        Self {
            state: State::SizeStart,
            size: 0,
            digits: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            output,
            data_bytes: 0,
            keep_trailers: false,
            trailers: Vec::new(),
            line_start: 0,
            grpc_status: None,
        }
    }

    /// A re-chunking decoder that also re-writes the trailer section (see the module docs).
    pub fn keeping_trailers() -> Self {
        Self {
            keep_trailers: true,
            ..Self::new(Output::Rechunk)
        }
    }

    /// Whether the last chunk and trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The `grpc-status` trailer, when trailers were kept and carried one.
    pub fn grpc_status(&self) -> Option<u8> {
        self.grpc_status
    }

    /// Body bytes decoded so far.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Decodes as much of `input` as belongs to this body, appending the re-framed output to
    /// `out`. Returns the bytes consumed; fewer than `input.len()` only when the body ended
    /// (the rest belongs to the next message).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ErrorKind> {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Data {
                let take = (input.len() - i).min(self.size as usize);
                if self.output != Output::Discard {
                    out.extend_from_slice(&input[i..i + take]);
                }
                self.size -= take as u64;
                i += take;
                if self.size == 0 {
                    if self.output == Output::Rechunk {
                        out.extend_from_slice(b"\r\n");
                    }
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::SizeStart | State::Size, _) if b.is_ascii_hexdigit() => {
                    if self.digits == 16 {
                        return Err(ErrorKind::BadRequest);
                    }
                    self.digits += 1;
                    self.size = (self.size << 4) | u64::from(hex_value(b));
                    State::Size
                }
                (State::Size, b';') => State::ExtNameStart,
                (State::Size | State::ExtName | State::ExtToken | State::ExtAfterQuoted, b'\r') => {
                    State::SizeLf
                }
                (State::ExtNameStart | State::ExtName, _) if is_tchar(b) => State::ExtName,
                (State::ExtName | State::ExtToken | State::ExtAfterQuoted, b';') => {
                    State::ExtNameStart
                }
                (State::ExtName, b'=') => State::ExtValueStart,
                (State::ExtValueStart, b'"') => State::ExtQuoted,
                (State::ExtValueStart | State::ExtToken, _) if is_tchar(b) => State::ExtToken,
                (State::ExtQuoted, b'"') => State::ExtAfterQuoted,
                (State::ExtQuoted, b'\\') => State::ExtQuotedEscape,
                (State::ExtQuoted, _) if is_qdtext(b) => State::ExtQuoted,
                (State::ExtQuotedEscape, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => {
                    State::ExtQuoted
                }
                (State::SizeLf, b'\n') => self.chunk_start(out),
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::SizeStart,
                (State::TrailerStart, b'\r') => State::EndLf,
                (State::TrailerStart | State::TrailerName, _) if is_tchar(b) => State::TrailerName,
                (State::TrailerName, b':') => State::TrailerValue,
                (State::TrailerValue, b'\r') => State::TrailerLf,
                (State::TrailerValue, _) if is_field_char(b) => State::TrailerValue,
                (State::TrailerLf, b'\n') => State::TrailerStart,
                (State::EndLf, b'\n') => {
                    if self.output == Output::Rechunk {
                        out.extend_from_slice(b"0\r\n");
                        out.extend_from_slice(&self.trailers);
                        out.extend_from_slice(b"\r\n");
                    }
                    self.state = State::Done;
                    return Ok(i);
                }
                _ => return Err(ErrorKind::BadRequest),
            };
            match self.state {
                State::ExtNameStart
                | State::ExtName
                | State::ExtValueStart
                | State::ExtToken
                | State::ExtQuoted
                | State::ExtQuotedEscape
                | State::ExtAfterQuoted => {
                    self.ext_bytes += 1;
                    if self.ext_bytes > MAX_EXT_BYTES {
                        return Err(ErrorKind::BadRequest);
                    }
                }
                State::TrailerName | State::TrailerValue | State::TrailerLf => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILER_BYTES {
                        return Err(ErrorKind::HeadersTooLarge);
                    }
                    if self.keep_trailers {
                        self.trailers.push(b);
                    }
                }
                State::TrailerStart if self.keep_trailers => self.end_trailer_line(),
                _ => {}
            }
        }
        Ok(i)
    }

    /// A trailer line ended (its CR is kept): kept with its LF, or dropped when its field must
    /// never be a trailer.
    fn end_trailer_line(&mut self) {
        if self.trailers.len() == self.line_start {
            return;
        }
        let line = &self.trailers[self.line_start..];
        let name_end = line.iter().position(|&c| c == b':').unwrap_or(line.len());
        let name = &line[..name_end];
        let denied = NOT_TRAILERS
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
            || name.len() > 6 && name[..6].eq_ignore_ascii_case(b"proxy-");
        if name.eq_ignore_ascii_case(b"grpc-status") {
            self.grpc_status = parse_grpc_status(&line[(name_end + 1).min(line.len())..]);
        }
        if denied {
            self.trailers.truncate(self.line_start);
        } else {
            self.trailers.push(b'\n');
        }
        self.line_start = self.trailers.len();
    }

    /// A size line ended: start the data (or the trailer section after the last chunk).
    fn chunk_start(&mut self, out: &mut Vec<u8>) -> State {
        let size = self.size;
        self.digits = 0;
        self.ext_bytes = 0;
        if size == 0 {
            return State::TrailerStart;
        }
        self.data_bytes += size;
        if self.output == Output::Rechunk {
            write_hex_line(out, size);
        }
        State::Data
    }
}

/// A `grpc-status` value (decimal, surrounding whitespace and CR allowed), capped at 254.
pub fn parse_grpc_status(value: &[u8]) -> Option<u8> {
    let v = value.trim_ascii();
    if v.is_empty() || v.len() > 3 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = v.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Some(n.min(254) as u8)
}

/// Appends `{size:x}\r\n`.
pub(crate) fn write_hex_line(out: &mut Vec<u8>, size: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut n = size;
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
    out.extend_from_slice(b"\r\n");
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], output: Output) -> Result<(Vec<u8>, usize, bool), ErrorKind> {
        let mut d = ChunkedDecoder::new(output);
        let mut out = Vec::new();
        let n = d.decode(input, &mut out)?;
        Ok((out, n, d.is_done()))
    }

    /// The same input fed one byte at a time must give the same result.
    fn decode_bytewise(input: &[u8]) -> Result<(Vec<u8>, bool), ErrorKind> {
        let mut d = ChunkedDecoder::new(Output::Raw);
        let mut out = Vec::new();
        for b in input.chunks(1) {
            if d.is_done() {
                break;
            }
            d.decode(b, &mut out)?;
        }
        Ok((out, d.is_done()))
    }

    #[test]
    fn accepts_valid_bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n", b"hello world"),
            (
                b"5;a=b;c\r\nhello\r\n0\r\nVary: *\r\nX: y\r\n\r\n",
                b"hello",
            ),
            (
                b"5;x=\"I \\\"love\\\"; \\\\ext\\\\\"\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (b"0\r\n\r\n", b""),
        ];
        for (input, data) in cases {
            let (out, n, done) = decode_all(input, Output::Raw).unwrap();
            assert_eq!((&out[..], n, done), (*data, input.len(), true), "{input:?}");
            assert_eq!(
                decode_bytewise(input).unwrap(),
                (data.to_vec(), true),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rechunks_canonically() {
        let (out, _, _) =
            decode_all(b"5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n", Output::Rechunk).unwrap();
        assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
    }

    #[test]
    fn stops_at_end_of_body() {
        let (out, n, done) = decode_all(b"1\r\nA\r\n0\r\n\r\nGET / HTTP/1.1", Output::Raw).unwrap();
        assert_eq!((&out[..], n, done), (&b"A"[..], 11, true));
    }

    #[test]
    fn rejects_malformed() {
        let bad: &[&[u8]] = &[
            b"a \r\n0123456789\r\n0\r\n\r\n", // space after size
            b"3 \n  \r\nfoo\r\n",             // space, bare LF
            b"2 erfrferferf\r\naa\r\n",       // no semicolon
            b"2;\r\naa\r\n",                  // empty extension
            b"5;a=\"def; ghi\r\nhello\r\n",   // unbalanced quote
            b"5\r\r;ABCD\r\n34\r\n",          // CR CR
            b"5\r\nABCDE0",                   // data not followed by CRLF
            b"5\nhello\r\n",                  // bare LF
            b"0x5\r\nhello\r\n",              // prefix
            b"-1\r\n",                        // sign
            b"\r\n",                          // no size
            b"11111111111111111\r\n",         // 17 digits
            b"0\r\nbad trailer\r\n\r\n",      // trailer without colon
            b"0\r\nX: a\rb\r\n\r\n",          // bare CR in trailer
            b"0\r\n\r\r",                     // final line
            b"5;a=b c\r\n",                   // space in extension
        ];
        for input in bad {
            assert!(
                decode_all(input, Output::Raw).is_err(),
                "accepted {input:?}"
            );
            assert!(
                decode_bytewise(input).is_err(),
                "accepted bytewise {input:?}"
            );
        }
    }

    #[test]
    fn counts_data_bytes() {
        let mut d = ChunkedDecoder::new(Output::Raw);
        let mut out = Vec::new();
        d.decode(b"ff\r\n", &mut out).unwrap();
        assert_eq!(d.data_bytes(), 255);
    }
}
