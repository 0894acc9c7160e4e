//! Anomaly detection through the binary: `ringway scenario` writes labelled Parquet logs,
//! `ringway report` finds the injected anomaly in them (JSON, Markdown, HTML), bad
//! arguments are refused with exit 64, and an unreadable file is named.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringway_analytics::civil::format_rfc3339;

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ringway-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ringway(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn report_finds_the_scenarios_anomaly_in_its_parquet_logs() {
    let dir = Dir::new("report-cli");
    let logs = dir.0.join("logs");
    let labels = ok(&ringway(&[
        "scenario",
        "rate-limited",
        "--out",
        path(&logs),
        "--seed",
        "3",
        "--duration",
        "90m",
    ]));
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    let label = &labels[0];
    assert_eq!(label["route"], "search");

    let json = ok(&ringway(&[
        "report",
        "--logs",
        path(&logs),
        "--format",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["kind"], "rate_limit_saturation");
    assert_eq!(f["endpoint"]["route"], "search");
    let (start, end) = (
        f["start_us"].as_i64().unwrap(),
        f["end_us"].as_i64().unwrap(),
    );
    assert!(start < label["end_us"].as_i64().unwrap());
    assert!(end > label["start_us"].as_i64().unwrap());
    assert!(report["scan"]["rows"].as_u64().unwrap() > 50_000);

    // --since after the anomaly: nothing left to find.
    let rfc = format_rfc3339(label["end_us"].as_i64().unwrap() + 600_000_000);
    let json = ok(&ringway(&[
        "report",
        "--logs",
        path(&logs),
        "--format",
        "json",
        "--since",
        &rfc,
    ]));
    let later: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(later["findings"].as_array().unwrap().len(), 0, "{later:#?}");

    let md = ok(&ringway(&[
        "report",
        "--logs",
        path(&logs),
        "--format",
        "md",
    ]));
    assert!(
        md.contains("| rate_limit_saturation | `search GET /search` |"),
        "{md}"
    );

    let html = dir.0.join("report.html");
    ok(&ringway(&[
        "report",
        "--logs",
        path(&logs),
        "--out",
        path(&html),
    ]));
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
}

#[test]
fn bad_report_arguments_exit_64_naming_each() {
    let dir = Dir::new("report-args");
    let out = ringway(&[
        "report",
        "--logs",
        path(&dir.0.join("missing")),
        "--format",
        "pdf",
        "--since",
        "last tuesday",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for what in ["--logs", "--format", "--since"] {
        assert!(err.contains(what), "{what}: {err}");
    }
    let out = ringway(&["scenario", "no-such", "--out", path(&dir.0)]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("credential-stuffing"));
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    let dir = Dir::new("report-foreign");
    // Not Parquet at all, but named like it.
    std::fs::write(dir.0.join("notes.parquet"), b"not parquet").unwrap();
    let out = ringway(&["report", "--logs", path(&dir.0)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.parquet"), "{err}");
}
