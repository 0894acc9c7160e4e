//! Per-core request metrics, merged across cores on scrape.
//!
//! * [`CoreMetrics`] is owned by one core and updated with `&mut self` — plain integers and
//!   preallocated HDR histograms, no atomics, no allocation per record.
//! * Once per second the core takes a [`CoreSnapshot`] (cumulative since start) and publishes
//!   it to the shared [`MetricsHub`].
//! * On scrape the hub merges every core's latest snapshot (counters summed, histograms added)
//!   and renders the Prometheus text exposition format ([`render_prometheus`]).
//!
//! Listeners, routes and upstream groups are indices into [`MetricNames`], the name tables the
//! data plane builds from its configuration. A record whose route is [`NONE`] (or out of range)
//! is counted under its listener with `route=""` ([`NO_ROUTE_LABEL`]); a record whose listener is
//! out of range is counted under `listener="",route=""`.

mod hub;
mod prometheus;
mod registry;

use std::fmt;
use std::mem::size_of;
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::record::{Outcome, RequestRecord, NONE};

pub use hub::MetricsHub;
pub use prometheus::{
    escape_label_value, name, render_prometheus, write_family, write_sample, ExtraGauges, Kind,
    LATENCY_BUCKETS, NO_ROUTE_LABEL, QUANTILES,
};
pub use registry::{Labels, Registry, Shape, TableFull};

/// Smallest latency the histograms tell apart, microseconds.
pub const LATENCY_LOW_US: u64 = 1;
/// Largest latency the histograms track, microseconds (60 s); longer ones are clamped to it.
/// The exact sum (`_sum`) is kept separately and is not clamped.
pub const LATENCY_HIGH_US: u64 = 60_000_000;
/// Significant decimal digits kept by the latency histograms: 2 means quantiles and bucket
/// edges are exact to within 1% of the value. Each histogram takes
/// [`LATENCY_HISTOGRAM_BYTES`] (3 digits would take 136 KiB).
pub const LATENCY_SIGFIG: u8 = 2;
/// Memory of one latency histogram's counts with the settings above: 2,560 `u64` counters.
pub const LATENCY_HISTOGRAM_BYTES: usize = 2_560 * size_of::<u64>();

/// The index-to-name tables: what the label values of each index are.
///
/// Built by the data plane from its configuration; every core's [`CoreMetrics`] and the
/// [`MetricsHub`] must be built from equal tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricNames {
    /// Listener names, by listener index.
    pub listeners: Vec<String>,
    /// Route names per listener: `routes[listener][route]`. A missing entry means no routes.
    pub routes: Vec<Vec<String>>,
    /// Upstream group names, by upstream index.
    pub upstreams: Vec<String>,
}

impl MetricNames {
    /// Route names of `listener` (empty if out of range).
    fn routes_of(&self, listener: usize) -> &[String] {
        self.routes.get(listener).map_or(&[], Vec::as_slice)
    }
}

/// The class of a response status, a label of `ringway_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StatusClass {
    /// No response was sent (status 0), or a status outside 100..=599.
    None,
    /// 1xx.
    Informational,
    /// 2xx.
    Success,
    /// 3xx.
    Redirection,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
}

impl StatusClass {
    /// Number of classes.
    pub const COUNT: usize = 6;

    /// Every class, in label order: `StatusClass::ALL[c as usize] == c`.
    pub const ALL: [StatusClass; StatusClass::COUNT] = [
        Self::None,
        Self::Informational,
        Self::Success,
        Self::Redirection,
        Self::ClientError,
        Self::ServerError,
    ];

    /// Classifies a status code.
    #[inline]
    pub fn from_status(status: u16) -> Self {
        match status {
            100..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::None,
        }
    }

    /// The label value: `none`, `1xx` .. `5xx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Informational => "1xx",
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }
}

