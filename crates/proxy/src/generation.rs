//! Configuration generations: what the workers run, swapped whole by a reload.
//!
//! A [`Generation`] is everything built from one configuration (routes, services, record
//! labels) plus its listening sockets. The [`Control`] publishes the newest one through an
//! `ArcSwap`; each worker looks at it every tick (50 ms) and, when it changed, builds its new
//! per-core state from it and makes that current for new requests (see `per_core`). Nothing on
//! the request path reads the `ArcSwap`.
//!
//! Listening sockets belong to a [`BoundListener`], shared by every generation that has the
//! listener: one `SO_REUSEPORT` socket per worker, each taken once by its worker. A listener is
//! the same across a reload when its configured address is (or, with port 0, its name and
//! address), so its sockets stay open — closing a `SO_REUSEPORT` socket resets the connections
//! queued on it. A new listener is bound by the reload, before anything is published (a bind
//! error fails the reload and changes nothing); a removed one is closed by each worker after
//! it has served what was queued.

// The locks here serialise reloads and guard the list of health threads: control plane only,
// never taken by a worker.
#![allow(
    clippy::disallowed_types,
    reason = "taken by reloads and shutdown only, never on a core's request path"
)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use ringway_config::model::{Config, Listener};
use ringway_router::Router;
use ringway_telemetry::metrics::Labels;

use crate::config::Services;
use crate::health::Handover;

/// A listener's sockets, one per worker, shared by the generations that have it.
pub(crate) struct BoundListener {
    /// Unique for the process: a listener bound again after removal gets a new id.
    pub id: u64,
    /// What makes two configurations' listeners the same (see the module documentation).
    key: String,
    /// The bound address (the port resolved when 0 was configured).
    pub addr: SocketAddr,
    /// Each worker's socket until that worker takes it.
    sockets: Box<[ArrayQueue<std::net::TcpListener>]>,
    /// Open connections over all cores (`limits.max_connections`).
    pub open: Arc<AtomicUsize>,
}

impl BoundListener {
    /// Worker `worker`'s socket, the first time it asks.
    pub(crate) fn take(&self, worker: usize) -> Option<std::net::TcpListener> {
        self.sockets.get(worker).and_then(ArrayQueue::pop)
    }
}

/// The identity of a configured listener across reloads.
fn key_of(l: &Listener) -> String {
    if l.listen.port() == 0 {
        format!("{}@{}", l.name, l.listen)
    } else {
        l.listen.to_string()
    }
}

/// Everything the workers run for one configuration.
pub(crate) struct Generation {
    /// 1 at start, +1 per reload.
    pub number: u64,
    pub cfg: Arc<Config>,
    /// One route table per listener.
    pub routers: Vec<Arc<Router>>,
    pub services: Services,
    /// The ids records carry for this configuration's names.
    pub labels: Arc<Labels>,
    /// One per listener, in configuration order.
    pub listeners: Vec<Arc<BoundListener>>,
}

/// The newest generation and what a reload needs to make the next one.
pub(crate) struct Control {
    current: ArcSwap<Generation>,
    workers: usize,
    next_bind: AtomicU64,
    /// Set at shutdown: every worker and health thread stops.
    pub stop: Arc<AtomicBool>,
    /// The cores' cache queues and published numbers.
    pub cache: Arc<crate::cache::CacheBus>,
    /// The health thread of the newest generation, and its stop flag.
    health: Mutex<Option<(Arc<AtomicBool>, JoinHandle<Handover>)>>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

impl Control {
    /// Binds `cfg`'s listeners and makes generation 1.
    pub(crate) fn start(
        cfg: Arc<Config>,
        services: Services,
        labels: Labels,
        workers: usize,
    ) -> io::Result<Arc<Self>> {
        let next_bind = AtomicU64::new(1);
        let listeners = cfg
            .listeners
            .iter()
            .map(|l| bind(l, workers, &next_bind))
            .collect::<io::Result<Vec<_>>>()?;
        let generation = Generation {
            number: 1,
            routers: routers(&cfg),
            cfg,
            services,
            labels: Arc::new(labels),
            listeners,
        };
        let control = Arc::new(Self {
            current: ArcSwap::from_pointee(generation),
            workers,
            next_bind,
            stop: Arc::new(AtomicBool::new(false)),
            cache: crate::cache::CacheBus::new(workers),
            health: Mutex::new(None),
            reloading: Mutex::new(()),
        });
        control.start_health()?;
        Ok(control)
    }

