//! End-to-end tests of the telemetry pipeline, trace context and the JSON access log: requests
//! through the real gateway, `/metrics` on the admin listener, clean shutdown, then the Parquet
//! logs hold exactly one row per request with the values that were sent. With `RINGWAY_PARQUET_OUT=DIR` the files are kept
//! there (CI then opens them with pyarrow and DuckDB).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ringway_analytics::{run_query, GroupBy, Query};
use ringway_testkit::{exchange_raw, Gateway, Reply, Req, Upstream, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// Sends `req` (which asks to close), returns every byte of the response.
fn send(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    exchange_raw(addr, req, false, PATIENCE).bytes
}

#[test]
fn every_request_lands_in_parquet_and_metrics() {
    let up = Upstream::start(|r| {
        Reply::Status(
            if r.path.starts_with("/api/fail") {
                503
            } else {
                200
            },
            b"hello".to_vec(),
        )
    });
    let dir = match std::env::var_os("RINGWAY_PARQUET_OUT") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("ringway-telemetry-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let yaml = format!(
        r#"
admin: {{ listen: "127.0.0.1:0" }}
telemetry: {{ logs_dir: "{}", rotate: 1s }}
upstreams: {{ api: {{ endpoints: [{{ address: "{}" }}] }} }}
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: api
        match: {{ path: {{ prefix: /api }} }}
        proxy: {{ upstream: api }}
      - name: health
        match: {{ path: {{ exact: /healthz }} }}
        respond: {{ status: 200, body: "ok" }}
"#,
        dir.display(),
        up.addr()
    );
    let mut gateway = Gateway::run_yaml(BIN, &yaml, 2);
    let gw = gateway.addr();
    let admin = gateway.admin_addr().expect("admin address");

    // The traffic, with the exact bytes each request puts on the wire.
    let mut sent: HashMap<&str, (u64, u64, u64)> = HashMap::new(); // route -> (count, request bytes, response bytes)
    let mut total = 0u64;
    for i in 0..120 {
        let (route, req) = match i % 4 {
            0 => ("api", format!("GET /api/items/{i} HTTP/1.1\r\nHost: a\r\nUser-Agent: e2e/1\r\nConnection: close\r\n\r\n")),
            1 => ("api", "POST /api/items HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world".to_string()),
            2 => ("health", "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_string()),
            _ => ("", format!("GET /nowhere/{i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
        };
        let resp = send(gw, req.as_bytes());
        let e = sent.entry(route).or_default();
        e.0 += 1;
        e.1 += req.len() as u64;
        e.2 += resp.len() as u64;
        total += 1;
    }
    for i in 0..10 {
        let req = format!("GET /api/fail/{i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let resp = send(gw, req.as_bytes());
        assert!(resp.starts_with(b"HTTP/1.1 503"));
        let e = sent.entry("api").or_default();
        e.0 += 1;
        e.1 += req.len() as u64;
        e.2 += resp.len() as u64;
        total += 1;
    }

    // Metrics: merged across both workers within a second or two.
    let until = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let m = ringway_testkit::get(admin, "/metrics").text();
        let api_2xx = m.lines().find(|l| {
            l.starts_with(
                "ringway_requests_total{listener=\"public\",route=\"api\",status_class=\"2xx\"}",
            )
        });
        if api_2xx.is_some_and(|l| l.ends_with(" 60")) || Instant::now() > until {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for expected in [
        "ringway_requests_total{listener=\"public\",route=\"api\",status_class=\"2xx\"} 60",
        "ringway_requests_total{listener=\"public\",route=\"api\",status_class=\"5xx\"} 10",
        "ringway_requests_total{listener=\"public\",route=\"health\",status_class=\"2xx\"} 30",
        "# TYPE ringway_request_duration_seconds histogram",
        "ringway_telemetry_dropped_total 0",
    ] {
        assert!(metrics.contains(expected), "{expected} not in:\n{metrics}");
    }

    // Clean shutdown writes every record.
    gateway.signal("TERM");
    let status = gateway.wait_exit(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0));

    let files: Vec<_> = walk(&dir);
    assert!(!files.is_empty(), "no Parquet files in {}", dir.display());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            name.ends_with(".parquet") && !name.starts_with('.'),
            "left behind: {}",
            f.display()
        );
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        assert!(
            rel.starts_with("dt=") && rel.contains("/hour="),
            "not Hive-partitioned: {rel}"
        );
    }
    let q = Query {
        group_by: GroupBy::Route,
        ..Query::default()
    };
    let result = run_query(&dir, &q, &mut |_, _| {}).unwrap();
    assert_eq!(result.rows_scanned, total, "exactly one row per request");
    for (route, (count, req_bytes, resp_bytes)) in &sent {
        let key = (!route.is_empty()).then(|| route.to_string());
        let row = result
            .rows
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no group {route:?}: {:?}", result.rows));
        assert_eq!(row.count, *count, "{route}");
        assert_eq!(row.request_bytes, *req_bytes, "request bytes of {route}");
        assert_eq!(row.response_bytes, *resp_bytes, "response bytes of {route}");
    }
    let by_status = run_query(
        &dir,
        &Query {
            group_by: GroupBy::Status,
            ..Query::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    let count = |s: &str| {
        by_status
            .rows
            .iter()
            .find(|r| r.key.as_deref() == Some(s))
            .map_or(0, |r| r.count)
    };
    assert_eq!((count("200"), count("503"), count("404")), (90, 10, 30));
    let by_client = run_query(
        &dir,
        &Query {
            group_by: GroupBy::Client,
            ..Query::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(by_client.rows.len(), 1);
    assert_eq!(by_client.rows[0].key.as_deref(), Some("127.0.0.1"));
    // For CI's independent readers.
    std::fs::write(dir.join("expected_rows.txt"), total.to_string()).unwrap();
    if std::env::var_os("RINGWAY_PARQUET_OUT").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "parquet" || e == "tmp") {
            out.push(p);
        }
    }
    out
}

/// One `GET` on a new connection; whether a `200` came back whole.
fn served(addr: SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200") && out.ends_with(b"hello")
}

#[test]
fn a_sigkill_under_load_loses_at_most_the_last_second_of_records() {
    ringway_testkit::ensure_python(&["pyarrow", "duckdb"]);
    let up = Upstream::start(|_| Reply::Status(200, b"hello".to_vec()));
    let dir = std::env::temp_dir().join(format!("ringway-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Files rotate every minute: without the journal a crash would lose every record.
    let yaml = format!(
        "admin: {{ enabled: false }}\ntelemetry: {{ logs_dir: \"{}\", anomalies: {{ enabled: false }} }}\n\
         upstreams: {{ api: {{ endpoints: [{{ address: \"{}\" }}] }} }}\nlisteners:\n  - name: public\n    \
         listen: 127.0.0.1:0\n    routes: [{{ name: api, proxy: {{ upstream: api }} }}]\n",
        dir.display(),
        up.addr()
    );
    let mut gw = Gateway::run_yaml(BIN, &yaml, 2);
    let addr = gw.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    if served(addr, &format!("/c{i}/{n}")) {
                        done.push(Instant::now());
                    }
                    n += 1;
                }
                done
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let killed = Instant::now();
    gw.signal("KILL");
    assert!(gw.wait_exit(Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let done: Vec<Instant> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let before = done
        .iter()
        .filter(|t| **t + Duration::from_secs(1) <= killed)
        .count();
    let all = done.len();
    assert!(
        before > 100,
        "load ran: {before} served a second before the kill"
    );
    let complete = walk(&dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(complete, 0, "no log file was complete at the kill");

    // The next start turns the journal into Parquet before it serves; a clean stop after.
    let mut again = Gateway::run_yaml(BIN, &yaml, 2);
    again.signal("TERM");
    assert!(again.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!walk(&dir)
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "tmp")));
    let glob = format!("{}/**/*.parquet", dir.display());
    let counted = ringway_testkit::duckdb_rows(&format!(
        "select count(*), count(distinct request_id) from read_parquet('{glob}', hive_partitioning = true)"
    ));
    let (rows, distinct) = counted.trim().split_once('|').unwrap();
    let rows: usize = rows.parse().unwrap();
    eprintln!("crash: {rows} rows recovered; {before} served ≥ 1 s before the kill, {all} in all");
    assert_eq!(rows.to_string(), distinct, "no record twice");
    assert!(
        rows >= before && rows <= all + 8,
        "{rows} rows: {before} served up to a second before the kill, {all} in all"
    );
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import glob, sys, pyarrow.parquet as pq; \
             print(sum(pq.read_table(f).num_rows for f in glob.glob(sys.argv[1], recursive=True)))",
            &glob,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        rows.to_string()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_context_is_continued_with_a_new_span_or_started_and_logged() {
    let up = Upstream::echo();
    let logs = ringway_testkit::TempDir::new("trace");
    let gw = Gateway::run_yaml(
        BIN,
        &format!(
            "admin: {{ enabled: false }}\ntelemetry: {{ logs_dir: \"{}\", access_log: \"{}/access.jsonl\", anomalies: {{ enabled: false }} }}\n\
             upstreams: {{ a: {{ endpoints: [{{ address: \"{}\" }}] }} }}\nlisteners:\n  - name: main\n    \
             listen: 127.0.0.1:0\n    routes: [{{ name: api, match: {{ path: {{ prefix: /api }} }}, proxy: {{ upstream: a }} }}]\n",
            logs.0.display(),
            logs.0.display(),
            up.addr()
        ),
        1,
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    let valid = Req::get("/api/valid")
        .header("traceparent", &parent)
        .header("tracestate", "congo=t61rcWkgMzE")
        .send(gw.addr());
    assert_eq!(valid.status, 200);
    // Uppercase hex is invalid; so are two traceparent fields.
    let invalid = Req::get("/api/invalid")
        .header("traceparent", &parent.to_uppercase())
        .header("tracestate", "congo=t61rcWkgMzE")
        .send(gw.addr());
    assert_eq!(invalid.status, 200);
    let twice = Req::get("/api/twice")
        .header("traceparent", &parent)
        .header("traceparent", &parent)
        .send(gw.addr());
    assert_eq!(twice.status, 200);
    let none = Req::get("/api/none").send(gw.addr());
    assert_eq!(none.status, 200);
    // A gateway-made error names the trace.
    let refused = Req::get("/nowhere")
        .header("traceparent", &parent)
        .send(gw.addr());
    assert_eq!(refused.status, 404);
    assert!(
        refused
            .text()
            .contains(&format!("\"trace_id\":\"{trace}\"")),
        "{}",
        refused.text()
    );

    let seen = up.requests();
    let at = |path: &str| seen.iter().find(|r| r.path == path).unwrap();
    let sent = at("/api/valid");
    let tp = sent.header("traceparent").unwrap();
    assert_eq!(sent.header_all("traceparent").len(), 1);
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", trace, "01"), "{tp}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "a new span id for this hop");
    assert_eq!(sent.header("tracestate"), Some("congo=t61rcWkgMzE"));
    let mut new_traces = Vec::new();
    for path in ["/api/invalid", "/api/twice", "/api/none"] {
        let r = at(path);
        let tp = r.header("traceparent").unwrap();
        assert_eq!(r.header_all("traceparent").len(), 1, "{path}");
        assert!(
            ringway_core::parse_traceparent(tp.as_bytes()).is_some(),
            "{path}: {tp}"
        );
        let parts: Vec<&str> = tp.split('-').collect();
        assert_ne!(parts[1], trace, "{path}: a new trace");
        assert_eq!(parts[3], "00", "{path}: a new trace is not sampled");
        assert_eq!(r.header("tracestate"), None, "{path}: tracestate dropped");
        new_traces.push(parts[1].to_owned());
    }
    // A clean stop closes the log file.
    let mut gw = gw;
    gw.signal("TERM");
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let rows = ringway_testkit::duckdb_rows(&format!(
        "select path, trace_id from read_parquet('{}/**/*.parquet') order by path",
        logs.0.display()
    ));
    let expected = format!(
        "/api/invalid|{}\n/api/none|{}\n/api/twice|{}\n/api/valid|{trace}\n/nowhere|{trace}\n",
        new_traces[0], new_traces[2], new_traces[1]
    );
    assert_eq!(rows, expected);
    // The JSON access log has the same requests, one object per line.
    let text = std::fs::read_to_string(logs.0.join("access.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let valid = lines
        .iter()
        .find(|l| l.contains("\"path\":\"/api/valid\""))
        .unwrap();
    assert!(
        valid.contains(&format!("\"trace_id\":\"{trace}\"")),
        "{valid}"
    );
    assert!(
        valid.contains("\"route\":\"api\"") && valid.contains("\"status\":200"),
        "{valid}"
    );
    let refused = lines.iter().find(|l| l.contains("/nowhere")).unwrap();
    assert!(
        refused.contains("\"route\":null") && refused.contains("\"outcome\":\"no_route\""),
        "{refused}"
    );
}

#[test]
fn the_access_log_works_without_parquet_logs() {
    let up = Upstream::echo();
    let dir = ringway_testkit::TempDir::new("access");
    let log = dir.0.join("access.jsonl");
    let mut gw = Gateway::run_yaml(
        BIN,
        &format!(
            "admin: {{ enabled: false }}\ntelemetry: {{ access_log: \"{}\" }}\n\
             upstreams: {{ a: {{ endpoints: [{{ address: \"{}\" }}] }} }}\nlisteners:\n  - name: main\n    \
             listen: 127.0.0.1:0\n    routes: [{{ name: all, proxy: {{ upstream: a }} }}]\n",
            log.display(),
            up.addr()
        ),
        2,
    );
    for i in 0..20 {
        assert_eq!(
            Req::get(&format!("/r{i}")).host("x").send(gw.addr()).status,
            200
        );
    }
    gw.signal("TERM");
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let text = std::fs::read_to_string(&log).unwrap();
    let mut paths: Vec<String> = text
        .lines()
        .map(|l| {
            assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
            assert!(
                l.contains("\"route\":\"all\"") && l.contains("\"status\":200"),
                "{l}"
            );
            let at = l.find("\"path\":\"").unwrap() + 8;
            l[at..].split('"').next().unwrap().to_owned()
        })
        .collect();
    paths.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("/r{i}")).collect();
    want.sort();
    assert_eq!(paths, want, "one line per request");
    assert!(
        std::fs::read_dir(&dir.0).unwrap().count() == 1,
        "no Parquet directory was made"
    );
}
