//! Ringway telemetry: what the data plane records per request and how it leaves the core.
//!
//! * [`record`]: the fixed-size, `Copy` [`RequestRecord`](record::RequestRecord).
//! * [`queue`]: one bounded lock-free queue per core ([`queue::channel`]); a full queue drops
//!   the record and counts the drop, the data plane never blocks or allocates.
//! * [`metrics`]: per-core counters and HDR latency histograms ([`metrics::CoreMetrics`]),
//!   published once a second to a shared [`metrics::MetricsHub`] that merges the cores and
//!   renders Prometheus text for `/metrics`.
//!
//! Pure: no I/O, no runtime. The data plane owns a `Producer` and a `CoreMetrics` per core;
//! analytics owns the `Consumer`s; the admin listener renders the hub.
//!
//! ```
//! use ringway_telemetry::metrics::{CoreMetrics, ExtraGauges, MetricNames, MetricsHub};
//! use ringway_telemetry::queue;
//! use ringway_telemetry::record::RequestRecord;
//!
//! let names = MetricNames {
//!     listeners: vec!["public".into()],
//!     routes: vec![vec!["users".into()]],
//!     upstreams: vec!["users-svc".into()],
//! };
//! let hub = MetricsHub::new(names.clone(), 1);
//!
//! // On core 0.
//! let (tx, rx) = queue::channel(1024);
//! let mut metrics = CoreMetrics::new(&names);
//! let rec = RequestRecord { status: 200, total_us: 1_500, ..RequestRecord::default() };
//! metrics.record(&rec);
//! assert!(tx.push(rec));
//! // Once a second.
//! metrics.set_telemetry_dropped(tx.dropped());
//! let _spare = hub.publish(0, metrics.snapshot());
//!
//! // On the analytics thread.
//! let mut batch = Vec::with_capacity(1024);
//! assert_eq!(rx.drain(&mut batch, 1024), 1);
//!
//! // On scrape.
//! let text = hub.render_prometheus(&ExtraGauges::default());
//! assert!(text.contains(
//!     "ringway_requests_total{listener=\"public\",route=\"users\",status_class=\"2xx\"} 1\n"
//! ));
//! ```

pub mod metrics;
pub mod queue;
pub mod record;
