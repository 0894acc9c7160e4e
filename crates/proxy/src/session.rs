//! One client connection: read a request head, forward the request, stream the response back,
//! repeat while keep-alive holds. Pipelined requests wait in the read buffer and are answered in
//! order. Every gateway-generated error goes through [`Session::respond_error`].

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRent;
use monoio::net::TcpStream;
use ringway_config::model::{Action, HashKey, HeaderOps, ProxyAction, Route};
use ringway_core::{ErrorKind, HeaderFields, RequestId};
use ringway_policy::{Request, RouteId};
use ringway_telemetry::record::{Inline, Outcome, RequestRecord, NONE};

use crate::codec::{
    find_head_end, leading_empty_lines, write_chunk, write_direct_response, write_error_response,
    write_request_head, write_response_head, Body, ChunkedDecoder, ForwardInfo, HeadLimits, Header,
    Method, Name, OutBody, Output, RequestEdits, RequestHead, ResponseHead, Version,
};
use crate::io::{Conn, IoError, BUF_BYTES};
use crate::stats::bump;
use crate::upstream::{Group, UpConn};
use crate::worker::{Core, ListenerRt};

/// Limits applied to upstream response heads.
const RESPONSE_LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 0,
    max_head_bytes: 64 * 1024,
    max_headers: 200,
};

/// Why an exchange ended early.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// Answer the client with this error, then close.
    Respond(ErrorKind),
    /// Close without a response: the client went away, or part of the response was sent.
    Abort,
}

/// An upstream failure, and whether it happened on a pooled connection before any response
/// byte (then the request may be sent again on a new connection).
struct UpFailure {
    kind: ErrorKind,
    stale: bool,
}

enum HeadRead {
    Ready,
    Closed,
    Reject(ErrorKind),
}

struct Session {
    core: Rc<Core>,
    /// Index of the listener this connection arrived on.
    listener: usize,
    /// The listener's limits and client timeouts.
    lt: ListenerRt,
    client_ip: Vec<u8>,
    head: RequestHead,
    resp: ResponseHead,
    out: Vec<u8>,
    /// Rewritten path, when the route rewrites it.
    path_buf: Vec<u8>,
    /// Endpoints tried by the current request.
    tried: Vec<usize>,
    /// The consistent-hash key of the current request.
    key_buf: Vec<u8>,
    request_id: RequestId,
    requests: u64,
    /// Per request: body limit and upstream response timeout of the matched route.
    max_body: u64,
    response_timeout: Duration,
    /// Telemetry of the current request, filled as it goes.
    rec: RequestRecord,
    /// When the current request's head was complete.
    started: Instant,
    /// Client bytes consumed and written when the current request started.
    consumed_at_start: u64,
    written_at_start: u64,
    /// When the request went upstream, and when the response head came back.
    upstream_sent: Option<Instant>,
    upstream_first_byte: Option<Instant>,
    client_ip16: [u8; 16],
    /// The TCP peer's address.
    peer_ip: std::net::IpAddr,
    /// What the policy stage produced for the current request.
    pol: PolicyOut,
}

/// What the policy stage produced for a request; buffers reused across requests.
#[derive(Default)]
struct PolicyOut {
    /// Extra header lines of a refusal (`WWW-Authenticate`, `Retry-After`, `RateLimit`).
    reject_headers: Vec<u8>,
    /// Header lines appended to the forwarded request (forwarded claims).
    append: Vec<u8>,
}

impl PolicyOut {
    fn clear(&mut self) {
        self.reject_headers.clear();
        self.append.clear();
    }
}

/// Request headers as the router sees them: lookups over the parsed head, no allocation.
struct HeaderView<'a> {
    buf: &'a [u8],
    headers: &'a [Header],
}

impl HeaderFields for HeaderView<'_> {
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|h| (h.name.of(self.buf), h.value.of(self.buf)))
    }
}

impl ringway_router::Headers for HeaderView<'_> {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.headers
            .iter()
            .filter(|h| h.name.of(self.buf).eq_ignore_ascii_case(name.as_bytes()))
            .any(|h| f(h.value.of(self.buf)))
    }
}

fn header_value<'a>(buf: &'a [u8], headers: &[Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| h.value.of(buf))
}

