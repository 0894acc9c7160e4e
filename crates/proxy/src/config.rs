//! How the data plane runs a compiled configuration.

use std::sync::Arc;

use arc_swap::ArcSwap;
use ringway_policy::Policies;
use ringway_telemetry::metrics::MetricsHub;
use ringway_telemetry::queue::Producer;

/// Where workers send what they observe.
#[derive(Debug)]
pub struct TelemetryHooks {
    /// One record queue per worker (index = worker), or `None` when logs are off.
    pub queues: Option<Vec<Producer>>,
    /// Receives each worker's metrics snapshot once per second; `/metrics` renders it.
    pub hub: Arc<MetricsHub>,
}

/// Process-level options that are not part of the gateway configuration file.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Worker threads (one monoio runtime each).
    pub workers: usize,
    /// Pin worker *i* to the *i*-th CPU this process may run on.
    pub pin_workers: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_workers: true,
        }
    }
}

/// What the caller built from the configuration for the workers to share: the policies, per
/// listener the TLS configuration (whose certificates may be swapped while running), per
/// upstream group the TLS client configuration.
#[derive(Debug, Clone)]
pub struct Services {
    /// IP filters, credentials and rate limits (each core takes its own shard).
    pub policies: Arc<Policies>,
    /// One entry per listener, in configuration order: `Some` for a TLS listener; read at
    /// every handshake (a reload swaps it).
    pub tls: Vec<Option<Arc<ArcSwap<rustls::ServerConfig>>>>,
    /// One entry per upstream group, in configuration order: `Some` for a group spoken to
    /// over TLS (each core takes a copy with its own session cache).
    pub upstream_tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    /// Upstream health and circuit breakers, shared by every core and the health thread
    /// ([`crate::Resilience::new`] for the same configuration and worker count).
    pub resilience: Arc<crate::Resilience>,
}
