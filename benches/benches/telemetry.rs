//! Telemetry benches: the per-request cost of telemetry on a core, and the once-a-second work.
//!
//! * `telemetry_queue`: a core pushes 256 records onto its queue (`push`: the pushes alone, the
//!   data plane's share, drained outside the timing), or pushes them and analytics drains them
//!   into a reused batch (`push_drain`: one push and one pop per record). Compared with a naive
//!   bounded queue (`Mutex<VecDeque>`) and std's bounded channel (`sync_channel` with
//!   `try_send`). Single-threaded, so the mutex is never contended here; on the gateway it
//!   would be, by the analytics thread draining. `push_full` is the drop path: pushes onto a
//!   full queue, each dropped and counted.
//! * `telemetry_record`: [`CoreMetrics::record`] over 1,024 realistic records spread over 10
//!   routes and 3 upstream groups. Compared with a naive registry keyed by owned label strings
//!   (a `HashMap<(String, String, &str), u64>` for requests and bytes and a fixed-bucket
//!   histogram found by linear scan, as a label-value metrics registry does per request).
//! * `telemetry_scrape`: what happens once a second per core ([`CoreMetrics::snapshot`],
//!   [`CoreMetrics::snapshot_into`]) and per scrape ([`MetricsHub::render_prometheus`], two
//!   cores, 10 routes).
//!
//! Records, metrics and queues are built outside the timed closures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "the naive Mutex baselines the benches measure against"
)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ringway_telemetry::metrics::{
    CoreMetrics, ExtraGauges, MetricNames, MetricsHub, StatusClass, LATENCY_BUCKETS,
};
use ringway_telemetry::queue;
use ringway_telemetry::record::{Inline, Method, Outcome, RequestRecord, NONE};

/// Records per queue batch.
const QUEUE_BATCH: usize = 256;
/// Records per metrics batch.
const RECORD_BATCH: usize = 1_024;
/// Routes on the one listener.
const ROUTES: usize = 10;
/// Upstream groups.
const UPSTREAMS: usize = 3;

/// One listener with [`ROUTES`] routes and [`UPSTREAMS`] upstream groups.
fn names() -> MetricNames {
    MetricNames {
        listeners: vec!["public".into()],
        routes: vec![(0..ROUTES).map(|i| format!("route-{i}")).collect()],
        upstreams: (0..UPSTREAMS).map(|i| format!("svc-{i}")).collect(),
    }
}

/// `n` realistic records: routes round-robin (every 16th unmatched), mostly 2xx, latencies
/// from ~100 µs to ~100 ms, inline strings filled.
fn records(n: usize) -> Vec<RequestRecord> {
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let x = rng.u64(..);
            let route = if i % 16 == 15 {
                NONE
            } else {
                (i % ROUTES) as u16
            };
            let status = match x % 100 {
                0..=89 => 200,
                90..=94 => 304,
                95..=97 => 404,
                _ => 503,
            };
            let total_us = 100 + (x >> 40) as u32 % 100_000;
            RequestRecord {
                ts_us: 1_715_678_467_000_000 + i as i64,
                core: 0,
                listener: 0,
                route,
                upstream: if route == NONE {
                    NONE
                } else {
                    route % UPSTREAMS as u16
                },
                endpoint: 0,
                method: Method::Get,
                http_version: 11,
                status,
                outcome: if route == NONE {
                    Outcome::NoRoute
                } else {
                    Outcome::Ok
                },
                total_us,
                upstream_us: total_us * 9 / 10,
                ttfb_us: total_us / 2,
                request_bytes: 420,
                response_bytes: 1_200 + (x >> 20) % 50_000,
                path: Inline::new(b"/api/v1/users/1234?verbose=1"),
                user_agent: Inline::new(b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101"),
                request_id: Inline::new(b"5b0c8a4e-7781-4c1e-9d7a-0c2f1e3b4a5d"),
                client_id: Inline::new(b"user-42"),
                client_ip: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7],
                ..RequestRecord::default()
            }
        })
        .collect()
}

/// Times `push` over one batch per iteration; `drain` empties the queue outside the timing.
fn time_pushes(
    iters: u64,
    recs: &[RequestRecord],
    mut push: impl FnMut(RequestRecord) -> bool,
    mut drain: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        for r in recs {
            black_box(push(*r));
        }
        total += start.elapsed();
        drain();
    }
    total
}

