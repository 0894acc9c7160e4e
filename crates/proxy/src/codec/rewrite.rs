//! Writing heads out again: one framing, no hop-by-hop fields, forwarding headers added.

use ringway_config::model::HeaderOps;
use ringway_core::{ErrorKind, RequestId};

use super::chunked::write_hex_line;
use super::head::{Body, Header, Name, RequestHead, ResponseHead, Span};

/// Per-connection facts added to every forwarded request.
#[derive(Debug, Clone, Copy)]
pub struct ForwardInfo<'a> {
    /// Client address as text (precomputed once per connection).
    pub client_ip: &'a [u8],
    /// `http` or `https`.
    pub proto: &'a [u8],
    /// Host to send when the client sent none (HTTP/1.0): the upstream authority.
    pub fallback_host: &'a [u8],
    /// The verified client certificate as an `x-forwarded-client-cert` value, when the
    /// listener forwards it. A client's own field of that name is never forwarded.
    pub client_cert: Option<&'a [u8]>,
}

/// Route-specific changes to the forwarded request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestEdits<'a> {
    /// Replaces the path and query (origin-form).
    pub path: Option<&'a [u8]>,
    /// Replaces the Host header.
    pub host: Option<&'a [u8]>,
    /// Header removals, replacements and additions.
    pub headers: Option<&'a HeaderOps>,
    /// More fields removed (lowercase names): credentials stripped by policy, and the names
    /// policy fills in itself so a client cannot supply them.
    pub remove: &'a [String],
    /// Complete `name: value\r\n` lines appended (claims forwarded by policy).
    pub append: &'a [u8],
    /// The `traceparent` value of this hop: replaces the client's; the client's `tracestate`
    /// is passed on only when `keep_tracestate`. `None`: both forwarded as received.
    pub traceparent: Option<&'a [u8]>,
    /// Pass the client's `tracestate` on (its `traceparent` was valid).
    pub keep_tracestate: bool,
}

/// Whether header ops remove or replace a field with this name.
fn edited_away(ops: Option<&HeaderOps>, name: &[u8]) -> bool {
    ops.is_some_and(|ops| {
        ops.remove
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
            || ops
                .set
                .iter()
                .any(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
    })
}

fn put_ops(out: &mut Vec<u8>, ops: Option<&HeaderOps>) {
    if let Some(ops) = ops {
        for (name, value) in ops.set.iter().chain(&ops.add) {
            put(out, &[name.as_bytes(), b": ", value.as_bytes(), b"\r\n"]);
        }
    }
}

/// How the forwarded request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutBody {
    /// No framing header.
    None,
    /// `content-length`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// No framing header; the body ends when the connection closes (HTTP/1.0 clients).
    Close,
}

fn put(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        out.extend_from_slice(p);
    }
}

fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// A response's status line as received (the version always HTTP/1.1).
fn put_status_line(out: &mut Vec<u8>, buf: &[u8], head: &ResponseHead) {
    out.extend_from_slice(b"HTTP/1.1 ");
    put_u64(out, u64::from(head.status));
    put(out, &[b" ", head.reason.of(buf), b"\r\n"]);
}

/// The end of a response head: framing, the `connection` value, the request id, the empty
/// line.
fn put_end(out: &mut Vec<u8>, body: OutBody, connection: Option<&[u8]>, request_id: &RequestId) {
    put_framing(out, body);
    if let Some(value) = connection {
        put(out, &[b"connection: ", value, b"\r\n"]);
    }
    put(
        out,
        &[b"x-request-id: ", request_id.as_bytes(), b"\r\n\r\n"],
    );
}

fn put_framing(out: &mut Vec<u8>, body: OutBody) {
    match body {
        OutBody::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            put_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        OutBody::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        OutBody::None | OutBody::Close => {}
    }
}

fn forwarded(h: &Header) -> bool {
    !h.kind.is_hop_by_hop() && !h.connection_named
}

