//! ParquetSink: round trip through the Parquet Arrow reader, partitions, atomic renames,
//! rotation by hour, age and size.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use common::{all_files, at_us, read_batches, TempDir, T0_US};
use parquet::file::reader::{FileReader, SerializedFileReader};
use ringway_analytics::schema::{client_ip_text, status_class, Names};
use ringway_analytics::synth::Synth;
use ringway_analytics::{Compression, ParquetSink, SinkConfig, Stats, SCHEMA_VERSION};
use ringway_telemetry::record::{Inline, Method, Outcome, RequestRecord, NONE};

/// One row, as read back or as expected from a record.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    ts: i64,
    core: u16,
    listener: Option<String>,
    route: Option<String>,
    upstream: Option<String>,
    endpoint: Option<String>,
    method: Option<String>,
    http_version: u8,
    status: u16,
    status_class: Option<String>,
    outcome: Option<String>,
    cache: Option<String>,
    retries: u8,
    total_us: u32,
    upstream_us: Option<u32>,
    ttfb_us: Option<u32>,
    request_bytes: u64,
    response_bytes: u64,
    client_ip: Option<String>,
    client_id: Option<String>,
    request_id: Option<String>,
    path: Option<String>,
    user_agent: Option<String>,
}

fn name(table: &[String], i: u16) -> Option<String> {
    table.get(usize::from(i)).cloned()
}

fn expected(r: &RequestRecord, n: &Names) -> Row {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let opt_text = |b: &[u8]| (!b.is_empty()).then(|| text(b));
    let route = (r.route != NONE).then(|| {
        n.routes
            .get(usize::from(r.listener))
            .and_then(|t| name(t, r.route))
            .unwrap_or_else(|| format!("route#{}.{}", r.listener, r.route))
    });
    let endpoint = (r.endpoint != NONE).then(|| {
        n.endpoints
            .get(usize::from(r.upstream))
            .and_then(|t| name(t, r.endpoint))
            .unwrap_or_else(|| format!("endpoint#{}.{}", r.upstream, r.endpoint))
    });
    let has_upstream = r.upstream != NONE;
    Row {
        ts: r.ts_us,
        core: r.core,
        listener: Some(name(&n.listeners, r.listener).unwrap()),
        route,
        upstream: has_upstream.then(|| {
            name(&n.upstreams, r.upstream).unwrap_or_else(|| format!("upstream#{}", r.upstream))
        }),
        endpoint,
        method: Some(r.method.as_str().to_owned()),
        http_version: r.http_version,
        status: r.status,
        status_class: status_class(r.status).map(str::to_owned),
        outcome: Some(r.outcome.as_str().to_owned()),
        cache: Some(r.cache.as_str().to_owned()),
        retries: r.retries,
        total_us: r.total_us,
        upstream_us: has_upstream.then_some(r.upstream_us),
        ttfb_us: has_upstream.then_some(r.ttfb_us),
        request_bytes: r.request_bytes,
        response_bytes: r.response_bytes,
        client_ip: Some(client_ip_text(&r.client_ip)),
        client_id: opt_text(r.client_id.as_bytes()),
        request_id: Some(text(r.request_id.as_bytes())),
        path: Some(text(r.path.as_bytes())),
        user_agent: opt_text(r.user_agent.as_bytes()),
    }
}

/// Text at row `i` of a plain or dictionary string column.
fn text(b: &RecordBatch, col: &str, i: usize) -> Option<String> {
    let a = b.column_by_name(col).unwrap();
    if a.is_null(i) {
        return None;
    }
    if let Some(s) = a.as_string_opt::<i32>() {
        return Some(s.value(i).to_owned());
    }
    let d = a.as_any_dictionary();
    let k = d.normalized_keys()[i];
    Some(d.values().as_string::<i32>().value(k).to_owned())
}

fn opt_u32(b: &RecordBatch, col: &str, i: usize) -> Option<u32> {
    let a = b.column_by_name(col).unwrap().as_primitive::<UInt32Type>();
    a.is_valid(i).then(|| a.value(i))
}