/// Where each (listener, route) is counted: one slot per route, one "no route" slot per
/// listener right after its routes, and a last slot for unknown listeners.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    /// Per listener: first slot and route count.
    listeners: Box<[(u32, u32)]>,
    /// Total slots, the unknown-listener slot (the last) included.
    slots: usize,
    /// Upstream groups.
    upstreams: usize,
}

impl Layout {
    fn new(names: &MetricNames) -> Self {
        let mut next = 0u32;
        let listeners = (0..names.listeners.len())
            .map(|l| {
                let n = names.routes_of(l).len() as u32;
                let base = next;
                next += n + 1;
                (base, n)
            })
            .collect();
        Self {
            listeners,
            slots: next as usize + 1,
            upstreams: names.upstreams.len(),
        }
    }

    /// Whether every slot of `self` has a place in `newer`: each listener and group of
    /// `self` is in `newer` with at least as many routes (the registry only appends).
    fn fits_in(&self, newer: &Layout) -> bool {
        self.listeners.len() <= newer.listeners.len()
            && self.upstreams <= newer.upstreams
            && self
                .listeners
                .iter()
                .zip(newer.listeners.iter())
                .all(|(&(_, a), &(_, b))| a <= b)
    }

    /// The slot of (listener, route): route [`NONE`] or out of range goes to the listener's
    /// no-route slot, an unknown listener to the last slot.
    #[inline]
    fn slot(&self, listener: u16, route: u16) -> usize {
        match self.listeners.get(listener as usize) {
            Some(&(base, n)) => (base + u32::from(route).min(n)) as usize,
            None => self.slots - 1,
        }
    }
}

/// A latency distribution: an HDR histogram in microseconds and the exact sum.
#[derive(Clone)]
pub struct Latency {
    hist: Histogram<u64>,
    sum_us: u64,
}

impl Latency {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(LATENCY_LOW_US, LATENCY_HIGH_US, LATENCY_SIGFIG)
                .expect("constant histogram bounds are valid"),
            sum_us: 0,
        }
    }

    #[inline]
    fn record(&mut self, us: u32) {
        self.hist.saturating_record(u64::from(us));
        self.sum_us += u64::from(us);
    }

    fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let added = self.hist.add(&other.hist);
        debug_assert!(added.is_ok(), "{added:?}");
        self.sum_us += other.sum_us;
    }

    fn copy_from(&mut self, other: &Latency) {
        let set = self.hist.set_to(&other.hist);
        debug_assert!(set.is_ok(), "{set:?}");
        self.sum_us = other.sum_us;
    }

    fn reset(&mut self) {
        self.hist.reset();
        self.sum_us = 0;
    }

    /// The histogram, in microseconds (values clamped to 1 µs ..= 60 s).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Exact sum of the recorded latencies (not clamped), microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us
    }

    /// The latency at quantile `q` (0.0 ..= 1.0), microseconds, to within the histogram's
    /// precision; 0 if nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }

    /// Cumulative counts for the Prometheus buckets of [`LATENCY_BUCKETS`]: entry `i` counts
    /// the latencies `<=` bound `i`. A value is placed by the lowest value of its histogram
    /// bin, so a latency equal to a bound is always counted in that bound's bucket, and one up
    /// to a bin width (< 1%) above a bound may be counted too. The `+Inf` bucket is
    /// [`Latency::count`].
    pub fn cumulative_buckets(&self) -> [u64; LATENCY_BUCKETS.len()] {
        let mut counts = [0u64; LATENCY_BUCKETS.len()];
        for v in self.hist.iter_recorded() {
            let low = self.hist.lowest_equivalent(v.value_iterated_to());
            if let Some(i) = LATENCY_BUCKETS.iter().position(|&(le, _)| low <= le) {
                counts[i] += v.count_at_value();
            }
        }
        let mut running = 0;
        for c in &mut counts {
            running += *c;
            *c = running;
        }
        counts
    }

    fn heap_bytes(&self) -> usize {
        self.hist.distinct_values() * size_of::<u64>()
    }
}

impl fmt::Debug for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latency")
            .field("count", &self.count())
            .field("sum_us", &self.sum_us)
            .field("max_us", &self.hist.max())
            .finish()
    }
}

