//! End-to-end HTTP/2: `ringway run` serving HTTP/2 over TLS (ALPN) and cleartext with prior
//! knowledge (h2c) beside HTTP/1.1, driven by curl and the Python `h2` package
//! (`tests/h2/client.py`): the same routes, policies and telemetry as HTTP/1.1, strict
//! translation, flow control on large bodies, and abuse (rapid reset, CONTINUATION flood,
//! oversized header lists, stream floods, window overflow) closing the offending connection
//! while others are served.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringway_testkit::{Gateway, Reply, TempDir, Upstream};

#[path = "tls/pki.rs"]
#[allow(dead_code, reason = "the TLS tests use the rest of the helpers")]
mod pki;

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

fn client_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/h2/client.py")
}

/// An upstream answering `<method> <path> len=<body bytes> cookie=<cookie>`, or 1 MiB of
/// `x` for `/big`.
fn upstream() -> Upstream {
    Upstream::start(|r| {
        if r.path == "/big" {
            return Reply::Status(200, vec![b'x'; 1 << 20]);
        }
        if r.path.starts_with("/grpc") {
            // gRPC style: a chunked body, the status in trailers (with a field that must never
            // be a trailer).
            return Reply::Raw(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\ncontent-length: 9\r\n\r\n"
                    .to_vec(),
            );
        }
        let cookie = r.header("cookie").unwrap_or("-").to_owned();
        Reply::Status(
            200,
            format!(
                "{} {} len={} cookie={cookie}",
                r.method,
                r.path,
                r.body.len()
            )
            .into_bytes(),
        )
    })
}

/// A TLS listener offering h2 and http/1.1, and a cleartext listener accepting h2c, both
/// proxying to `up`, with Parquet logs under `logs`.
fn config(
    up: SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    logs: &std::path::Path,
) -> String {
    format!(
        "admin:
  listen: 127.0.0.1:0
telemetry:
  logs_dir: {logs}
upstreams:
  app:
    endpoints:
      - address: {up}
listeners:
  - name: h2c
    listen: 127.0.0.1:0
    http2:
      h2c: true
    routes:
      - name: all
        proxy:
          upstream: app
  - name: https
    listen: 127.0.0.1:0
    tls:
      alpn: [h2, http/1.1]
      certificates:
        - cert: {cert}
          key: {key}
    routes:
      - name: all
        proxy:
          upstream: app
",
        logs = logs.display(),
        cert = cert.display(),
        key = key.display()
    )
}

/// Runs `client.py` with `args`, `stdin` as its input; its output lines.
fn py(args: &[&str], stdin: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    ringway_testkit::ensure_python(&["h2", "hyperframe"]);
    let mut child = Command::new("python3")
        .arg(client_py())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `curl -sS <args>` whose `-w` ends the output with `|<something>`: (body, something).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, version) = text.rsplit_once('|').unwrap();
    (body.to_owned(), version.to_owned())
}

