//! Per-core counters: plain `Cell`s owned by the worker, summed across workers at the end.

use std::cell::Cell;

/// Counters of one worker.
#[derive(Debug, Default)]
pub(crate) struct CoreStats {
    pub connections: Cell<u64>,
    pub requests: Cell<u64>,
    pub errors: Cell<u64>,
    pub upstream_connects: Cell<u64>,
    pub upstream_reuses: Cell<u64>,
    pub retries: Cell<u64>,
    pub tls_handshakes: Cell<u64>,
    pub tls_handshake_failures: Cell<u64>,
    pub connections_refused: Cell<u64>,
}

pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl CoreStats {
    pub(crate) fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            connections: self.connections.get(),
            requests: self.requests.get(),
            errors: self.errors.get(),
            upstream_connects: self.upstream_connects.get(),
            upstream_reuses: self.upstream_reuses.get(),
            retries: self.retries.get(),
            tls_handshakes: self.tls_handshakes.get(),
            tls_handshake_failures: self.tls_handshake_failures.get(),
            connections_refused: self.connections_refused.get(),
        }
    }
}

/// What one worker (or all, summed) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Requests whose head was parsed.
    pub requests: u64,
    /// Requests answered with a gateway-generated error.
    pub errors: u64,
    /// New upstream connections opened.
    pub upstream_connects: u64,
    /// Upstream exchanges served on a pooled connection.
    pub upstream_reuses: u64,
    /// Requests sent again after a retryable upstream status.
    pub retries: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: u64,
    /// Connections closed at accept: the listener's per-core limit was reached.
    pub connections_refused: u64,
}

impl WorkerStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.connections += o.connections;
        self.requests += o.requests;
        self.errors += o.errors;
        self.upstream_connects += o.upstream_connects;
        self.upstream_reuses += o.upstream_reuses;
        self.retries += o.retries;
        self.tls_handshakes += o.tls_handshakes;
        self.tls_handshake_failures += o.tls_handshake_failures;
        self.connections_refused += o.connections_refused;
    }

    /// Share of upstream exchanges that reused a pooled connection.
    pub fn reuse_ratio(&self) -> f64 {
        let total = self.upstream_connects + self.upstream_reuses;
        if total == 0 {
            0.0
        } else {
            self.upstream_reuses as f64 / total as f64
        }
    }
}
