//! One core's view of an upstream group: its endpoints, the balancer that picks among them, a
//! keep-alive pool of idle connections per endpoint (LIFO, so the warmest is reused and cold
//! ones age out), and the retry budget.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use ringway_balance::{Balancer, RetryBudget};
use ringway_config::model::UpstreamGroup;
use ringway_core::ErrorKind;

use crate::io::{Conn, IoError, TlsStream};
use crate::stats::{bump, CoreStats};

/// Window over which the retry budget counts requests.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries always allowed per second, whatever the budget, so low traffic can still retry.
const BUDGET_FLOOR_PER_SEC: u32 = 3;
/// TLS sessions kept per core and group, so new connections resume instead of a full
/// handshake.
const TLS_SESSIONS: usize = 256;

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
}

struct Idle {
    conn: UpConn,
    since: Instant,
}

/// One core's state for one upstream group.
pub(crate) struct Group {
    pub spec: UpstreamGroup,
    endpoints: Vec<SocketAddr>,
    /// `ip:port` of each endpoint: the Host sent when the client sent none.
    pub authorities: Vec<Vec<u8>>,
    idle: RefCell<Vec<Vec<Idle>>>,
    pub balancer: RefCell<Balancer>,
    pub budget: RefCell<RetryBudget>,
    tls: Option<UpstreamTls>,
}

impl Group {
    pub(crate) fn new(
        spec: &UpstreamGroup,
        core: usize,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Self {
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
            balancer: RefCell::new(Balancer::with_ids(
                &spec.balance,
                &weights,
                &authorities,
                seed,
            )),
            authorities,
            idle: RefCell::new(spec.endpoints.iter().map(|_| Vec::new()).collect()),
            budget: RefCell::new(RetryBudget::new(
                spec.retries.budget_percent,
                BUDGET_FLOOR_PER_SEC,
                BUDGET_WINDOW,
            )),
            spec: spec.clone(),
            tls,
        }
    }

    /// Number of endpoints.
    pub(crate) fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Picks an endpoint not yet tried by this request.
    pub(crate) fn pick(&self, key: Option<&[u8]>, tried: &[usize]) -> Option<usize> {
        self.balancer.borrow_mut().pick(key, |i| tried.contains(&i))
    }

    /// A connection to `ep`: the warmest idle one if `pooled_ok`, a new one otherwise.
    pub(crate) async fn connect(
        &self,
        ep: usize,
        pooled_ok: bool,
        stats: &CoreStats,
    ) -> Result<UpConn, ErrorKind> {
        if pooled_ok {
            if let Some(conn) = self.take_idle(ep) {
                bump(&stats.upstream_reuses);
                return Ok(conn);
            }
        }
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
        })
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

    /// Returns a connection whose last exchange completed cleanly.
    pub(crate) fn release(&self, conn: UpConn) {
        let mut idle = self.idle.borrow_mut();
        let list = &mut idle[conn.endpoint];
        if list.len() < self.spec.pool.max_idle {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
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
    }
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
