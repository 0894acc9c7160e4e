//! End-to-end WebSocket pass-through: `ringway run` between the Python `websockets` client and
//! an echo server (`tests/ws/echo.py`), over plain TCP and TLS. Only routes with `websocket:
//! true` switch; a refused or malformed handshake is a 400 that reaches no upstream; the tunnel
//! closes when idle; the log record counts the tunnel's bytes.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ringway_testkit::{exchange_raw, Gateway, TempDir, Upstream, PATIENCE};

#[path = "tls/pki.rs"]
#[allow(dead_code, reason = "the TLS tests use the rest of the helpers")]
mod pki;

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

fn echo_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ws/echo.py")
}

/// The echo server; it stops when dropped (its stdin closes).
struct EchoServer {
    child: Child,
    port: u16,
}

impl EchoServer {
    fn start() -> EchoServer {
        ringway_testkit::ensure_python(&["websockets"]);
        let mut child = Command::new("python3")
            .arg(echo_py())
            .arg("server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        EchoServer {
            port: line.trim().parse().unwrap(),
            child,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn py(args: &[&str]) -> String {
    ringway_testkit::ensure_python(&["websockets"]);
    let out = Command::new("python3")
        .arg(echo_py())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn websockets_pass_through_where_routes_allow_them() {
    let echo = EchoServer::start();
    let mock = Upstream::echo();
    let ca = pki::Ca::new();
    let dir = TempDir::new("ws-e2e");
    let (cert, key) = ca
        .leaf(&["ws.test", "127.0.0.1"], pki::Alg::Ecdsa, false)
        .write(&dir.0, "ws");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let logs = dir.0.join("logs");
    let routes = "    routes:\n      - name: ws\n        match: { path: { prefix: /ws } }\n        websocket: true\n        proxy: { upstream: echo }\n      - name: other\n        proxy: { upstream: mock }\n";
    let yaml = format!(
        "admin:\n  listen: 127.0.0.1:0\ntelemetry:\n  logs_dir: {logs}\nupstreams:\n  echo:\n    endpoints:\n      - address: 127.0.0.1:{port}\n  mock:\n    endpoints:\n      - address: {mock}\nlisteners:\n  - name: plain\n    listen: 127.0.0.1:0\n    timeouts:\n      idle: 1s\n{routes}  - name: tls\n    listen: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: {cert}\n          key: {key}\n{routes}",
        logs = logs.display(),
        port = echo.port,
        mock = mock.addr(),
        cert = cert.display(),
        key = key.display(),
    );
    let mut gw = Gateway::run_yaml(BIN, &yaml, 2);
    let plain = gw.addr();
    let tls = gw.listener_addr(1).unwrap();

    // Echoes through both listeners: text, 100 KB binary, ping.
    for (url, proto) in [
        (format!("ws://{plain}/ws/chat"), "http"),
        (format!("wss://127.0.0.1:{}/ws/secure", tls.port()), "https"),
    ] {
        let out: serde_json::Value =
            serde_json::from_str(&py(&["client", &url, ca_file.to_str().unwrap()])).unwrap();
        assert_eq!(out["text_ok"], true, "{out}");
        assert_eq!(out["binary_ok"], true, "{out}");
        assert_eq!(out["pong"], true, "{out}");
        let h = &out["hello"]["headers"];
        assert_eq!(h["upgrade"], "websocket", "{out}");
        assert_eq!(h["connection"], "upgrade", "{out}");
        assert_eq!(h["x-forwarded-proto"], proto, "{out}");
        assert!(h["x-request-id"].is_string(), "{out}");
    }

    // A route without `websocket: true`, and malformed handshakes: 400, nothing forwarded.
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (path, extra) in [
        ("/elsewhere", format!("{key}Sec-WebSocket-Version: 13\r\n")),
        ("/ws/x", "Sec-WebSocket-Version: 13\r\n".to_owned()),
        ("/ws/x", format!("{key}Sec-WebSocket-Version: 8\r\n")),
    ] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
        );
        let got = exchange_raw(plain, req.as_bytes(), false, PATIENCE);
        assert!(
            got.bytes.starts_with(b"HTTP/1.1 400 "),
            "{path} {extra:?}: {}",
            String::from_utf8_lossy(&got.bytes)
        );
    }
    assert!(
        mock.requests().is_empty(),
        "refused handshakes reached the upstream"
    );

    // Nothing moving for the idle timeout (1 s on the plain listener) ends the tunnel.
    assert_eq!(
        py(&["idle", &format!("ws://{plain}/ws/idle"), "5"]),
        "closed"
    );

    // The records: 101, the tunnel's bytes counted both ways.
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0)
    );
    let sql = format!(
        "select path, status, request_bytes > 100000, response_bytes > 100000 from read_parquet('{}/**/*.parquet', hive_partitioning = true) where status = 101 order by path",
        logs.display()
    );
    assert_eq!(
        ringway_testkit::duckdb_rows(&sql),
        "/ws/chat|101|True|True\n/ws/idle|101|False|False\n/ws/secure|101|True|True\n"
    );
}
