//! One HTTP/2 stream seen by the session as an HTTP/1.1 connection carrying one request: the
//! request is translated strictly to HTTP/1.1 bytes (which the strict codec then parses like
//! any other), and the HTTP/1.1 response the session writes is translated back to HEADERS and
//! DATA frames. Routing, policies, limits, retries and telemetry thus run unchanged.
//!
//! Translation rules (RFC 9113 §8.2.2, §8.3.1): `Host` from `:authority`; a `Host` field that
//! differs from `:authority` makes the request carry both, which the codec refuses (400);
//! `Cookie` fields are joined with `; `; a body without `content-length` is sent chunked; the
//! `h2` crate has already refused connection-specific fields, `TE` other than `trailers`, and a
//! body that disagrees with its `content-length`. Response fields that are connection-specific
//! in HTTP/2 (`connection`, `keep-alive`, `transfer-encoding`, ...) are dropped; interim 1xx
//! heads are not forwarded.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};

use crate::codec::{write_hex_line, Body, Name, ResponseHead};
use crate::io::IoError;

/// Largest response head accepted from the session (it writes its own; a guard).
const MAX_HEAD: usize = 64 * 1024;
/// Most response fields accepted from the session.
const MAX_FIELDS: usize = 256;

/// Response fields that have no place in HTTP/2.
const CONNECTION_FIELDS: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// How the response body the session writes is framed.
enum Framing {
    /// No body.
    None,
    /// `content-length`: the bytes left.
    Length(u64),
    /// Chunked, decoded here.
    Chunked(Dechunk),
    /// Until the session closes the stream.
    UntilClose,
}

enum Out {
    /// Response head bytes so far.
    Head(Vec<u8>),
    Body(SendStream<Bytes>, Framing),
    Done,
}

/// See the [module docs](self).
pub(crate) struct Bridge {
    /// The translated request head, until the session reads it.
    head: Option<Vec<u8>>,
    body: Option<RecvStream>,
    chunked: bool,
    head_request: bool,
    respond: Option<SendResponse<Bytes>>,
    out: Out,
    /// The connection's count of streams the client reset (rapid-reset protection).
    resets: Rc<Cell<u32>>,
}

impl Bridge {
    /// The bridge for one accepted stream.
    pub(crate) fn new(
        req: Request<RecvStream>,
        respond: SendResponse<Bytes>,
        resets: Rc<Cell<u32>>,
    ) -> Bridge {
        let (parts, body) = req.into_parts();
        let ended = body.is_end_stream();
        let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
        let chunked = !ended && !has_length;
        Bridge {
            head: Some(request_head(&parts, chunked)),
            body: (!ended).then_some(body),
            chunked,
            head_request: parts.method == http::Method::HEAD,
            respond: Some(respond),
            out: Out::Head(Vec::new()),
            resets,
        }
    }

