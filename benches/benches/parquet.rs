//! Parquet log writing: [`ParquetSink`] throughput on one core, with a realistic record mix.
//!
//! * `parquet_write/zstd3` (the default configuration), `/snappy` and `/uncompressed`: push
//!   200,000 records from [`Synth`] (one listener's worth of routes, a few hundred clients,
//!   gateway request ids, timestamps ~1 ms apart) into a fresh sink and close it — batches,
//!   encoding, compression, the footer, `fsync` and the rename all inside the timing.
//! * The naive baseline, `parquet_write/jsonl_baseline`: the same records as one JSON object
//!   per line through `write!` into a `BufWriter<File>` — what an access log usually is. It
//!   resolves the same names and formats the same address text; no escaping.
//!
//! * `parquet_write_cpu/zstd3`: the default configuration again, timed by the writing
//!   thread's CPU time (`/proc/thread-self/schedstat`; wall time where that is missing)
//!   instead of the wall clock: the capacity of one core, which a shared, noisy machine does
//!   not disturb as much (time spent runnable but not running, or waiting for `fsync`, is not
//!   counted; the syscalls' own CPU time is).
//!
//! Records are generated and the names table built outside the timing; each iteration writes
//! into a new directory that is removed after the clock stops. Bytes per record on disk are
//! printed for each variant before measuring.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use ringway_analytics::schema::{status_class, write_client_ip, Names};
use ringway_analytics::synth::Synth;
use ringway_analytics::{Compression, ParquetSink, SinkConfig};
use ringway_telemetry::record::{RequestRecord, NONE};

/// Records per iteration.
const RECORDS: usize = 200_000;

/// 2026-11-28T06:00:00Z: the records' first timestamp, and the sink's clock.
const T0_US: i64 = 1_795_845_600_000_000;

/// A scratch directory for one iteration.
fn scratch(tag: &str, i: u64) -> PathBuf {
    std::env::temp_dir().join(format!(
        "ringway-bench-parquet-{}-{tag}-{i}",
        std::process::id()
    ))
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            total += dir_bytes(&e.path());
        } else {
            total += e.metadata().unwrap().len();
        }
    }
    total
}

/// CPU time of the calling thread so far, if the kernel reports it.
fn thread_cpu() -> Option<Duration> {
    let s = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Writes the records with a sink and closes it.
fn write_parquet(dir: &Path, records: &[RequestRecord], names: &Names, c: Compression) {
    let cfg = SinkConfig {
        compression: c,
        ..SinkConfig::new(dir)
    };
    let now = UNIX_EPOCH + Duration::from_micros(T0_US as u64);
    let mut sink = ParquetSink::new(cfg, names.clone()).unwrap();
    for r in records {
        sink.push(black_box(r), now).unwrap();
    }
    black_box(sink.close().unwrap());
}

/// The name at `i` of `t`, empty for [`NONE`].
fn opt(t: &[String], i: u16) -> &str {
    if i == NONE {
        ""
    } else {
        t[usize::from(i)].as_str()
    }
}

/// The naive baseline: JSON lines with `write!`.
fn write_jsonl(dir: &Path, records: &[RequestRecord], names: &Names) {
    fs::create_dir_all(dir).unwrap();
    let mut w = BufWriter::new(File::create(dir.join("access.log")).unwrap());
    let mut ip = String::new();
    for r in records {
        let r = black_box(r);
        ip.clear();
        write_client_ip(&mut ip, &r.client_ip);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        writeln!(
            w,
            "{{\"ts\":{},\"core\":{},\"listener\":\"{}\",\"route\":\"{}\",\"upstream\":\"{}\",\
             \"endpoint\":\"{}\",\"method\":\"{}\",\"http_version\":{},\"status\":{},\
             \"status_class\":\"{}\",\"outcome\":\"{}\",\"cache\":\"{}\",\"retries\":{},\
             \"total_us\":{},\"upstream_us\":{},\"ttfb_us\":{},\"request_bytes\":{},\
             \"response_bytes\":{},\"client_ip\":\"{}\",\"client_id\":\"{}\",\
             \"request_id\":\"{}\",\"path\":\"{}\",\"user_agent\":\"{}\"}}",
            r.ts_us,
            r.core,
            opt(&names.listeners, r.listener),
            if r.route == NONE {
                ""
            } else {
                opt(&names.routes[usize::from(r.listener)], r.route)
            },
            opt(&names.upstreams, r.upstream),
            if r.endpoint == NONE || r.upstream == NONE {
                ""
            } else {
                opt(&names.endpoints[usize::from(r.upstream)], r.endpoint)
            },
            r.method.as_str(),
            r.http_version,
            r.status,
            status_class(r.status).unwrap_or(""),
            r.outcome.as_str(),
            r.cache.as_str(),
            r.retries,
            r.total_us,
            r.upstream_us,
            r.ttfb_us,
            r.request_bytes,
            r.response_bytes,
            ip,
            text(r.client_id.as_bytes()),
            text(r.request_id.as_bytes()),
            text(r.path.as_bytes()),
            text(r.user_agent.as_bytes()),
        )
        .unwrap();
    }
    w.into_inner().unwrap().sync_all().unwrap();
}

/// One variant: a name and how to write a directory.
type Variant = (&'static str, Box<dyn Fn(&Path)>);

fn bench_write(c: &mut Criterion) {
    let names = Synth::names();
    let records: Vec<RequestRecord> = Synth::new(1, T0_US).take(RECORDS).collect();
    let variants: Vec<Variant> = {
        let with = |comp: Compression| {
            let (records, names) = (records.clone(), names.clone());
            Box::new(move |dir: &Path| write_parquet(dir, &records, &names, comp))
                as Box<dyn Fn(&Path)>
        };
        let (records2, names2) = (records.clone(), names.clone());
        vec![
            ("zstd3", with(Compression::default())),
            ("snappy", with(Compression::Snappy)),
            ("uncompressed", with(Compression::None)),
            (
                "jsonl_baseline",
                Box::new(move |dir: &Path| write_jsonl(dir, &records2, &names2)),
            ),
        ]
    };

    // Sizes first, outside any timing.
    for (name, write) in &variants {
        let dir = scratch(name, u64::MAX);
        let _ = fs::remove_dir_all(&dir);
        write(&dir);
        let bytes = dir_bytes(&dir);
        println!(
            "parquet_write/{name}: {bytes} bytes for {RECORDS} records = {:.2} bytes/record",
            bytes as f64 / RECORDS as f64
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    let mut group = c.benchmark_group("parquet_write");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    for (name, write) in &variants {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let dir = scratch(name, i);
                    let _ = fs::remove_dir_all(&dir);
                    let start = Instant::now();
                    write(&dir);
                    total += start.elapsed();
                    fs::remove_dir_all(&dir).unwrap();
                }
                total
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parquet_write_cpu");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    let (name, write) = &variants[0];
    group.bench_function(*name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let dir = scratch(name, i);
                let _ = fs::remove_dir_all(&dir);
                let (cpu, wall) = (thread_cpu(), Instant::now());
                write(&dir);
                total += match (cpu, thread_cpu()) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => wall.elapsed(),
                };
                fs::remove_dir_all(&dir).unwrap();
            }
            total
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
    bench_write(&mut c);
    c.final_summary();
}
