//! One core's state: plain fields built per core from the compiled configuration, used only by
//! that core's thread (`Rc`, `RefCell`, `Cell`; no lock). The session reads it; the worker
//! builds it and runs its periodic jobs.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use ringway_balance::{Rng, Split};
use ringway_config::model::{Action, Config, Listener};
use ringway_core::RequestIdGen;
use ringway_policy::CorePolicy;
use ringway_router::Router;
use ringway_telemetry::metrics::{CoreMetrics, MetricsHub};
use ringway_telemetry::queue::Producer;
use ringway_telemetry::record::RequestRecord;

use crate::codec::HeadLimits;
use crate::config::Services;
use crate::stats::CoreStats;
use crate::upstream::Group;

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
    pub rt: ListenerRt,
    pub router: Arc<Router>,
    /// Weighted split per route (only for routes with several backends).
    pub splits: Vec<Option<RefCell<Split>>>,
    /// The TLS configuration of a TLS listener.
    pub tls: Option<Arc<arc_swap::ArcSwap<rustls::ServerConfig>>>,
    /// Client connections open on this listener, on this core.
    pub open: Cell<usize>,
    /// With `limits.max_connections`: the listener's open connections over all cores and the
    /// limit (touched at accept and close only).
    pub total: Option<(Arc<std::sync::atomic::AtomicUsize>, usize)>,
}

impl ListenerState {
    /// Takes a place for a new connection, or says no (the per-core limit, then the
    /// listener's): the caller closes it at once.
    pub(crate) fn admit_connection(&self) -> bool {
        if self
            .rt
            .max_connections
            .is_some_and(|max| self.open.get() >= max)
        {
            return false;
        }
        if let Some((open, max)) = &self.total {
            use std::sync::atomic::Ordering;
            if open.fetch_add(1, Ordering::AcqRel) >= *max {
                open.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
        }
        true
    }

    /// A connection admitted by [`ListenerState::admit_connection`] closed.
    pub(crate) fn connection_closed(&self) {
        if let Some((open, _)) = &self.total {
            open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

/// Per-core state: plain fields, used only by the worker's own thread.
pub(crate) struct Core {
    /// Worker index.
    pub id: usize,
    pub cfg: Arc<Config>,
    pub listeners: Vec<ListenerState>,
    pub groups: Vec<Group>,
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
    /// IP filters, credentials, rate limits: this core's state.
    pub policy: CorePolicy,
}

impl Core {
    pub(crate) fn new(
        id: usize,
        cfg: Arc<Config>,
        routers: &[Arc<Router>],
        telemetry: Option<Producer>,
        hub: Arc<MetricsHub>,
        services: &Services,
    ) -> Self {
        let seed = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let listeners = cfg
            .listeners
            .iter()
            .zip(routers)
            .zip(&services.tls)
            .zip(&services.open)
            .map(|(((l, router), tls), total)| ListenerState {
                tls: tls.clone(),
                open: Cell::new(0),
                total: l.max_connections.map(|max| (Arc::clone(total), max)),
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
        Self {
            id,
            groups: cfg
                .upstreams
                .iter()
                .zip(&services.upstream_tls)
                .enumerate()
                .map(|(i, (g, tls))| Group::new(g, i, id, tls.as_ref(), &services.resilience, true))
                .collect(),
            listeners,
            ids: RefCell::new(RequestIdGen::new(id as u64)),
            rng: RefCell::new(Rng::with_seed(seed)),
            stats: CoreStats::default(),
            active: Cell::new(0),
            draining: Cell::new(false),
            connections: Cell::new(0),
            telemetry,
            metrics: RefCell::new(CoreMetrics::new(hub.names())),
            hub,
            published: Cell::new((0, 0)),
            published_tls: Cell::new((0, 0)),
            published_refused: Cell::new(0),
            policy: services.policies.core(id),
            cfg,
        }
    }

    /// Hands a finished request's record to the metrics and, if logs are on, to the queue
    /// (a full queue drops and counts; the data plane never waits).
    pub(crate) fn emit(&self, rec: &RequestRecord) {
        self.metrics.borrow_mut().record(rec);
        if let Some(q) = &self.telemetry {
            q.push(*rec);
        }
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
