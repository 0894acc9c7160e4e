//! Workers: one pinned OS thread per core, each with its own monoio runtime, `SO_REUSEPORT`
//! listeners, upstream pools, balancers and counters. Nothing here is shared between workers
//! except the immutable config and route tables and the stop flag, which is polled off the
//! request path.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;
use ringway_config::model::Config;
use ringway_router::Router;
use ringway_telemetry::metrics::MetricsHub;
use ringway_telemetry::queue::Producer;

use crate::config::{RunOptions, Services, TelemetryHooks};
use crate::per_core::Core;
use crate::session;
use crate::stats::WorkerStats;

/// How often workers look at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// How often idle upstream connections are checked for expiry.
const SWEEP: Duration = Duration::from_secs(1);

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
    health: JoinHandle<()>,
}

impl Server {
    /// Binds one `SO_REUSEPORT` socket per listener and worker (all workers on the same port,
    /// resolved from the first bind when the configured port is 0), compiles the route tables
    /// once, and starts the workers with the configuration's `services` (built by the caller,
    /// which reports key and certificate problems as configuration errors and renders their
    /// metrics).
    pub fn start(
        cfg: Arc<Config>,
        opts: RunOptions,
        hooks: TelemetryHooks,
        services: Services,
    ) -> io::Result<Self> {
        if services.tls.len() != cfg.listeners.len()
            || services.open.len() != cfg.listeners.len()
            || services.upstream_tls.len() != cfg.upstreams.len()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "one TLS entry and one open-connection counter per listener, and one TLS entry per upstream group, are required",
            ));
        }
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
        let health = crate::health::spawn(
            Arc::clone(&cfg),
            Arc::clone(&services.resilience),
            services.upstream_tls.clone(),
            Arc::clone(&stop),
        )?;
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
            let services = services.clone();
            let cpu = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("ringway-core-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!(worker = i, cpu = cpu.id, "Could not pin worker");
                        }
                    }
                    let shared = Shared { hub, services };
                    run_worker(i, cfg, &routers, listeners, stop, queue, shared)
                })?;
            handles.push(handle);
        }
        Ok(Self {
            addrs,
            stop,
            workers: handles,
            health,
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
        self.health
            .join()
            .map_err(|_| io::Error::other("health thread panicked"))?;
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
    services: Services,
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
    let Shared { hub, services } = shared;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(4096)
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let core = Rc::new(Core::new(id, cfg, routers, queue, hub, &services));
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
                    if !core.listeners[li].admit_connection() {
                        // Over a limit: closed at once; the open connections go on.
                        crate::stats::bump(&core.stats.connections_refused);
                        drop(stream);
                        continue;
                    }
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
        // Spare circuit-breaker slots go back too, so an idle core holds none.
        for g in &core.groups {
            g.flush_slots();
        }
        if last.elapsed() >= SWEEP {
            last = Instant::now();
            for g in &core.groups {
                g.sweep();
            }
            core.publish_metrics();
        }
    }
}
