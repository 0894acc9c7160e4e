//! One client connection, request after request, each along the way of the design:
//!
//! 1. **head** ([`Session::read_head`]): the strict codec parses it in place;
//! 2. **admission** (`admission.rs`): smuggling guard, client address, IP filter, route, body
//!    limit, policy;
//! 3. **respond** (`respond.rs`) for direct-response routes, or **forward** (`forward.rs`):
//!    upstream selection, then attempts (`attempt.rs`) until the retry decision (`retry.rs`)
//!    says forward or fail; bodies go through the pumps (`pump.rs`); the response framing is
//!    the pure `crate::framing`;
//! 4. **log** ([`Session::finish`]): one telemetry record per request.
//!
//! The connection's state ([`Session`]) lives as long as the connection; the request's
//! ([`RequestCtx`]) is reset for every request. Pipelined requests wait in the read buffer and
//! are answered in order. Every gateway-made error goes through [`Session::respond_error`].

mod admission;
mod aggregate;
mod attempt;
mod body;
mod cache;
mod forward;
mod pump;
mod reshape;
mod respond;
mod retry;
mod tunnel;
mod view;

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use ringway_core::{ErrorKind, RequestId, TraceContext};
use ringway_policy::ClientCert;
use ringway_telemetry::record::{
    Alpn, Inline, Method as RecMethod, Outcome, RequestRecord, TlsSession, TlsVersion, NONE,
    SNI_BYTES,
};

use crate::codec::{find_head_end, leading_empty_lines, RequestHead, ResponseHead, Version};
use crate::io::{Conn, IoError, TlsFacts, TlsStream, BUF_BYTES};
use crate::per_core::{Core, ListenerRt, Ticket};
use crate::stats::bump;

/// Why a request ended early.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failure {
    /// Answer the client with this error.
    Respond(ErrorKind),
    /// Close without a response: the client went away, or part of the response was sent.
    Abort,
}

/// What reading a request head gave.
enum HeadRead {
    Ready,
    Closed,
    Reject(ErrorKind),
}

/// The TLS fields of a connection's records (all `None`/empty on plain TCP).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TlsRecord {
    version: TlsVersion,
    session: TlsSession,
    alpn: Alpn,
    sni: Inline<SNI_BYTES>,
}

impl TlsRecord {
    fn of(f: &TlsFacts) -> Self {
        TlsRecord {
            version: match f.version {
                Some(rustls::ProtocolVersion::TLSv1_3) => TlsVersion::Tls13,
                Some(rustls::ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
                _ => TlsVersion::None,
            },
            session: if f.resumed {
                TlsSession::Resumed
            } else {
                TlsSession::Full
            },
            alpn: f.alpn.as_deref().map_or(Alpn::None, Alpn::from_bytes),
            sni: Inline::new(f.sni.as_deref().unwrap_or_default().as_bytes()),
        }
    }
}

/// A client connection's state, kept across its requests.
struct Session {
    core: Rc<Core>,
    /// Index of the listener this connection arrived on, in `core`'s configuration.
    listener: usize,
    /// The listening socket it arrived on (the listener's identity across reloads).
    bind: u64,
    /// Its listener was removed by a reload: close after this request.
    closing: bool,
    /// The listener's limits and client timeouts.
    lt: ListenerRt,
    /// The TCP peer.
    peer_ip: IpAddr,
    /// The peer as text (`X-Forwarded-For`, hash keys) and as 16 bytes (telemetry).
    peer_text: Vec<u8>,
    peer16: [u8; 16],
    /// `https` on a TLS connection (`X-Forwarded-Proto`).
    proto: &'static [u8],
    /// What the TLS handshake agreed on, as every record of the connection carries it.
    tls: TlsRecord,
    /// An HTTP/2 stream (its records say HTTP/2).
    h2: bool,
    /// The verified client certificate (mTLS), and its `x-forwarded-client-cert` value when
    /// the listener forwards it.
    client_cert: Option<Rc<ClientCert>>,
    xfcc: Option<Rc<[u8]>>,
    /// Requests whose head was read on this connection.
    requests: u64,
    /// The current request's head, parsed in place; reused.
    head: RequestHead,
    /// The current upstream response's head; reused.
    resp: ResponseHead,
    /// Bytes on their way out (heads, re-framed bodies); reused.
    out: Vec<u8>,
    /// The current request.
    req: RequestCtx,
}

/// One request's state, reset when its head is complete.
struct RequestCtx {
    request_id: RequestId,
    /// The W3C trace context it is forwarded with (set once the head is admitted).
    trace: Option<TraceContext>,
    /// `trace`'s `traceparent` value and trace id as hex.
    traceparent: Vec<u8>,
    trace_hex: Vec<u8>,
    /// Whether the head was parsed (a rejected head has no fields to trust).
    parsed: bool,
    /// Telemetry, filled as the request goes.
    rec: RequestRecord,
    /// When the head was complete.
    started: Instant,
    /// Client bytes consumed and written when the request started.
    consumed_at_start: u64,
    written_at_start: u64,
    /// When the request went upstream, and when the response head came back.
    upstream_sent: Option<Instant>,
    upstream_first_byte: Option<Instant>,
    /// Body limit and upstream response timeout of the matched route.
    max_body: u64,
    response_timeout: Duration,
    /// Endpoints tried, in order.
    tried: Vec<usize>,
    /// The consistent-hash key, copied out of the read buffer (a body may overwrite it).
    hash_key: Vec<u8>,
    /// The rewritten path, when the route rewrites it.
    path: Vec<u8>,
    /// Refusal header lines (`WWW-Authenticate`, `Retry-After`, `RateLimit`).
    refusal_headers: Vec<u8>,
    /// Header lines the policy adds to the forwarded request (forwarded claims).
    policy_headers: Vec<u8>,
}

impl RequestCtx {
    fn new(request_id: RequestId, max_body: u64) -> Self {
        Self {
            request_id,
            trace: None,
            traceparent: Vec::with_capacity(ringway_core::TRACEPARENT_LEN),
            trace_hex: Vec::with_capacity(32),
            parsed: false,
            rec: RequestRecord::default(),
            started: Instant::now(),
            consumed_at_start: 0,
            written_at_start: 0,
            upstream_sent: None,
            upstream_first_byte: None,
            max_body,
            response_timeout: Duration::from_secs(60),
            tried: Vec::with_capacity(4),
            hash_key: Vec::new(),
            path: Vec::new(),
            refusal_headers: Vec::new(),
            policy_headers: Vec::new(),
        }
    }

