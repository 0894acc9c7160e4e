//! Anomaly detection through the binary: `ringway demo --scenario` sends labelled traffic
//! through a live gateway whose `/anomalies` shows the anomaly and whose logs `ringway report`
//! judges the same way; `ringway scenario` writes labelled Parquet logs,
//! `ringway report` finds the injected anomaly in them (JSON, Markdown, HTML), bad
//! arguments are refused with exit 64, and an unreadable file is named.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringway_analytics::civil::format_rfc3339;
use ringway_testkit::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

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
    let dir = TempDir::new("report-cli");
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
    let dir = TempDir::new("report-args");
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
    let dir = TempDir::new("report-foreign");
    // Not Parquet at all, but named like it.
    std::fs::write(dir.0.join("notes.parquet"), b"not parquet").unwrap();
    let out = ringway(&["report", "--logs", path(&dir.0)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.parquet"), "{err}");
}

/// A live `ringway demo --scenario NAME`: its labels (real time), its admin address, and the
/// findings `/anomalies` showed while it ran (first sighting of each, with the time).
struct LiveRun {
    labels: serde_json::Value,
    seen: Vec<(serde_json::Value, i64)>,
    logs: PathBuf,
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text.split_once("\r\n\r\n")?.1.to_owned())
}

fn live(name: &str, dir: &Path) -> LiveRun {
    use std::io::BufRead;
    let logs = dir.join(name);
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--scenario",
            name,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--logs",
            path(&logs),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin = None;
    let labels = loop {
        let line = lines.next().expect("the demo printed its labels").unwrap();
        if let Some(a) = line.strip_prefix("ringway admin on http://") {
            admin = Some(a.to_owned());
        }
        if let Some((_, l)) = line.split_once("labels: ") {
            break serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    };
    let admin = admin.expect("admin address");
    // Drain the rest of stdout in the background; poll /anomalies until the demo exits.
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let mut seen: Vec<(serde_json::Value, i64)> = Vec::new();
    while child.try_wait().unwrap().is_none() {
        if let Some(body) = get(&admin, "/anomalies") {
            if let Ok(snap) = serde_json::from_str::<serde_json::Value>(&body) {
                let t = now_us();
                for f in snap["open"].as_array().into_iter().flatten() {
                    let key = |f: &serde_json::Value| {
                        (
                            f["kind"].clone(),
                            f["endpoint"].clone(),
                            f["start_us"].clone(),
                        )
                    };
                    if !seen.iter().any(|(g, _)| key(g) == key(f)) {
                        seen.push((f.clone(), t));
                    }
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = reader.join().unwrap();
    assert!(child.wait().unwrap().success(), "{out:#?}");
    LiveRun { labels, seen, logs }
}

#[test]
fn live_scenarios_are_found_on_anomalies_and_by_the_report() {
    let dir = TempDir::new("live-scenarios");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/scenario.yaml");
    // Two at once (each sends 90 s of traffic ten times faster than its scenario's clock).
    let runs: Vec<LiveRun> = std::thread::scope(|s| {
        let a = s.spawn(|| live("credential-stuffing", &dir.0));
        let b = s.spawn(|| live("errors", &dir.0));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for run in &runs {
        let label = &run.labels[0];
        let (start, end) = (
            label["start_us"].as_i64().unwrap(),
            label["end_us"].as_i64().unwrap(),
        );
        let kinds = label["kinds"].as_array().unwrap();
        let matches = |f: &serde_json::Value| {
            kinds.contains(&f["kind"])
                && f["endpoint"]["route"] == label["route"]
                && f["start_us"].as_i64().unwrap() < end
                && f["end_us"].as_i64().unwrap() > start
        };
        // Live: on /anomalies within 30 s of the anomaly's start, and nothing else.
        let live: Vec<_> = run.seen.iter().filter(|(f, _)| matches(f)).collect();
        assert!(!live.is_empty(), "{label}: not seen live: {:#?}", run.seen);
        let (first, seen_at) = live[0];
        assert!(
            first["kind"] == kinds[0],
            "{label}: first live finding {first}"
        );
        assert!(
            seen_at - start <= 30_000_000,
            "{label}: seen {} s after its start",
            (seen_at - start) / 1_000_000
        );
        assert_eq!(live.len(), run.seen.len(), "{label}: {:#?}", run.seen);
        // Written beside the logs as they ended.
        let written = std::fs::read_to_string(run.logs.join("findings.jsonl")).unwrap();
        let written: Vec<serde_json::Value> = written
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            written.iter().any(|f| matches(f) && f["kind"] == kinds[0]),
            "{written:#?}"
        );
        // Offline, judged as the gateway did: the same anomaly.
        let json = ok(&ringway(&[
            "report",
            "--logs",
            path(&run.logs),
            "--config",
            config,
            "--format",
            "json",
        ]));
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let found = report["findings"].as_array().unwrap();
        assert_eq!(found.len(), 1, "{label}: {found:#?}");
        assert!(
            matches(&found[0]) && found[0]["kind"] == kinds[0],
            "{label}: {found:#?}"
        );
        assert_eq!(found[0]["endpoint"], first["endpoint"]);
    }
}

#[test]
fn import_counts_bad_lines_and_writes_what_the_report_reads() {
    let dir = TempDir::new("import-cli");
    let log = dir.0.join("access.log");
    std::fs::write(
        &log,
        concat!(
            "203.0.113.7 - - [06/Dec/2026:10:00:00 +0000] \"GET /users/1 HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n",
            "\\x16\\x03\\x01\n",
            "203.0.113.8 - - [06/Dec/2026:10:00:01 +0000] \"POST /login HTTP/1.1\" 401 - \"-\" \"-\" 0.081\n",
            "\n",
            "203.0.113.9 - - [06/Dec/2026:10:00:02 +0000] \"GET /nope HTTP/1.1\" 404 0 \"-\" \"-\"\n",
            "203.0.113.9 - - [06/Dec/2026:10:00:02] \"GET /nope HTTP/1.1\" 404 0 \"-\" \"-\"\n",
        ),
    )
    .unwrap();
    let out = dir.0.join("parquet");
    let run = ringway(&["import", path(&log), "--out", path(&out)]);
    let summary = ok(&run);
    assert!(
        summary.contains("5 lines: 3 rows in 1 files") && summary.contains("2 lines skipped"),
        "{summary}"
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("access.log:2: no client address"), "{err}");
    assert!(err.contains("access.log:6: bad time"), "{err}");
    // The report reads the files: three requests, three endpoints, nothing anomalous.
    let json = ok(&ringway(&[
        "report",
        "--logs",
        path(&out),
        "--format",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["scan"]["rows"], 3);
    assert_eq!(report["endpoints"], 3);
    // Bad arguments: exit 64, each named.
    let bad = ringway(&[
        "import",
        path(&dir.0.join("missing.log")),
        "--format",
        "xml",
        "--out",
        path(&out),
    ]);
    assert_eq!(bad.status.code(), Some(64));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("missing.log") && err.contains("--format"),
        "{err}"
    );
}

#[test]
fn proposals_make_a_valid_config_whose_replay_refuses_the_scraper_alone() {
    let dir = TempDir::new("propose-cli");
    let logs = dir.0.join("logs");
    ok(&ringway(&[
        "scenario",
        "scraping",
        "--out",
        path(&logs),
        "--seed",
        "2",
        "--duration",
        "90m",
    ]));
    // The scenario gateway, judged with the offline detectors' 10 s buckets.
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/scenario.yaml"
    ))
    .unwrap()
    .replace(
        "anomalies: { bucket: 1s, warmup: 30s }",
        "anomalies: { bucket: 10s, warmup: 10m }",
    );
    let base_file = dir.0.join("gateway.yaml");
    std::fs::write(&base_file, base).unwrap();
    let proposed = dir.0.join("proposed.yaml");
    // `ringway report` writing the proposed configuration to `out`.
    let propose = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "report",
            "--logs",
            path(&logs),
            "--config",
            path(&base_file),
            "--proposed",
            path(out),
        ];
        args.extend_from_slice(extra);
        ok(&ringway(&args))
    };
    let md = propose(&proposed, &["--format", "md"]);
    assert!(md.contains("## Proposed changes"), "{md}");
    assert!(md.contains("key: client_ip"), "{md}");
    ok(&ringway(&["validate", path(&proposed)]));
    let text = std::fs::read_to_string(&proposed).unwrap();
    assert!(text.contains("proposed-products-client"), "{text}");

    let json = ok(&ringway(&[
        "replay",
        "--logs",
        path(&logs),
        "--config",
        path(&proposed),
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let share = |t: &serde_json::Value| {
        let refused = t["ip_denied"].as_u64().unwrap() + t["rate_limited"].as_u64().unwrap();
        refused as f64 / t["requests"].as_u64().unwrap() as f64
    };
    // The scraper (the finding's top client) is refused most of the time; nobody else is.
    let top = &v["top_refused_clients"][0];
    assert_eq!(top["client"], "100.64.11.184", "{v:#}");
    assert!(share(&top["tally"]) > 0.9, "{v:#}");
    assert!(share(&v["others"]) < 0.01, "{v:#}");
    // In shadow mode: the same rule, counted instead of enforced; valid; and replay (which
    // asks what enforcement would do) refuses as before.
    let shadow = dir.0.join("shadow.yaml");
    propose(&shadow, &["--shadow", "--format", "json"]);
    ok(&ringway(&["validate", path(&shadow)]));
    assert!(std::fs::read_to_string(&shadow)
        .unwrap()
        .contains("shadow: true"));
    let json = ok(&ringway(&[
        "replay",
        "--logs",
        path(&logs),
        "--config",
        path(&shadow),
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(share(&v["top_refused_clients"][0]["tally"]) > 0.9, "{v:#}");
    // The original configuration refuses nothing.
    let json = ok(&ringway(&[
        "replay",
        "--logs",
        path(&logs),
        "--config",
        path(&base_file),
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(share(&v["total"]), 0.0);
}
