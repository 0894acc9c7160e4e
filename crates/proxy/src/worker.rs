//! Workers: one pinned OS thread per core, each with its own monoio runtime, `SO_REUSEPORT`
//! listener, upstream pool and counters. Nothing here is shared between workers except the
//! immutable config and the stop flag, which is polled off the request path.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;
use ringway_core::RequestIdGen;

use crate::config::ProxyConfig;
use crate::session;
use crate::stats::{CoreStats, WorkerStats};
use crate::upstream::Upstreams;

/// How often workers look at the stop flag and sweep idle upstream connections.
const TICK: Duration = Duration::from_millis(50);

/// Per-core state: plain fields, used only by the worker's own thread.
pub(crate) struct Core {
    pub cfg: Arc<ProxyConfig>,
    pub upstreams: Upstreams,
    pub ids: RefCell<RequestIdGen>,
    pub stats: CoreStats,
    /// Requests between head parsed and response finished.
    pub active: Cell<usize>,
    /// Set at shutdown: responses carry `connection: close`.
    pub draining: Cell<bool>,
}

/// Which I/O driver the workers use.
pub fn driver_name() -> &'static str {
    if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    }
}

/// A running gateway: its workers and the address they listen on.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<io::Result<WorkerStats>>>,
}

impl Server {
    /// Binds one `SO_REUSEPORT` listener per worker (all on the same port, resolved from the
    /// first when the configured port is 0) and starts the workers.
    pub fn start(cfg: ProxyConfig) -> io::Result<Self> {
        let workers = cfg.workers.max(1);
        let first = bind_reuseport(cfg.listen)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers {
            listeners.push(bind_reuseport(addr)?);
        }
        let cores = if cfg.pin_workers {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let cfg = Arc::new(cfg);
        let stop = Arc::new(AtomicBool::new(false));
        tracing::info!(%addr, workers, driver = driver_name(), upstreams = cfg.upstreams.len(), "Listening");
        let mut handles = Vec::with_capacity(workers);
        for (i, listener) in listeners.into_iter().enumerate() {
            let cfg = Arc::clone(&cfg);
            let stop = Arc::clone(&stop);
            let cpu = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("ringway-core-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!(worker = i, cpu = cpu.id, "Could not pin worker");
                        }
                    }
                    run_worker(i, cfg, listener, stop)
                })?;
            handles.push(handle);
        }
        Ok(Self {
            addr,
            stop,
            workers: handles,
        })
    }

    /// The address the workers accept on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
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

fn run_worker(
    id: usize,
    cfg: Arc<ProxyConfig>,
    listener: std::net::TcpListener,
    stop: Arc<AtomicBool>,
) -> io::Result<WorkerStats> {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(4096)
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let core = Rc::new(Core {
            upstreams: Upstreams::new(&cfg, id),
            ids: RefCell::new(RequestIdGen::new(id as u64)),
            stats: CoreStats::default(),
            active: Cell::new(0),
            draining: Cell::new(false),
            cfg,
        });
        let mut stopped = std::pin::pin!(wait_for_stop(&core, &stop));
        loop {
            monoio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        monoio::spawn(session::serve(Rc::clone(&core), stream, peer));
                    }
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(worker = id, error = %e, "Accept failed");
                        monoio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut stopped => break,
            }
        }
        drop(listener);
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
        core.upstreams.clear();
        Ok(core.stats.snapshot())
    })
}

/// Resolves once the stop flag is set; sweeps the idle pool on every tick meanwhile.
async fn wait_for_stop(core: &Core, stop: &AtomicBool) {
    let mut ticks = 0u32;
    while !stop.load(Ordering::Acquire) {
        monoio::time::sleep(TICK).await;
        ticks = ticks.wrapping_add(1);
        if ticks % 20 == 0 {
            core.upstreams.sweep();
        }
    }
}