/// Writes the request head sent upstream: HTTP/1.1, origin-form target, end-to-end fields as
/// received, then Host, X-Forwarded-For/-Proto/-Host, Via, X-Request-Id and the framing.
pub fn write_request_head(
    buf: &[u8],
    head: &RequestHead,
    info: &ForwardInfo<'_>,
    request_id: &RequestId,
    edits: &RequestEdits<'_>,
    out: &mut Vec<u8>,
) {
    let path = edits.path.unwrap_or_else(|| head.path.of(buf));
    put(out, &[head.method.of(buf), b" "]);
    if !path.starts_with(b"/") && path != b"*" {
        out.push(b'/');
    }
    put(out, &[path, b" HTTP/1.1\r\n"]);
    let client_host = head
        .authority
        .or(head.host)
        .map_or(info.fallback_host, |s: Span| s.of(buf));
    let host = edits.host.unwrap_or(client_host);
    put(out, &[b"host: ", host, b"\r\n"]);
    for h in &head.headers {
        // Host, Expect and the forwarding headers are replaced below.
        let replaced = matches!(
            h.kind,
            Name::Host
                | Name::Expect
                | Name::XForwardedFor
                | Name::XForwardedProto
                | Name::XForwardedHost
                | Name::XRequestId
                | Name::XForwardedClientCert
        );
        let traced = edits.traceparent.is_some()
            && (h.kind == Name::Traceparent
                || (h.kind == Name::Tracestate && !edits.keep_tracestate));
        let name = h.name.of(buf);
        if forwarded(h)
            && !replaced
            && !traced
            && !edited_away(edits.headers, name)
            && !edits
                .remove
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            put(out, &[name, b": ", h.value.of(buf), b"\r\n"]);
        }
    }
    put_ops(out, edits.headers);
    out.extend_from_slice(edits.append);
    if head.websocket {
        // The hop-by-hop fields of the handshake, written again for this hop.
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: websocket\r\n");
    }
    // Every X-Forwarded-For line becomes one list, ending with this client.
    out.extend_from_slice(b"x-forwarded-for: ");
    for h in head
        .headers
        .iter()
        .filter(|h| h.kind == Name::XForwardedFor && forwarded(h) && !h.value.is_empty())
    {
        put(out, &[h.value.of(buf), b", "]);
    }
    put(out, &[info.client_ip, b"\r\n"]);
    put(
        out,
        &[
            b"x-forwarded-proto: ",
            info.proto,
            b"\r\nx-forwarded-host: ",
            client_host,
            b"\r\n",
        ],
    );
    if let Some(cert) = info.client_cert {
        put(out, &[b"x-forwarded-client-cert: ", cert, b"\r\n"]);
    }
    if let Some(tp) = edits.traceparent {
        put(out, &[b"traceparent: ", tp, b"\r\n"]);
    }
    put(
        out,
        &[
            b"via: 1.1 ringway\r\nx-request-id: ",
            request_id.as_bytes(),
            b"\r\n",
        ],
    );
    let body = match head.body {
        Body::None => OutBody::None,
        Body::Length(n) => OutBody::Length(n),
        Body::Chunked | Body::UntilClose => OutBody::Chunked,
    };
    put_framing(out, body);
    out.extend_from_slice(b"\r\n");
}

/// Writes the response head sent to the client: end-to-end fields as received, then the
/// framing we chose, the `connection` value (`close` for the last response, `keep-alive` for
/// a persistent HTTP/1.0 client) and the request id.
pub fn write_response_head(
    buf: &[u8],
    head: &ResponseHead,
    body: OutBody,
    connection: Option<&[u8]>,
    request_id: &RequestId,
    ops: Option<&HeaderOps>,
    out: &mut Vec<u8>,
) {
    put_status_line(out, buf, head);
    let keep_length = head.body == Body::None && head.status != 204 && head.status >= 200;
    for h in &head.headers {
        // A HEAD or 304 response's Content-Length describes the representation: keep it.
        if (forwarded(h) || (keep_length && h.kind == Name::ContentLength && !h.connection_named))
            && h.kind != Name::XRequestId
            && !edited_away(ops, h.name.of(buf))
        {
            put(out, &[h.name.of(buf), b": ", h.value.of(buf), b"\r\n"]);
        }
    }
    put_ops(out, ops);
    put_end(out, body, connection, request_id);
}

