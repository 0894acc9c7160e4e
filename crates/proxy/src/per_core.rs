//! One core's state, used only by that core's thread (`Rc`, `RefCell`, `Cell`; no lock): the
//! part that lives as long as the worker ([`CoreBase`]: counters, ids, the record queue) and
//! the part built from one configuration generation ([`Core`]: listeners, routes, groups,
//! policies). A reload builds a new `Core` beside the old one and makes it this thread's
//! [`current`] one; a request runs on the `Core` it started with, so the old one lives until
//! its last request ends.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use ringway_balance::{Rng, Split};
use ringway_config::model::{Action, Config, Listener};
use ringway_core::RequestIdGen;
use ringway_policy::CorePolicy;
use ringway_router::Router;
use ringway_telemetry::metrics::{CoreMetrics, Labels, MetricsHub};
use ringway_telemetry::queue::Producer;
use ringway_telemetry::record::RequestRecord;

use crate::cache::CoreCache;
use crate::codec::HeadLimits;
use crate::generation::Generation;
use crate::stats::CoreStats;
use crate::upstream::Group;

thread_local! {
    /// This worker thread's newest [`Core`].
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// Its generation, read per request without touching the `Rc`.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// The generation of this worker thread's newest [`Core`] (0 before one is installed).
pub(crate) fn current_generation() -> u64 {
    GENERATION.with(Cell::get)
}

/// This worker thread's newest [`Core`] (the one new requests start on).
///
/// # Panics
/// Outside a worker thread (none was installed).
pub(crate) fn current() -> Rc<Core> {
    CURRENT.with(|c| Rc::clone(c.borrow().as_ref().expect("a worker installed its core")))
}

/// Makes `core` this thread's current one (`None` at the worker's end).
pub(crate) fn install(core: Option<Rc<Core>>) {
    GENERATION.with(|g| g.set(core.as_ref().map_or(0, |c| c.generation)));
    CURRENT.with(|c| *c.borrow_mut() = core);
}

/// A listener's limits and client timeouts, copied into each connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerRt {
    pub head: HeadLimits,
    pub max_body_bytes: u64,
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
    /// Time allowed for a TLS handshake.
    pub handshake: Duration,
    /// Forward verified client certificates as `x-forwarded-client-cert`.
    pub forward_client_cert: bool,
    /// Cleartext HTTP/2 with prior knowledge is accepted.
    pub h2c: bool,
    /// HTTP/2 connection limits.
    pub http2: ringway_config::model::Http2Options,
    /// Open connections this core accepts on the listener.
    pub max_connections: Option<usize>,
}

impl ListenerRt {
    pub(crate) fn new(l: &Listener) -> Self {
        Self {
            head: HeadLimits {
                max_uri_bytes: l.limits.max_uri_bytes,
                max_head_bytes: l.limits.max_header_bytes,
                max_headers: l.limits.max_headers,
            },
            max_body_bytes: l.limits.max_body_bytes,
            header: l.timeouts.header,
            body: l.timeouts.body,
            idle: l.timeouts.idle,
            handshake: l
                .tls
                .as_ref()
                .map_or(Duration::ZERO, |t| t.handshake_timeout),
            forward_client_cert: l
                .tls
                .as_ref()
                .and_then(|t| t.client_auth.as_ref())
                .is_some_and(|c| c.forward),
            h2c: l.http2.h2c,
            http2: l.http2,
            max_connections: l.max_connections_per_core,
        }
    }
}

/// One core's state for one listener.
pub(crate) struct ListenerState {
    /// The listening socket's identity: the same across generations while its address is.
    pub bind: u64,
    pub rt: ListenerRt,
    pub router: Arc<Router>,
    /// Weighted split per route (only for routes with several backends).
    pub splits: Vec<Option<RefCell<Split>>>,
    /// The TLS configuration of a TLS listener.
    pub tls: Option<Arc<arc_swap::ArcSwap<rustls::ServerConfig>>>,
    /// Client connections open on this listener, on this core (the same cell across
    /// generations).
    pub open: Rc<Cell<usize>>,
    /// With `limits.max_connections`: the listener's open connections over all cores and the
    /// limit (touched at accept and close only).
    pub total: Option<(Arc<AtomicUsize>, usize)>,
}

