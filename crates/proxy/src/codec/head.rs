//! Strict parsing of HTTP/1.x message heads (RFC 9112), request and response.
//!
//! The head is parsed in place: every name, value and target is a [`Span`] into the caller's
//! read buffer, and the header vector is reused across requests, so a keep-alive connection parses
//! without allocating. Anything a lenient parser might read differently is an error: bare CR or
//! LF, obs-fold, whitespace before the colon, controls, duplicate or malformed Content-Length,
//! Content-Length with Transfer-Encoding, a transfer coding chain not ending in one `chunked`.

use ringway_core::{ErrorKind, RequestId};

use super::chars::{is_field_char, is_ows, is_target_char, is_tchar, is_token, list_items};

/// A byte range of the read buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    #[inline]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Header names the proxy treats specially, classified once at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `Host`.
    Host,
    /// `Content-Length`.
    ContentLength,
    /// `Transfer-Encoding`.
    TransferEncoding,
    /// `Connection`.
    Connection,
    /// `Keep-Alive` (hop-by-hop).
    KeepAlive,
    /// `TE` (hop-by-hop).
    Te,
    /// `Trailer` (hop-by-hop).
    Trailer,
    /// `Upgrade` (hop-by-hop).
    Upgrade,
    /// Any `Proxy-*` header (hop-by-hop, e.g. `Proxy-Authorization`).
    Proxy,
    /// `Expect`.
    Expect,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// `X-Forwarded-Proto`.
    XForwardedProto,
    /// `X-Forwarded-Host`.
    XForwardedHost,
    /// `X-Request-Id`.
    XRequestId,
    /// `X-Forwarded-Client-Cert`: only the gateway writes it (mTLS).
    XForwardedClientCert,
    /// `traceparent` (W3C Trace Context): replaced by the gateway's hop.
    Traceparent,
    /// `tracestate`: passed on only with a valid `traceparent`.
    Tracestate,
    /// Anything else: forwarded unchanged.
    Other,
}

impl Name {
    fn classify(name: &[u8]) -> Self {
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        match name.len() {
            2 if eq("te") => Self::Te,
            4 if eq("host") => Self::Host,
            6 if eq("expect") => Self::Expect,
            7 if eq("upgrade") => Self::Upgrade,
            7 if eq("trailer") => Self::Trailer,
            10 if eq("connection") => Self::Connection,
            10 if eq("tracestate") => Self::Tracestate,
            11 if eq("traceparent") => Self::Traceparent,
            10 if eq("keep-alive") => Self::KeepAlive,
            12 if eq("x-request-id") => Self::XRequestId,
            14 if eq("content-length") => Self::ContentLength,
            15 if eq("x-forwarded-for") => Self::XForwardedFor,
            16 if eq("x-forwarded-host") => Self::XForwardedHost,
            17 if eq("transfer-encoding") => Self::TransferEncoding,
            17 if eq("x-forwarded-proto") => Self::XForwardedProto,
            23 if eq("x-forwarded-client-cert") => Self::XForwardedClientCert,
            n if n > 6 && name[..6].eq_ignore_ascii_case(b"proxy-") => Self::Proxy,
            _ => Self::Other,
        }
    }

    /// Hop-by-hop or framing headers that never cross the proxy as received.
    pub fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            Self::ContentLength
                | Self::TransferEncoding
                | Self::Connection
                | Self::KeepAlive
                | Self::Te
                | Self::Trailer
                | Self::Upgrade
                | Self::Proxy
        )
    }
}

/// One header field line.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Field name as received.
    pub name: Span,
    /// Field value without surrounding whitespace.
    pub value: Span,
    /// Classification of the name.
    pub kind: Name,
    /// Set when the `Connection` header names this field (it must not be forwarded).
    pub connection_named: bool,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body (request without framing headers, HEAD/1xx/204/304 responses).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes the connection (responses only).
    UntilClose,
}

impl Body {
    /// Whether no body bytes follow the head (`Content-Length: 0` included).
    pub fn is_empty(self) -> bool {
        matches!(self, Body::None | Body::Length(0))
    }
}

/// HTTP version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// Methods the proxy needs to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: the response never has a body.
    Head,
    /// OPTIONS: the only method allowed with `*`.
    Options,
    /// CONNECT: not proxied.
    Connect,
    /// PUT and DELETE: idempotent.
    IdempotentOther,
    /// Anything else (POST, PATCH, extensions).
    Other,
}

impl Method {
    fn classify(m: &[u8]) -> Self {
        match m {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"OPTIONS" => Self::Options,
            b"CONNECT" => Self::Connect,
            b"PUT" | b"DELETE" | b"TRACE" => Self::IdempotentOther,
            _ => Self::Other,
        }
    }