/// What is counted per (listener, route).
#[derive(Debug, Clone)]
pub struct RouteStats {
    requests: [u64; StatusClass::COUNT],
    request_bytes: u64,
    response_bytes: u64,
    latency: Latency,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            requests: [0; StatusClass::COUNT],
            request_bytes: 0,
            response_bytes: 0,
            latency: Latency::new(),
        }
    }

    fn merge(&mut self, other: &RouteStats) {
        for (a, b) in self.requests.iter_mut().zip(other.requests) {
            *a += b;
        }
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
        self.latency.merge(&other.latency);
    }

    fn copy_from(&mut self, other: &RouteStats) {
        self.requests = other.requests;
        self.request_bytes = other.request_bytes;
        self.response_bytes = other.response_bytes;
        self.latency.copy_from(&other.latency);
    }

    fn reset(&mut self) {
        self.requests = [0; StatusClass::COUNT];
        self.request_bytes = 0;
        self.response_bytes = 0;
        self.latency.reset();
    }

    /// Requests of one status class.
    pub fn requests(&self, class: StatusClass) -> u64 {
        self.requests[class as usize]
    }

    /// Requests of every status class.
    pub fn requests_total(&self) -> u64 {
        self.requests.iter().sum()
    }

    /// Bytes received from clients.
    pub fn request_bytes(&self) -> u64 {
        self.request_bytes
    }

    /// Bytes sent to clients.
    pub fn response_bytes(&self) -> u64 {
        self.response_bytes
    }

    /// Total latency (head complete to response complete) of every request.
    pub fn latency(&self) -> &Latency {
        &self.latency
    }
}

/// Returned when two snapshots were built from different [`MetricNames`] shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutMismatch;

impl fmt::Display for LayoutMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("metrics snapshots have different listener/route/upstream layouts")
    }
}

impl std::error::Error for LayoutMismatch {}

/// A core's metrics at one instant, cumulative since the core started; or the merge of
/// several cores' snapshots.
#[derive(Debug, Clone)]
pub struct CoreSnapshot {
    layout: Arc<Layout>,
    routes: Vec<RouteStats>,
    upstreams: Vec<Latency>,
    outcomes: [u64; Outcome::COUNT],
    active_connections: u64,
    upstream_connects: u64,
    upstream_reuses: u64,
    telemetry_dropped: u64,
    /// TLS handshakes completed and failed (or timed out).
    tls_handshakes: [u64; 2],
    /// Connections closed at accept: a listener's per-core limit was reached.
    connections_refused: u64,
    /// Aggregate requests and reshaped bodies, by [`Transformed`] index.
    transformed: [u64; Transformed::COUNT],
}

/// What became of an aggregate request, or of a body on a reshaping route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformed {
    /// An aggregate with every backend's part.
    AggregateComplete,
    /// An aggregate answered without some optional backend's part.
    AggregatePartial,
    /// An aggregate failed by a required backend.
    AggregateFailed,
    /// A body reshaped.
    ReshapeApplied,
    /// A body passed unchanged: not JSON (by type or content).
    ReshapeNotJson,
    /// A body passed unchanged: over the size limit, or of unknown length.
    ReshapeTooLarge,
}

impl Transformed {
    /// Every value, in index order.
    pub const ALL: [Transformed; 6] = [
        Transformed::AggregateComplete,
        Transformed::AggregatePartial,
        Transformed::AggregateFailed,
        Transformed::ReshapeApplied,
        Transformed::ReshapeNotJson,
        Transformed::ReshapeTooLarge,
    ];
    /// Number of values.
    pub const COUNT: usize = 6;

    /// The `result` label.
    pub fn result(self) -> &'static str {
        match self {
            Transformed::AggregateComplete => "complete",
            Transformed::AggregatePartial => "partial",
            Transformed::AggregateFailed => "failed",
            Transformed::ReshapeApplied => "applied",
            Transformed::ReshapeNotJson => "not_json",
            Transformed::ReshapeTooLarge => "too_large",
        }
    }

    /// Whether it counts an aggregate (else a reshaped body).
    pub fn is_aggregate(self) -> bool {
        (self as usize) < 3
    }
}

