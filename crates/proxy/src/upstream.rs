//! One core's view of an upstream group: its endpoints, the balancer that picks among them
//! (skipping what the health board excludes), a keep-alive pool of idle connections per
//! endpoint (LIFO, so the warmest is reused and cold ones age out), the retry budget, and this
//! core's leases of the group's circuit-breaker slots.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use ringway_balance::{Balancer, RetryBudget};
use ringway_config::model::{UpstreamGroup, UpstreamProtocol};
use ringway_core::ErrorKind;
use ringway_resilience::{Gradient, Lease, Outcome};

use crate::h2::UpBridge;
use crate::health::Resilience;
use crate::io::{Conn, IoError, PollIo, TlsStream};
use crate::stats::{bump, CoreStats};

/// Window over which the retry budget counts requests.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries always allowed per second, whatever the budget, so low traffic can still retry.
const BUDGET_FLOOR_PER_SEC: u32 = 3;
/// Initial window of a stream to an HTTP/2 upstream, and of the connection.
const H2_STREAM_WINDOW: u32 = 1 << 20;
const H2_CONNECTION_WINDOW: u32 = 8 << 20;
/// TLS sessions kept per core and group, so new connections resume instead of a full
/// handshake.
const TLS_SESSIONS: usize = 256;
/// A request waiting for a connection slot looks again at least this often (a slot freed on
/// another core wakes nobody here).
const SLOT_RECHECK: Duration = Duration::from_millis(5);

