//! Workers: one pinned OS thread per core, each with its own monoio runtime, `SO_REUSEPORT`
//! listeners, upstream pools, balancers and counters. Nothing on the request path is shared
//! between workers; the configuration generation and the stop flag are looked at once per
//! tick, off the request path.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;
use ringway_config::model::Config;
use ringway_telemetry::metrics::{Labels, MetricsHub};
use ringway_telemetry::queue::Producer;

use crate::cache::{CacheBus, CoreCache};
use crate::config::{RunOptions, Services, TelemetryHooks};
use crate::generation::{Control, Generation};
use crate::per_core::{self, Core, CoreBase};
use crate::session;
use crate::stats::WorkerStats;

/// How often workers look at the stop flag and the configuration generation.
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
    control: Arc<Control>,
    workers: Vec<JoinHandle<io::Result<WorkerStats>>>,
}

/// Reloads a running [`Server`]'s configuration; usable from any thread.
#[derive(Clone)]
pub struct Reloader(Arc<Control>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("generation", &self.0.number())
            .finish()
    }
}

impl Reloader {
    /// Makes `cfg` (with its `services`, built by the caller for the same worker count, and
    /// its record `labels`) the configuration of new requests: each worker switches at its
    /// next tick; requests already started finish on the old one. Listeners whose address is
    /// unchanged keep their sockets; new ones are bound now (a bind error changes nothing);
    /// removed ones close once each worker has served what was queued on them. Returns every
    /// listener's bound address, in configuration order.
    pub fn reload(
        &self,
        cfg: Arc<Config>,
        services: Services,
        labels: Labels,
    ) -> io::Result<Vec<SocketAddr>> {
        check_shapes(&cfg, &services)?;
        self.0.reload(cfg, services, labels)
    }

    /// The newest configuration generation (1 at start, +1 per reload).
    pub fn generation(&self) -> u64 {
        self.0.number()
    }
}

fn check_shapes(cfg: &Config, services: &Services) -> io::Result<()> {
    if services.tls.len() != cfg.listeners.len()
        || services.upstream_tls.len() != cfg.upstreams.len()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "one TLS entry per listener and one per upstream group are required",
        ));
    }
    Ok(())
}

impl Server {
    /// Binds one `SO_REUSEPORT` socket per listener and worker (all workers on the same port,
    /// resolved from the first bind when the configured port is 0), compiles the route tables
    /// once, and starts the workers with the configuration's `services` (built by the caller,
    /// which reports key and certificate problems as configuration errors and renders their
    /// metrics) and record `labels` (the ids of its names; [`Labels`] in configuration order
    /// when there is no reload).
    pub fn start(
        cfg: Arc<Config>,
        opts: RunOptions,
        hooks: TelemetryHooks,
        services: Services,
        labels: Labels,
    ) -> io::Result<Self> {
        check_shapes(&cfg, &services)?;
        let workers = opts.workers.max(1);
        let control = Control::start(cfg, services, labels, workers)?;
        let generation = control.current();
        for (l, b) in generation.cfg.listeners.iter().zip(&generation.listeners) {
            tracing::info!(listener = %l.name, addr = %b.addr, routes = l.routes.len(), "Listening");
        }
        let cores = if opts.pin_workers {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        tracing::info!(
            workers,
            driver = driver_name(),
            upstreams = generation.cfg.upstreams.len(),
            "Workers starting"
        );
        let mut handles = Vec::with_capacity(workers);
        let mut queues = hooks.queues.map(Vec::into_iter);
        for i in 0..workers {
            let queue = queues.as_mut().and_then(Iterator::next);
            let hub = Arc::clone(&hooks.hub);
            let control = Arc::clone(&control);
            let cpu = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("ringway-core-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!(worker = i, cpu = cpu.id, "Could not pin worker");
                        }
                    }
                    run_worker(i, &control, queue, hub)
                })?;
            handles.push(handle);
        }
        Ok(Self {
            control,
            workers: handles,
        })
    }

    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener_addrs()[0]
    }

    /// The bound address of every listener of the newest generation, in configuration order.
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.control
            .current()
            .listeners
            .iter()
            .map(|b| b.addr)
            .collect()
    }

    /// The cores' caches: purge, metrics.
    pub fn cache(&self) -> Arc<CacheBus> {
        Arc::clone(&self.control.cache)
    }

    /// A handle that reloads this server's configuration.
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::clone(&self.control))
    }

    /// A flag that, once set, makes the workers stop accepting and drain.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.control.stop)
    }

    /// Whether any worker has exited (normally only after the stop flag is set).
    pub fn any_finished(&self) -> bool {
        self.workers.iter().any(JoinHandle::is_finished)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout) and waits for
    /// every worker. Returns the summed counters.
    pub fn shutdown(self) -> io::Result<WorkerStats> {
        self.control.stop.store(true, Ordering::Release);
        let mut total = WorkerStats::default();
        for w in self.workers {
            let stats = w
                .join()
                .map_err(|_| io::Error::other("worker panicked"))??;
            total.merge(&stats);
        }
        self.control.stop_health()?;
        Ok(total)
    }
}