    /// The newest generation.
    pub(crate) fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Number of workers.
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// The newest generation's number, without taking a reference.
    pub(crate) fn number(&self) -> u64 {
        self.current.load().number
    }

    /// Publishes `cfg` as the next generation: listeners kept by identity, new ones bound
    /// first (an error changes nothing), a new health thread for the new groups. Returns the
    /// listeners' bound addresses.
    pub(crate) fn reload(
        &self,
        cfg: Arc<Config>,
        services: Services,
        labels: Labels,
    ) -> io::Result<Vec<SocketAddr>> {
        let _one = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = self.current();
        let mut listeners = Vec::with_capacity(cfg.listeners.len());
        for l in &cfg.listeners {
            let key = key_of(l);
            let kept = old.listeners.iter().find(|b| b.key == key);
            listeners.push(match kept {
                Some(b) => Arc::clone(b),
                None => bind(l, self.workers, &self.next_bind)?,
            });
        }
        let addrs = listeners.iter().map(|b| b.addr).collect();
        let generation = Generation {
            number: old.number + 1,
            routers: routers(&cfg),
            cfg,
            services,
            labels: Arc::new(labels),
            listeners,
        };
        self.current.store(Arc::new(generation));
        self.start_health()?;
        Ok(addrs)
    }

    /// Starts the health thread of the newest generation from what the previous one knew
    /// (it is stopped first: within one of its ticks, a few milliseconds).
    fn start_health(&self) -> io::Result<()> {
        let mut slot = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let handover = match slot.take() {
            Some(old) => stop_thread(old)?,
            None => Vec::new(),
        };
        let g = self.current();
        let flag = Arc::new(AtomicBool::new(false));
        let handle = crate::health::spawn(
            Arc::clone(&g.cfg),
            Arc::clone(&g.services.resilience),
            g.services.upstream_tls.clone(),
            Arc::clone(&flag),
            handover,
        )?;
        *slot = Some((flag, handle));
        Ok(())
    }

    /// Stops the health thread and waits for it.
    pub(crate) fn stop_health(&self) -> io::Result<()> {
        let thread = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        thread.map_or(Ok(()), |t| stop_thread(t).map(drop))
    }
}

fn stop_thread((stop, handle): (Arc<AtomicBool>, JoinHandle<Handover>)) -> io::Result<Handover> {
    stop.store(true, Ordering::Release);
    handle
        .join()
        .map_err(|_| io::Error::other("health thread panicked"))
}

fn routers(cfg: &Config) -> Vec<Arc<Router>> {
    cfg.listeners
        .iter()
        .map(|l| Arc::new(Router::new(&l.routes)))
        .collect()
}

/// One `SO_REUSEPORT` socket per worker on `l.listen` (all on the port the first bind got
/// when 0 is configured).
fn bind(l: &Listener, workers: usize, next: &AtomicU64) -> io::Result<Arc<BoundListener>> {
    let first = bind_reuseport(l.listen)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", l.listen)))?;
    let addr = first.local_addr()?;
    let sockets: Box<[ArrayQueue<std::net::TcpListener>]> =
        (0..workers).map(|_| ArrayQueue::new(1)).collect();
    let _ = sockets[0].push(first);
    for q in sockets.iter().skip(1) {
        let s = bind_reuseport(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
        let _ = q.push(s);
    }
    Ok(Arc::new(BoundListener {
        id: next.fetch_add(1, Ordering::Relaxed),
        key: key_of(l),
        addr,
        sockets,
        open: Arc::new(AtomicUsize::new(0)),
    }))
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