    /// Idempotent per RFC 9110 §9.2.2: safe to send again after a failure on a reused connection.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Self::Other | Self::Connect)
    }
}

/// Size limits applied while parsing a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request target in bytes (414 beyond).
    pub max_uri_bytes: usize,
    /// Largest head (request line and fields) in bytes (431 beyond).
    pub max_head_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_uri_bytes: 8 * 1024,
            max_head_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

/// Finds where a head ends. `from` is where the previous call stopped scanning (0 at first);
/// it is updated so a head arriving byte by byte is scanned once in total.
///
/// Returns the length of the head including its final empty line, `None` when more bytes are
/// needed, or an error for a bare LF or an oversized head.
pub fn find_head_end(
    buf: &[u8],
    from: &mut usize,
    limits: &HeadLimits,
) -> Result<Option<usize>, ErrorKind> {
    let mut i = *from;
    while let Some(off) = memchr::memchr(b'\n', &buf[i..]) {
        let lf = i + off;
        if lf == 0 || buf[lf - 1] != b'\r' {
            return Err(ErrorKind::BadRequest);
        }
        if lf >= 3 && &buf[lf - 3..lf - 1] == b"\r\n" {
            let end = lf + 1;
            if end > limits.max_head_bytes {
                return Err(ErrorKind::HeadersTooLarge);
            }
            return Ok(Some(end));
        }
        i = lf + 1;
    }
    *from = i;
    // No complete head yet: refuse to buffer more than the limits allow.
    let first_line_done = memchr::memchr(b'\n', &buf[..i]).is_some();
    if !first_line_done && buf.len() > limits.max_uri_bytes + 64 {
        return Err(ErrorKind::UriTooLong);
    }
    if buf.len() >= limits.max_head_bytes {
        return Err(ErrorKind::HeadersTooLarge);
    }
    Ok(None)
}

/// Parses the field lines starting at `i` up to and including the final empty line.
fn parse_fields(
    head: &[u8],
    mut i: usize,
    max_headers: usize,
    out: &mut Vec<Header>,
) -> Result<(), ErrorKind> {
    out.clear();
    loop {
        if head[i] == b'\r' {
            // The empty line: `find_head_end` guarantees it is the last line.
            return if head.get(i + 1) == Some(&b'\n') && i + 2 == head.len() {
                Ok(())
            } else {
                Err(ErrorKind::BadRequest)
            };
        }
        let n0 = i;
        while is_tchar(head[i]) {
            i += 1;
        }
        // Rejects obs-fold and leading whitespace (empty name), whitespace before the colon
        // and any non-token byte in the name.
        if i == n0 || head[i] != b':' {
            return Err(ErrorKind::BadRequest);
        }
        let name = Span::new(n0, i);
        i += 1;
        while is_ows(head[i]) {
            i += 1;
        }
        let v0 = i;
        let mut vend = i;
        loop {
            let b = head[i];
            if b == b'\r' {
                break;
            }
            if !is_field_char(b) {
                return Err(ErrorKind::BadRequest);
            }
            if !is_ows(b) {
                vend = i + 1;
            }
            i += 1;
        }
        if head[i + 1] != b'\n' {
            return Err(ErrorKind::BadRequest);
        }
        i += 2;
        if out.len() == max_headers {
            return Err(ErrorKind::HeadersTooLarge);
        }
        let kind = Name::classify(&head[n0..name.end as usize]);
        out.push(Header {
            name,
            value: Span::new(v0, vend),
            kind,
            connection_named: false,
        });
    }
}

/// What the framing headers of a message say, before method/status rules apply.
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
    /// A transfer coding other than `chunked` precedes it (valid syntax, unsupported).
    other_codings: bool,
    close: bool,
    keep_alive: bool,
}