fn bench_queue(c: &mut Criterion) {
    let recs = records(QUEUE_BATCH);
    let mut group = c.benchmark_group("telemetry_queue");
    group.throughput(Throughput::Elements(QUEUE_BATCH as u64));

    let (tx, rx) = queue::channel(4 * QUEUE_BATCH);
    let naive = Mutex::new(VecDeque::with_capacity(4 * QUEUE_BATCH));
    let naive_push = |r: RequestRecord| {
        let mut q = naive.lock().unwrap();
        let room = q.len() < 4 * QUEUE_BATCH;
        if room {
            q.push_back(r);
        }
        room
    };
    let (stx, srx) = sync_channel(4 * QUEUE_BATCH);
    let mut batch = Vec::with_capacity(QUEUE_BATCH);

    // The data plane's share: pushes only.
    group.bench_function(BenchmarkId::new("ringway", "push"), |b| {
        b.iter_custom(|iters| {
            time_pushes(
                iters,
                &recs,
                |r| tx.push(r),
                || {
                    batch.clear();
                    rx.drain(&mut batch, QUEUE_BATCH);
                },
            )
        })
    });
    group.bench_function(BenchmarkId::new("naive_mutex_vecdeque", "push"), |b| {
        b.iter_custom(|iters| {
            time_pushes(iters, &recs, naive_push, || naive.lock().unwrap().clear())
        })
    });
    group.bench_function(BenchmarkId::new("std_sync_channel", "push"), |b| {
        b.iter_custom(|iters| {
            time_pushes(
                iters,
                &recs,
                |r| stx.try_send(r).is_ok(),
                || srx.try_iter().for_each(drop),
            )
        })
    });

    // Both ends: pushes, then a drain into a reused batch.
    group.bench_function(BenchmarkId::new("ringway", "push_drain"), |b| {
        b.iter(|| {
            for r in &recs {
                black_box(tx.push(*r));
            }
            batch.clear();
            black_box(rx.drain(&mut batch, QUEUE_BATCH))
        })
    });
    group.bench_function(
        BenchmarkId::new("naive_mutex_vecdeque", "push_drain"),
        |b| {
            b.iter(|| {
                for r in &recs {
                    black_box(naive_push(*r));
                }
                batch.clear();
                batch.extend(naive.lock().unwrap().drain(..));
                black_box(batch.len())
            })
        },
    );
    group.bench_function(BenchmarkId::new("std_sync_channel", "push_drain"), |b| {
        b.iter(|| {
            for r in &recs {
                black_box(stx.try_send(*r).is_ok());
            }
            batch.clear();
            batch.extend(srx.try_iter().take(QUEUE_BATCH));
            black_box(batch.len())
        })
    });

    // The drop path: every push meets a full queue.
    let (full_tx, _full_rx) = queue::channel(QUEUE_BATCH);
    for r in &recs {
        full_tx.push(*r);
    }
    group.bench_function(BenchmarkId::new("ringway", "push_full"), |b| {
        b.iter(|| {
            for r in &recs {
                black_box(full_tx.push(*r));
            }
        })
    });
    group.finish();
}

/// A label-value registry as a naive gateway would keep it: owned label strings per request.
#[derive(Default)]
struct NaiveRegistry {
    requests: HashMap<(String, String, &'static str), u64>,
    bytes: HashMap<(String, String), (u64, u64)>,
    latency: HashMap<(String, String), ([u64; LATENCY_BUCKETS.len() + 1], u64)>,
}

impl NaiveRegistry {
    fn record(&mut self, names: &MetricNames, r: &RequestRecord) {
        let listener = names.listeners[r.listener as usize].clone();
        let route = names.routes[r.listener as usize]
            .get(r.route as usize)
            .cloned()
            .unwrap_or_default();
        let class = StatusClass::from_status(r.status).as_str();
        *self
            .requests
            .entry((listener.clone(), route.clone(), class))
            .or_default() += 1;
        let bytes = self
            .bytes
            .entry((listener.clone(), route.clone()))
            .or_default();
        bytes.0 += r.request_bytes;
        bytes.1 += r.response_bytes;
        let (buckets, sum) = self.latency.entry((listener, route)).or_default();
        let us = u64::from(r.total_us);
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&(le, _)| us <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        buckets[i] += 1;
        *sum += us;
    }
}

fn bench_record(c: &mut Criterion) {
    let names = names();
    let recs = records(RECORD_BATCH);
    let mut group = c.benchmark_group("telemetry_record");
    group.throughput(Throughput::Elements(RECORD_BATCH as u64));

    let mut metrics = CoreMetrics::new(&names);
    group.bench_function(BenchmarkId::new("ringway", "10_routes"), |b| {
        b.iter(|| {
            for r in &recs {
                metrics.record(black_box(r));
            }
        })
    });

    let mut naive = NaiveRegistry::default();
    group.bench_function(BenchmarkId::new("naive_label_strings", "10_routes"), |b| {
        b.iter(|| {
            for r in &recs {
                naive.record(&names, black_box(r));
            }
        })
    });
    group.finish();
}

fn bench_scrape(c: &mut Criterion) {
    let names = names();
    let recs = records(RECORD_BATCH);
    let mut cores: Vec<CoreMetrics> = (0..2).map(|_| CoreMetrics::new(&names)).collect();
    for (i, r) in recs.iter().enumerate() {
        cores[i % 2].record(r);
    }
    let hub = MetricsHub::new(names.clone(), 2);
    for (i, m) in cores.iter().enumerate() {
        hub.publish(i, m.snapshot());
    }

    let mut group = c.benchmark_group("telemetry_scrape");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("snapshot", "10_routes"), |b| {
        b.iter(|| black_box(cores[0].snapshot()))
    });
    let mut reused = cores[0].snapshot();
    group.bench_function(BenchmarkId::new("snapshot_into", "10_routes"), |b| {
        b.iter(|| cores[0].snapshot_into(black_box(&mut reused)))
    });
    let extra = ExtraGauges::default();
    group.bench_function(BenchmarkId::new("render", "2_cores_10_routes"), |b| {
        b.iter(|| black_box(hub.render_prometheus(&extra).len()))
    });
    group.finish();
}

/// Runs every group with this file's defaults; command-line flags (`--quick`, filters, times)
/// override them, as with `criterion_main!`.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_queue(&mut c);
    bench_record(&mut c);
    bench_scrape(&mut c);
    c.final_summary();
}