    /// Appends request bytes to `buf`: the head first, then the body as DATA arrives.
    pub(crate) async fn read(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<usize, IoError> {
        if let Some(head) = self.head.take() {
            buf.extend_from_slice(&head);
            return Ok(head.len());
        }
        let Some(body) = self.body.as_mut() else {
            return Err(IoError::Eof);
        };
        let next = monoio::time::timeout_at(deadline.into(), body.data())
            .await
            .map_err(|_| IoError::Timeout)?;
        match next {
            Some(Ok(data)) => {
                // The session forwards what it read before reading more: giving the window
                // back now keeps flow control end to end.
                let _ = body.flow_control().release_capacity(data.len());
                let before = buf.len();
                if self.chunked && !data.is_empty() {
                    write_hex_line(buf, data.len() as u64);
                    buf.extend_from_slice(&data);
                    buf.extend_from_slice(b"\r\n");
                } else {
                    buf.extend_from_slice(&data);
                }
                Ok(buf.len() - before)
            }
            None => {
                self.body = None;
                if self.chunked {
                    buf.extend_from_slice(b"0\r\n\r\n");
                    Ok(5)
                } else {
                    Err(IoError::Eof)
                }
            }
            Some(Err(e)) => {
                if e.reason() == Some(Reason::CANCEL) {
                    self.resets.set(self.resets.get() + 1);
                }
                self.body = None;
                Err(IoError::Eof)
            }
        }
    }

    /// Takes response bytes written by the session and sends them as frames.
    pub(crate) async fn write(
        &mut self,
        mut data: &[u8],
        timeout: Duration,
    ) -> Result<(), IoError> {
        let deadline = Instant::now() + timeout;
        while !data.is_empty() {
            match &mut self.out {
                Out::Done => return Err(IoError::Os),
                Out::Head(head) => {
                    let take = data.len().min(MAX_HEAD + 4 - head.len().min(MAX_HEAD + 4));
                    head.extend_from_slice(&data[..take]);
                    let Some(end) = find_head_end(head) else {
                        if head.len() > MAX_HEAD {
                            return Err(IoError::Os);
                        }
                        data = &data[take..];
                        continue;
                    };
                    // Bytes past the head belong to the body.
                    let consumed = take - (head.len() - end);
                    data = &data[consumed..];
                    let head_bytes: Vec<u8> = head[..end].to_vec();
                    self.start_response(&head_bytes)?;
                }
                Out::Body(stream, framing) => {
                    let mut trailers = None;
                    let (payload, used, eos) = match framing {
                        Framing::None => return Err(IoError::Os),
                        Framing::Length(left) => length_piece(left, data),
                        Framing::UntilClose => (Bytes::copy_from_slice(data), data.len(), false),
                        Framing::Chunked(d) => {
                            let piece = chunked_piece(d, data)?;
                            if d.done() {
                                trailers = d.trailer_fields();
                            }
                            piece
                        }
                    };
                    data = &data[used..];
                    match trailers {
                        // Relayed trailers (gRPC status) end the stream in their own frame.
                        Some(fields) => {
                            send_all(stream, payload, false, deadline).await?;
                            stream.send_trailers(fields).map_err(|_| IoError::Os)?;
                        }
                        None => send_all(stream, payload, eos, deadline).await?,
                    }
                    if eos {
                        self.out = Out::Done;
                    } else if used == 0 {
                        return Err(IoError::Os);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends the response head (`head` ends with its empty line), parsed by the strict codec;
    /// 1xx heads are dropped.
    fn start_response(&mut self, head: &[u8]) -> Result<(), IoError> {
        let mut parsed = ResponseHead::default();
        parsed
            .parse(head, self.head_request, MAX_FIELDS)
            .map_err(|_| IoError::Os)?;
        if (100..200).contains(&parsed.status) {
            // `100 Continue` and the like go to the client as informational heads (a client
            // that sent `expect: 100-continue` would wait for one); the final head follows.
            if let (Some(respond), Ok(status)) =
                (self.respond.as_mut(), StatusCode::from_u16(parsed.status))
            {
                if let Ok(interim) = Response::builder().status(status).body(()) {
                    let _ = respond.send_informational(interim);
                }
            }
            self.out = Out::Head(Vec::new());
            return Ok(());
        }
        let status = StatusCode::from_u16(parsed.status).map_err(|_| IoError::Os)?;
        let mut resp = Response::builder().status(status);
        // A HEAD or 304 response's content-length describes the representation: kept.
        let keep_length = parsed.body == Body::None && parsed.status != 204;
        for f in &parsed.headers {
            let name = f.name.of(head);
            let kept_length = keep_length && f.kind == Name::ContentLength && !f.connection_named;
            if !kept_length && f.kind.is_hop_by_hop()
                || f.connection_named
                || CONNECTION_FIELDS
                    .iter()
                    .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
            {
                continue;
            }
            let name =
                HeaderName::from_bytes(&name.to_ascii_lowercase()).map_err(|_| IoError::Os)?;
            let value = HeaderValue::from_bytes(f.value.of(head)).map_err(|_| IoError::Os)?;
            resp = resp.header(name, value);
        }
        let framing = match parsed.body {
            Body::None | Body::Length(0) => Framing::None,
            Body::Length(n) => {
                resp = resp.header(http::header::CONTENT_LENGTH, n);
                Framing::Length(n)
            }
            Body::Chunked => Framing::Chunked(Dechunk::default()),
            Body::UntilClose => Framing::UntilClose,
        };
        let resp = resp.body(()).map_err(|_| IoError::Os)?;
        let respond = self.respond.as_mut().ok_or(IoError::Os)?;
        let end = matches!(framing, Framing::None);
        let stream = respond.send_response(resp, end).map_err(|_| IoError::Os)?;
        self.respond = None;
        self.out = if end {
            Out::Done
        } else {
            Out::Body(stream, framing)
        };
        Ok(())
    }

    /// The session is done with the stream: ends a body framed by close, resets a stream
    /// whose response is incomplete.
    pub(crate) fn finish(&mut self) {
        match std::mem::replace(&mut self.out, Out::Done) {
            Out::Done => {}
            Out::Body(mut s, Framing::UntilClose) => {
                let _ = s.send_data(Bytes::new(), true);
            }
            Out::Body(mut s, _) => s.send_reset(Reason::CANCEL),
            Out::Head(_) => {
                if let Some(r) = self.respond.as_mut() {
                    r.send_reset(Reason::INTERNAL_ERROR);
                }
            }
        }
    }
}

impl Drop for Bridge {
    /// However the session ended, the stream is ended or reset, never left open.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Whether a request is malformed in ways the `h2` crate lets through (RFC 9113 §8.2.1): a
/// field value starting or ending with whitespace. Such a stream is reset with
/// `PROTOCOL_ERROR`, never translated (HTTP/1.1 parsing would trim the whitespace away).
pub(crate) fn malformed<B>(req: &Request<B>) -> bool {
    req.headers().values().any(|v| {
        let b = v.as_bytes();
        matches!(b.first(), Some(b' ' | b'\t')) || matches!(b.last(), Some(b' ' | b'\t'))
    })
}

/// Sends `data` as DATA frames as the peer's window allows, ending the stream with the last
/// one when `eos`.
pub(super) async fn send_all(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    eos: bool,
    deadline: Instant,
) -> Result<(), IoError> {
    if data.is_empty() {
        return if eos {
            stream.send_data(data, true).map_err(|_| IoError::Os)
        } else {
            Ok(())
        };
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = monoio::time::timeout_at(
            deadline.into(),
            std::future::poll_fn(|cx| stream.poll_capacity(cx)),
        )
        .await
        .map_err(|_| IoError::Timeout)?;
        let n = match granted {
            Some(Ok(n)) => n,
            Some(Err(_)) | None => return Err(IoError::Os),
        };
        if n == 0 {
            continue;
        }
        let chunk = data.split_to(n.min(data.len()));
        stream
            .send_data(chunk, eos && data.is_empty())
            .map_err(|_| IoError::Os)?;
    }
    Ok(())
}

/// The next piece of a body with `left` bytes to go: (payload, bytes used, last).
pub(super) fn length_piece(left: &mut u64, data: &[u8]) -> (Bytes, usize, bool) {
    let n = (data.len() as u64).min(*left) as usize;
    *left -= n as u64;
    (Bytes::copy_from_slice(&data[..n]), n, *left == 0)
}

/// The next piece of a chunked body, decoded: (payload, bytes used, last).
pub(super) fn chunked_piece(d: &mut Dechunk, data: &[u8]) -> Result<(Bytes, usize, bool), IoError> {
    let mut out = Vec::with_capacity(data.len());
    let used = d.feed(data, &mut out).map_err(|()| IoError::Os)?;
    Ok((Bytes::from(out), used, d.done()))
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The request head as HTTP/1.1 bytes (see the module docs).
fn request_head(parts: &http::request::Parts, chunked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    if parts.method == http::Method::CONNECT {
        let authority = parts.uri.authority().map_or("", |a| a.as_str());
        out.extend_from_slice(authority.as_bytes());
    } else {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(target.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let authority = parts.uri.authority().map(|a| a.as_str().as_bytes());
    if let Some(a) = authority {
        put(&mut out, b"host", a);
    }
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in &parts.headers {
        match name.as_str() {
            // Another Host than :authority is sent too: the codec refuses two Hosts (400).
            "host" if authority.is_some_and(|a| a.eq_ignore_ascii_case(value.as_bytes())) => {}
            "cookie" => cookies.push(value.as_bytes()),
            n => put(&mut out, n.as_bytes(), value.as_bytes()),
        }
    }
    if !cookies.is_empty() {
        put(&mut out, b"cookie", &cookies.join(&b"; "[..]));
    }
    if chunked {
        put(&mut out, b"transfer-encoding", b"chunked");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn put(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A chunked-body decoder for the session's own (well-formed) chunked output.
#[derive(Debug, Default)]
pub(crate) struct Dechunk {
    state: DechunkState,
    /// The trailer section's bytes, lines with their CRLF.
    trailers: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum DechunkState {
    /// Reading the size's hex digits (none yet: `None`).
    Size(Option<u64>),
    /// Skipping the rest of the size line (extensions, CR) up to LF.
    SizeLine(u64),
    Data(u64),
    /// The CRLF after the data: bytes left.
    DataEnd(u8),
    /// After the last chunk: trailer lines until an empty one; whether the line is empty so far.
    Trailers(bool),
    Done,
}

impl Default for DechunkState {
    fn default() -> Self {
        DechunkState::Size(None)
    }
}

impl Dechunk {
    /// Decodes from `input` into `out`; returns the bytes used.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ()> {
        use DechunkState::*;
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                Done => break,
                Size(v) => match (char::from(b).to_digit(16), v) {
                    (Some(d), _) => {
                        let v = v.unwrap_or(0);
                        let v = v.checked_mul(16).and_then(|v| v.checked_add(u64::from(d)));
                        self.state = Size(Some(v.ok_or(())?));
                        i += 1;
                    }
                    // The byte is looked at again as part of the line's rest.
                    (None, Some(v)) => self.state = SizeLine(v),
                    (None, None) => return Err(()),
                },
                SizeLine(v) => {
                    if b == b'\n' {
                        self.state = if v == 0 { Trailers(true) } else { Data(v) };
                    }
                    i += 1;
                }
                Data(left) => {
                    let n = ((input.len() - i) as u64).min(left) as usize;
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 { DataEnd(2) } else { Data(left) };
                }
                DataEnd(left) => {
                    i += 1;
                    self.state = if left == 1 {
                        Size(None)
                    } else {
                        DataEnd(left - 1)
                    };
                }
                Trailers(empty) => {
                    i += 1;
                    if self.trailers.len() < MAX_HEAD {
                        self.trailers.push(b);
                    }
                    self.state = match b {
                        b'\n' if empty => Done,
                        b'\n' => Trailers(true),
                        b'\r' => Trailers(empty),
                        _ => Trailers(false),
                    };
                }
            }
        }
        Ok(i)
    }

    /// The trailer fields (the session relays them only to clients that asked with
    /// `te: trailers`), or `None` when there were none.
    pub(crate) fn trailer_fields(&self) -> Option<http::HeaderMap> {
        let mut map = http::HeaderMap::new();
        for line in self.trailers.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = line[colon + 1..].trim_ascii();
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon].to_ascii_lowercase()),
                HeaderValue::from_bytes(value),
            ) else {
                continue;
            };
            map.append(name, value);
        }
        (!map.is_empty()).then_some(map)
    }

    /// Whether the last chunk and the trailers have been read.
    pub(crate) fn done(&self) -> bool {
        self.state == DechunkState::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_in_any_pieces() {
        let input = b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-t: 1\r\n\r\n";
        for step in 1..input.len() {
            let mut d = Dechunk::default();
            let mut out = Vec::new();
            for piece in input.chunks(step) {
                let used = d.feed(piece, &mut out).unwrap();
                assert_eq!(used, piece.len());
            }
            assert!(d.done(), "step {step}");
            assert_eq!(out, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
        }
        let mut d = Dechunk::default();
        assert!(d.feed(b"zz\r\n", &mut Vec::new()).is_err());
        let mut d = Dechunk::default();
        let mut out = Vec::new();
        d.feed(
            b"0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n\r\n",
            &mut out,
        )
        .unwrap();
        let t = d.trailer_fields().unwrap();
        assert_eq!(t["grpc-status"], "0");
        assert_eq!(t["grpc-message"], "all good");
    }

    #[test]
    fn requests_translate_strictly() {
        let req = Request::builder()
            .method("POST")
            .uri("https://api.example:8443/v1/items?q=1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-y", "z")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(
            String::from_utf8(request_head(&parts, true)).unwrap(),
            "POST /v1/items?q=1 HTTP/1.1\r\nhost: api.example:8443\r\nx-y: z\r\n\
             cookie: a=1; b=2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        // A Host other than :authority is kept beside it: two Hosts, which the codec refuses.
        let req = Request::builder()
            .uri("https://a.example/")
            .header("host", "b.example")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let head = String::from_utf8(request_head(&parts, false)).unwrap();
        assert_eq!(
            head,
            "GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\n\r\n"
        );
        // The same Host is not repeated.
        let req = Request::builder()
            .uri("https://a.example/")
            .header("host", "A.example")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let head = String::from_utf8(request_head(&parts, false)).unwrap();
        assert_eq!(head, "GET / HTTP/1.1\r\nhost: a.example\r\n\r\n");
    }
}