/// Reads Content-Length, Transfer-Encoding and Connection; marks fields named by Connection.
/// Errors are client-side kinds; response parsing maps them to a bad upstream response.
fn framing(buf: &[u8], headers: &mut [Header]) -> Result<Framing, ErrorKind> {
    let mut f = Framing {
        content_length: None,
        chunked: false,
        other_codings: false,
        close: false,
        keep_alive: false,
    };
    let mut te_seen = false;
    let mut named: [Option<Span>; 8] = [None; 8];
    let mut named_len = 0;
    for h in headers.iter() {
        let value = h.value.of(buf);
        match h.kind {
            Name::ContentLength => {
                if f.content_length.is_some() {
                    return Err(ErrorKind::BadRequest);
                }
                f.content_length = Some(parse_content_length(value)?);
            }
            Name::TransferEncoding => {
                te_seen = true;
                for coding in list_items(value) {
                    if f.chunked {
                        // Anything after `chunked` (including a second one) is ambiguous.
                        return Err(ErrorKind::BadRequest);
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        f.chunked = true;
                    } else if is_token(coding) {
                        f.other_codings = true;
                    } else {
                        return Err(ErrorKind::BadRequest);
                    }
                }
            }
            Name::Connection => {
                for token in list_items(value) {
                    if token.is_empty() {
                        continue;
                    }
                    if !is_token(token) {
                        return Err(ErrorKind::BadRequest);
                    }
                    if token.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        f.keep_alive = true;
                    } else {
                        if named_len == named.len() {
                            return Err(ErrorKind::BadRequest);
                        }
                        let start = token.as_ptr() as usize - buf.as_ptr() as usize;
                        named[named_len] = Some(Span::new(start, start + token.len()));
                        named_len += 1;
                    }
                }
            }
            _ => {}
        }
    }
    if te_seen && (!f.chunked || f.content_length.is_some()) {
        return Err(ErrorKind::BadRequest);
    }
    if named_len > 0 {
        for h in headers.iter_mut() {
            let name = h.name.of(buf);
            h.connection_named = named[..named_len]
                .iter()
                .flatten()
                .any(|s| s.of(buf).eq_ignore_ascii_case(name));
        }
    }
    Ok(f)
}

fn parse_content_length(v: &[u8]) -> Result<u64, ErrorKind> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ErrorKind::BadRequest);
    }
    Ok(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// A parsed request head. Reuse one per connection: `parse` clears it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Method as received.
    pub method: Span,
    /// Classified method.
    pub method_kind: Method,
    /// Request target as received.
    pub target: Span,
    /// Path and query to forward (origin-form; for absolute-form the part after the
    /// authority, which may be empty or start with `?`).
    pub path: Span,
    /// The path without its query: `path` up to the first `?`.
    pub path_only: Span,
    /// Authority from an absolute-form target; it replaces the Host header.
    pub authority: Option<Span>,
    /// Version of the request.
    pub version: Version,
    /// Field lines in order.
    pub headers: Vec<Header>,
    /// The Host header value, if any.
    pub host: Option<Span>,
    /// Body framing.
    pub body: Body,
    /// Whether the client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// A well-formed client-supplied `X-Request-Id`.
    pub request_id: Option<RequestId>,
    /// The client's `traceparent` value when it sent exactly one (validity is checked by
    /// [`ringway_core::parse_traceparent`]).
    pub traceparent: Option<Span>,
    /// `TE: trailers`: the client takes trailer fields (gRPC); a chunked response's trailers
    /// are then relayed.
    pub te_trailers: bool,
    /// A valid WebSocket opening handshake (RFC 6455 §4.2.1): `GET`, HTTP/1.1, no body,
    /// `Upgrade: websocket` named by `Connection`, one `Sec-WebSocket-Key` of 16 bytes in
    /// base64, `Sec-WebSocket-Version: 13`. Forwarded only on routes that allow it.
    pub websocket: bool,
    /// Length of the head in bytes, including the final empty line.
    pub len: usize,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self {
            method: Span::default(),
            method_kind: Method::Get,
            target: Span::default(),
            path: Span::default(),
            path_only: Span::default(),
            authority: None,
            version: Version::Http11,
            headers: Vec::with_capacity(32),
            host: None,
            body: Body::None,
            keep_alive: true,
            expect_continue: false,
            request_id: None,
            traceparent: None,
            te_trailers: false,
            websocket: false,
            len: 0,
        }
    }
}