/// An accept loop of this worker, and the flag that ends it.
struct AcceptLoop {
    removed: Rc<Cell<bool>>,
    done: monoio::task::JoinHandle<()>,
}

/// A worker's runtime: io_uring, or epoll where io_uring is not available.
type Runtime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// The worker's runtime. The ring is set up for one thread that both submits and reaps
/// (`SINGLE_ISSUER`), with completions run only when that thread waits for them
/// (`DEFER_TASKRUN`: the kernel neither interrupts the worker for each completion nor runs
/// them on another context; monoio waits with `GETEVENTS` each time it runs out of tasks).
/// Measured: nginx's CPU per request over ours at c=64 went from 1.08–1.16 to 1.19–1.28
/// (docs/performance.md). A kernel without those flags (before 6.1) gets a plain ring.
fn runtime() -> io::Result<Runtime> {
    let build = |urb: Option<io_uring::Builder>| {
        let b = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().with_entries(4096);
        match urb {
            Some(urb) => b.uring_builder(urb),
            None => b,
        }
        .enable_timer()
        .build()
    };
    let mut urb = io_uring::IoUring::builder();
    urb.setup_single_issuer().setup_defer_taskrun();
    build(Some(urb)).or_else(|e| {
        tracing::debug!(error = %e, "io_uring without DEFER_TASKRUN");
        build(None)
    })
}

