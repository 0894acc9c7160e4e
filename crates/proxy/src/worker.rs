//! Workers: one pinned OS thread per core, each with its own monoio runtime, `SO_REUSEPORT`
//! listeners, upstream pools, balancers and counters. Nothing here is shared between workers
//! except the immutable config and route tables and the stop flag, which is polled off the
//! request path.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;
use ringway_balance::{Rng, Split};
use ringway_config::model::{Action, Config, Listener};
use ringway_core::RequestIdGen;
use ringway_policy::{CorePolicy, Policies};
use ringway_router::Router;
use ringway_telemetry::metrics::{CoreMetrics, MetricsHub};
use ringway_telemetry::queue::Producer;
use ringway_telemetry::record::RequestRecord;

use crate::codec::HeadLimits;
use crate::config::{RunOptions, TelemetryHooks};
use crate::session;
use crate::stats::{CoreStats, WorkerStats};
use crate::upstream::Group;

/// How often workers look at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// How often idle upstream connections are checked for expiry.
const SWEEP: Duration = Duration::from_secs(1);

/// A listener's limits and client timeouts, copied into each connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerRt {
    pub head: HeadLimits,
    pub max_body_bytes: u64,
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

impl ListenerRt {
    fn new(l: &Listener) -> Self {
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
        }
    }
}

/// One core's state for one listener.
pub(crate) struct ListenerState {
    pub rt: ListenerRt,
    pub router: Arc<Router>,
    /// Weighted split per route (only for routes with several backends).
    pub splits: Vec<Option<RefCell<Split>>>,
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
    /// IP filters, credentials, rate limits: this core's state.
    pub policy: CorePolicy,
}

impl Core {
    fn new(
        id: usize,
        cfg: Arc<Config>,
        routers: &[Arc<Router>],
        telemetry: Option<Producer>,
        hub: Arc<MetricsHub>,
        policies: &Arc<Policies>,
    ) -> Self {
        let seed = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let listeners = cfg
            .listeners
            .iter()
            .zip(routers)
            .map(|(l, router)| ListenerState {
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
            groups: cfg.upstreams.iter().map(|g| Group::new(g, id)).collect(),
            listeners,
            ids: RefCell::new(RequestIdGen::new(id as u64)),
            rng: RefCell::new(Rng::new(seed)),
            stats: CoreStats::default(),
            active: Cell::new(0),
            draining: Cell::new(false),
            connections: Cell::new(0),
            telemetry,
            metrics: RefCell::new(CoreMetrics::new(hub.names())),
            hub,
            published: Cell::new((0, 0)),
            policy: policies.core(id),
            cfg,
        }
    }

    /// Hands a finished request's record to the metrics and, if logs are on, to the queue
    /// (a full queue drops and counts; the data plane never waits).
    pub fn emit(&self, rec: &RequestRecord) {
        self.metrics.borrow_mut().record(rec);
        if let Some(q) = &self.telemetry {
            q.push(*rec);
        }
    }

    /// Sends this core's metrics to the hub (once per second, off the request path).
    fn publish_metrics(&self) {
        let mut m = self.metrics.borrow_mut();
        let (connects, reuses) = self.published.get();
        let (c, r) = (
            self.stats.upstream_connects.get(),
            self.stats.upstream_reuses.get(),
        );
        m.add_upstream_connects(c - connects);
        m.add_upstream_reuses(r - reuses);
        self.published.set((c, r));
        m.set_active_connections(self.connections.get());
        m.set_telemetry_dropped(self.telemetry.as_ref().map_or(0, Producer::dropped));
        self.hub.publish(self.id, m.snapshot());
    }
}

/// Which I/O driver the workers use.
pub fn driver_name() -> &'static str {
    if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    }
}

/// A running gateway: its workers and the addresses they listen on.
pub struct Server {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<io::Result<WorkerStats>>>,
}