impl RequestHead {
    /// The rest of a WebSocket handshake, once `Upgrade: websocket` was seen.
    fn valid_websocket(&self, buf: &[u8]) -> bool {
        let one = |name: &str| {
            let mut v = self
                .headers
                .iter()
                .filter(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
                .map(|h| h.value.of(buf));
            v.next().filter(|_| v.next().is_none())
        };
        // 16 bytes in base64: 22 characters of the alphabet and `==`.
        let key_ok = one("sec-websocket-key").is_some_and(|k| {
            k.len() == 24
                && k.ends_with(b"==")
                && k[..22]
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        });
        self.method_kind == Method::Get
            && self.version == Version::Http11
            && self.body == Body::None
            && key_ok
            && one("sec-websocket-version") == Some(b"13")
    }

    /// Parses the complete head `head` (as delimited by [`find_head_end`]) into `self`.
    pub fn parse(&mut self, head: &[u8], limits: &HeadLimits) -> Result<(), ErrorKind> {
        let mut i = 0;
        while is_tchar(head[i]) {
            i += 1;
        }
        if i == 0 || head[i] != b' ' {
            return Err(ErrorKind::BadRequest);
        }
        self.method = Span::new(0, i);
        self.method_kind = Method::classify(&head[..i]);
        i += 1;
        let t0 = i;
        while is_target_char(head[i]) {
            i += 1;
        }
        if i - t0 > limits.max_uri_bytes {
            return Err(ErrorKind::UriTooLong);
        }
        if i == t0 || head[i] != b' ' {
            return Err(ErrorKind::BadRequest);
        }
        self.target = Span::new(t0, i);
        i += 1;
        self.version = parse_version(&head[i..], b"\r\n")?;
        i += 10;
        parse_fields(head, i, limits.max_headers, &mut self.headers)?;
        self.len = head.len();
        self.finish(head)
    }

    fn finish(&mut self, buf: &[u8]) -> Result<(), ErrorKind> {
        if self.method_kind == Method::Connect {
            return Err(ErrorKind::MethodNotAllowed);
        }
        let f = framing(buf, &mut self.headers)?;
        if f.chunked && self.version == Version::Http10 {
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
            return Err(ErrorKind::BadRequest);
        }
        if f.other_codings {
            return Err(ErrorKind::NotImplemented);
        }
        self.body = match (f.chunked, f.content_length) {
            (true, _) => Body::Chunked,
            (false, Some(n)) => Body::Length(n),
            (false, None) => Body::None,
        };
        self.keep_alive = match self.version {
            Version::Http11 => !f.close,
            Version::Http10 => f.keep_alive && !f.close,
        };
        self.host = None;
        self.expect_continue = false;
        self.request_id = None;
        self.traceparent = None;
        self.websocket = false;
        self.te_trailers = false;
        let mut request_ids = 0;
        let mut traceparents = 0;
        for h in &self.headers {
            let value = h.value.of(buf);
            match h.kind {
                Name::Host => {
                    if self.host.is_some() {
                        return Err(ErrorKind::BadRequest);
                    }
                    self.host = Some(h.value);
                }
                Name::Expect => {
                    if !value.eq_ignore_ascii_case(b"100-continue") || self.expect_continue {
                        return Err(ErrorKind::ExpectationFailed);
                    }
                    self.expect_continue = true;
                }
                // The bytes after an upgrade are not HTTP: only a WebSocket handshake (checked
                // whole below) may switch, and only on routes that allow it. `h2c` is ignored:
                // RFC 9113 lets a server answer in HTTP/1.1.
                Name::Upgrade if value.eq_ignore_ascii_case(b"websocket") && h.connection_named => {
                    if self.websocket {
                        return Err(ErrorKind::BadRequest);
                    }
                    self.websocket = true;
                }
                Name::Upgrade if !value.eq_ignore_ascii_case(b"h2c") => {
                    return Err(ErrorKind::BadRequest);
                }
                Name::XRequestId => {
                    request_ids += 1;
                    self.request_id = RequestId::parse(value);
                }
                Name::Traceparent => {
                    traceparents += 1;
                    self.traceparent = Some(h.value);
                }
                Name::Te if list_items(value).any(|t| t.eq_ignore_ascii_case(b"trailers")) => {
                    self.te_trailers = true;
                }
                _ => {}
            }
        }
        if request_ids > 1 {
            self.request_id = None;
        }
        // Two `traceparent` fields cannot be told apart: neither is trusted.
        if traceparents > 1 {
            self.traceparent = None;
        }
        if self.version == Version::Http11 && self.host.is_none() {
            return Err(ErrorKind::BadRequest);
        }
        if self.websocket && !self.valid_websocket(buf) {
            return Err(ErrorKind::BadRequest);
        }
        self.classify_target(buf)?;
        let path = self.path.of(buf);
        let end = memchr::memchr(b'?', path).unwrap_or(path.len());
        self.path_only = Span::new(self.path.start as usize, self.path.start as usize + end);
        Ok(())
    }

    /// The path without its query.
    #[inline]
    pub fn path_only<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        self.path_only.of(buf)
    }