fn read_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in batches {
        let p16 = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<UInt16Type>()
                .clone()
        };
        let p8 = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<UInt8Type>()
                .clone()
        };
        let p64 = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone()
        };
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let (core, status) = (p16("core"), p16("status"));
        let (hv, retries) = (p8("http_version"), p8("retries"));
        let (rq, rs) = (p64("request_bytes"), p64("response_bytes"));
        let total = b
            .column_by_name("total_us")
            .unwrap()
            .as_primitive::<UInt32Type>()
            .clone();
        for i in 0..b.num_rows() {
            rows.push(Row {
                ts: ts.value(i),
                core: core.value(i),
                listener: text(b, "listener", i),
                route: text(b, "route", i),
                upstream: text(b, "upstream", i),
                endpoint: text(b, "endpoint", i),
                method: text(b, "method", i),
                http_version: hv.value(i),
                status: status.value(i),
                status_class: text(b, "status_class", i),
                outcome: text(b, "outcome", i),
                cache: text(b, "cache", i),
                retries: retries.value(i),
                total_us: total.value(i),
                upstream_us: opt_u32(b, "upstream_us", i),
                ttfb_us: opt_u32(b, "ttfb_us", i),
                request_bytes: rq.value(i),
                response_bytes: rs.value(i),
                client_ip: text(b, "client_ip", i),
                client_id: text(b, "client_id", i),
                request_id: text(b, "request_id", i),
                path: text(b, "path", i),
                user_agent: text(b, "user_agent", i),
            });
        }
    }
    rows
}

/// Synthetic records around 07:00 with special cases mixed in.
fn records(n: usize, start_us: i64) -> Vec<RequestRecord> {
    let mut v: Vec<RequestRecord> = Synth::new(42, start_us).take(n).collect();
    for (i, r) in v.iter_mut().enumerate() {
        match i % 997 {
            1 => {
                // No route matched: no upstream, no endpoint.
                r.route = NONE;
                r.upstream = NONE;
                r.endpoint = NONE;
                r.status = 404;
                r.outcome = Outcome::NoRoute;
            }
            2 => {
                r.client_ip = "2001:db8::42"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
            }
            3 => r.path = Inline::new(b"/bad/\xff\xfe?x=1"),
            4 => r.route = 40, // not in the names table
            5 => {
                r.upstream = 9;
                r.endpoint = 2;
            }
            6 => {
                r.status = 0;
                r.outcome = Outcome::ClientAborted;
                r.method = Method::Other;
                r.client_id = Inline::default();
                r.user_agent = Inline::default();
            }
            _ => {}
        }
    }
    v
}

fn small_cfg(dir: &Path) -> SinkConfig {
    SinkConfig {
        batch_rows: 500,
        row_group_rows: 2000,
        ..SinkConfig::new(dir)
    }
}