/// A connection's place under a listener's `limits.max_connections`, given back when dropped.
pub(crate) struct Ticket(Option<Arc<AtomicUsize>>);

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(open) = &self.0 {
            open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

impl ListenerState {
    /// Takes a place for a new connection, or says no (the per-core limit, then the
    /// listener's): the caller closes it at once.
    pub(crate) fn admit_connection(&self) -> Option<Ticket> {
        if self
            .rt
            .max_connections
            .is_some_and(|max| self.open.get() >= max)
        {
            return None;
        }
        let Some((open, max)) = &self.total else {
            return Some(Ticket(None));
        };
        use std::sync::atomic::Ordering;
        if open.fetch_add(1, Ordering::AcqRel) >= *max {
            open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Ticket(Some(Arc::clone(open))))
    }
}

/// What a core keeps across configuration generations: plain fields, used only by the
/// worker's own thread.
pub(crate) struct CoreBase {
    /// Worker index.
    pub id: usize,
    pub ids: RefCell<RequestIdGen>,
    pub rng: RefCell<Rng>,
    pub stats: CoreStats,
    /// Requests between head parsed and response finished.
    pub active: Cell<usize>,
    /// Set at shutdown: responses carry `connection: close`.
    pub draining: Cell<bool>,
    /// Open client connections.
    pub connections: Cell<u64>,
    /// This core's record queue to the log writer, if logs are on.
    telemetry: Option<Producer>,
    metrics: RefCell<CoreMetrics>,
    hub: Arc<MetricsHub>,
    /// Upstream connects and reuses already added to `metrics`.
    published: Cell<(u64, u64)>,
    /// TLS handshakes (ok, failed) already added to `metrics`.
    published_tls: Cell<(u64, u64)>,
    /// Refused connections already added to `metrics`.
    published_refused: Cell<u64>,
    /// Per listening socket (bind id): this core's open connections on it.
    open: RefCell<HashMap<u64, Rc<Cell<usize>>>>,
    /// This core's edge cache (kept across reloads).
    pub cache: CoreCache,
}

/// One configuration generation's state on a core.
pub(crate) struct Core {
    base: Rc<CoreBase>,
    /// The configuration generation this was built from.
    pub generation: u64,
    pub cfg: Arc<Config>,
    pub listeners: Vec<ListenerState>,
    pub groups: Vec<Group>,
    /// The ids records carry for this configuration's names.
    pub labels: Arc<Labels>,
    /// IP filters, credentials, rate limits: this core's state.
    pub policy: CorePolicy,
}

// The per-core counters are `core.stats` etc., whatever the generation.
impl Deref for Core {
    type Target = CoreBase;

    fn deref(&self) -> &CoreBase {
        &self.base
    }
}

impl Core {
    /// This core's state for `generation`; `old` (the previous generation on this core) hands
    /// over what belongs to the same thing: idle upstream connections and balancer state per
    /// group and endpoint; open-connection counts are per listening socket already.
    pub(crate) fn new(base: &Rc<CoreBase>, generation: &Generation, old: Option<&Core>) -> Self {
        let id = base.id;
        let cfg = Arc::clone(&generation.cfg);
        let services = &generation.services;
        let seed = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // A reload puts the grown name tables in the hub before publishing the generation.
        if !base.metrics.borrow_mut().relayout(&base.hub.names()) {
            tracing::error!(
                worker = id,
                "Metric names shrank; counts kept in the old layout"
            );
        }
        let mut opens = base.open.borrow_mut();
        opens.retain(|bind, _| generation.listeners.iter().any(|b| b.id == *bind));
        let listeners = cfg
            .listeners
            .iter()
            .zip(generation.routers.iter())
            .zip(&services.tls)
            .zip(generation.listeners.iter())
            .map(|(((l, router), tls), bound)| ListenerState {
                bind: bound.id,
                tls: tls.clone(),
                open: Rc::clone(opens.entry(bound.id).or_default()),
                total: l.max_connections.map(|max| (Arc::clone(&bound.open), max)),
                rt: ListenerRt::new(l),
                router: Arc::clone(router),
                splits: l
                    .routes
                    .iter()
                    .map(|r| match &r.action {
                        Action::Proxy(p) if p.backends.len() > 1 => {
                            let weights: Vec<u32> = p.backends.iter().map(|b| b.weight).collect();
                            Some(RefCell::new(Split::new(&weights, seed)))
                        }
                        _ => None,
                    })
                    .collect(),
            })
            .collect();
        drop(opens);
        let groups = cfg
            .upstreams
            .iter()
            .zip(&services.upstream_tls)
            .enumerate()
            .map(|(i, (g, tls))| {
                let mut group = Group::new(g, i, id, tls.as_ref(), &services.resilience, true);
                let before = old.and_then(|o| o.groups.iter().find(|o| o.spec.name == g.name));
                if let Some(before) = before {
                    group.adopt(before);
                }
                group
            })
            .collect();
        Self {
            base: Rc::clone(base),
            generation: generation.number,
            groups,
            listeners,
            labels: Arc::clone(&generation.labels),
            policy: services.policies.core(id),
            cfg,
        }
    }

    /// The index of the listener on socket `bind` in this generation.
    pub(crate) fn listener_on(&self, bind: u64) -> Option<usize> {
        self.listeners.iter().position(|l| l.bind == bind)
    }
}

impl CoreBase {
    /// A worker's lasting state.
    pub(crate) fn new(
        id: usize,
        telemetry: Option<Producer>,
        hub: Arc<MetricsHub>,
        cache: CoreCache,
    ) -> Rc<Self> {
        let seed = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rc::new(Self {
            id,
            ids: RefCell::new(RequestIdGen::new(id as u64)),
            rng: RefCell::new(Rng::with_seed(seed)),
            stats: CoreStats::default(),
            active: Cell::new(0),
            draining: Cell::new(false),
            connections: Cell::new(0),
            telemetry,
            metrics: RefCell::new(CoreMetrics::new(&hub.names())),
            hub,
            published: Cell::new((0, 0)),
            published_tls: Cell::new((0, 0)),
            published_refused: Cell::new(0),
            open: RefCell::new(HashMap::new()),
            cache,
        })
    }

    /// Hands a finished request's record to the metrics and, if logs are on, to the queue
    /// (a full queue drops and counts; the data plane never waits).
    pub(crate) fn emit(&self, rec: &RequestRecord) {
        self.metrics.borrow_mut().record(rec);
        if let Some(q) = &self.telemetry {
            q.push(*rec);
        }
    }

    /// Hands an aggregate's sub-request record to the logs; the metrics take only its
    /// upstream latency (the client request is counted once, by its own record).
    pub(crate) fn emit_sub(&self, rec: &RequestRecord) {
        self.metrics.borrow_mut().record_upstream(rec);
        if let Some(q) = &self.telemetry {
            q.push(*rec);
        }
    }

    /// Counts an aggregate request or a body on a reshaping route.
    pub(crate) fn count(&self, t: ringway_telemetry::metrics::Transformed) {
        self.metrics.borrow_mut().add_transformed(t);
    }

    /// Sends this core's metrics to the hub (once per second, off the request path).
    pub(crate) fn publish_metrics(&self) {
        let mut m = self.metrics.borrow_mut();
        let (connects, reuses) = self.published.get();
        let (c, r) = (
            self.stats.upstream_connects.get(),
            self.stats.upstream_reuses.get(),
        );
        m.add_upstream_connects(c - connects);
        m.add_upstream_reuses(r - reuses);
        self.published.set((c, r));
        let (ok, failed) = self.published_tls.get();
        let (o, f) = (
            self.stats.tls_handshakes.get(),
            self.stats.tls_handshake_failures.get(),
        );
        m.add_tls_handshakes(o - ok, f - failed);
        self.published_tls.set((o, f));
        let refused = self.stats.connections_refused.get();
        m.add_connections_refused(refused - self.published_refused.get());
        self.published_refused.set(refused);
        m.set_active_connections(self.connections.get());
        m.set_telemetry_dropped(self.telemetry.as_ref().map_or(0, Producer::dropped));
        self.hub.publish(self.id, m.snapshot());
    }
}