fn run_worker(
    id: usize,
    control: &Arc<Control>,
    queue: Option<Producer>,
    hub: Arc<MetricsHub>,
) -> io::Result<WorkerStats> {
    let mut rt = runtime()?;
    let stop = Arc::clone(&control.stop);
    rt.block_on(async move {
        let generation = control.current();
        let budget = generation.cfg.cache.memory_bytes / control.workers().max(1) as u64;
        let cache = CoreCache::new(
            usize::try_from(budget).unwrap_or(usize::MAX),
            Arc::clone(&control.cache),
            id,
        );
        let base = CoreBase::new(id, queue, hub, cache);
        let mut core = Rc::new(Core::new(&base, &generation, None));
        per_core::install(Some(Rc::clone(&core)));
        let mut loops: HashMap<u64, AcceptLoop> = HashMap::new();
        open_listeners(id, &generation, &core, &mut loops, &stop)?;
        let mut last = Instant::now();
        while !stop.load(Ordering::Acquire) {
            monoio::time::sleep(TICK).await;
            if control.number() != core.generation {
                let generation = control.current();
                let next = Rc::new(Core::new(&base, &generation, Some(&core)));
                // No tick sweeps the old generation again: its leases go back now.
                sweep_leases(&core);
                core = next;
                per_core::install(Some(Rc::clone(&core)));
                open_listeners(id, &generation, &core, &mut loops, &stop)?;
                tracing::debug!(
                    worker = id,
                    generation = generation.number,
                    "Configuration switched"
                );
            }
            sweep_leases(&core);
            base.cache.drain();
            if last.elapsed() >= SWEEP {
                last = Instant::now();
                for g in &core.groups {
                    g.sweep();
                }
                core.publish_metrics();
                base.cache.publish();
            }
        }
        for (_, l) in loops.drain() {
            l.done.await;
        }
        base.draining.set(true);
        let drain_until = Instant::now() + core.cfg.drain_timeout;
        while base.active.get() > 0 && Instant::now() < drain_until {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        if base.active.get() > 0 {
            tracing::warn!(
                worker = id,
                in_flight = base.active.get(),
                "Drain timeout; dropping requests"
            );
        }
        for g in &core.groups {
            g.clear();
        }
        base.publish_metrics();
        per_core::install(None);
        Ok(base.stats.snapshot())
    })
}

/// Rate-limit leases expire every tick (unused tokens go back to the shared tables), and
/// spare circuit-breaker slots go back too, so an idle core holds none.
fn sweep_leases(core: &Core) {
    core.policy.sweep(
        Instant::now(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    );
    for g in &core.groups {
        g.flush_slots();
    }
}

/// Starts an accept loop for each listener of `generation` this worker does not accept on
/// yet, and ends those of listeners it no longer has.
fn open_listeners(
    worker: usize,
    generation: &Generation,
    core: &Rc<Core>,
    loops: &mut HashMap<u64, AcceptLoop>,
    stop: &Arc<AtomicBool>,
) -> io::Result<()> {
    loops.retain(|bind, l| {
        let kept = generation.listeners.iter().any(|b| b.id == *bind);
        if !kept {
            l.removed.set(true);
        }
        kept
    });
    for bound in &generation.listeners {
        if loops.contains_key(&bound.id) {
            continue;
        }
        let Some(socket) = bound.take(worker) else {
            continue;
        };
        let removed = Rc::new(Cell::new(false));
        let done = monoio::spawn(accept_loop(
            worker,
            bound.id,
            Rc::clone(core),
            socket,
            Arc::clone(stop),
            Rc::clone(&removed),
        ));
        loops.insert(bound.id, AcceptLoop { removed, done });
    }
    Ok(())
}

/// Accepts on one listening socket until the stop flag is set (then closes it) or a reload
/// removes its listener (then serves what is already queued on it, and closes it).
async fn accept_loop(
    worker: usize,
    bind: u64,
    mut last: Rc<Core>,
    socket: std::net::TcpListener,
    stop: Arc<AtomicBool>,
    removed: Rc<Cell<bool>>,
) {
    // A second handle on the same socket, to take the queued connections at removal.
    let queued = socket.try_clone();
    let listener = match TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(worker, error = %e, "Cannot accept on a listener");
            return;
        }
    };
    let mut stopped = std::pin::pin!(wait_for_stop(&stop, &removed));
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(&mut last, bind, stream, peer),
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(worker, error = %e, "Accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    if stop.load(Ordering::Acquire) {
        // Set draining as soon as any listener stops, so in-flight responses close.
        last.draining.set(true);
        return;
    }
    // Removed by a reload: what the kernel queued is served, not reset.
    if let Ok(queued) = queued {
        // Never wait here: an empty queue ends the loop.
        let _ = queued.set_nonblocking(true);
        while let Ok((stream, peer)) = queued.accept() {
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| monoio::net::TcpStream::from_std(stream));
            if let Ok(stream) = stream {
                admit(&mut last, bind, stream, peer);
            }
        }
    }
}

/// Serves a new connection on the current generation, or on `last` (the newest one this
/// listener was in) when a reload removed the listener a moment ago.
fn admit(last: &mut Rc<Core>, bind: u64, stream: monoio::net::TcpStream, peer: SocketAddr) {
    let now = per_core::current();
    if now.listener_on(bind).is_some() {
        *last = now;
    }
    let Some(li) = last.listener_on(bind) else {
        return;
    };
    let Some(ticket) = last.listeners[li].admit_connection() else {
        // Over a limit: closed at once; the open connections go on.
        crate::stats::bump(&last.stats.connections_refused);
        return;
    };
    let _ = stream.set_nodelay(true);
    monoio::spawn(session::serve(Rc::clone(last), li, stream, peer, ticket));
}

/// Resolves once the stop flag or `removed` is set.
async fn wait_for_stop(stop: &AtomicBool, removed: &Cell<bool>) {
    while !stop.load(Ordering::Acquire) && !removed.get() {
        monoio::time::sleep(TICK).await;
    }
}