impl CoreSnapshot {
    /// An all-zero snapshot shaped for `names` (the identity of [`CoreSnapshot::merge`]).
    pub fn new(names: &MetricNames) -> Self {
        Self::with_layout(Arc::new(Layout::new(names)))
    }

    fn with_layout(layout: Arc<Layout>) -> Self {
        Self {
            routes: (0..layout.slots).map(|_| RouteStats::new()).collect(),
            upstreams: (0..layout.upstreams).map(|_| Latency::new()).collect(),
            layout,
            outcomes: [0; Outcome::COUNT],
            active_connections: 0,
            upstream_connects: 0,
            upstream_reuses: 0,
            telemetry_dropped: 0,
            tls_handshakes: [0; 2],
            connections_refused: 0,
            transformed: [0; Transformed::COUNT],
        }
    }

    fn same_layout(&self, other: &CoreSnapshot) -> bool {
        Arc::ptr_eq(&self.layout, &other.layout) || self.layout == other.layout
    }

    /// Adds `other` into `self`: counters and gauges are summed, histograms added.
    pub fn merge(&mut self, other: &CoreSnapshot) -> Result<(), LayoutMismatch> {
        if !self.same_layout(other) {
            return Err(LayoutMismatch);
        }
        for (a, b) in self.routes.iter_mut().zip(&other.routes) {
            a.merge(b);
        }
        for (a, b) in self.upstreams.iter_mut().zip(&other.upstreams) {
            a.merge(b);
        }
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        self.active_connections += other.active_connections;
        self.upstream_connects += other.upstream_connects;
        self.upstream_reuses += other.upstream_reuses;
        self.telemetry_dropped += other.telemetry_dropped;
        for (a, b) in self.tls_handshakes.iter_mut().zip(other.tls_handshakes) {
            *a += b;
        }
        self.connections_refused += other.connections_refused;
        for (a, b) in self.transformed.iter_mut().zip(other.transformed) {
            *a += b;
        }
        Ok(())
    }

    /// The same counts in `layout`, a layout `self`'s fits in (after a reload added names):
    /// each (listener, route) moves to its new slot. `None` if it does not fit.
    fn relayout(&self, layout: &Arc<Layout>) -> Option<CoreSnapshot> {
        if !self.layout.fits_in(layout) {
            return None;
        }
        let mut out = CoreSnapshot::with_layout(Arc::clone(layout));
        for (l, &(base, n)) in self.layout.listeners.iter().enumerate() {
            for r in 0..=n {
                // r == n is the listener's no-route slot.
                let to = if r == n { NONE } else { r as u16 };
                out.routes[layout.slot(l as u16, to)] = self.routes[(base + r) as usize].clone();
            }
        }
        out.routes[layout.slots - 1] = self.routes[self.layout.slots - 1].clone();
        out.upstreams[..self.upstreams.len()].clone_from_slice(&self.upstreams);
        out.outcomes = self.outcomes;
        out.active_connections = self.active_connections;
        out.upstream_connects = self.upstream_connects;
        out.upstream_reuses = self.upstream_reuses;
        out.telemetry_dropped = self.telemetry_dropped;
        out.tls_handshakes = self.tls_handshakes;
        out.connections_refused = self.connections_refused;
        out.transformed = self.transformed;
        Some(out)
    }