    /// Forgets the previous request (buffers keep their capacity).
    fn reset(&mut self, max_body: u64) {
        self.parsed = false;
        self.trace = None;
        self.upstream_sent = None;
        self.upstream_first_byte = None;
        self.max_body = max_body;
        self.tried.clear();
        self.hash_key.clear();
        self.path.clear();
        self.refusal_headers.clear();
        self.policy_headers.clear();
    }
}

/// What every request of a connection (or of an HTTP/2 stream) shares.
#[derive(Clone, Default)]
pub(crate) struct ConnFacts {
    /// The TLS fields of its records.
    tls: TlsRecord,
    /// Whether it came over TLS (`X-Forwarded-Proto: https`).
    https: bool,
    /// An HTTP/2 stream.
    h2: bool,
    /// The verified client certificate (mTLS), and its `x-forwarded-client-cert` value when
    /// the listener forwards it.
    client_cert: Option<Rc<ClientCert>>,
    xfcc: Option<Rc<[u8]>>,
}

impl ConnFacts {
    /// The same facts for an HTTP/2 stream of this connection.
    pub(crate) fn for_stream(&self) -> ConnFacts {
        ConnFacts {
            h2: true,
            ..self.clone()
        }
    }
}

/// Serves one accepted client connection until it closes: the TLS handshake on a TLS
/// listener, then HTTP/2 when ALPN chose it (or the client opened with the h2c preface where
/// allowed), else HTTP/1.1.
pub(crate) async fn serve(
    core: Rc<Core>,
    listener: usize,
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
) {
    bump(&core.stats.connections);
    let _open = Open::enter(&core, listener, ticket);
    let lt = core.listeners[listener].rt;
    let mut facts = ConnFacts::default();
    let mut h2 = false;
    let mut client = match &core.listeners[listener].tls {
        None => Conn::new(stream),
        Some(config) => {
            match TlsStream::accept(stream, config.load_full(), deadline(lt.handshake)).await {
                Ok(tls) => {
                    bump(&core.stats.tls_handshakes);
                    let f = tls.facts();
                    h2 = f.alpn.as_deref() == Some(b"h2");
                    facts.tls = TlsRecord::of(&f);
                    facts.https = true;
                    // Verified by the handshake; unparsable would be a verifier bug: no identity.
                    facts.client_cert = tls
                        .peer_certificate()
                        .and_then(|der| ClientCert::from_der(der).ok())
                        .map(Rc::new);
                    Conn::tls(tls)
                }
                Err(_) => {
                    bump(&core.stats.tls_handshake_failures);
                    return;
                }
            }
        }
    };
    facts.xfcc = facts
        .client_cert
        .as_ref()
        .filter(|_| lt.forward_client_cert)
        .map(|c| Rc::from(c.xfcc().into_bytes()));
    if !h2 && lt.h2c && !facts.https {
        h2 = crate::h2::sniff_preface(&mut client, deadline(lt.header)).await;
    }
    if h2 {
        if let Some(io) = client.into_poll() {
            crate::h2::serve(core, listener, io, peer, facts).await;
        }
        return;
    }
    run(core, listener, client, peer, facts).await;
}

/// Serves the requests of one HTTP/1.1 connection, or the one request of an HTTP/2 stream.
pub(crate) async fn run(
    core: Rc<Core>,
    listener: usize,
    mut client: Conn,
    peer: SocketAddr,
    facts: ConnFacts,
) {
    let lt = core.listeners[listener].rt;
    let request_id = core.ids.borrow_mut().next_id();
    let peer_ip = peer.ip().to_canonical();
    let mut s = Session {
        bind: core.listeners[listener].bind,
        closing: false,
        core,
        listener,
        lt,
        peer_ip,
        peer_text: peer_ip.to_string().into_bytes(),
        peer16: ip16(peer_ip),
        proto: if facts.https { b"https" } else { b"http" },
        tls: facts.tls,
        h2: facts.h2,
        client_cert: facts.client_cert,
        xfcc: facts.xfcc,
        requests: 0,
        head: RequestHead::default(),
        resp: ResponseHead::default(),
        out: Vec::with_capacity(BUF_BYTES),
        req: RequestCtx::new(request_id, lt.max_body_bytes),
    };
    loop {
        match s.read_head(&mut client).await {
            HeadRead::Ready => {
                s.follow_reload();
                s.begin(&client, true);
            }
            HeadRead::Closed => return,
            HeadRead::Reject(kind) => {
                s.begin(&client, false);
                s.req.request_id = s.core.ids.borrow_mut().next_id();
                s.respond_error(&mut client, kind).await;
                s.finish(&client, outcome_of(kind));
                return;
            }
        }
        s.requests += 1;
        let core = Rc::clone(&s.core);
        let active = Active::enter(&core);
        let result = s.handle(&mut client).await;
        drop(active);
        match result {
            Ok(keep_alive) => {
                s.finish(&client, Outcome::Ok);
                if !keep_alive {
                    client.shutdown().await;
                    return;
                }
            }
            Err(Failure::Respond(kind)) => {
                let kept = s.respond_error(&mut client, kind).await;
                s.finish(&client, outcome_of(kind));
                if !kept {
                    return;
                }
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
        ErrorKind::UpstreamTimeout | ErrorKind::UpstreamConnectTimeout => Outcome::UpstreamTimeout,
        ErrorKind::UpstreamReset
        | ErrorKind::UpstreamClosedIdle
        | ErrorKind::UpstreamBadResponse => Outcome::UpstreamError,
        ErrorKind::NoEndpoint => Outcome::NoEndpoint,
        ErrorKind::UpstreamOverloaded | ErrorKind::LimitStoreUnavailable => Outcome::Overloaded,
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
fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

fn deadline(d: Duration) -> Instant {
    Instant::now() + d
}

/// Counts an open client connection (on the core and on its listener) while alive.
struct Open {
    core: Rc<Core>,
    /// The listener's per-core count (the same cell in every generation).
    listener: Rc<Cell<usize>>,
    _ticket: Ticket,
}

impl Open {
    fn enter(core: &Rc<Core>, listener: usize, ticket: Ticket) -> Self {
        core.connections.set(core.connections.get() + 1);
        let open = Rc::clone(&core.listeners[listener].open);
        open.set(open.get() + 1);
        Self {
            core: Rc::clone(core),
            listener: open,
            _ticket: ticket,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.core.connections.set(self.core.connections.get() - 1);
        self.listener.set(self.listener.get() - 1);
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

impl Session {
    /// Whether the connection stays open after this request: the client wants it and the core
    /// is not draining.
    fn keeps_alive(&self) -> bool {
        self.head.keep_alive && !self.core.draining.get() && !self.closing
    }

    /// Moves the connection to this core's newest configuration, if a reload made one, for
    /// the request whose head was just read (a request runs on one configuration from its
    /// head on). If the reload removed this connection's listener, the request is served on
    /// the old configuration and the connection closes after it.
    fn follow_reload(&mut self) {
        // One thread-local read per request; the core is fetched only after a reload.
        if self.closing || crate::per_core::current_generation() == self.core.generation {
            return;
        }
        let now = crate::per_core::current();
        match now.listener_on(self.bind) {
            Some(li) => {
                self.lt = now.listeners[li].rt;
                self.listener = li;
                self.core = now;
            }
            None => self.closing = true,
        }
    }

    /// Starts a request whose head is in `client.buffered()` (when `parsed`): resets the
    /// request state and opens its telemetry record.
    fn begin(&mut self, client: &Conn, parsed: bool) {
        self.req.reset(self.lt.max_body_bytes);
        self.req.parsed = parsed;
        self.req.started = Instant::now();
        self.req.consumed_at_start = client.consumed;
        self.req.written_at_start = client.written;
        let mut rec = RequestRecord {
            ts_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
            core: self.core.id as u16,
            listener: self.core.labels.listeners[self.listener],
            route: NONE,
            upstream: NONE,
            endpoint: NONE,
            client_ip: self.peer16,
            tls_version: self.tls.version,
            tls_session: self.tls.session,
            alpn: self.tls.alpn,
            sni: self.tls.sni,
            ..RequestRecord::default()
        };
        if self.h2 {
            // Even when the translated head is refused: the client spoke HTTP/2.
            rec.http_version = 20;
        }
        if parsed {
            let buf = &client.buffered()[..self.head.len];
            rec.method = RecMethod::from_bytes(self.head.method.of(buf));
            rec.http_version = match self.head.version {
                _ if self.h2 => 20,
                Version::Http10 => 10,
                Version::Http11 => 11,
            };
            rec.path = Inline::new(self.head.path.of(buf));
            if let Some(ua) = view::header_value(buf, &self.head.headers, b"user-agent") {
                rec.user_agent = Inline::new(ua);
            }
        }
        self.req.rec = rec;
    }

    /// Completes the request's record and hands it to telemetry.
    fn finish(&mut self, client: &Conn, outcome: Outcome) {
        let now = Instant::now();
        let req = &mut self.req;
        let rec = &mut req.rec;
        rec.outcome = outcome;
        rec.total_us = micros(now - req.started);
        // The head is consumed only once forwarded; a rejected head counts as received.
        rec.request_bytes = (client.consumed - req.consumed_at_start).max(self.head.len as u64);
        rec.response_bytes = client.written - req.written_at_start;
        rec.request_id = Inline::new(req.request_id.as_bytes());
        if let Some(sent) = req.upstream_sent {
            rec.upstream_us = micros(now - sent);
            rec.ttfb_us = req.upstream_first_byte.map_or(0, |t| micros(t - sent));
        }
        self.core.emit(&self.req.rec);
    }

    /// This hop's trace context: the client's `traceparent` continued with a new span, or a
    /// new trace; its trace id goes into the record and error bodies.
    fn start_trace(&mut self, client: &Conn, core: &Core) {
        let buf = client.buffered();
        let parent = self
            .head
            .traceparent
            .and_then(|s| ringway_core::parse_traceparent(s.of(buf)));
        let (trace, span) = {
            let mut rng = core.rng.borrow_mut();
            (rng.u128(..), rng.u64(..))
        };
        let t = TraceContext::hop(parent, trace, span);
        self.req.traceparent.clear();
        t.write_traceparent(&mut self.req.traceparent);
        self.req.trace_hex.clear();
        t.write_trace_id(&mut self.req.trace_hex);
        self.req.rec.trace_id = t.trace_id;
        self.req.trace = Some(t);
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

    /// Admits the request, then answers it directly or forwards it. Returns whether the
    /// client connection stays open.
    async fn handle(&mut self, client: &mut Conn) -> Result<bool, Failure> {
        let core = Rc::clone(&self.core);
        bump(&core.stats.requests);
        self.req.request_id = match self.head.request_id {
            Some(id) => id,
            None => core.ids.borrow_mut().next_id(),
        };
        self.start_trace(client, &core);
        let route = self.admit(client, &core)?;
        match &core.cfg.listeners[self.listener].routes[route].action {
            ringway_config::model::Action::Respond(direct) => {
                self.respond_direct(client, direct).await
            }
            ringway_config::model::Action::Proxy(action) => {
                self.forward(client, &core, route, action).await
            }
            ringway_config::model::Action::Aggregate(action) => {
                self.aggregate(client, &core, route, action).await
            }
        }
    }
}