    /// `?` and the query, as received (empty when there is none).
    #[inline]
    pub fn query_part<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.path_only.end as usize..self.path.end as usize]
    }

    /// The query after `?` (empty when there is none).
    #[inline]
    pub fn query<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let part = self.query_part(buf);
        part.get(1..).unwrap_or_default()
    }

    fn classify_target(&mut self, buf: &[u8]) -> Result<(), ErrorKind> {
        let target = self.target.of(buf);
        self.authority = None;
        if target[0] == b'/' {
            self.path = self.target;
            return Ok(());
        }
        if target == b"*" {
            self.path = self.target;
            return if self.method_kind == Method::Options {
                Ok(())
            } else {
                Err(ErrorKind::BadRequest)
            };
        }
        let scheme_len = if starts_with_ignore_case(target, b"http://") {
            7
        } else if starts_with_ignore_case(target, b"https://") {
            8
        } else {
            return Err(ErrorKind::BadRequest);
        };
        let rest = &target[scheme_len..];
        let auth_len = rest
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let authority = &rest[..auth_len];
        // Userinfo in an http(s) URI is deprecated (RFC 9110 §4.2.4) and a phishing vector.
        if authority.is_empty() || authority.contains(&b'@') {
            return Err(ErrorKind::BadRequest);
        }
        let a0 = self.target.start as usize + scheme_len;
        self.authority = Some(Span::new(a0, a0 + auth_len));
        self.path = Span::new(a0 + auth_len, self.target.end as usize);
        Ok(())
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Parses `HTTP/1.0` or `HTTP/1.1` followed by `after`.
fn parse_version(s: &[u8], after: &[u8]) -> Result<Version, ErrorKind> {
    if s.len() < 8 + after.len() || &s[8..8 + after.len()] != after {
        return Err(ErrorKind::BadRequest);
    }
    match &s[..8] {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Err(ErrorKind::VersionNotSupported)
        }
        _ => Err(ErrorKind::BadRequest),
    }
}

/// A parsed upstream response head. Reuse one per upstream exchange.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// Status code (100..=599).
    pub status: u16,
    /// Reason phrase as received (may be empty).
    pub reason: Span,
    /// Version of the response.
    pub version: Version,
    /// Field lines in order.
    pub headers: Vec<Header>,
    /// Body framing, after the method and status rules of RFC 9112 §6.3.
    pub body: Body,
    /// Whether the upstream connection may be reused after this response.
    pub keep_alive: bool,
    /// Length of the head in bytes.
    pub len: usize,
}

impl Default for ResponseHead {
    fn default() -> Self {
        Self {
            status: 0,
            reason: Span::default(),
            version: Version::Http11,
            headers: Vec::with_capacity(32),
            body: Body::None,
            keep_alive: true,
            len: 0,
        }
    }
}

impl ResponseHead {
    /// Parses a complete response head. `head_request` is whether the request was HEAD (its
    /// response never has a body). Any violation is [`ErrorKind::UpstreamBadResponse`].
    pub fn parse(
        &mut self,
        head: &[u8],
        head_request: bool,
        max_headers: usize,
    ) -> Result<(), ErrorKind> {
        self.parse_inner(head, head_request, max_headers)
            .map_err(|_| ErrorKind::UpstreamBadResponse)
    }

    fn parse_inner(
        &mut self,
        head: &[u8],
        head_request: bool,
        max_headers: usize,
    ) -> Result<(), ErrorKind> {
        self.version = parse_version(head, b" ")?;
        let code = head.get(9..12).ok_or(ErrorKind::BadRequest)?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(ErrorKind::BadRequest);
        }
        self.status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        if !(100..=599).contains(&self.status) {
            return Err(ErrorKind::BadRequest);
        }
        let mut i = 12;
        // `HTTP/1.1 200\r\n` (no reason, no space) is common and unambiguous.
        match head[i] {
            b' ' => i += 1,
            b'\r' => {}
            _ => return Err(ErrorKind::BadRequest),
        }
        let r0 = i;
        while head[i] != b'\r' {
            if !is_field_char(head[i]) {
                return Err(ErrorKind::BadRequest);
            }
            i += 1;
        }
        self.reason = Span::new(r0, i);
        if head[i + 1] != b'\n' {
            return Err(ErrorKind::BadRequest);
        }
        parse_fields(head, i + 2, max_headers, &mut self.headers)?;
        self.len = head.len();
        let f = framing(head, &mut self.headers)?;
        let no_body = head_request || self.status < 200 || self.status == 204 || self.status == 304;
        self.body = if no_body {
            Body::None
        } else if f.other_codings || (f.chunked && self.version == Version::Http10) {
            return Err(ErrorKind::BadRequest);
        } else if f.chunked {
            Body::Chunked
        } else if let Some(n) = f.content_length {
            Body::Length(n)
        } else {
            Body::UntilClose
        };
        self.keep_alive = match self.version {
            Version::Http11 => !f.close,
            Version::Http10 => f.keep_alive && !f.close,
        } && self.body != Body::UntilClose;
        Ok(())
    }
}