    /// Makes `self` equal to `other`, reusing `self`'s histograms when the layouts match.
    fn copy_from(&mut self, other: &CoreSnapshot) {
        if !self.same_layout(other) {
            *self = other.clone();
            return;
        }
        for (a, b) in self.routes.iter_mut().zip(&other.routes) {
            a.copy_from(b);
        }
        for (a, b) in self.upstreams.iter_mut().zip(&other.upstreams) {
            a.copy_from(b);
        }
        self.outcomes = other.outcomes;
        self.active_connections = other.active_connections;
        self.upstream_connects = other.upstream_connects;
        self.upstream_reuses = other.upstream_reuses;
        self.telemetry_dropped = other.telemetry_dropped;
        self.tls_handshakes = other.tls_handshakes;
        self.connections_refused = other.connections_refused;
        self.transformed = other.transformed;
    }

    /// Sets everything back to zero, keeping the allocations.
    pub fn reset(&mut self) {
        self.routes.iter_mut().for_each(RouteStats::reset);
        self.upstreams.iter_mut().for_each(Latency::reset);
        self.outcomes = [0; Outcome::COUNT];
        self.active_connections = 0;
        self.upstream_connects = 0;
        self.upstream_reuses = 0;
        self.telemetry_dropped = 0;
        self.tls_handshakes = [0; 2];
        self.connections_refused = 0;
        self.transformed = [0; Transformed::COUNT];
    }

    /// The stats of (listener, route) as [`CoreMetrics::record`] files them: route [`NONE`] or
    /// out of range gives the listener's no-route stats, an unknown listener the
    /// unknown-listener stats.
    pub fn route(&self, listener: u16, route: u16) -> &RouteStats {
        &self.routes[self.layout.slot(listener, route)]
    }

    /// The upstream latency of group `upstream`, if it exists.
    pub fn upstream(&self, upstream: u16) -> Option<&Latency> {
        self.upstreams.get(upstream as usize)
    }

    /// Requests that ended with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()]
    }

    /// Requests counted, all routes and classes.
    pub fn requests_total(&self) -> u64 {
        self.routes.iter().map(RouteStats::requests_total).sum()
    }

    /// Open client connections (summed when merged).
    pub fn active_connections(&self) -> u64 {
        self.active_connections
    }

    /// New upstream connections opened.
    pub fn upstream_connects(&self) -> u64 {
        self.upstream_connects
    }

    /// Requests sent on a reused upstream connection.
    pub fn upstream_reuses(&self) -> u64 {
        self.upstream_reuses
    }

    /// TLS handshakes with clients: (completed, failed or timed out).
    pub fn tls_handshakes(&self) -> (u64, u64) {
        (self.tls_handshakes[0], self.tls_handshakes[1])
    }

    /// Connections closed at accept by a listener's per-core limit.
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused
    }

    /// Aggregate requests or reshaped bodies that ended as `t`.
    pub fn transformed(&self, t: Transformed) -> u64 {
        self.transformed[t as usize]
    }

    /// Records the telemetry queue dropped.
    pub fn telemetry_dropped(&self) -> u64 {
        self.telemetry_dropped
    }

    /// Approximate memory held, in bytes: the struct, its tables and every histogram.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + size_of::<Layout>()
            + self.layout.listeners.len() * size_of::<(u32, u32)>()
            + self.routes.capacity() * size_of::<RouteStats>()
            + self.upstreams.capacity() * size_of::<Latency>()
            + self
                .routes
                .iter()
                .map(|r| r.latency.heap_bytes())
                .sum::<usize>()
            + self
                .upstreams
                .iter()
                .map(Latency::heap_bytes)
                .sum::<usize>()
    }
}

/// One core's metrics: plain counters and preallocated histograms, updated with `&mut self`.
///
/// [`CoreMetrics::record`] neither allocates nor touches shared memory. Memory is about
/// [`LATENCY_HISTOGRAM_BYTES`] (20 KiB) per route, per listener (no-route slot), per upstream
/// group and one more (unknown listener); see [`CoreMetrics::memory_bytes`].
#[derive(Debug, Clone)]
pub struct CoreMetrics {
    data: CoreSnapshot,
}

impl CoreMetrics {
    /// Zeroed metrics sized for `names`.
    pub fn new(names: &MetricNames) -> Self {
        Self {
            data: CoreSnapshot::new(names),
        }
    }