#[test]
fn round_trip_across_two_hours() {
    let tmp = TempDir::new("roundtrip");
    let n = 6000;
    // Starts at 06:59:57; ~1 ms apart, so about half the records fall into hour 07.
    let recs = records(n, T0_US + 3597 * 1_000_000);
    assert!(recs[0].ts_us < T0_US + 3600 * 1_000_000);
    assert!(recs[n - 1].ts_us >= T0_US + 3600 * 1_000_000);
    let names = Synth::names();
    let mut sink = ParquetSink::new(small_cfg(tmp.path()), names.clone()).unwrap();
    let now = at_us(T0_US + 3600 * 1_000_000);
    for r in &recs {
        sink.push(r, now).unwrap();
    }
    // Before close: hour 06 is complete; hour 07 is still a hidden temporary.
    let ms = (T0_US + 3600 * 1_000_000) / 1000;
    assert_eq!(
        all_files(tmp.path()),
        [
            format!("dt=2026-11-28/hour=06/ringway-{ms}-0.parquet"),
            format!("dt=2026-11-28/hour=07/.ringway-{ms}-1.parquet.tmp"),
        ]
        .map(std::path::PathBuf::from)
    );
    let stats = sink.close().unwrap();

    let files = all_files(tmp.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        files[0],
        Path::new(&format!("dt=2026-11-28/hour=06/ringway-{ms}-0.parquet"))
    );
    assert_eq!(
        files[1],
        Path::new(&format!("dt=2026-11-28/hour=07/ringway-{ms}-1.parquet"))
    );
    let total_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(tmp.path().join(f)).unwrap().len())
        .sum();
    assert_eq!(
        stats,
        Stats {
            files_written: 2,
            rows_written: n as u64,
            bytes_written: total_bytes,
            rows_dropped: 0
        }
    );

    let mut rows = Vec::new();
    for f in &files {
        let path = tmp.path().join(f);
        // Metadata: schema version and writer.
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .clone();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(
            get("ringway.schema_version").as_deref(),
            Some(SCHEMA_VERSION)
        );
        assert_eq!(
            get("ringway.writer").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(reader.metadata().num_row_groups() >= 2);

        let batches = read_batches(&path);
        let schema = batches[0].schema();
        assert_eq!(
            schema.field_with_name("ts").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(matches!(
            schema.field_with_name("route").unwrap().data_type(),
            DataType::Dictionary(_, _)
        ));
        let file_rows = read_rows(&batches);
        // Every row is in its partition's hour.
        let hour = if f.starts_with("dt=2026-11-28/hour=06") {
            6
        } else {
            7
        };
        let start = T0_US + (hour - 6) * 3600 * 1_000_000;
        assert!(file_rows
            .iter()
            .all(|r| (start..start + 3600 * 1_000_000).contains(&r.ts)));
        rows.extend(file_rows);
    }
    assert_eq!(rows.len(), n);
    for (i, (got, rec)) in rows.iter().zip(&recs).enumerate() {
        assert_eq!(got, &expected(rec, &names), "row {i}");
    }
    // The special cases came through as intended.
    assert_eq!(rows[1].route, None);
    assert_eq!(rows[1].upstream_us, None);
    assert_eq!(rows[2].client_ip.as_deref(), Some("2001:db8::42"));
    assert_eq!(rows[3].path.as_deref(), Some("/bad/\u{fffd}\u{fffd}?x=1"));
    assert_eq!(rows[4].route.as_deref(), Some("route#0.40"));
    assert_eq!(rows[5].upstream.as_deref(), Some("upstream#9"));
    assert_eq!(rows[5].endpoint.as_deref(), Some("endpoint#9.2"));
    assert_eq!(rows[6].status_class, None);
    assert_eq!(rows[6].method.as_deref(), Some("OTHER"));
    assert_eq!(rows[6].client_id, None);
    assert_eq!(rows[6].user_agent, None);
}

#[test]
fn rotates_by_age_on_push_and_tick() {
    let tmp = TempDir::new("rotate-time");
    let cfg = SinkConfig {
        rotate_after: Duration::from_secs(10),
        ..small_cfg(tmp.path())
    };
    let mut sink = ParquetSink::new(cfg, Synth::names()).unwrap();
    let mut synth = Synth::new(1, T0_US);
    // 25 s of wall clock, one record every 10 ms: files opened at 0 s, 10 s, 20 s.
    for i in 0..2500i64 {
        let r = synth.next_record();
        sink.push(&r, at_us(T0_US + i * 10_000)).unwrap();
    }
    assert_eq!(sink.stats().files_written, 2);
    assert_eq!(sink.stats().rows_written, 2000);
    assert_eq!(sink.pending_rows(), 500);
    // Not old yet.
    sink.tick(at_us(T0_US + 29_999_999)).unwrap();
    assert_eq!(sink.stats().files_written, 2);
    // Traffic stopped: the tick completes the file.
    sink.tick(at_us(T0_US + 30_000_000)).unwrap();
    assert_eq!(sink.stats().files_written, 3);
    assert_eq!(sink.stats().rows_written, 2500);
    assert_eq!(sink.pending_rows(), 0);
    // Nothing open: ticks and close do nothing.
    sink.tick(at_us(T0_US + 90_000_000)).unwrap();
    let stats = sink.close().unwrap();
    assert_eq!(stats.files_written, 3);
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 3);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    let ms = T0_US / 1000;
    assert_eq!(
        names,
        [
            format!("ringway-{ms}-0.parquet"),
            format!("ringway-{}-1.parquet", ms + 10_000),
            format!("ringway-{}-2.parquet", ms + 20_000),
        ]
    );
    let rows: usize = files
        .iter()
        .map(|f| {
            read_batches(&tmp.path().join(f))
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(rows, 2500);
}

#[test]
fn rotates_by_size() {
    let tmp = TempDir::new("rotate-size");
    let max = 48 * 1024;
    let cfg = SinkConfig {
        max_file_bytes: max,
        batch_rows: 1000,
        row_group_rows: 1000,
        ..SinkConfig::new(tmp.path())
    };
    let mut sink = ParquetSink::new(cfg, Synth::names()).unwrap();
    let now = at_us(T0_US);
    let n = 30_000;
    for r in Synth::new(3, T0_US).take(n) {
        sink.push(&r, now).unwrap();
    }
    let stats = sink.close().unwrap();
    let files = all_files(tmp.path());
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(stats.files_written as usize, files.len());
    assert_eq!(stats.rows_written, n as u64);
    let mut rows = 0;
    for (i, f) in files.iter().enumerate() {
        let path = tmp.path().join(f);
        let len = std::fs::metadata(&path).unwrap().len();
        // Checked after each batch: a file ends within one batch past the limit.
        assert!(len < max + 30 * 1024, "{f:?}: {len}");
        if i + 1 < files.len() {
            assert!(len > max / 2, "{f:?}: {len}");
        }
        rows += read_batches(&path)
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
    }
    assert_eq!(rows, n);
}

#[test]
fn drop_without_close_still_completes_the_file() {
    let tmp = TempDir::new("drop");
    {
        let mut sink = ParquetSink::new(small_cfg(tmp.path()), Synth::names()).unwrap();
        for r in Synth::new(5, T0_US).take(1234) {
            sink.push(&r, at_us(T0_US)).unwrap();
        }
    }
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().unwrap() == "parquet");
    let rows: usize = read_batches(&tmp.path().join(&files[0]))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 1234);
}