/// The value of cookie `name` in any `Cookie` header.
fn cookie_value<'a>(buf: &'a [u8], headers: &[Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"cookie"))
        .flat_map(|h| h.value.of(buf).split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = crate::codec::trim(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
}

/// Path rewrites of a route; `path` is origin-form with its query. Writes into `out` and
/// returns true when the path changes.
fn rewrite_path(action: &ProxyAction, path: &[u8], out: &mut Vec<u8>) -> bool {
    if action.strip_prefix.is_none() && action.rewrite_path.is_none() {
        return false;
    }
    let q = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
    let (mut p, query) = path.split_at(q);
    if let Some(prefix) = &action.strip_prefix {
        let prefix = prefix.trim_end_matches('/').as_bytes();
        if p.starts_with(prefix) && (p.len() == prefix.len() || p[prefix.len()] == b'/') {
            p = &p[prefix.len()..];
        }
    }
    out.clear();
    match &action.rewrite_path {
        Some(new) => out.extend_from_slice(new.as_bytes()),
        None if p.is_empty() => out.push(b'/'),
        None => out.extend_from_slice(p),
    }
    out.extend_from_slice(query);
    true
}

/// Serves one accepted client connection until it closes.
pub(crate) async fn serve(core: Rc<Core>, listener: usize, stream: TcpStream, peer: SocketAddr) {
    bump(&core.stats.connections);
    let _open = Open::enter(&core);
    let mut client = Conn::new(stream);
    let request_id = core.ids.borrow_mut().next_id();
    let lt = core.listeners[listener].rt;
    let mut s = Session {
        client_ip: peer.ip().to_canonical().to_string().into_bytes(),
        core,
        listener,
        lt,
        head: RequestHead::default(),
        resp: ResponseHead::default(),
        out: Vec::with_capacity(BUF_BYTES),
        path_buf: Vec::new(),
        tried: Vec::with_capacity(4),
        key_buf: Vec::new(),
        request_id,
        requests: 0,
        max_body: lt.max_body_bytes,
        response_timeout: Duration::from_secs(60),
        rec: RequestRecord::default(),
        started: Instant::now(),
        consumed_at_start: 0,
        written_at_start: 0,
        upstream_sent: None,
        upstream_first_byte: None,
        client_ip16: ip16(peer.ip()),
        peer_ip: peer.ip().to_canonical(),
        pol: PolicyOut::default(),
    };
    loop {
        match s.read_head(&mut client).await {
            HeadRead::Ready => s.begin(&client, true),
            HeadRead::Closed => return,
            HeadRead::Reject(kind) => {
                s.begin(&client, false);
                s.request_id = s.core.ids.borrow_mut().next_id();
                s.respond_error(&mut client, kind).await;
                s.finish(&client, outcome_of(kind));
                return;
            }
        }
        s.requests += 1;
        let core = Rc::clone(&s.core);
        let active = Active::enter(&core);
        let result = s.exchange(&mut client).await;
        drop(active);
        match result {
            Ok(keep_alive) => {
                s.finish(&client, Outcome::Ok);
                if !keep_alive {
                    let _ = client.stream.shutdown().await;
                    return;
                }
            }
            // Nothing is left unread of a body-less request that matched no route or that a
            // policy refused: answer and keep the connection.
            Err(Failure::Respond(kind))
                if keeps_connection(kind) && s.head.body == Body::None && s.keeps_alive() =>
            {
                client.consume(s.head.len);
                bump(&s.core.stats.errors);
                s.rec.status = kind.status();
                s.out.clear();
                write_error_response(
                    kind,
                    &s.request_id,
                    false,
                    &s.pol.reject_headers,
                    &mut s.out,
                );
                let sent = client.send(&mut s.out, s.lt.body).await;
                s.finish(&client, outcome_of(kind));
                if sent.is_err() {
                    return;
                }
            }
            Err(Failure::Respond(kind)) => {
                s.respond_error(&mut client, kind).await;
                s.finish(&client, outcome_of(kind));
                return;
            }
            Err(Failure::Abort) => {
                s.finish(&client, Outcome::ClientAborted);
                return;
            }
        }
    }
}

/// The telemetry outcome of a gateway error.
fn outcome_of(kind: ErrorKind) -> Outcome {
    match kind {
        ErrorKind::PayloadTooLarge => Outcome::PayloadTooLarge,
        ErrorKind::ClientTimeout => Outcome::ClientTimeout,
        ErrorKind::UpstreamConnect => Outcome::UpstreamConnect,
        ErrorKind::UpstreamTimeout => Outcome::UpstreamTimeout,
        ErrorKind::UpstreamReset | ErrorKind::UpstreamBadResponse => Outcome::UpstreamError,
        ErrorKind::NoEndpoint => Outcome::NoEndpoint,
        ErrorKind::NoRoute => Outcome::NoRoute,
        ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::IpDenied => Outcome::AuthFailed,
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => Outcome::RateLimited,
        ErrorKind::BadRequest
        | ErrorKind::UriTooLong
        | ErrorKind::HeadersTooLarge
        | ErrorKind::MethodNotAllowed
        | ErrorKind::ExpectationFailed
        | ErrorKind::NotImplemented
        | ErrorKind::VersionNotSupported => Outcome::BadRequest,
    }
}

/// An address as 16 bytes (IPv4 mapped), as telemetry stores it.
fn ip16(ip: std::net::IpAddr) -> [u8; 16] {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// Whether a gateway answer leaves the connection usable: nothing of the request is left
/// unread and the client did not ask to close.
fn keeps_connection(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NoRoute
            | ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::IpDenied
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExceeded
    )
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

/// Counts an open client connection while alive.
struct Open(Rc<Core>);

impl Open {
    fn enter(core: &Rc<Core>) -> Self {
        core.connections.set(core.connections.get() + 1);
        Self(Rc::clone(core))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

/// Counts a request as in flight (for draining) while alive.
struct Active<'a>(&'a Core);

impl<'a> Active<'a> {
    fn enter(core: &'a Core) -> Self {
        core.active.set(core.active.get() + 1);
        Self(core)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
    }
}

fn deadline(d: std::time::Duration) -> Instant {
    Instant::now() + d
}

impl Session {
    /// Starts the telemetry of a request whose head is in `client.buffered()` (when `parsed`).
    fn begin(&mut self, client: &Conn, parsed: bool) {
        self.started = Instant::now();
        self.consumed_at_start = client.consumed;
        self.written_at_start = client.written;
        self.upstream_sent = None;
        self.upstream_first_byte = None;
        let mut rec = RequestRecord {
            ts_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
            core: self.core.id as u16,
            listener: self.listener as u16,
            route: NONE,
            upstream: NONE,
            endpoint: NONE,
            client_ip: self.client_ip16,
            ..RequestRecord::default()
        };
        if parsed {
            let buf = &client.buffered()[..self.head.len];
            rec.method = ringway_telemetry::record::Method::from_bytes(self.head.method.of(buf));
            rec.http_version = if self.head.version == Version::Http10 {
                10
            } else {
                11
            };
            rec.path = Inline::new(self.head.path.of(buf));
            if let Some(ua) = header_value(buf, &self.head.headers, "user-agent") {
                rec.user_agent = Inline::new(ua);
            }
        }
        self.rec = rec;
    }

    /// Completes the current request's record and hands it to telemetry.
    fn finish(&mut self, client: &Conn, outcome: Outcome) {
        let now = Instant::now();
        let rec = &mut self.rec;
        rec.outcome = outcome;
        rec.total_us = micros(now - self.started);
        // The head is consumed only once forwarded; a rejected head counts as received.
        rec.request_bytes = (client.consumed - self.consumed_at_start).max(self.head.len as u64);
        rec.response_bytes = client.written - self.written_at_start;
        rec.request_id = Inline::new(self.request_id.as_bytes());
        if let Some(sent) = self.upstream_sent {
            rec.upstream_us = micros(now - sent);
            rec.ttfb_us = self.upstream_first_byte.map_or(0, |t| micros(t - sent));
        }
        self.core.emit(&self.rec);
    }

    /// Reads until a complete, valid request head is buffered at `client.buffered()[..]`.
    async fn read_head(&mut self, client: &mut Conn) -> HeadRead {
        let lt = self.lt;
        let limits = lt.head;
        let mut scanned = 0;
        // Set when the first byte of this request arrives: the whole head must follow in time.
        let mut head_deadline: Option<Instant> = None;
        loop {
            if scanned == 0 {
                match leading_empty_lines(client.buffered()) {
                    Ok(n) => client.consume(n),
                    Err(kind) => return HeadRead::Reject(kind),
                }
            }
            if !client.buffered().is_empty() {
                head_deadline.get_or_insert_with(|| deadline(lt.header));
                match find_head_end(client.buffered(), &mut scanned, &limits) {
                    Err(kind) => return HeadRead::Reject(kind),
                    Ok(Some(end)) => {
                        return match self.head.parse(&client.buffered()[..end], &limits) {
                            Ok(()) => HeadRead::Ready,
                            Err(kind) => HeadRead::Reject(kind),
                        }
                    }
                    Ok(None) => {}
                }
            }
            let wait = head_deadline.unwrap_or_else(|| {
                deadline(if self.requests == 0 {
                    lt.header
                } else {
                    lt.idle
                })
            });
            match client.fill(wait).await {
                Ok(_) => {}
                // A client that started a head and stalls gets 408; an idle one is just closed.
                Err(IoError::Timeout) if head_deadline.is_some() => {
                    return HeadRead::Reject(ErrorKind::ClientTimeout)
                }
                Err(_) => return HeadRead::Closed,
            }
        }
    }

    /// Routes one request and carries out the route's action. Returns whether the client
    /// connection stays open.
    async fn exchange(&mut self, client: &mut Conn) -> Result<bool, Failure> {
        let core = Rc::clone(&self.core);
        bump(&core.stats.requests);
        self.request_id = match self.head.request_id {
            Some(id) => id,
            None => core.ids.borrow_mut().next_id(),
        };
        let head_len = self.head.len;
        let after_head = (client.buffered().len() - head_len) as u64;
        let declared = match self.head.body {
            Body::None => Some(0),
            Body::Length(n) => Some(n),
            Body::Chunked | Body::UntilClose => None,
        };
        // Bytes after the last request of a connection mean the client and we disagree on
        // where messages end: refuse rather than guess (request smuggling).
        if !self.head.keep_alive {
            let body_end = match declared {
                Some(n) => Some(n),
                // A chunked body already complete in the buffer: measure it without output.
                None => {
                    let mut d = ChunkedDecoder::new(Output::Discard);
                    let used = d
                        .decode(&client.buffered()[head_len..], &mut Vec::new())
                        .map_err(Failure::Respond)?;
                    d.is_done().then_some(used as u64)
                }
            };
            if body_end.is_some_and(|n| after_head > n) {
                return Err(Failure::Respond(ErrorKind::BadRequest));
            }
        }

        let buf = &client.buffered()[..head_len];
        let host = self
            .head
            .authority
            .or(self.head.host)
            .map_or(&b""[..], |s| s.of(buf));
        let path = self.head.path.of(buf);
        let path_only = &path[..path.iter().position(|&b| b == b'?').unwrap_or(path.len())];
        let view = HeaderView {
            buf,
            headers: &self.head.headers,
        };
        self.pol.clear();
        let policies = core.policy.policies();
        let forwarded_for = self
            .head
            .headers
            .iter()
            .filter(|h| h.kind == Name::XForwardedFor)
            .map(|h| h.value.of(buf));
        let client_ip = policies.client_ip(self.peer_ip, forwarded_for);
        if client_ip != self.peer_ip {
            self.rec.client_ip = ip16(client_ip);
        }
        if policies.global_denies(client_ip) {
            return Err(Failure::Respond(ErrorKind::IpDenied));
        }
        let listener = &core.listeners[self.listener];
        let Some(ri) = listener
            .router
            .route(host, self.head.method.of(buf), path_only, &view)
        else {
            return Err(Failure::Respond(ErrorKind::NoRoute));
        };
        let route: &Route = &core.cfg.listeners[self.listener].routes[ri];
        self.rec.route = ri as u16;
        self.max_body = route.limits.max_body_bytes;
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(Failure::Respond(ErrorKind::PayloadTooLarge));
        }
        let route_id = RouteId {
            listener: self.listener,
            route: ri,
        };
        if policies.route_has_policy(route_id) {
            let query = path
                .iter()
                .position(|&b| b == b'?')
                .map_or(&b""[..], |q| &path[q + 1..]);
            let req = Request {
                headers: &view,
                query,
                client_ip,
                now_unix_us: self.rec.ts_us,
                now: self.started,
            };
            let policy = &core.policy;
            match policy.check(route_id, &req) {
                Ok(identity) => {
                    if let Some(id) = policy.client_id(&identity) {
                        self.rec.client_id = Inline::new(id.as_bytes());
                    }
                    policy.write_forwarded_claims(route_id, &identity, &mut self.pol.append);
                }
                Err(refusal) => {
                    if let Some(id) = policy.client_id(&refusal.identity) {
                        self.rec.client_id = Inline::new(id.as_bytes());
                    }
                    refusal.write_headers(&mut self.pol.reject_headers);
                    return Err(Failure::Respond(refusal.kind.error_kind()));
                }
            }
        }
        match &route.action {
            Action::Respond(d) => {
                self.rec.status = d.status;
                // A request body is not read: close after answering instead of draining it.
                if self.head.body != Body::None {
                    self.head.keep_alive = false;
                }
                let connection: Option<&[u8]> = if self.keeps_alive() {
                    None
                } else {
                    Some(b"close")
                };
                self.out.clear();
                write_direct_response(
                    d.status,
                    &d.headers,
                    &d.body,
                    self.head.method_kind == Method::Head,
                    connection,
                    &self.request_id,
                    &mut self.out,
                );
                if self.head.body == Body::None {
                    client.consume(head_len);
                }
                client
                    .send(&mut self.out, self.lt.body)
                    .await
                    .map_err(|_| Failure::Abort)?;
                Ok(self.keeps_alive())
            }
            Action::Proxy(action) => self.proxy(client, &core, ri, action).await,
        }
    }

    /// Forwards the request to the route's upstream group, retrying where allowed.
    async fn proxy(
        &mut self,
        client: &mut Conn,
        core: &Core,
        route: usize,
        action: &ProxyAction,
    ) -> Result<bool, Failure> {
        let head_len = self.head.len;
        let buf = &client.buffered()[..head_len];
        let group_id = match action.backends.as_slice() {
            [only] => only.upstream,
            backends => {
                let forced = action
                    .force_header
                    .as_deref()
                    .and_then(|name| {
                        let value = header_value(buf, &self.head.headers, name)?;
                        backends
                            .iter()
                            .find(|b| core.groups[b.upstream.0].spec.name.as_bytes() == value)
                    })
                    .map(|b| b.upstream);
                forced.unwrap_or_else(|| {
                    let split = &core.listeners[self.listener].splits[route];
                    let i = split.as_ref().map_or(0, |s| s.borrow_mut().pick());
                    backends[i].upstream
                })
            }
        };
        let group: &Group = &core.groups[group_id.0];
        self.rec.upstream = group_id.0 as u16;
        let policy = &group.spec.retries;
        self.response_timeout = core.cfg.listeners[self.listener].routes[route]
            .response_timeout
            .unwrap_or(group.spec.timeouts.response);
        let key: Option<&[u8]> = match &group.spec.balance {
            ringway_config::model::Balance::ConsistentHash(k) => match k {
                HashKey::Header(name) => header_value(buf, &self.head.headers, name),
                HashKey::Cookie(name) => cookie_value(buf, &self.head.headers, name),
                HashKey::ClientIp => Some(&self.client_ip),
            },
            _ => None,
        };
        // Copied out of the read buffer (which the body may overwrite) into a reused buffer.
        let has_key = key.is_some();
        if let Some(k) = key {
            self.key_buf.clear();
            self.key_buf.extend_from_slice(k);
        }
        let rewritten = rewrite_path(action, self.head.path.of(buf), &mut self.path_buf);
        let edits_path = rewritten.then(|| std::mem::take(&mut self.path_buf));
        let now = Instant::now();
        group.budget.borrow_mut().record_request(now);

        // Only a request with no body can be sent again: nothing of it is lost.
        let replayable = self.head.body == Body::None;
        let idempotent = replayable && self.head.method_kind.is_idempotent();
        let max_attempts = 1 + policy.attempts as usize;
        self.tried.clear();
        let mut pooled_ok = true;
        // In flight on the endpoint of the current attempt, until the response is forwarded.
        let mut _inflight: Option<InFlight<'_>> = None;
        let mut last = ErrorKind::NoEndpoint;
        let result = loop {
            let ep = if pooled_ok || self.tried.is_empty() {
                match group.pick(has_key.then_some(&self.key_buf[..]), &self.tried) {
                    Some(ep) => ep,
                    None => break Err(Failure::Respond(last)),
                }
            } else {
                // Same endpoint again on a new connection (the pooled one was stale).
                self.tried[self.tried.len() - 1]
            };
            if pooled_ok || self.tried.last() != Some(&ep) {
                self.tried.push(ep);
            }
            let mut up = match group.connect(ep, pooled_ok, &core.stats).await {
                Ok(up) => up,
                Err(kind) => {
                    // Nothing reached the upstream: any request may go to another endpoint.
                    last = kind;
                    pooled_ok = true;
                    if self.tried.len() < max_attempts && self.tried.len() < group.len() {
                        continue;
                    }
                    break Err(Failure::Respond(kind));
                }
            };
            _inflight = Some(InFlight::start(group, ep));
            self.rec.endpoint = ep as u16;
            self.rec.retries = (self.tried.len() - 1).min(255) as u8;
            self.upstream_sent = Some(Instant::now());
            self.out.clear();
            let edits = RequestEdits {
                path: edits_path.as_deref(),
                host: action.host.as_deref().map(str::as_bytes),
                headers: Some(&action.request_headers).filter(|o| !is_empty_ops(o)),
                remove: core.policy.policies().removed_headers(RouteId {
                    listener: self.listener,
                    route,
                }),
                append: &self.pol.append,
            };
            let info = ForwardInfo {
                client_ip: &self.client_ip,
                proto: b"http",
                fallback_host: &group.authorities[ep],
            };
            write_request_head(
                &client.buffered()[..head_len],
                &self.head,
                &info,
                &self.request_id,
                &edits,
                &mut self.out,
            );
            let sent = if replayable {
                up.conn
                    .send(&mut self.out, self.response_timeout)
                    .await
                    .map_err(|_| UpFailure {
                        kind: ErrorKind::UpstreamReset,
                        stale: true,
                    })
            } else {
                client.consume(head_len);
                if let Err(f) = self.forward_body(client, &mut up).await {
                    break Err(f);
                }
                Ok(())
            };
            let read = match sent {
                Ok(()) => self.read_response_head(&mut up).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(()) => {
                    self.upstream_first_byte = Some(Instant::now());
                    let status = self.resp.status;
                    if idempotent
                        && policy.on_status.contains(&status)
                        && self.tried.len() < max_attempts
                        && self.tried.len() < group.len()
                        && group.budget.borrow_mut().try_retry(Instant::now())
                    {
                        // Retry elsewhere after a backoff; this connection is not reused.
                        bump(&core.stats.retries);
                        let r = core.rng.borrow_mut().next_f64();
                        let wait = ringway_balance::backoff(
                            self.tried.len() as u32,
                            policy.backoff,
                            policy.backoff_max,
                            r,
                        );
                        drop(up);
                        monoio::time::sleep(wait).await;
                        pooled_ok = true;
                        continue;
                    }
                    break Ok(up);
                }
                // A pooled connection the upstream had already closed: nothing was processed,
                // so a body-less request goes once more, on a new connection.
                Err(e) if e.stale && up.reused && replayable && pooled_ok => pooled_ok = false,
                Err(e) => break Err(Failure::Respond(e.kind)),
            }
        };
        if let Some(p) = edits_path {
            self.path_buf = p;
        }
        let mut up = result?;
        if replayable {
            client.consume(head_len);
        }
        let ops = Some(&action.response_headers).filter(|o| !is_empty_ops(o));
        self.forward_response(client, &mut up, ops).await?;
        let upstream_clean = self.resp.keep_alive && up.conn.buffered().is_empty();
        if upstream_clean {
            group.release(up);
        }
        Ok(self.keeps_alive())
    }

    fn keeps_alive(&self) -> bool {
        self.head.keep_alive && !self.core.draining.get()
    }

    /// Streams the request body (already-buffered bytes first) after the head in `self.out`.
    async fn forward_body(&mut self, client: &mut Conn, up: &mut UpConn) -> Result<(), Failure> {
        let write_timeout = self.response_timeout;
        let client_timeout = self.lt.body;
        let upstream_err = |_| Failure::Respond(ErrorKind::UpstreamReset);
        let mut decoder = match self.head.body {
            Body::Chunked => Some(ChunkedDecoder::new(Output::Rechunk)),
            _ => None,
        };
        let mut remaining = match self.head.body {
            Body::Length(n) => n,
            _ => 0,
        };
        let mut asked_continue = false;
        loop {
            let done = match decoder.as_mut() {
                Some(d) => {
                    let used = d
                        .decode(client.buffered(), &mut self.out)
                        .map_err(Failure::Respond)?;
                    client.consume(used);
                    if d.data_bytes() > self.max_body {
                        return Err(Failure::Respond(ErrorKind::PayloadTooLarge));
                    }
                    d.is_done()
                }
                None if self.out.is_empty() && remaining > 0 => {
                    // Large bodies go straight from the read buffer, without a copy.
                    let take = (client.buffered().len() as u64).min(remaining) as usize;
                    if take > 0 {
                        client
                            .send_buffered_to(take, &mut up.conn, write_timeout)
                            .await
                            .map_err(upstream_err)?;
                    }
                    remaining -= take as u64;
                    remaining == 0
                }
                None => {
                    let take = (client.buffered().len() as u64).min(remaining) as usize;
                    self.out.extend_from_slice(&client.buffered()[..take]);
                    client.consume(take);
                    remaining -= take as u64;
                    remaining == 0
                }
            };
            if !self.out.is_empty() {
                up.conn
                    .send(&mut self.out, write_timeout)
                    .await
                    .map_err(upstream_err)?;
            }
            if done {
                return Ok(());
            }
            if self.head.expect_continue && !asked_continue {
                asked_continue = true;
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                client
                    .send(&mut self.out, client_timeout)
                    .await
                    .map_err(|_| Failure::Abort)?;
            }
            match client.fill(deadline(client_timeout)).await {
                Ok(_) => {}
                Err(IoError::Timeout) => return Err(Failure::Respond(ErrorKind::ClientTimeout)),
                // The client left mid-body: the upstream connection is dropped unfinished.
                Err(_) => return Err(Failure::Abort),
            }
        }
    }

    /// Reads the final response head into `self.resp`, skipping interim (1xx) responses.
    async fn read_response_head(&mut self, up: &mut UpConn) -> Result<(), UpFailure> {
        let wait = deadline(self.response_timeout);
        let head_request = self.head.method_kind == Method::Head;
        let mut scanned = 0;
        let mut received = false;
        loop {
            if scanned == 0 {
                // Tolerate empty lines before a status line (seen after `100 Continue`).
                if let Ok(n) = leading_empty_lines(up.conn.buffered()) {
                    up.conn.consume(n);
                }
            }
            if !up.conn.buffered().is_empty() {
                received = true;
                let bad = |_: ErrorKind| UpFailure {
                    kind: ErrorKind::UpstreamBadResponse,
                    stale: false,
                };
                if let Some(end) = find_head_end(up.conn.buffered(), &mut scanned, &RESPONSE_LIMITS)
                    .map_err(bad)?
                {
                    self.resp
                        .parse(
                            &up.conn.buffered()[..end],
                            head_request,
                            RESPONSE_LIMITS.max_headers,
                        )
                        .map_err(bad)?;
                    match self.resp.status {
                        // We never ask for a protocol switch (Upgrade is not forwarded).
                        101 => return Err(bad(ErrorKind::UpstreamBadResponse)),
                        100..=199 => {
                            up.conn.consume(end);
                            scanned = 0;
                            continue;
                        }
                        _ => return Ok(()),
                    }
                }
            }
            match up.conn.fill(wait).await {
                Ok(_) => {}
                Err(IoError::Timeout) => {
                    return Err(UpFailure {
                        kind: ErrorKind::UpstreamTimeout,
                        stale: false,
                    })
                }
                Err(_) => {
                    return Err(UpFailure {
                        kind: ErrorKind::UpstreamReset,
                        stale: !received,
                    })
                }
            }
        }
    }

    /// Sends the response head and streams the body, re-framed for this client.
    async fn forward_response(
        &mut self,
        client: &mut Conn,
        up: &mut UpConn,
        ops: Option<&HeaderOps>,
    ) -> Result<(), Failure> {
        let http10 = self.head.version == Version::Http10;
        let out_body = match (self.resp.body, http10) {
            (Body::None, _) => OutBody::None,
            (Body::Length(n), _) => OutBody::Length(n),
            (Body::Chunked | Body::UntilClose, false) => OutBody::Chunked,
            (Body::Chunked | Body::UntilClose, true) => OutBody::Close,
        };
        if out_body == OutBody::Close {
            self.head.keep_alive = false;
        }
        let connection: Option<&[u8]> = match (self.keeps_alive(), http10) {
            (false, _) => Some(b"close"),
            (true, true) => Some(b"keep-alive"),
            (true, false) => None,
        };
        let resp_len = self.resp.len;
        self.rec.status = self.resp.status;
        self.out.clear();
        write_response_head(
            &up.conn.buffered()[..resp_len],
            &self.resp,
            out_body,
            connection,
            &self.request_id,
            ops,
            &mut self.out,
        );
        up.conn.consume(resp_len);
        let write_timeout = self.lt.body;
        let read_timeout = self.response_timeout;
        let client_gone = |_| Failure::Abort;
        // Until the first write to the client, an upstream failure can still become a 502.
        let mut head_sent = false;
        let upstream_failed = |head_sent: bool| {
            if head_sent {
                Failure::Abort
            } else {
                Failure::Respond(ErrorKind::UpstreamBadResponse)
            }
        };
        match self.resp.body {
            Body::None => {}
            Body::Length(n) => {
                let mut remaining = n;
                let take = (up.conn.buffered().len() as u64).min(remaining) as usize;
                self.out.extend_from_slice(&up.conn.buffered()[..take]);
                up.conn.consume(take);
                remaining -= take as u64;
                while remaining > 0 {
                    if !self.out.is_empty() {
                        client
                            .send(&mut self.out, write_timeout)
                            .await
                            .map_err(client_gone)?;
                    }
                    // Upstream closing or stalling mid-body: the client sees a short body.
                    up.conn
                        .fill(deadline(read_timeout))
                        .await
                        .map_err(|_| Failure::Abort)?;
                    let take = (up.conn.buffered().len() as u64).min(remaining) as usize;
                    up.conn
                        .send_buffered_to(take, client, write_timeout)
                        .await
                        .map_err(client_gone)?;
                    remaining -= take as u64;
                }
            }
            Body::Chunked => {
                let output = if http10 { Output::Raw } else { Output::Rechunk };
                let mut decoder = ChunkedDecoder::new(output);
                loop {
                    let used = decoder
                        .decode(up.conn.buffered(), &mut self.out)
                        .map_err(|_| upstream_failed(head_sent))?;
                    up.conn.consume(used);
                    if decoder.is_done() {
                        break;
                    }
                    if !self.out.is_empty() {
                        client
                            .send(&mut self.out, write_timeout)
                            .await
                            .map_err(client_gone)?;
                        head_sent = true;
                    }
                    up.conn
                        .fill(deadline(read_timeout))
                        .await
                        .map_err(|_| Failure::Abort)?;
                }
            }
            Body::UntilClose => loop {
                let data = up.conn.buffered();
                if http10 {
                    self.out.extend_from_slice(data);
                } else {
                    write_chunk(&mut self.out, data);
                }
                let n = data.len();
                up.conn.consume(n);
                if !self.out.is_empty() {
                    client
                        .send(&mut self.out, write_timeout)
                        .await
                        .map_err(client_gone)?;
                }
                match up.conn.fill(deadline(read_timeout)).await {
                    Ok(_) => {}
                    Err(IoError::Eof) => {
                        if !http10 {
                            self.out.extend_from_slice(b"0\r\n\r\n");
                        }
                        break;
                    }
                    Err(_) => return Err(Failure::Abort),
                }
            },
        }
        if !self.out.is_empty() {
            client
                .send(&mut self.out, write_timeout)
                .await
                .map_err(client_gone)?;
        }
        Ok(())
    }

    /// The one place gateway errors become responses: JSON body, `connection: close`, then a
    /// lingering close so the client reads the response before the connection goes away.
    async fn respond_error(&mut self, client: &mut Conn, kind: ErrorKind) {
        bump(&self.core.stats.errors);
        self.rec.status = kind.status();
        tracing::debug!(
            error = kind.code(),
            status = kind.status(),
            request_id = self.request_id.as_str(),
            "Request failed"
        );
        self.out.clear();
        write_error_response(
            kind,
            &self.request_id,
            true,
            &self.pol.reject_headers,
            &mut self.out,
        );
        if client.send(&mut self.out, self.lt.body).await.is_err() {
            return;
        }
        let _ = client.stream.shutdown().await;
        // Read and discard what the client still sends (bounded), so closing with unread data
        // does not reset the connection before the client has read our response.
        let until = deadline(std::time::Duration::from_millis(500));
        let mut discarded = 0;
        while discarded < 1 << 20 {
            match client.fill(until).await {
                Ok(n) => {
                    discarded += n;
                    client.pos = 0;
                    client.buf.clear();
                }
                Err(_) => break,
            }
        }
    }
}

fn is_empty_ops(ops: &HeaderOps) -> bool {
    ops.remove.is_empty() && ops.set.is_empty() && ops.add.is_empty()
}

/// Counts an exchange as in flight on an endpoint (least-request balancing) while alive.
struct InFlight<'a> {
    group: &'a Group,
    endpoint: usize,
}

impl<'a> InFlight<'a> {
    fn start(group: &'a Group, endpoint: usize) -> Self {
        group.balancer.borrow_mut().start(endpoint);
        Self { group, endpoint }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.group.balancer.borrow_mut().finish(self.endpoint);
    }
}