    /// Counts one finished request: requests by (listener, route) and status class, outcome,
    /// request and response bytes, total latency per route and, when the record has an upstream
    /// group and a non-zero `upstream_us`, upstream latency per group.
    #[inline]
    pub fn record(&mut self, rec: &RequestRecord) {
        let d = &mut self.data;
        let slot = d.layout.slot(rec.listener, rec.route);
        let r = &mut d.routes[slot];
        r.requests[StatusClass::from_status(rec.status) as usize] += 1;
        r.request_bytes += rec.request_bytes;
        r.response_bytes += rec.response_bytes;
        r.latency.record(rec.total_us);
        d.outcomes[rec.outcome.index()] += 1;
        if rec.upstream != NONE && rec.upstream_us > 0 {
            if let Some(u) = d.upstreams.get_mut(rec.upstream as usize) {
                u.record(rec.upstream_us);
            }
        }
    }

    /// Moves the counts so far to the layout of `names`, a superset of the names these
    /// metrics were built from (a [`Registry`] after a reload). Returns false, changing
    /// nothing, when `names` lacks some of them.
    pub fn relayout(&mut self, names: &MetricNames) -> bool {
        let layout = Arc::new(Layout::new(names));
        if *layout == *self.data.layout {
            return true;
        }
        match self.data.relayout(&layout) {
            Some(moved) => {
                self.data = moved;
                true
            }
            None => false,
        }
    }

    /// Sets the number of open client connections on this core.
    pub fn set_active_connections(&mut self, n: u64) {
        self.data.active_connections = n;
    }

    /// Counts an aggregate request or a body on a reshaping route.
    pub fn add_transformed(&mut self, t: Transformed) {
        self.data.transformed[t as usize] += 1;
    }

    /// Files a sub-request's upstream latency (an aggregate's: the client request is counted
    /// once, by [`CoreMetrics::record`]).
    pub fn record_upstream(&mut self, rec: &RequestRecord) {
        if rec.upstream_us > 0 {
            if let Some(u) = self.data.upstreams.get_mut(rec.upstream as usize) {
                u.record(rec.upstream_us);
            }
        }
    }

    /// Adds `n` newly opened upstream connections.
    pub fn add_upstream_connects(&mut self, n: u64) {
        self.data.upstream_connects += n;
    }

    /// Adds `n` requests sent on reused (pooled) upstream connections.
    pub fn add_upstream_reuses(&mut self, n: u64) {
        self.data.upstream_reuses += n;
    }

    /// Adds `n` connections closed at accept by a listener's per-core limit.
    pub fn add_connections_refused(&mut self, n: u64) {
        self.data.connections_refused += n;
    }

    /// Adds client TLS handshakes: `ok` completed, `failed` failed or timed out.
    pub fn add_tls_handshakes(&mut self, ok: u64, failed: u64) {
        self.data.tls_handshakes[0] += ok;
        self.data.tls_handshakes[1] += failed;
    }

    /// Sets the total records this core's telemetry queue dropped ([`crate::queue::Producer::dropped`]).
    pub fn set_telemetry_dropped(&mut self, n: u64) {
        self.data.telemetry_dropped = n;
    }

    /// The metrics so far, as a new snapshot (allocates; see [`CoreMetrics::snapshot_into`]).
    pub fn snapshot(&self) -> CoreSnapshot {
        self.data.clone()
    }

    /// Overwrites `out` with the metrics so far, reusing its histograms (no allocation when
    /// `out` came from these metrics or from equal [`MetricNames`]).
    pub fn snapshot_into(&self, out: &mut CoreSnapshot) {
        out.copy_from(&self.data);
    }

    /// The live counters, read-only.
    pub fn current(&self) -> &CoreSnapshot {
        &self.data
    }

    /// Approximate memory held, in bytes (see [`CoreSnapshot::memory_bytes`]).
    pub fn memory_bytes(&self) -> usize {
        self.data.memory_bytes()
    }
}

#[cfg(test)]
mod tests;
