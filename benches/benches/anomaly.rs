//! The live anomaly detectors' cost on the analytics thread.
//!
//! * `analytics_thread/parquet` and `/parquet+detectors`: what the analytics thread does per
//!   record — push 200,000 [`Synth`] records into a zstd sink and close it — without and with
//!   handing each record to the detectors' thread through its queue (which observes, judges
//!   and snapshots there, as in the gateway). Timed by the analytics thread's CPU time
//!   (`/proc/thread-self/schedstat`, wall time where missing): the capacity of one core.
//!   The throughputs are the records per second the thread can keep up with; records the
//!   detectors' queue dropped (it never blocks) are printed.
//! * `detectors/observe`: the detectors alone on the same records.
//!
//! The records are 1 ms apart (200 s, 20 buckets; the detectors warm up for 5 of them and
//! judge the rest: the judging is in the timing too).
//! Records are generated outside the timing; each iteration writes into a new directory that
//! is removed after the clock stops.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::fs;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use ringway_analytics::anomaly::{Config, Live};
use ringway_analytics::synth::Synth;
use ringway_analytics::{ParquetSink, SinkConfig};
use ringway_telemetry::queue::channel;
use ringway_telemetry::record::RequestRecord;

const RECORDS: usize = 200_000;
const T0_US: i64 = 1_795_845_600_000_000;
/// Records drained at once (the gateway's batch).
const DRAIN: usize = 4096;
/// The detectors' queue (the gateway's).
const QUEUE: usize = 1 << 16;

/// The default detectors with a warm-up of 5 buckets, so the bench's 20 are judged.
fn detectors() -> Config {
    Config {
        warmup_buckets: 5,
        ..Config::default()
    }
}

fn thread_cpu() -> Option<Duration> {
    let s = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

fn scratch(tag: &str, i: u64) -> PathBuf {
    std::env::temp_dir().join(format!(
        "ringway-bench-anomaly-{}-{tag}-{i}",
        std::process::id()
    ))
}

/// What the analytics thread does with `records`: write them, and (with `detect`) hand each
/// to the detectors' thread through its queue, as the gateway does. That thread observes,
/// judges and snapshots as it drains; it is joined (outside the caller's CPU time: it is
/// another thread) before returning. Returns the records the queue dropped.
fn run(dir: &std::path::Path, records: &[RequestRecord], detect: bool) -> u64 {
    let now = UNIX_EPOCH + Duration::from_micros(T0_US as u64);
    let mut sink = ParquetSink::new(SinkConfig::new(dir), Synth::names()).unwrap();
    let (queue, rx) = channel(QUEUE);
    let done = Arc::new(AtomicBool::new(false));
    let detector = detect.then(|| {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut live = Live::new(detectors(), Synth::names());
            let mut batch = Vec::with_capacity(DRAIN);
            loop {
                let stopping = done.load(Ordering::Acquire);
                let mut newest = None;
                while rx.drain(&mut batch, DRAIN) > 0 {
                    for r in batch.drain(..) {
                        newest = Some(r.ts_us);
                        live.observe(&r);
                    }
                }
                // The gateway advances to the wall clock; the bench's clock is the records'.
                if let Some(now) = newest {
                    let (ended, judged) = live.advance(now);
                    black_box(ended);
                    if judged {
                        black_box(live.snapshot());
                    }
                }
                if stopping {
                    black_box(live.finish());
                    return rx.dropped();
                }
                std::thread::yield_now();
            }
        })
    });
    for r in records {
        sink.push(black_box(r), now).unwrap();
        if detect {
            queue.push(*r);
        }
    }
    black_box(sink.close().unwrap());
    done.store(true, Ordering::Release);
    detector.map_or(0, |t| t.join().unwrap())
}

fn cpu_timed(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let (cpu, wall) = (thread_cpu(), Instant::now());
        f(i);
        total += match (cpu, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall.elapsed(),
        };
    }
    total
}

fn bench(c: &mut Criterion) {
    // 1 ms apart (1,000 requests a second: a quiet gateway; busier ones fill a bucket with
    // more records for the same judging): 200 s, 20 buckets, judged after a warm-up of 5.
    let records: Vec<RequestRecord> = Synth::new(1, T0_US)
        .take(RECORDS)
        .enumerate()
        .map(|(i, mut r)| {
            r.ts_us = T0_US + i as i64 * 1_000;
            r
        })
        .collect();
    let mut group = c.benchmark_group("analytics_thread");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    for (name, detect) in [("parquet", false), ("parquet+detectors", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let dirs: Vec<PathBuf> = (0..iters).map(|i| scratch(name, i)).collect();
                let mut dropped = 0;
                let t = cpu_timed(iters, |i| {
                    dropped += run(&dirs[i as usize], &records, detect)
                });
                if dropped > 0 {
                    println!("{name}: the detectors' queue dropped {dropped} records");
                }
                for d in &dirs {
                    let _ = fs::remove_dir_all(d);
                }
                t
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("detectors");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.bench_function("observe", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, |_| {
                let mut l = Live::new(detectors(), Synth::names());
                for chunk in records.chunks(DRAIN) {
                    for r in chunk {
                        l.observe(black_box(r));
                    }
                    if let Some(last) = chunk.last() {
                        black_box(l.advance(last.ts_us));
                    }
                }
                black_box(l.finish());
            })
        })
    });
    group.finish();
}

/// Runs the benches (a documented `main` instead of `criterion_main!`, for `missing_docs`).
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
