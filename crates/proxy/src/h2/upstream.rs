//! One HTTP/2 stream to an upstream, seen by the session as an HTTP/1.1 upstream connection
//! carrying one exchange: the HTTP/1.1 request the session writes (head, then the body as
//! framed) becomes HEADERS and DATA on a stream of the core's connection to the endpoint; the
//! response becomes HTTP/1.1 bytes — always chunked, so that its trailers (gRPC's status) can
//! follow the last chunk — which the session parses with the same strict codec as any other.
//!
//! The connection itself is driven by a task of its own; streams are opened on it while it
//! accepts them (`SendRequest::ready`), so requests to one endpoint are multiplexed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use http::{HeaderName, HeaderValue, Method, Request, Uri};

use super::bridge::{chunked_piece, length_piece, send_all, Dechunk};
use crate::codec::{write_hex_line, Body, HeadLimits, RequestHead};
use crate::io::IoError;

/// Limits for parsing the request head the session wrote (it already passed the listener's).
const OWN_HEAD: HeadLimits = HeadLimits {
    max_uri_bytes: 1 << 20,
    max_head_bytes: 1 << 20,
    max_headers: 10_000,
};

/// Request fields with no place in HTTP/2 (the session wrote them for an HTTP/1.1 hop).
const CONNECTION_FIELDS: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "host",
];

enum ReqState {
    /// Head bytes so far.
    Head(Vec<u8>),
    Body(SendStream<Bytes>, ReqBody),
    Sent,
}

enum ReqBody {
    Length(u64),
    Chunked(Dechunk),
}

enum RespState {
    /// Not yet asked for, or on its way.
    Waiting,
    Body(RecvStream),
    Done,
}

/// See the [module docs](self).
pub(crate) struct UpBridge {
    sender: SendRequest<Bytes>,
    scheme: &'static str,
    req: ReqState,
    response: Option<ResponseFuture>,
    resp: RespState,
    head_request: bool,
}

impl UpBridge {
    /// A bridge opening its stream on `sender`'s connection (`https` or `http` in `:scheme`).
    pub(crate) fn new(sender: SendRequest<Bytes>, tls: bool) -> Self {
        Self {
            sender,
            scheme: if tls { "https" } else { "http" },
            req: ReqState::Head(Vec::with_capacity(512)),
            response: None,
            resp: RespState::Waiting,
            head_request: false,
        }
    }