#[test]
fn http2_over_tls_and_h2c_go_the_same_way_as_http1() {
    let ca = pki::Ca::new();
    let dir = TempDir::new("h2-e2e");
    let (cert, key) = ca
        .leaf(&["h2.test", "127.0.0.1"], pki::Alg::Ecdsa, false)
        .write(&dir.0, "h2");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let logs = dir.0.join("logs");
    let up = upstream();
    let mut gw = Gateway::run_yaml(BIN, &config(up.addr(), &cert, &key, &logs), 2);
    let h2c = gw.addr();
    let https = gw.listener_addr(1).unwrap();

    // curl: HTTP/2 by ALPN, HTTP/1.1 on the same TLS port, h2c with prior knowledge, HTTP/1.1
    // on the h2c port.
    let tls_url = |path: &str| format!("https://h2.test:{}{path}", https.port());
    let resolve = format!("h2.test:{}:127.0.0.1", https.port());
    let ca_arg = ca_file.to_str().unwrap();
    let fmt = "|%{http_version}";
    assert_eq!(
        curl(&[
            "--http2",
            "--cacert",
            ca_arg,
            "--resolve",
            &resolve,
            "-w",
            fmt,
            &tls_url("/a")
        ]),
        ("GET /a len=0 cookie=-".into(), "2".into())
    );
    assert_eq!(
        curl(&[
            "--http1.1",
            "--cacert",
            ca_arg,
            "--resolve",
            &resolve,
            "-w",
            fmt,
            &tls_url("/b")
        ]),
        ("GET /b len=0 cookie=-".into(), "1.1".into())
    );
    let h2c_url = format!("http://{h2c}/c");
    assert_eq!(
        curl(&[
            "--http2-prior-knowledge",
            "-d",
            "hello",
            "-w",
            fmt,
            &h2c_url
        ]),
        ("POST /c len=5 cookie=-".into(), "2".into())
    );
    assert_eq!(
        curl(&["-w", fmt, &h2c_url]),
        ("GET /c len=0 cookie=-".into(), "1.1".into())
    );

    // The Python client: 30 concurrent streams on one TLS connection, bodies with and without
    // content-length (sent in several DATA frames), cookies joined, a 1 MiB response through
    // 64 KiB stream windows, and a Host that contradicts :authority.
    let mut specs = Vec::new();
    for i in 0..30 {
        let body = "y".repeat(i * 1000);
        let mut headers = vec![];
        if i % 2 == 0 {
            headers.push(serde_json::json!([
                "content-length",
                body.len().to_string()
            ]));
        }
        specs.push(serde_json::json!({
            "method": "POST", "path": format!("/s{i}"), "body": body, "chunks": 3,
            "headers": headers,
        }));
    }
    specs.push(
        serde_json::json!({"path": "/cookies", "headers": [["cookie", "a=1"], ["cookie", "b=2"]]}),
    );
    specs.push(serde_json::json!({"path": "/big"}));
    specs.push(serde_json::json!({"path": "/host", "authority": "h2.test", "headers": [["host", "evil.test"]]}));
    specs.push(serde_json::json!({"path": "/ws-edge", "headers": [["x-a", " padded"]]}));
    specs.push(serde_json::json!({"method": "HEAD", "path": "/head"}));
    specs.push(
        serde_json::json!({"method": "POST", "path": "/grpc/Svc/Call", "body": "x",
        "headers": [["te", "trailers"], ["content-type", "application/grpc"]]}),
    );
    specs.push(serde_json::json!({"method": "POST", "path": "/grpc/no-te", "body": "x"}));
    let port = https.port().to_string();
    let results = py(
        &["requests", "127.0.0.1", &port, "--tls", ca_arg, "h2.test"],
        &serde_json::to_string(&specs).unwrap(),
    );
    assert_eq!(results.len(), 37);
    for (i, r) in results[..30].iter().enumerate() {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(
            r["body"],
            format!("POST /s{i} len={} cookie=-", i * 1000),
            "{r}"
        );
    }
    assert_eq!(results[30]["body"], "GET /cookies len=0 cookie=a=1; b=2");
    assert_eq!(results[31]["status"], 200);
    assert_eq!(results[31]["body_len"], 1 << 20);
    assert_eq!(
        results[32]["status"], 400,
        "conflicting Host: {}",
        results[32]
    );
    // Whitespace around a field value: malformed in HTTP/2, the stream is reset
    // (PROTOCOL_ERROR) rather than trimmed and forwarded.
    assert_eq!(results[33]["reset"], 1, "{}", results[33]);
    // HEAD: no body, and the representation's length kept.
    let head = &results[34];
    assert_eq!(head["status"], 200, "{head}");
    assert_eq!(head["body_len"], 0, "{head}");
    let len = "HEAD /head len=0 cookie=-".len().to_string();
    assert_eq!(
        head["headers"]["content-length"],
        serde_json::json!([len]),
        "{head}"
    );
    // Trailers relayed to a client that asked for them (te: trailers), framing ones dropped.
    let grpc = &results[35];
    assert_eq!(grpc["body"], "hello", "{grpc}");
    assert_eq!(
        grpc["trailers"],
        serde_json::json!({"grpc-status": "0", "grpc-message": "ok"}),
        "{grpc}"
    );
    assert_eq!(
        results[36]["trailers"],
        serde_json::json!({}),
        "{}",
        results[36]
    );
    assert!(
        !up.requests()
            .iter()
            .any(|r| r.path == "/host" || r.path == "/ws-edge"),
        "malformed requests never reached the upstream"
    );
    // Connection-specific response fields never appear in HTTP/2.
    for r in &results {
        let headers = r["headers"].as_object().unwrap();
        for bad in ["connection", "keep-alive", "transfer-encoding"] {
            assert!(!headers.contains_key(bad), "{bad} in {r}");
        }
    }

    // Telemetry: HTTP/2 requests are logged as such.
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0)
    );
    let sql = format!(
        "select http_version, coalesce(alpn, '-'), listener, count(*) from read_parquet('{}/**/*.parquet', hive_partitioning = true) group by all order by all",
        logs.display()
    );
    assert_eq!(
        ringway_testkit::duckdb_rows(&sql),
        "11|-|h2c|1\n11|http/1.1|https|1\n20|-|h2c|1\n20|h2|https|37\n"
    );
}

