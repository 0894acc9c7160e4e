//! Upstream endpoints of one core: round-robin selection, connecting with a timeout and retry
//! to the next endpoint, and a keep-alive pool of idle connections (LIFO, so the warmest
//! connection is reused and cold ones age out).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Instant;

use monoio::net::TcpStream;
use ringway_core::ErrorKind;

use crate::config::{PoolConfig, ProxyConfig};
use crate::io::Conn;
use crate::stats::{bump, CoreStats};

/// A connection to one endpoint.
pub(crate) struct UpConn {
    pub conn: Conn,
    pub endpoint: usize,
    /// Served at least one exchange before this one.
    pub reused: bool,
}

struct Idle {
    conn: UpConn,
    since: Instant,
}

/// One core's endpoints and idle connections.
pub(crate) struct Upstreams {
    endpoints: Vec<SocketAddr>,
    /// `ip:port` of each endpoint: the Host sent when the client sent none.
    pub authorities: Vec<Vec<u8>>,
    idle: RefCell<Vec<Vec<Idle>>>,
    next: Cell<usize>,
    pool: PoolConfig,
    connect_timeout: std::time::Duration,
    connect_retries: usize,
}

impl Upstreams {
    pub fn new(cfg: &ProxyConfig, core: usize) -> Self {
        Self {
            endpoints: cfg.upstreams.clone(),
            authorities: cfg
                .upstreams
                .iter()
                .map(|a| a.to_string().into_bytes())
                .collect(),
            idle: RefCell::new(cfg.upstreams.iter().map(|_| Vec::new()).collect()),
            // Cores start at different endpoints so they do not move in lockstep.
            next: Cell::new(core),
            pool: cfg.pool,
            connect_timeout: cfg.timeouts.connect,
            connect_retries: cfg.connect_retries,
        }
    }

    /// A connection to the next endpoint in round-robin order: pooled when `pooled_ok` and one
    /// is idle, new otherwise. A failed connect moves on to the next endpoint, up to
    /// `connect_retries` times.
    pub async fn acquire(&self, pooled_ok: bool, stats: &CoreStats) -> Result<UpConn, ErrorKind> {
        let n = self.endpoints.len();
        if n == 0 {
            return Err(ErrorKind::NoEndpoint);
        }
        let start = self.next.get();
        self.next.set(start.wrapping_add(1));
        let mut last = ErrorKind::NoEndpoint;
        for attempt in 0..n.min(self.connect_retries + 1) {
            let ep = (start + attempt) % n;
            if pooled_ok {
                if let Some(conn) = self.take_idle(ep) {
                    bump(&stats.upstream_reuses);
                    return Ok(conn);
                }
            }
            match self.connect(ep).await {
                Ok(stream) => {
                    bump(&stats.upstream_connects);
                    return Ok(UpConn {
                        conn: Conn::new(stream),
                        endpoint: ep,
                        reused: false,
                    });
                }
                Err(kind) => {
                    tracing::debug!(endpoint = %self.endpoints[ep], error = kind.code(), "Upstream connect failed");
                    last = kind;
                }
            }
        }
        Err(last)
    }

    async fn connect(&self, ep: usize) -> Result<TcpStream, ErrorKind> {
        let addr = self.endpoints[ep];
        match monoio::time::timeout(self.connect_timeout, TcpStream::connect_addr(addr)).await {
            Err(_) => Err(ErrorKind::UpstreamTimeout),
            Ok(Err(_)) => Err(ErrorKind::UpstreamConnect),
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
        }
    }

    fn take_idle(&self, ep: usize) -> Option<UpConn> {
        let mut idle = self.idle.borrow_mut();
        let list = &mut idle[ep];
        let now = Instant::now();
        while let Some(i) = list.pop() {
            if now.duration_since(i.since) < self.pool.idle_timeout {
                let mut conn = i.conn;
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn release(&self, conn: UpConn) {
        let mut idle = self.idle.borrow_mut();
        let list = &mut idle[conn.endpoint];
        if list.len() < self.pool.max_idle_per_endpoint {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Closes idle connections older than the idle timeout (called periodically).
    pub fn sweep(&self) {
        let now = Instant::now();
        for list in self.idle.borrow_mut().iter_mut() {
            list.retain(|i| now.duration_since(i.since) < self.pool.idle_timeout);
        }
    }

    /// Drops every idle connection (shutdown).
    pub fn clear(&self) {
        for list in self.idle.borrow_mut().iter_mut() {
            list.clear();
        }
    }
}