impl Server {
    /// Binds one `SO_REUSEPORT` socket per listener and worker (all workers on the same port,
    /// resolved from the first bind when the configured port is 0), compiles the route tables
    /// once, and starts the workers with the configuration's `policies` (built by the caller,
    /// which reports key problems as configuration errors and renders their metrics).
    pub fn start(
        cfg: Arc<Config>,
        opts: RunOptions,
        hooks: TelemetryHooks,
        policies: Arc<Policies>,
    ) -> io::Result<Self> {
        let workers = opts.workers.max(1);
        let mut addrs = Vec::with_capacity(cfg.listeners.len());
        let mut per_worker: Vec<Vec<(usize, std::net::TcpListener)>> =
            (0..workers).map(|_| Vec::new()).collect();
        for (li, l) in cfg.listeners.iter().enumerate() {
            let first = bind_reuseport(l.listen)
                .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", l.listen)))?;
            let addr = first.local_addr()?;
            per_worker[0].push((li, first));
            for w in per_worker.iter_mut().skip(1) {
                w.push((li, bind_reuseport(addr)?));
            }
            addrs.push(addr);
        }
        let routers: Arc<Vec<Arc<Router>>> = Arc::new(
            cfg.listeners
                .iter()
                .map(|l| Arc::new(Router::new(&l.routes)))
                .collect(),
        );
        let cores = if opts.pin_workers {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let stop = Arc::new(AtomicBool::new(false));
        for (l, addr) in cfg.listeners.iter().zip(&addrs) {
            tracing::info!(listener = %l.name, %addr, routes = l.routes.len(), "Listening");
        }
        tracing::info!(
            workers,
            driver = driver_name(),
            upstreams = cfg.upstreams.len(),
            "Workers starting"
        );
        let mut handles = Vec::with_capacity(workers);
        let mut queues = hooks.queues.map(Vec::into_iter);
        for (i, listeners) in per_worker.into_iter().enumerate() {
            let queue = queues.as_mut().and_then(Iterator::next);
            let hub = Arc::clone(&hooks.hub);
            let cfg = Arc::clone(&cfg);
            let routers = Arc::clone(&routers);
            let stop = Arc::clone(&stop);
            let policies = Arc::clone(&policies);
            let cpu = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("ringway-core-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!(worker = i, cpu = cpu.id, "Could not pin worker");
                        }
                    }
                    let shared = Shared { hub, policies };
                    run_worker(i, cfg, &routers, listeners, stop, queue, shared)
                })?;
            handles.push(handle);
        }
        Ok(Self {
            addrs,
            stop,
            workers: handles,
        })
    }

    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The bound address of every listener, in configuration order.
    pub fn listener_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A flag that, once set, makes the workers stop accepting and drain.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Whether any worker has exited (normally only after the stop flag is set).
    pub fn any_finished(&self) -> bool {
        self.workers.iter().any(JoinHandle::is_finished)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout) and waits for
    /// every worker. Returns the summed counters.
    pub fn shutdown(self) -> io::Result<WorkerStats> {
        self.stop.store(true, Ordering::Release);
        let mut total = WorkerStats::default();
        for w in self.workers {
            let stats = w
                .join()
                .map_err(|_| io::Error::other("worker panicked"))??;
            total.merge(&stats);
        }
        Ok(total)
    }
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// What every worker shares with the others and the admin side.
struct Shared {
    hub: Arc<MetricsHub>,
    policies: Arc<Policies>,
}

fn run_worker(
    id: usize,
    cfg: Arc<Config>,
    routers: &[Arc<Router>],
    listeners: Vec<(usize, std::net::TcpListener)>,
    stop: Arc<AtomicBool>,
    queue: Option<Producer>,
    shared: Shared,
) -> io::Result<WorkerStats> {
    let Shared { hub, policies } = shared;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(4096)
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let core = Rc::new(Core::new(id, cfg, routers, queue, hub, &policies));
        let mut loops = Vec::with_capacity(listeners.len());
        for (li, listener) in listeners {
            let listener = TcpListener::from_std(listener)?;
            loops.push(monoio::spawn(accept_loop(
                id,
                Rc::clone(&core),
                li,
                listener,
                Arc::clone(&stop),
            )));
        }
        let sweeper = monoio::spawn(sweep_pools(Rc::clone(&core), Arc::clone(&stop)));
        for l in loops {
            l.await;
        }
        sweeper.await;
        core.draining.set(true);
        let drain_until = Instant::now() + core.cfg.drain_timeout;
        while core.active.get() > 0 && Instant::now() < drain_until {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        if core.active.get() > 0 {
            tracing::warn!(
                worker = id,
                in_flight = core.active.get(),
                "Drain timeout; dropping requests"
            );
        }
        for g in &core.groups {
            g.clear();
        }
        core.publish_metrics();
        Ok(core.stats.snapshot())
    })
}

/// Accepts on one listener until the stop flag is set, then closes it.
async fn accept_loop(
    worker: usize,
    core: Rc<Core>,
    li: usize,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
) {
    let mut stopped = std::pin::pin!(wait_for_stop(&stop));
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(session::serve(Rc::clone(&core), li, stream, peer));
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(worker, error = %e, "Accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    // Set draining as soon as any listener stops, so in-flight responses close.
    core.draining.set(true);
}

/// Resolves once the stop flag is set.
async fn wait_for_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        monoio::time::sleep(TICK).await;
    }
}

/// Closes expired idle upstream connections until the stop flag is set.
async fn sweep_pools(core: Rc<Core>, stop: Arc<AtomicBool>) {
    let mut last = Instant::now();
    while !stop.load(Ordering::Acquire) {
        monoio::time::sleep(TICK).await;
        // Rate-limit leases expire every tick: unused tokens go back to the shared tables.
        core.policy.sweep(
            Instant::now(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        );
        if last.elapsed() >= SWEEP {
            last = Instant::now();
            for g in &core.groups {
                g.sweep();
            }
            core.publish_metrics();
        }
    }
}
