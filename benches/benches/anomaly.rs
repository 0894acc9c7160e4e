//! The live anomaly detectors' cost on the analytics thread.
//!
//! * `analytics_thread/parquet` and `/parquet+detectors`: what the analytics thread does per
//!   record — push 200,000 [`Synth`] records into a zstd sink and close it — without and with
//!   the detectors ([`Live::observe`] per record, [`Live::advance`] and a snapshot after
//!   every 4,096 records, as the thread does after each drain). Timed by the thread's CPU
//!   time (`/proc/thread-self/schedstat`, wall time where missing): the capacity of one core.
//!   The throughputs are the records per second the thread can keep up with.
//! * `detectors/observe`: the detectors alone on the same records.
//!
//! The records are 10 ms apart (2,000 s, 200 buckets: the judging is in the timing too).
//! Records are generated outside the timing; each iteration writes into a new directory that
//! is removed after the clock stops.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::fs;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use ringway_analytics::anomaly::{Config, Live};
use ringway_analytics::synth::Synth;
use ringway_analytics::{ParquetSink, SinkConfig};
use ringway_telemetry::record::RequestRecord;

const RECORDS: usize = 200_000;
const T0_US: i64 = 1_795_845_600_000_000;
/// Records between two `advance` calls (the thread's drain batch).
const DRAIN: usize = 4096;

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

/// What the analytics thread does with `records`, with or without the detectors.
fn run(dir: &std::path::Path, records: &[RequestRecord], detect: bool) {
    let now = UNIX_EPOCH + Duration::from_micros(T0_US as u64);
    let mut sink = ParquetSink::new(SinkConfig::new(dir), Synth::names()).unwrap();
    let mut live = detect.then(|| Live::new(Config::default(), Synth::names()));
    for chunk in records.chunks(DRAIN) {
        for r in chunk {
            sink.push(black_box(r), now).unwrap();
            if let Some(l) = &mut live {
                l.observe(r);
            }
        }
        if let (Some(l), Some(last)) = (&mut live, chunk.last()) {
            let (ended, judged) = l.advance(last.ts_us);
            black_box(ended);
            if judged {
                black_box(l.snapshot());
            }
        }
    }
    black_box(sink.close().unwrap());
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
    // 10 ms apart: 2,000 s of traffic, so 200 buckets close and all but the warm-up's are
    // judged.
    let records: Vec<RequestRecord> = Synth::new(1, T0_US)
        .take(RECORDS)
        .enumerate()
        .map(|(i, mut r)| {
            r.ts_us = T0_US + i as i64 * 10_000;
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
                let t = cpu_timed(iters, |i| run(&dirs[i as usize], &records, detect));
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
                let mut l = Live::new(Config::default(), Synth::names());
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