#[test]
fn abusive_http2_connections_are_closed_and_others_served() {
    let up = upstream();
    let yaml = format!(
        "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints:\n      - address: {}\nlisteners:\n  - name: h2c\n    listen: 127.0.0.1:0\n    limits:\n      max_header_bytes: 16384\n    http2:\n      h2c: true\n    routes:\n      - name: all\n        proxy:\n          upstream: app\n",
        up.addr()
    );
    let gw = Gateway::run_yaml(BIN, &yaml, 1);
    let host = "127.0.0.1";
    let port = gw.addr().port().to_string();
    const ENHANCE_YOUR_CALM: u64 = 11;
    const FLOW_CONTROL_ERROR: u64 = 3;
    for (attack, goaway) in [
        ("rapid-reset", Some(ENHANCE_YOUR_CALM)),
        ("continuation-flood", Some(ENHANCE_YOUR_CALM)),
        ("stream-flood", None),
        ("window-overflow", Some(FLOW_CONTROL_ERROR)),
        ("big-headers", None),
    ] {
        let r = &py(&["attack", attack, host, &port], "")[0];
        match attack {
            "big-headers" => {
                // 431 when the block decodes within h2's buffer, else the connection ends
                // (GOAWAY): never served.
                let refused = r["statuses"] == serde_json::json!([431])
                    || (r["closed"] == true && r["goaway"].is_u64());
                assert!(refused, "{r}");
            }
            "stream-flood" => {
                // Streams over the 100 allowed are refused.
                assert!(r["refused"].as_u64().unwrap() >= 100, "{r}");
            }
            _ => {
                assert_eq!(r["goaway"].as_u64(), goaway, "{r}");
                assert_eq!(r["closed"], true, "{r}");
            }
        }
        // Another connection is served right after.
        let ok = py(&["requests", host, &port], r#"[{"path": "/after"}]"#);
        assert_eq!(ok[0]["status"], 200, "after {attack}: {}", ok[0]);
    }
}

#[test]
fn an_http2_ping_flood_does_not_starve_other_connections_on_its_core() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let up = upstream();
    let yaml = format!(
        "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints:\n      - address: {}\nlisteners:\n  - name: h2c\n    listen: 127.0.0.1:0\n    http2:\n      h2c: true\n    routes:\n      - name: all\n        proxy:\n          upstream: app\n",
        up.addr()
    );
    // One worker: the flooding connection and the others share its core.
    let gw = Gateway::run_yaml(BIN, &yaml, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, got) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut flood = std::net::TcpStream::connect(gw.addr()).unwrap();
    flood.set_nodelay(true).unwrap();
    // Prior knowledge: the preface and an empty SETTINGS, then PINGs as fast as they go.
    flood
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut reader = flood.try_clone().unwrap();
    let drain = {
        let (stop, got) = (Arc::clone(&stop), Arc::clone(&got));
        std::thread::spawn(move || {
            reader
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = vec![0; 1 << 16];
            while !stop.load(Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => drop(got.fetch_add(n as u64, Ordering::Relaxed)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
        })
    };
    let pinger = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        std::thread::spawn(move || {
            let ping = b"\0\0\x08\x06\0\0\0\0\0pingpong";
            let batch: Vec<u8> = ping
                .iter()
                .copied()
                .cycle()
                .take(ping.len() * 512)
                .collect();
            while !stop.load(Ordering::Relaxed) {
                if flood.write_all(&batch).is_err() {
                    break;
                }
                sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // Plain HTTP/1.1 requests on the same core are answered meanwhile.
    let start = std::time::Instant::now();
    for _ in 0..5 {
        let mut c = std::net::TcpStream::connect(gw.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET /during HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut head = [0; 12];
        c.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    let took = start.elapsed();
    let flooding = got.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    // The flood was still going (being answered) while the requests were served.
    assert!(
        got.load(Ordering::Relaxed) > flooding,
        "the flood had stopped"
    );
    stop.store(true, Ordering::Relaxed);
    drop(pinger.join());
    drop(drain.join());
    assert!(
        sent.load(Ordering::Relaxed) > 1 << 20,
        "the flood sent little"
    );
    assert!(
        took < Duration::from_secs(3),
        "5 requests took {took:?} beside the flood"
    );
}

/// The h2c upstream of `tests/h2/server.py`; stops when dropped (its stdin closes).
struct H2Upstream {
    child: std::process::Child,
    port: u16,
}

impl H2Upstream {
    /// Cleartext (`tls` None) or TLS with this certificate and key, ALPN h2.
    fn start(tls: Option<(&std::path::Path, &std::path::Path)>) -> H2Upstream {
        Self::start_with(tls, false)
    }

    /// ... refusing every stream when `refuse`.
    fn start_with(tls: Option<(&std::path::Path, &std::path::Path)>, refuse: bool) -> H2Upstream {
        use std::io::BufRead;
        ringway_testkit::ensure_python(&["h2"]);
        let mut cmd = Command::new("python3");
        cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/h2/server.py"));
        if refuse {
            cmd.arg("--refuse");
        }
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        H2Upstream {
            port: line.trim().parse().unwrap(),
            child,
        }
    }
}

impl Drop for H2Upstream {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn http2_upstreams_multiplex_streams_and_relay_grpc_trailers() {
    let up = H2Upstream::start(None);
    let dir = TempDir::new("h2-upstream-logs");
    let logs = dir.0.join("logs");
    let yaml = format!(
        "admin:\n  listen: 127.0.0.1:0\ntelemetry:\n  logs_dir: {}\nupstreams:\n  grpc:\n    protocol: h2c\n    endpoints:\n      - address: 127.0.0.1:{}\nlisteners:\n  - name: edge\n    listen: 127.0.0.1:0\n    http2:\n      h2c: true\n    routes:\n      - name: all\n        proxy:\n          upstream: grpc\n",
        logs.display(),
        up.port
    );
    let mut gw = Gateway::run_yaml(BIN, &yaml, 1);
    let port = gw.addr().port().to_string();
    let mut specs = Vec::new();
    for i in 0..20 {
        specs.push(if i % 2 == 0 {
            serde_json::json!({"path": format!("/a{i}")})
        } else {
            serde_json::json!({"method": "POST", "path": format!("/p{i}"), "body": "z".repeat(i * 100), "chunks": 2})
        });
    }
    specs.push(
        serde_json::json!({"method": "POST", "path": "/grpc/Svc/Call", "body": "m",
        "headers": [["te", "trailers"], ["content-type", "application/grpc"]]}),
    );
    let results = py(
        &["requests", "127.0.0.1", &port],
        &serde_json::to_string(&specs).unwrap(),
    );
    for (i, r) in results[..20].iter().enumerate() {
        assert_eq!(r["status"], 200, "{r}");
        let want = if i % 2 == 0 {
            format!("GET /a{i} len=0 conn=1 te=trailers")
        } else {
            format!("POST /p{i} len={} conn=1 te=trailers", i * 100)
        };
        // One worker, one connection to the upstream: every stream multiplexed on it.
        assert_eq!(r["body"], want, "{r}");
    }
    let grpc = &results[20];
    assert_eq!(
        grpc["body"], "POST /grpc/Svc/Call len=1 conn=1 te=trailers",
        "{grpc}"
    );
    assert_eq!(
        grpc["trailers"],
        serde_json::json!({"grpc-status": "0", "grpc-message": "ok"}),
        "{grpc}"
    );
    // HTTP/1.1 clients reach the same upstream connection.
    let r = ringway_testkit::get(gw.addr(), "/h1");
    assert_eq!(
        (r.status, r.text()),
        (200, "GET /h1 len=0 conn=1 te=trailers".to_owned())
    );
    // A refused stream is an upstream failure (502 with one endpoint); the connection stays.
    assert_eq!(ringway_testkit::get(gw.addr(), "/refuse/x").status, 502);
    let r = ringway_testkit::get(gw.addr(), "/again");
    assert_eq!(r.text(), "GET /again len=0 conn=1 te=trailers");
    // The gRPC status reaches the log record.
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0)
    );
    let sql = format!(
        "select coalesce(grpc_status, '-'), count(*) from read_parquet('{}/**/*.parquet', hive_partitioning = true) group by all order by all",
        logs.display()
    );
    assert_eq!(ringway_testkit::duckdb_rows(&sql), "-|23\n0|1\n");
}

#[test]
fn http2_upstreams_over_tls_negotiate_h2_and_verify() {
    let ca = pki::Ca::new();
    let dir = TempDir::new("h2-upstream-tls");
    let (cert, key) = ca
        .leaf(&["up.test"], pki::Alg::Ecdsa, false)
        .write(&dir.0, "up");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let up = H2Upstream::start(Some((&cert, &key)));
    let yaml = |name: &str, protocol: &str| {
        format!(
            "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  grpc:\n    protocol: {protocol}\n    tls:\n      server_name: {name}\n      ca: {}\n    endpoints:\n      - address: 127.0.0.1:{}\nlisteners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes:\n      - name: all\n        proxy:\n          upstream: grpc\n",
            ca_file.display(),
            up.port
        )
    };
    // h2, and auto against an endpoint that chooses h2 by ALPN: streams on one connection.
    for protocol in ["h2", "auto"] {
        let gw = Gateway::run_yaml(BIN, &yaml("up.test", protocol), 1);
        for path in ["/secure", "/again"] {
            let r = ringway_testkit::get(gw.addr(), path);
            assert!(
                r.status == 200 && r.text().starts_with(&format!("GET {path} len=0 conn=")),
                "{protocol}: {}",
                r.text()
            );
        }
        let again = ringway_testkit::get(gw.addr(), "/third").text();
        let first_conn = ringway_testkit::get(gw.addr(), "/fourth").text();
        assert_eq!(
            again.rsplit_once("conn=").map(|x| x.1.to_owned()),
            first_conn.rsplit_once("conn=").map(|x| x.1.to_owned()),
            "{protocol}: one connection"
        );
        drop(gw);
    }
    // The wrong name does not verify: 502, as with HTTP/1.1 upstreams.
    let gw = Gateway::run_yaml(BIN, &yaml("other.test", "h2"), 1);
    assert_eq!(ringway_testkit::get(gw.addr(), "/secure").status, 502);
}

#[test]
fn validate_names_upstream_protocol_problems() {
    let check = |group: &str| {
        let yaml = format!(
            "upstreams:\n  g:\n{group}    endpoints:\n      - address: 127.0.0.1:9\nlisteners:\n  - name: l\n    listen: 127.0.0.1:0\n    routes:\n      - name: all\n        proxy:\n          upstream: g\n"
        );
        let cfg = ringway_testkit::TempConfig::new(&yaml);
        let out = Command::new(BIN)
            .args(["validate", cfg.arg()])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    assert_eq!(check("    protocol: h2c\n").0, Some(0));
    for (group, message) in [
        ("    protocol: h2\n", "h2 is negotiated over TLS"),
        ("    protocol: h3\n", "not one of: http1, h2, h2c, auto"),
        ("    protocol: auto\n", "auto chooses by ALPN, over TLS"),
        ("    protocol: h2c\n    tls: {}\n", "h2c is cleartext"),
    ] {
        let (code, out) = check(group);
        assert_eq!(code, Some(64), "{out}");
        assert!(
            out.contains("upstreams.g.protocol") && out.contains(message),
            "{out}"
        );
    }
}

#[test]
fn refused_streams_are_retried_on_another_endpoint() {
    let refusing = H2Upstream::start_with(None, true);
    let serving = H2Upstream::start(None);
    let yaml = format!(
        "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  grpc:\n    protocol: h2c\n    endpoints:\n      - address: 127.0.0.1:{}\n      - address: 127.0.0.1:{}\nlisteners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes:\n      - name: all\n        proxy:\n          upstream: grpc\n",
        refusing.port, serving.port
    );
    let gw = Gateway::run_yaml(BIN, &yaml, 1);
    // Round robin sends every other request to the refusing endpoint first: REFUSED_STREAM
    // (nothing processed) sends it to the other.
    for i in 0..6 {
        let path = format!("/r{i}");
        let r = ringway_testkit::get(gw.addr(), &path);
        assert_eq!(
            (r.status, r.text()),
            (200, format!("GET {path} len=0 conn=1 te=trailers"))
        );
    }
}