#[test]
fn set_names_applies_to_later_rows_only() {
    let tmp = TempDir::new("names");
    let mut names = Names {
        listeners: vec!["public".into()],
        routes: vec![vec!["old".into()]],
        upstreams: vec![],
        endpoints: vec![],
    };
    let mut sink = ParquetSink::new(small_cfg(tmp.path()), names.clone()).unwrap();
    let rec = |ts| RequestRecord {
        ts_us: ts,
        route: 0,
        upstream: NONE,
        endpoint: NONE,
        status: 200,
        ..Default::default()
    };
    sink.push(&rec(T0_US), at_us(T0_US)).unwrap();
    names.routes[0][0] = "new".into();
    sink.set_names(&names).unwrap();
    sink.push(&rec(T0_US + 1), at_us(T0_US)).unwrap();
    sink.close().unwrap();
    let files = all_files(tmp.path());
    let rows = read_rows(&read_batches(&tmp.path().join(&files[0])));
    let routes: Vec<_> = rows.iter().map(|r| r.route.as_deref()).collect();
    assert_eq!(routes, [Some("old"), Some("new")]);
}

#[test]
fn every_compression_reads_back() {
    for c in [
        Compression::None,
        Compression::Snappy,
        Compression::Zstd { level: 1 },
        Compression::Zstd { level: 19 },
    ] {
        let tmp = TempDir::new("codec");
        let cfg = SinkConfig {
            compression: c,
            ..small_cfg(tmp.path())
        };
        let mut sink = ParquetSink::new(cfg, Synth::names()).unwrap();
        let recs: Vec<_> = Synth::new(9, T0_US).take(3000).collect();
        for r in &recs {
            sink.push(r, at_us(T0_US)).unwrap();
        }
        sink.close().unwrap();
        let files = all_files(tmp.path());
        assert_eq!(files.len(), 1, "{c:?}");
        let rows = read_rows(&read_batches(&tmp.path().join(&files[0])));
        assert_eq!(rows.len(), recs.len(), "{c:?}");
        assert_eq!(rows[2999], expected(&recs[2999], &Synth::names()), "{c:?}");
    }
}

