//! Runtime configuration of the data plane (the checked shape; the YAML file shape comes later
//! and compiles into this).

use std::net::SocketAddr;
use std::time::Duration;

use crate::codec::HeadLimits;

/// Everything a worker needs to serve one listener.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Address to listen on; port 0 picks a free port (all workers share it).
    pub listen: SocketAddr,
    /// Upstream endpoints, balanced round robin.
    pub upstreams: Vec<SocketAddr>,
    /// Worker threads (one monoio runtime each).
    pub workers: usize,
    /// Request size limits.
    pub limits: Limits,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Upstream keep-alive pool.
    pub pool: PoolConfig,
    /// Extra endpoints to try after a connect failure (never after bytes were sent).
    pub connect_retries: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// Pin worker *i* to the *i*-th CPU this process may run on.
    pub pin_workers: bool,
}

impl ProxyConfig {
    /// A configuration with defaults for everything but the addresses.
    pub fn new(listen: SocketAddr, upstreams: Vec<SocketAddr>) -> Self {
        Self {
            listen,
            upstreams,
            workers: 1,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            pool: PoolConfig::default(),
            connect_retries: 2,
            drain_timeout: Duration::from_secs(15),
            pin_workers: true,
        }
    }
}

/// Request size limits, with the statuses they produce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request-target, request head and header count limits (414, 431).
    pub head: HeadLimits,
    /// Largest request body in bytes (413). Default 8 GiB: uploads are streamed, not buffered.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            head: HeadLimits::default(),
            max_body_bytes: 8 << 30,
        }
    }
}

/// Timeouts; each guards one wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Establishing an upstream TCP connection (then the next endpoint is tried).
    pub connect: Duration,
    /// Receiving a whole request head once its first byte arrived (slowloris guard; 408).
    pub client_header: Duration,
    /// Between two reads of a request body, and for each write to the client.
    pub client_body: Duration,
    /// Waiting for the upstream's response head after the request was sent (504), and between
    /// two reads of the response body.
    pub upstream_response: Duration,
    /// An idle client keep-alive connection is closed after this.
    pub client_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            client_header: Duration::from_secs(10),
            client_body: Duration::from_secs(60),
            upstream_response: Duration::from_secs(60),
            client_idle: Duration::from_secs(60),
        }
    }
}

/// Per-core upstream keep-alive pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Idle connections kept per endpoint per core.
    pub max_idle_per_endpoint: usize,
    /// Idle connections older than this are closed.
    pub idle_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_endpoint: 1024,
            idle_timeout: Duration::from_secs(55),
        }
    }
}