/// A circuit-breaker slot, given back when dropped.
pub(crate) struct Slot(Rc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.lease.borrow_mut().release();
        for w in self.0.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// This core's lease of one breaker's slots, and the requests waiting for one.
struct Slots {
    lease: RefCell<Lease>,
    waiters: RefCell<Vec<Waker>>,
}

impl Slots {
    fn new(pool: &Arc<ringway_resilience::SlotPool>) -> Rc<Self> {
        Rc::new(Self {
            lease: RefCell::new(Lease::new(Arc::clone(pool))),
            waiters: RefCell::new(Vec::new()),
        })
    }

    fn try_take(self: &Rc<Self>) -> Option<Slot> {
        self.lease
            .borrow_mut()
            .try_acquire()
            .then(|| Slot(Rc::clone(self)))
    }
}

/// This core's leases of a group's breakers.
struct Breakers {
    connections: Rc<Slots>,
    pending: Rc<Slots>,
    requests: Rc<Slots>,
    retries: Rc<Slots>,
}

/// How a core speaks TLS to a group's endpoints.
struct UpstreamTls {
    /// This core's copy of the configuration: its own session cache.
    config: Arc<rustls::ClientConfig>,
    /// The name sent and verified, per endpoint.
    names: Vec<rustls::pki_types::ServerName<'static>>,
}

/// A connection to one endpoint of a group.
pub(crate) struct UpConn {
    pub conn: Conn,
    pub endpoint: usize,
    /// Served at least one exchange before this one.
    pub reused: bool,
    /// The connection's breaker slot (none for a stream: its connection holds it).
    _slot: Option<Slot>,
}

struct Idle {
    conn: UpConn,
    since: Instant,
}

/// One core's state for one upstream group.
pub(crate) struct Group {
    pub spec: UpstreamGroup,
    /// Index in the configuration's groups (and on the health board).
    index: usize,
    shared: Arc<Resilience>,
    /// `None` for the health thread's probes, which no limit may shed.
    breakers: Option<Breakers>,
    /// Adaptive concurrency, when the group has it (never for probes).
    adaptive: Option<RefCell<Gradient>>,
    /// Worker index (where this core publishes its adaptive limit).
    core: usize,
    endpoints: Vec<SocketAddr>,
    /// `ip:port` of each endpoint: the Host sent when the client sent none.
    pub authorities: Vec<Vec<u8>>,
    idle: RefCell<Vec<Vec<Idle>>>,
    /// Shared with the same group of the previous configuration while its endpoints and
    /// policy are the same, so requests still running there count in it.
    pub balancer: Rc<RefCell<Balancer>>,
    pub budget: Rc<RefCell<RetryBudget>>,
    tls: Option<UpstreamTls>,
    /// HTTP/2 groups: this core's connection to each endpoint, streams opened on it.
    h2: RefCell<Vec<Option<h2::client::SendRequest<bytes::Bytes>>>>,
    /// Endpoints whose HTTP/2 connection is being opened: the streams asked for meanwhile wait
    /// for it instead of opening their own.
    opening: RefCell<Vec<Option<Rc<Opening>>>>,
    /// `protocol: auto`: what each endpoint chose by ALPN on this core's last new connection
    /// (`None`: not known yet; the next connection asks).
    speaks_h2: RefCell<Vec<Option<bool>>>,
}

/// An HTTP/2 connection being opened: the streams asking meanwhile wait for it.
type Opening = crate::signal::Signal;

impl Group {
    pub(crate) fn new(
        spec: &UpstreamGroup,
        index: usize,
        core: usize,
        tls: Option<&Arc<rustls::ClientConfig>>,
        shared: &Arc<Resilience>,
        limited: bool,
    ) -> Self {
        let pools = &shared.pools[index];
        let breakers = limited.then(|| Breakers {
            connections: Slots::new(&pools.connections),
            pending: Slots::new(&pools.pending),
            requests: Slots::new(&pools.requests),
            retries: Slots::new(&pools.retries),
        });
        let tls = tls.zip(spec.tls.as_ref()).map(|(config, t)| {
            let mut config = (**config).clone();
            config.resumption = rustls::client::Resumption::in_memory_sessions(TLS_SESSIONS);
            UpstreamTls {
                config: Arc::new(config),
                names: t.server_names.clone(),
            }
        });
        let weights: Vec<u32> = spec.endpoints.iter().map(|e| e.weight).collect();
        let seed = (core as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let authorities: Vec<Vec<u8>> = spec
            .endpoints
            .iter()
            .map(|e| e.addr.to_string().into_bytes())
            .collect();
        Self {
            endpoints: spec.endpoints.iter().map(|e| e.addr).collect(),
            // Hash-ring points come from the address, so a reload that reorders endpoints
            // keeps every key where it was.
            balancer: Rc::new(RefCell::new(Balancer::with_ids(
                &spec.balance,
                &weights,
                &authorities,
                seed,
            ))),
            authorities,
            idle: RefCell::new(spec.endpoints.iter().map(|_| Vec::new()).collect()),
            budget: Rc::new(RefCell::new(RetryBudget::new(
                spec.retries.budget_percent,
                BUDGET_FLOOR_PER_SEC,
                BUDGET_WINDOW,
            ))),
            h2: RefCell::new(spec.endpoints.iter().map(|_| None).collect()),
            opening: RefCell::new(spec.endpoints.iter().map(|_| None).collect()),
            speaks_h2: RefCell::new(spec.endpoints.iter().map(|_| None).collect()),
            spec: spec.clone(),
            tls,
            index,
            shared: Arc::clone(shared),
            breakers,
            adaptive: spec
                .adaptive
                .filter(|_| limited)
                .map(|s| RefCell::new(Gradient::new(s))),
            core,
        }
    }

    /// Takes over, from `old` (this group in the previous configuration, on this core), what
    /// belongs to endpoints it still has: idle keep-alive and HTTP/2 connections when the
    /// transport (TLS, protocol) is unchanged; the balancer and retry budget themselves when
    /// the endpoints, weights and policies are.
    pub(crate) fn adopt(&mut self, old: &Group) {
        if self.spec.tls == old.spec.tls && self.spec.protocol == old.spec.protocol {
            let (mut idle, mut old_idle) = (self.idle.borrow_mut(), old.idle.borrow_mut());
            let (mut h2, mut old_h2) = (self.h2.borrow_mut(), old.h2.borrow_mut());
            let mut speaks = self.speaks_h2.borrow_mut();
            let old_speaks = old.speaks_h2.borrow();
            for (i, addr) in self.endpoints.iter().enumerate() {
                let Some(j) = old.endpoints.iter().position(|a| a == addr) else {
                    continue;
                };
                idle[i] = std::mem::take(&mut old_idle[j]);
                for c in &mut idle[i] {
                    c.conn.endpoint = i;
                }
                h2[i] = old_h2[j].take();
                speaks[i] = old_speaks[j];
            }
        }
        if self.spec.endpoints == old.spec.endpoints && self.spec.balance == old.spec.balance {
            self.balancer = Rc::clone(&old.balancer);
        }
        if self.spec.retries == old.spec.retries {
            self.budget = Rc::clone(&old.budget);
        }
    }

    /// The group's index in its configuration.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Number of endpoints.
    pub(crate) fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Picks an endpoint not yet tried by this request and not excluded by the health
    /// board (in panic mode, any).
    pub(crate) fn pick(&self, key: Option<&[u8]>, tried: &[usize]) -> Option<usize> {
        let board = self.shared.board.group(self.index).eligibility();
        self.balancer
            .borrow_mut()
            .pick(key, |i| tried.contains(&i) || board.excluded(i))
    }

    /// Counts how an exchange with `ep` ended, for outlier detection.
    pub(crate) fn report(&self, ep: usize, outcome: Outcome) {
        self.shared.board.report(self.index, ep, outcome);
    }

    /// A slot of `max_requests`: `Err` at the limit.
    pub(crate) fn request_slot(&self) -> Result<Option<Slot>, ErrorKind> {
        Self::take(self.breakers.as_ref().map(|b| &b.requests))
    }

    /// A slot of `max_retries`: `Err` at the limit.
    pub(crate) fn retry_slot(&self) -> Result<Option<Slot>, ErrorKind> {
        Self::take(self.breakers.as_ref().map(|b| &b.retries))
    }

    fn take(slots: Option<&Rc<Slots>>) -> Result<Option<Slot>, ErrorKind> {
        match slots {
            None => Ok(None),
            Some(s) => s.try_take().map(Some).ok_or(ErrorKind::UpstreamOverloaded),
        }
    }

    /// Admits a request under the adaptive concurrency limit, if the group has one: `Err`
    /// when it is reached (shed).
    pub(crate) fn admit(&self) -> Result<Option<Admitted<'_>>, ErrorKind> {
        let Some(g) = &self.adaptive else {
            return Ok(None);
        };
        if !g.borrow_mut().try_start() {
            return Err(ErrorKind::UpstreamOverloaded);
        }
        Ok(Some(Admitted {
            gradient: g,
            started: Instant::now(),
            done: false,
        }))
    }

    /// Gives this core's spare breaker slots back (each tick), so an idle core holds none,
    /// and publishes the adaptive limit.
    pub(crate) fn flush_slots(&self) {
        if let Some(g) = &self.adaptive {
            let g = g.borrow();
            self.shared
                .publish_adaptive(self.index, self.core, g.limit(), g.shed());
        }
        if let Some(b) = &self.breakers {
            for s in [&b.connections, &b.pending, &b.requests, &b.retries] {
                s.lease.borrow_mut().flush();
            }
        }
    }

    /// A connection slot: at once if the limit allows (closing an idle connection of this
    /// core to make room if that is what it takes), otherwise after waiting as a pending
    /// request, up to `max_wait`, for a slot or, when `pooled_ok`, an idle connection to `ep`.
    async fn connection_slot(&self, ep: usize, pooled_ok: bool) -> Result<Waited, ErrorKind> {
        let Some(breakers) = &self.breakers else {
            return Ok(Waited::Slot(None));
        };
        if let Some(slot) = self.take_connection_slot(breakers) {
            return Ok(Waited::Slot(Some(slot)));
        }
        let Some(_pending) = breakers.pending.try_take() else {
            return Err(ErrorKind::UpstreamOverloaded);
        };
        let until = Instant::now() + self.spec.breakers.max_wait;
        loop {
            if pooled_ok {
                if let Some(conn) = self.take_idle(ep) {
                    return Ok(Waited::Idle(conn));
                }
            }
            if let Some(slot) = self.take_connection_slot(breakers) {
                return Ok(Waited::Slot(Some(slot)));
            }
            let now = Instant::now();
            if now >= until {
                return Err(ErrorKind::UpstreamOverloaded);
            }
            let wake = std::future::poll_fn(|cx| {
                breakers
                    .connections
                    .waiters
                    .borrow_mut()
                    .push(cx.waker().clone());
                Poll::Pending::<()>
            });
            let _ = monoio::time::timeout(SLOT_RECHECK.min(until - now), wake).await;
        }
    }

    fn take_connection_slot(&self, breakers: &Breakers) -> Option<Slot> {
        if let Some(slot) = breakers.connections.try_take() {
            return Some(slot);
        }
        // At the limit: an idle connection (the oldest of the longest list) gives its slot.
        let evicted = {
            let mut idle = self.idle.borrow_mut();
            let longest = idle.iter_mut().max_by_key(|l| l.len())?;
            (!longest.is_empty()).then(|| longest.remove(0))
        };
        drop(evicted?);
        breakers.connections.try_take()
    }

    /// A connection slot for an HTTP/2 connection (no waiting: its streams queue on it).
    fn h2_connection_slot(&self) -> Result<Option<Slot>, ErrorKind> {
        match &self.breakers {
            None => Ok(None),
            Some(b) => self
                .take_connection_slot(b)
                .map(Some)
                .ok_or(ErrorKind::UpstreamOverloaded),
        }
    }

    /// A connection to `ep`: the warmest idle one if `pooled_ok`, a new one otherwise.
    pub(crate) async fn connect(
        &self,
        ep: usize,
        pooled_ok: bool,
        stats: &CoreStats,
    ) -> Result<UpConn, ErrorKind> {
        let h2 = match self.spec.protocol {
            UpstreamProtocol::Http1 => false,
            UpstreamProtocol::H2 | UpstreamProtocol::H2c => true,
            UpstreamProtocol::Auto => self.speaks_h2.borrow()[ep] == Some(true),
        };
        if h2 {
            return self.stream(ep, pooled_ok, stats).await;
        }
        if pooled_ok {
            if let Some(conn) = self.take_idle(ep) {
                bump(&stats.upstream_reuses);
                return Ok(conn);
            }
        }
        let slot = match self.connection_slot(ep, pooled_ok).await? {
            Waited::Slot(slot) => slot,
            Waited::Idle(conn) => {
                bump(&stats.upstream_reuses);
                return Ok(conn);
            }
        };
        let addr = self.endpoints[ep];
        // The connect timeout covers the TLS handshake too.
        let deadline = Instant::now() + self.spec.timeouts.connect;
        let stream =
            match monoio::time::timeout_at(deadline.into(), TcpStream::connect_addr(addr)).await {
                Err(_) => return Err(ErrorKind::UpstreamConnectTimeout),
                Ok(Err(_)) => return Err(ErrorKind::UpstreamConnect),
                Ok(Ok(stream)) => stream,
            };
        let _ = stream.set_nodelay(true);
        bump(&stats.upstream_connects);
        let conn = match &self.tls {
            None => Conn::new(stream),
            Some(t) => {
                let name = t.names[ep].clone();
                match TlsStream::connect(stream, Arc::clone(&t.config), name, deadline).await {
                    Ok(tls) if self.spec.protocol == UpstreamProtocol::Auto => {
                        let h2 = tls.facts().alpn.as_deref() == Some(b"h2");
                        self.speaks_h2.borrow_mut()[ep] = Some(h2);
                        if !h2 {
                            Conn::tls(tls)
                        } else {
                            // The endpoint chose HTTP/2: this connection becomes the core's
                            // HTTP/2 connection to it, and the request a stream on it.
                            let (tcp, conn, unfed) = tls.into_parts();
                            let poll = tcp
                                .try_into_poll_io()
                                .map_err(|_| ErrorKind::UpstreamConnect)?;
                            let opening = Rc::new(Opening::default());
                            self.opening.borrow_mut()[ep] = Some(Rc::clone(&opening));
                            let made = self
                                .h2_on(ep, PollIo::tls(poll, conn, unfed), deadline, slot)
                                .await;
                            self.opening.borrow_mut()[ep] = None;
                            opening.finish();
                            made?;
                            return self.stream(ep, true, stats).await;
                        }
                    }
                    Ok(tls) => Conn::tls(tls),
                    Err(IoError::Timeout) => return Err(ErrorKind::UpstreamConnectTimeout),
                    // A certificate that does not verify, a protocol failure: never served.
                    Err(e) => {
                        tracing::debug!(group = %self.spec.name, endpoint = %addr, error = ?e, "Upstream TLS handshake failed");
                        return Err(ErrorKind::UpstreamConnect);
                    }
                }
            }
        };
        Ok(UpConn {
            conn,
            endpoint: ep,
            reused: false,
            _slot: slot,
        })
    }

    /// A new stream on this core's HTTP/2 connection to `ep` (opened first when there is none,
    /// it has closed, or `pooled_ok` is false), once the connection takes another stream.
    async fn stream(
        &self,
        ep: usize,
        pooled_ok: bool,
        stats: &CoreStats,
    ) -> Result<UpConn, ErrorKind> {
        // Another stream is opening the connection: wait for it, then use it.
        let pending = self.opening.borrow()[ep].clone();
        if let Some(opening) = pending {
            let wait = self.spec.timeouts.connect;
            if monoio::time::timeout(wait, opening.wait()).await.is_err() {
                return Err(ErrorKind::UpstreamConnectTimeout);
            }
        }
        let existing = if pooled_ok {
            self.h2.borrow()[ep].clone()
        } else {
            None
        };
        let reused = existing.is_some();
        let sender = match existing {
            Some(s) => s,
            None => self.open_h2(ep, stats).await?,
        };
        let wait = self.spec.timeouts.connect;
        let sender = match monoio::time::timeout(wait, sender.ready()).await {
            Ok(Ok(s)) => s,
            Err(_) => return Err(ErrorKind::UpstreamConnectTimeout),
            // The connection has gone (GOAWAY, reset): a new one, once.
            Ok(Err(_)) if reused => {
                self.h2.borrow_mut()[ep] = None;
                let fresh = self.open_h2(ep, stats).await?;
                match monoio::time::timeout(wait, fresh.ready()).await {
                    Ok(Ok(s)) => s,
                    Err(_) => return Err(ErrorKind::UpstreamConnectTimeout),
                    Ok(Err(_)) => return Err(ErrorKind::UpstreamConnect),
                }
            }
            Ok(Err(_)) => return Err(ErrorKind::UpstreamConnect),
        };
        if reused {
            bump(&stats.upstream_reuses);
        }
        Ok(UpConn {
            conn: Conn::upstream_stream(UpBridge::new(sender, self.tls.is_some())),
            endpoint: ep,
            // A failure on a stream is not a stale pooled connection: no same-endpoint retry.
            reused: false,
            _slot: None,
        })
    }

    /// Opens this core's HTTP/2 connection to `ep` (TLS with ALPN `h2`, or h2c) and starts
    /// the task that drives it.
    async fn open_h2(
        &self,
        ep: usize,
        stats: &CoreStats,
    ) -> Result<h2::client::SendRequest<bytes::Bytes>, ErrorKind> {
        let opening = Rc::new(Opening::default());
        self.opening.borrow_mut()[ep] = Some(Rc::clone(&opening));
        let opened = self.connect_h2(ep, stats).await;
        self.opening.borrow_mut()[ep] = None;
        opening.finish();
        opened
    }

    async fn connect_h2(
        &self,
        ep: usize,
        stats: &CoreStats,
    ) -> Result<h2::client::SendRequest<bytes::Bytes>, ErrorKind> {
        let addr = self.endpoints[ep];
        // One slot for the connection, held by the task that drives it.
        let slot = self.h2_connection_slot()?;
        let deadline = Instant::now() + self.spec.timeouts.connect;
        let tcp =
            match monoio::time::timeout_at(deadline.into(), TcpStream::connect_addr(addr)).await {
                Err(_) => return Err(ErrorKind::UpstreamConnectTimeout),
                Ok(Err(_)) => return Err(ErrorKind::UpstreamConnect),
                Ok(Ok(stream)) => stream,
            };
        let _ = tcp.set_nodelay(true);
        bump(&stats.upstream_connects);
        let io = match &self.tls {
            None => {
                let poll = tcp
                    .try_into_poll_io()
                    .map_err(|_| ErrorKind::UpstreamConnect)?;
                PollIo::plain(poll, Vec::new())
            }
            Some(t) => {
                let name = t.names[ep].clone();
                let tls = TlsStream::connect(tcp, Arc::clone(&t.config), name, deadline)
                    .await
                    .map_err(|e| match e {
                        IoError::Timeout => ErrorKind::UpstreamConnectTimeout,
                        _ => ErrorKind::UpstreamConnect,
                    })?;
                // An endpoint that did not agree to HTTP/2 cannot be spoken to in it (with
                // `auto`, the next connection asks again).
                if tls.facts().alpn.as_deref() != Some(b"h2") {
                    tracing::debug!(group = %self.spec.name, endpoint = %addr, "Upstream did not negotiate h2");
                    self.speaks_h2.borrow_mut()[ep] = None;
                    return Err(ErrorKind::UpstreamConnect);
                }
                let (tcp, conn, unfed) = tls.into_parts();
                let poll = tcp
                    .try_into_poll_io()
                    .map_err(|_| ErrorKind::UpstreamConnect)?;
                PollIo::tls(poll, conn, unfed)
            }
        };
        self.h2_on(ep, io, deadline, slot).await
    }

    /// Runs the HTTP/2 handshake over `io`, starts the task driving the connection and keeps
    /// it as the core's connection to `ep`.
    async fn h2_on(
        &self,
        ep: usize,
        io: PollIo,
        deadline: Instant,
        slot: Option<Slot>,
    ) -> Result<h2::client::SendRequest<bytes::Bytes>, ErrorKind> {
        let handshake = h2::client::Builder::new()
            .initial_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .handshake::<_, bytes::Bytes>(io);
        let (sender, connection) = match monoio::time::timeout_at(deadline.into(), handshake).await
        {
            Ok(Ok(pair)) => pair,
            Err(_) => return Err(ErrorKind::UpstreamConnectTimeout),
            Ok(Err(_)) => return Err(ErrorKind::UpstreamConnect),
        };
        monoio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
        self.h2.borrow_mut()[ep] = Some(sender.clone());
        Ok(sender)
    }

    fn take_idle(&self, ep: usize) -> Option<UpConn> {
        let mut idle = self.idle.borrow_mut();
        let list = &mut idle[ep];
        let now = Instant::now();
        while let Some(i) = list.pop() {
            if now.duration_since(i.since) < self.spec.pool.idle_timeout {
                let mut conn = i.conn;
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose last exchange completed cleanly (an HTTP/2 stream just
    /// ends: its connection stays open for the next streams).
    pub(crate) fn release(&self, conn: UpConn) {
        if conn.conn.is_stream() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = &mut idle[conn.endpoint];
        if list.len() < self.spec.pool.max_idle {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
            drop(idle);
            // A request waiting for a connection may take this one.
            if let Some(b) = &self.breakers {
                for w in b.connections.waiters.borrow_mut().drain(..) {
                    w.wake();
                }
            }
        }
    }

    /// Closes idle connections older than the idle timeout (called periodically).
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        for list in self.idle.borrow_mut().iter_mut() {
            list.retain(|i| now.duration_since(i.since) < self.spec.pool.idle_timeout);
        }
    }

    /// Drops every idle connection (shutdown).
    pub(crate) fn clear(&self) {
        for list in self.idle.borrow_mut().iter_mut() {
            list.clear();
        }
        for sender in self.h2.borrow_mut().iter_mut() {
            *sender = None;
        }
    }
}

/// A request admitted by adaptive concurrency: its latency is learnt once its response
/// head arrives ([`Admitted::answered`]); dropped before that, it only frees its place.
pub(crate) struct Admitted<'a> {
    gradient: &'a RefCell<Gradient>,
    started: Instant,
    done: bool,
}

impl Admitted<'_> {
    /// The response head arrived: the time since admission is a latency sample.
    pub(crate) fn answered(&mut self) {
        if !self.done {
            self.done = true;
            let now = Instant::now();
            self.gradient
                .borrow_mut()
                .finish(now.duration_since(self.started), now);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.gradient.borrow_mut().cancel();
        }
    }
}

/// What waiting for a connection gave.
enum Waited {
    Slot(Option<Slot>),
    Idle(UpConn),
}

/// Counts an exchange as in flight on an endpoint (least-request balancing) while alive.
pub(crate) struct InFlight<'a> {
    group: &'a Group,
    endpoint: usize,
}

impl<'a> InFlight<'a> {
    /// Starts counting an exchange on `endpoint`.
    pub(crate) fn start(group: &'a Group, endpoint: usize) -> Self {
        group.balancer.borrow_mut().start(endpoint);
        Self { group, endpoint }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.group.balancer.borrow_mut().finish(self.endpoint);
    }
}