/// The hand-encoded layouts away from the common case: text columns that are mostly
/// distinct (written `PLAIN`), a column null in every row, invalid UTF-8 in every text
/// column, row groups of several pages, and one of a single row.
#[test]
fn unusual_columns_round_trip() {
    let tmp = TempDir::new("unusual");
    let n = 40_001;
    let mut recs = records(n, T0_US);
    for (i, r) in recs.iter_mut().enumerate() {
        // Client-supplied ids: unique, some with invalid UTF-8 (which must read back as the
        // same U+FFFD text whatever the raw bytes).
        r.client_id = if i % 1000 == 17 {
            Inline::new(&[b'x', 0xff, (i % 7) as u8 + b'a'])
        } else {
            Inline::new(format!("client-{i}").as_bytes())
        };
        r.request_id = if i % 999 == 5 {
            Inline::new(b"id-\xc3")
        } else {
            r.request_id
        };
        r.user_agent = Inline::default();
        if i % 501 == 3 {
            r.client_ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16).octets();
        }
    }
    // Every user agent is null; the last row group has one row.
    let cfg = SinkConfig {
        batch_rows: 4096,
        row_group_rows: 20_000,
        compression: Compression::Zstd { level: 1 },
        ..SinkConfig::new(tmp.path())
    };
    let names = Synth::names();
    let mut sink = ParquetSink::new(cfg, names.clone()).unwrap();
    for r in &recs {
        sink.push(r, at_us(T0_US)).unwrap();
    }
    sink.close().unwrap();
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 1);
    let path = tmp.path().join(&files[0]);
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let md = reader.metadata();
    assert_eq!(md.num_row_groups(), 3);
    assert_eq!(md.row_group(2).num_rows(), 1);
    let schema = md.file_metadata().schema_descr();
    let encodings = |col: &str| -> Vec<parquet::basic::Encoding> {
        let c = (0..schema.num_columns())
            .find(|&c| schema.column(c).name() == col)
            .unwrap();
        md.row_group(0).column(c).encodings().collect()
    };
    assert!(!encodings("client_id").contains(&parquet::basic::Encoding::RLE_DICTIONARY));
    assert!(encodings("path").contains(&parquet::basic::Encoding::RLE_DICTIONARY));
    let rows = read_rows(&read_batches(&path));
    assert_eq!(rows.len(), n);
    for (i, (got, rec)) in rows.iter().zip(&recs).enumerate() {
        assert_eq!(got, &expected(rec, &names), "row {i}");
    }
    assert_eq!(rows[17].client_id.as_deref(), Some("x\u{fffd}d"));
    assert_eq!(rows[5].request_id.as_deref(), Some("id-\u{fffd}"));
    assert!(rows.iter().all(|r| r.user_agent.is_none()));

    // Every chunk has an offset index (page locations); readers that require one can use it.
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new_with_options(
            std::fs::File::open(&path).unwrap(),
            options,
        )
        .unwrap();
    for rg in 0..3 {
        let index = reader.metadata().page_index_for_row_group(rg);
        for c in 0..schema.num_columns() {
            let pages = index.offset_index(c).unwrap().page_locations();
            assert!(!pages.is_empty(), "row group {rg} column {c}");
        }
    }
    let read: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(read, n);
}

#[test]
fn rejects_a_bad_config() {
    let tmp = TempDir::new("badcfg");
    let cfg = SinkConfig {
        batch_rows: 0,
        ..SinkConfig::new(tmp.path())
    };
    let err = ParquetSink::new(cfg, Names::default()).unwrap_err();
    assert!(err.to_string().contains("batch_rows"), "{err}");
}