    /// Takes request bytes written by the session and sends them as frames.
    pub(crate) async fn write(
        &mut self,
        mut data: &[u8],
        timeout: Duration,
    ) -> Result<(), IoError> {
        let deadline = Instant::now() + timeout;
        while !data.is_empty() {
            match &mut self.req {
                ReqState::Sent => return Err(IoError::Os),
                ReqState::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(data);
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if head.len() > OWN_HEAD.max_head_bytes {
                            return Err(IoError::Os);
                        }
                        return Ok(());
                    };
                    let end = end + 4;
                    data = &data[end - before..];
                    let head = std::mem::take(head);
                    self.start_request(&head[..end])?;
                }
                ReqState::Body(stream, body) => {
                    let (payload, used, eos) = match body {
                        ReqBody::Length(left) => length_piece(left, data),
                        ReqBody::Chunked(d) => chunked_piece(d, data)?,
                    };
                    data = &data[used..];
                    send_all(stream, payload, eos, deadline).await?;
                    if eos {
                        self.req = ReqState::Sent;
                    } else if used == 0 {
                        return Err(IoError::Os);
                    }
                }
            }
        }
        Ok(())
    }

    /// Opens the stream with the request head (`head` ends with its empty line).
    fn start_request(&mut self, head: &[u8]) -> Result<(), IoError> {
        let mut parsed = RequestHead::default();
        parsed.parse(head, &OWN_HEAD).map_err(|_| IoError::Os)?;
        let authority = parsed.host.map_or(&b""[..], |h| h.of(head));
        let path = parsed.path.of(head);
        let uri = Uri::builder()
            .scheme(self.scheme)
            .authority(authority)
            .path_and_query(if path.is_empty() { &b"/"[..] } else { path })
            .build()
            .map_err(|_| IoError::Os)?;
        let method = Method::from_bytes(parsed.method.of(head)).map_err(|_| IoError::Os)?;
        self.head_request = method == Method::HEAD;
        let mut req = Request::builder().method(method).uri(uri);
        for f in &parsed.headers {
            let name = f.name.of(head);
            if f.connection_named
                || f.kind.is_hop_by_hop()
                || CONNECTION_FIELDS
                    .iter()
                    .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
            {
                continue;
            }
            let name =
                HeaderName::from_bytes(&name.to_ascii_lowercase()).map_err(|_| IoError::Os)?;
            let value = HeaderValue::from_bytes(f.value.of(head)).map_err(|_| IoError::Os)?;
            req = req.header(name, value);
        }
        // gRPC servers require it; trailers are relayed to clients that asked for them.
        req = req.header(http::header::TE, "trailers");
        let body = match parsed.body {
            Body::None | Body::Length(0) => None,
            Body::Length(n) => {
                req = req.header(http::header::CONTENT_LENGTH, n);
                Some(ReqBody::Length(n))
            }
            Body::Chunked | Body::UntilClose => Some(ReqBody::Chunked(Dechunk::default())),
        };
        let req = req.body(()).map_err(|_| IoError::Os)?;
        let (response, stream) = self
            .sender
            .send_request(req, body.is_none())
            .map_err(|_| IoError::Os)?;
        self.response = Some(response);
        self.req = match body {
            None => ReqState::Sent,
            Some(b) => ReqState::Body(stream, b),
        };
        Ok(())
    }

    /// Appends response bytes to `buf`: the head (HTTP/1.1, chunked), then each DATA frame
    /// as a chunk, then the last chunk with the trailers.
    pub(crate) async fn read(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<usize, IoError> {
        let before = buf.len();
        match &mut self.resp {
            RespState::Done => return Err(IoError::Eof),
            RespState::Waiting => {
                let Some(response) = self.response.take() else {
                    return Err(IoError::Os);
                };
                let resp = monoio::time::timeout_at(deadline.into(), response)
                    .await
                    .map_err(|_| IoError::Timeout)?
                    .map_err(|e| {
                        if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                            IoError::Refused
                        } else {
                            IoError::Os
                        }
                    })?;
                let (parts, body) = resp.into_parts();
                let status = parts.status;
                buf.extend_from_slice(
                    format!(
                        "HTTP/1.1 {} {}\r\n",
                        status.as_str(),
                        status.canonical_reason().unwrap_or("")
                    )
                    .as_bytes(),
                );
                let bodiless = self.head_request
                    || status == http::StatusCode::NO_CONTENT
                    || status == http::StatusCode::NOT_MODIFIED;
                for (name, value) in &parts.headers {
                    // The length is kept only where no body follows (HEAD, 304): it describes
                    // the representation. Elsewhere the body is re-framed, chunked.
                    if name == http::header::CONTENT_LENGTH && !bodiless {
                        continue;
                    }
                    buf.extend_from_slice(name.as_str().as_bytes());
                    buf.extend_from_slice(b": ");
                    buf.extend_from_slice(value.as_bytes());
                    buf.extend_from_slice(b"\r\n");
                }
                if bodiless {
                    buf.extend_from_slice(b"\r\n");
                    self.resp = RespState::Done;
                } else {
                    buf.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                    self.resp = RespState::Body(body);
                }
            }
            RespState::Body(body) => loop {
                let next = monoio::time::timeout_at(deadline.into(), body.data())
                    .await
                    .map_err(|_| IoError::Timeout)?;
                match next {
                    // An empty DATA frame carries nothing: wait for the next.
                    Some(Ok(data)) if data.is_empty() => continue,
                    Some(Ok(data)) => {
                        let _ = body.flow_control().release_capacity(data.len());
                        write_hex_line(buf, data.len() as u64);
                        buf.extend_from_slice(&data);
                        buf.extend_from_slice(b"\r\n");
                        break;
                    }
                    Some(Err(_)) => return Err(IoError::Os),
                    None => {
                        let trailers = monoio::time::timeout_at(deadline.into(), body.trailers())
                            .await
                            .map_err(|_| IoError::Timeout)?
                            .map_err(|_| IoError::Os)?;
                        buf.extend_from_slice(b"0\r\n");
                        for (name, value) in trailers.iter().flatten() {
                            buf.extend_from_slice(name.as_str().as_bytes());
                            buf.extend_from_slice(b": ");
                            buf.extend_from_slice(value.as_bytes());
                            buf.extend_from_slice(b"\r\n");
                        }
                        buf.extend_from_slice(b"\r\n");
                        self.resp = RespState::Done;
                        break;
                    }
                }
            },
        }
        Ok(buf.len() - before)
    }
}