/// Writes the head of a stored response (the edge cache): its end-to-end fields as received
/// except `Age`, then the route's edits, the current `Age`, `Cache-Status`, the framing, the
/// `connection` value and the request id.
#[allow(clippy::too_many_arguments, reason = "one head, written in one pass")]
pub fn write_stored_head(
    buf: &[u8],
    head: &ResponseHead,
    body: OutBody,
    connection: Option<&[u8]>,
    request_id: &RequestId,
    ops: Option<&HeaderOps>,
    age: u64,
    cache_status: &[u8],
    out: &mut Vec<u8>,
) {
    put_status_line(out, buf, head);
    for h in &head.headers {
        let name = h.name.of(buf);
        if forwarded(h)
            && h.kind != Name::XRequestId
            && !name.eq_ignore_ascii_case(b"age")
            && !name.eq_ignore_ascii_case(b"cache-status")
            && !name.eq_ignore_ascii_case(b"surrogate-control")
            && !edited_away(ops, name)
        {
            put(out, &[name, b": ", h.value.of(buf), b"\r\n"]);
        }
    }
    put_ops(out, ops);
    out.extend_from_slice(b"age: ");
    put_u64(out, age);
    put(out, &[b"\r\ncache-status: ", cache_status, b"\r\n"]);
    put_end(out, body, connection, request_id);
}

/// Writes a response configured on a route (`respond:`): status, the configured fields, a
/// Content-Length, and the request id. A HEAD request gets the head only.
pub fn write_direct_response(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_request: bool,
    connection: Option<&[u8]>,
    request_id: &RequestId,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    put_u64(out, u64::from(status));
    put(
        out,
        &[
            b" ",
            ringway_core::reason_phrase(status).as_bytes(),
            b"\r\n",
        ],
    );
    for (name, value) in headers {
        put(out, &[name.as_bytes(), b": ", value.as_bytes(), b"\r\n"]);
    }
    if status != 204 && status != 304 {
        put_framing(out, OutBody::Length(body.len() as u64));
    }
    if let Some(value) = connection {
        put(out, &[b"connection: ", value, b"\r\n"]);
    }
    put(
        out,
        &[b"x-request-id: ", request_id.as_bytes(), b"\r\n\r\n"],
    );
    if !head_request && status != 204 && status != 304 {
        out.extend_from_slice(body);
    }
}

/// Writes a complete error response generated by the gateway: JSON with `error`,
/// `request_id` and, when the request had one, `trace_id` (hex). `extra` is appended to the
/// head as is: complete `name: value\r\n` lines (`WWW-Authenticate`, `Retry-After`,
/// `RateLimit`).
pub fn write_error_response(
    kind: ErrorKind,
    request_id: &RequestId,
    trace_id: Option<&[u8]>,
    connection: Option<&[u8]>,
    extra: &[u8],
    out: &mut Vec<u8>,
) {
    let code = kind.code().as_bytes();
    let id = request_id.as_bytes();
    // {"error":"<code>","request_id":"<id>"[,"trace_id":"<hex>"]}\n
    let len = 10 + code.len() + 16 + id.len() + 3 + trace_id.map_or(0, |t| 14 + t.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    put_u64(out, u64::from(kind.status()));
    put(
        out,
        &[
            b" ",
            kind.reason().as_bytes(),
            b"\r\ncontent-type: application/json\r\n",
        ],
    );
    put_framing(out, OutBody::Length(len as u64));
    if let Some(c) = connection {
        put(out, &[b"connection: ", c, b"\r\n"]);
    }
    out.extend_from_slice(extra);
    put(out, &[b"x-request-id: ", id, b"\r\n\r\n"]);
    put(out, &[b"{\"error\":\"", code, b"\",\"request_id\":\"", id]);
    if let Some(t) = trace_id {
        put(out, &[b"\",\"trace_id\":\"", t]);
    }
    out.extend_from_slice(b"\"}\n");
}

/// Appends one data chunk in chunked framing.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        write_hex_line(out, data.len() as u64);
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}
