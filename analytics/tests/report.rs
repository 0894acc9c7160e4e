//! `Report` over Parquet logs: the same findings as the detectors fed directly, whoever wrote
//! the files and in whatever order; holes in the logs; a file without the required columns.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::sync::Arc;

use common::TempDir;

use arrow_array::{
    ArrayRef, Int32Array, LargeStringArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt16Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use ringway_analytics::anomaly::{observation_of, Config, Detector, Finding, Kind};
use ringway_analytics::report::{Format, Report};
use ringway_analytics::scenario::{names, scenario, Timing};
use ringway_analytics::schema::client_ip_text;
use ringway_analytics::source::Logs;
use ringway_analytics::SinkConfig;
use ringway_telemetry::record::RequestRecord;

fn timing() -> Timing {
    Timing {
        duration_us: 150 * 60_000_000,
        ..Timing::standard()
    }
}

fn direct(recs: impl Iterator<Item = RequestRecord>) -> Vec<Finding> {
    let names = names();
    let mut d = Detector::new(Config::default());
    let mut client = String::new();
    for r in recs {
        d.observe(&observation_of(&r, &names, &mut client));
    }
    d.finish()
}

fn key(f: &[Finding]) -> Vec<(Kind, String, i64, i64)> {
    f.iter()
        .map(|f| (f.kind, f.endpoint.to_string(), f.start_us, f.end_us))
        .collect()
}

fn report(dir: &std::path::Path) -> Report {
    let logs = Logs::open(dir, None, None).unwrap();
    let mut calls = 0;
    let r = Report::build(&logs, Config::default(), &mut |_, _| calls += 1).unwrap();
    assert!(calls >= 1);
    r
}

#[test]
fn the_gateways_files_give_the_detectors_findings_in_every_format() {
    let dir = TempDir::new("report");
    let s = scenario("credential-stuffing").unwrap();
    let sink = SinkConfig {
        rotate_after: std::time::Duration::from_secs(600),
        ..SinkConfig::new(dir.path())
    };
    let stats = s.write_parquet(timing(), 5, sink).unwrap();
    let want = direct(s.stream(timing(), 5));
    assert!(!want.is_empty());
    let r = report(dir.path());
    assert_eq!(r.scan.rows, stats.rows_written);
    assert_eq!(key(&r.findings), key(&want));
    assert_eq!(r.findings[0].kind, Kind::AuthFailureStorm);
    // The attacker leads the top clients (the scenario's attackers start at 100.64.11.184).
    assert_eq!(r.findings[0].top_clients[0].client, "100.64.11.184");

    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(json["findings"][0]["kind"], "auth_failure_storm");
    assert_eq!(json["findings"][0]["endpoint"]["route"], "login");
    assert!(json["series"][0]["points"].as_array().unwrap().len() > 100);

    let md = r.render(Format::Markdown);
    assert!(
        md.contains("| auth_failure_storm | `login POST /login` |"),
        "{md}"
    );

    let html = r.render(Format::Html);
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        3 * r.series.len()
    );
    assert!(html.matches("<rect class=\"anomaly\"").count() >= 3);
    assert!(html.contains("<path class=\"line\""));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));
}

/// The records as another tool would write them: milliseconds, Int32 statuses, large strings,
/// no dictionaries, no client id, rows shuffled within each file, files split by an odd key.
fn write_foreign(dir: &std::path::Path, recs: &[RequestRecord]) {
    let names = names();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("route", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, false),
        Field::new("path", DataType::LargeUtf8, false),
        Field::new("status", DataType::Int32, false),
        Field::new("total_us", DataType::UInt16, false),
        Field::new("client_ip", DataType::Utf8, false),
        Field::new("bytes", DataType::Int32, false),
    ]));
    let mut rng = fastrand::Rng::with_seed(9);
    for (part, chunk) in recs.chunks(recs.len() / 3 + 1).enumerate() {
        let mut rows: Vec<&RequestRecord> = chunk.iter().collect();
        rng.shuffle(&mut rows);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.ts_us / 1000),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter()
                    .map(|r| names.routes[0].get(usize::from(r.route)).cloned()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.method.as_str()),
            )),
            Arc::new(LargeStringArray::from_iter_values(rows.iter().map(|r| {
                String::from_utf8_lossy(r.path.as_bytes()).into_owned()
            }))),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| i32::from(r.status)),
            )),
            // Latencies in 16 bits: clamp, as a narrow writer would.
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.total_us.min(65_535) as u16),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| client_ip_text(&r.client_ip)),
            )),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 1))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let f = std::fs::File::create(dir.join(format!("export-{part}.parquet"))).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
}

#[test]
fn files_from_another_writer_in_any_order_give_the_same_findings() {
    let dir = TempDir::new("report");
    let s = scenario("scanning").unwrap();
    let mut recs: Vec<RequestRecord> = s.stream(timing(), 6).collect();
    for r in &mut recs {
        // What the foreign files can carry: ms timestamps, 16-bit latencies.
        r.ts_us = r.ts_us / 1000 * 1000;
        r.total_us = r.total_us.min(65_535);
    }
    write_foreign(dir.path(), &recs);
    recs.sort_by_key(|r| r.ts_us);
    let want = direct(recs.iter().cloned());
    assert!(want.iter().any(|f| f.kind == Kind::Scanning), "{want:#?}");
    let r = report(dir.path());
    assert_eq!(r.scan.rows, recs.len() as u64);
    assert!(r.scan.sorted_groups >= 1);
    assert_eq!(key(&r.findings), key(&want));
}

#[test]
fn a_hole_in_the_logs_is_not_a_drop() {
    let dir = TempDir::new("report");
    let s = scenario("background").unwrap();
    let hole = (timing().start_us + 60 * 60_000_000)..(timing().start_us + 90 * 60_000_000);
    let recs: Vec<RequestRecord> = s
        .stream(timing(), 8)
        .filter(|r| !hole.contains(&r.ts_us))
        .collect();
    write_foreign(dir.path(), &recs);
    let r = report(dir.path());
    assert_eq!(r.gaps.len(), 1);
    assert!(
        r.gaps[0].0 < hole.start && r.gaps[0].1 >= hole.end,
        "{:?}",
        r.gaps
    );
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let html = r.render(Format::Html);
    assert!(html.contains("No logs from"));
}

#[test]
fn a_file_without_the_required_columns_is_named_with_what_it_lacks() {
    let dir = TempDir::new("report");
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("status", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values([1, 2])),
            Arc::new(Int32Array::from_iter_values([200, 200])),
        ],
    )
    .unwrap();
    let path = dir.path().join("partial.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = Logs::open(dir.path(), None, None).unwrap_err().to_string();
    assert!(err.contains("partial.parquet"), "{err}");
    assert!(
        err.contains("missing required columns route, method, path, total_us"),
        "{err}"
    );
}
