//! `ringway import`'s library: a scenario written as nginx access logs (combined and JSON,
//! with malformed lines mixed in) becomes Parquet with one row per good line, the bad ones
//! counted, and the report finds the scenario's anomaly in it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::io::Write;

use common::TempDir;
use ringway_analytics::anomaly::{Config, Kind};
use ringway_analytics::civil::UtcDateTime;
use ringway_analytics::import::{first_segment, Format, Importer};
use ringway_analytics::report::Report;
use ringway_analytics::scenario::{scenario, Timing};
use ringway_analytics::schema::client_ip_text;
use ringway_analytics::source::Logs;
use ringway_telemetry::record::RequestRecord;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn combined(r: &RequestRecord) -> String {
    let t = UtcDateTime::from_unix_us(r.ts_us);
    format!(
        "{} - - [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {} \"-\" \"bench/1\" {:.3}\n",
        client_ip_text(&r.client_ip),
        t.day,
        MONTHS[t.month as usize - 1],
        t.year,
        t.hour,
        t.minute,
        t.second,
        r.method.as_str(),
        String::from_utf8_lossy(r.path.as_bytes()),
        r.status,
        r.response_bytes,
        f64::from(r.total_us) / 1e6
    )
}

fn json(r: &RequestRecord) -> String {
    format!(
        "{{\"msec\":\"{:.3}\",\"remote_addr\":\"{}\",\"request\":\"{} {} HTTP/1.1\",\"status\":\"{}\",\"body_bytes_sent\":\"{}\",\"request_time\":\"{:.3}\"}}\n",
        r.ts_us as f64 / 1e6,
        client_ip_text(&r.client_ip),
        r.method.as_str(),
        String::from_utf8_lossy(r.path.as_bytes()),
        r.status,
        r.response_bytes,
        f64::from(r.total_us) / 1e6
    )
}

/// Writes the scenario as a log file with a malformed line every 1000; returns the good
/// line count and the bad one.
fn write_log(path: &std::path::Path, name: &str, line: fn(&RequestRecord) -> String) -> (u64, u64) {
    let timing = Timing {
        duration_us: 150 * 60_000_000,
        ..Timing::standard()
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut good, mut bad) = (0, 0);
    for (i, r) in scenario(name).unwrap().stream(timing, 4).enumerate() {
        if i % 1000 == 999 {
            // Truncated lines, binary junk, an empty line (not counted).
            let junk = [
                "\\x16\\x03\\x01\\x02\n",
                "127.0.0.1 - - [06/Dec/2026:10:0\n",
                "\n",
            ];
            let j = junk[(i / 1000) % 3];
            f.write_all(j.as_bytes()).unwrap();
            bad += u64::from(j != "\n");
        }
        f.write_all(line(&r).as_bytes()).unwrap();
        good += 1;
    }
    (good, bad)
}

fn import_and_report(format: Format, line: fn(&RequestRecord) -> String, name: &str) -> Report {
    let dir = TempDir::new("import");
    let log = dir.path().join("access.log");
    let (good, bad) = write_log(&log, name, line);
    let out = dir.path().join("parquet");
    let mut imp = Importer::new(&out).unwrap();
    imp.import_file(&log, format, &mut |l| {
        (l.status != 404).then(|| first_segment(&l.path))
    })
    .unwrap();
    let stats = imp.finish().unwrap();
    assert_eq!((stats.rows, stats.bad_lines), (good, bad));
    assert_eq!(stats.lines, good + bad);
    assert!(
        stats.examples[0].contains("access.log:1000:"),
        "{:?}",
        stats.examples
    );
    let logs = Logs::open(&out, None, None).unwrap();
    let r = Report::build(&logs, Config::default(), &mut |_, _| {}).unwrap();
    assert_eq!(r.scan.rows, good);
    r
}

#[test]
fn combined_logs_import_and_their_credential_stuffing_is_found() {
    let r = import_and_report(Format::Combined, combined, "credential-stuffing");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].kind, Kind::AuthFailureStorm);
    assert_eq!(r.findings[0].endpoint.route, "login");
    assert_eq!(r.findings[0].top_clients[0].client, "100.64.11.184");
}

#[test]
fn json_logs_import_and_their_latency_regression_is_found() {
    let r = import_and_report(Format::Json, json, "latency");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].kind, Kind::LatencyRegression);
    assert_eq!(r.findings[0].endpoint.route, "users");
}
