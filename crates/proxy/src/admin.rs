//! The admin listener: `/healthz`, `/readyz`, `/config`, `/certificates`, `/metrics`,
//! `/anomalies` and `POST /reload` on a small blocking server thread.
//! Admin traffic is rare and tiny, so it stays off the workers' event loops entirely.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running admin listener; stops when dropped.
pub struct Admin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

/// Renders the Prometheus text for `/metrics` (or another page).
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Renders a page that may not exist now (`None`: 404).
pub type OptionalRenderer = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Runs a reload: the status and JSON body to answer.
pub type ReloadHandler = Arc<dyn Fn() -> (u16, String) + Send + Sync>;

/// Purges the edge cache by host (any when `None`) and target prefix: entries removed, and
/// whether every core answered in time.
pub type PurgeHandler = Arc<dyn Fn(Option<&str>, &str) -> (usize, bool) + Send + Sync>;

/// What the admin endpoints report.
#[derive(Clone)]
pub struct AdminState {
    /// Set once every listener is bound and the workers run; cleared when draining.
    pub ready: Arc<AtomicBool>,
    /// The configuration as loaded (shown by `/config`; the newest after a reload).
    pub config_text: MetricsRenderer,
    /// `/metrics` (Prometheus text format 0.0.4).
    pub metrics: MetricsRenderer,
    /// `/anomalies` (JSON), when the detectors run.
    pub anomalies: Option<MetricsRenderer>,
    /// `/certificates` (JSON): what each TLS listener serves now (names, validity, SHA-256
    /// fingerprints; never a key; `None` when no listener speaks TLS). `/config` ends with the
    /// same as YAML comments.
    pub certificates: (OptionalRenderer, MetricsRenderer),
    /// `POST /reload`.
    pub reload: ReloadHandler,
    /// `POST /cache/purge?host=H&prefix=P`.
    pub purge: PurgeHandler,
}

impl Admin {
    /// Binds `addr` and serves until dropped.
    pub fn start(addr: SocketAddr, state: AdminState) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("ringway-admin".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, &state);
                    }
                }
            })?;
        tracing::info!(%addr, "Admin listening");
        Ok(Self { addr, stop })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

/// `POST /cache/purge?host=H&prefix=P` (both optional; `prefix` defaults to `/`): the entries
/// removed over every core. Values are taken as written (no percent-decoding).
fn purge(target: &[u8], state: &AdminState) -> (&'static str, &'static str, String) {
    let text = String::from_utf8_lossy(target);
    let (path, query) = text.split_once('?').unwrap_or((&text, ""));
    if path != "/cache/purge" {
        let body = "{\"error\":\"not_found\"}\n".to_owned();
        return ("404 Not Found", "application/json", body);
    }
    let (mut host, mut prefix) = (None, "/".to_owned());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("host", v)) if !v.is_empty() => host = Some(v.to_owned()),
            Some(("prefix", v)) if v.starts_with('/') => prefix = v.to_owned(),
            _ => {
                let body = format!(
                    "{{\"error\":\"bad parameter {:?}: use host=NAME and prefix=/PATH\"}}\n",
                    pair
                );
                return ("400 Bad Request", "application/json", body);
            }
        }
    }
    let (removed, complete) = (state.purge)(host.as_deref(), &prefix);
    let body = format!("{{\"removed\":{removed},\"complete\":{complete}}}\n");
    ("200 OK", "application/json", body)
}

fn serve(mut s: TcpStream, state: &AdminState) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
        let n = s.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
    }
    let line = buf[..len].split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let (status, ctype, body): (&str, &str, String) = match (method, path) {
        (b"GET", b"/healthz") => ("200 OK", "application/json", "{\"status\":\"ok\"}\n".into()),
        (b"GET", b"/readyz") if state.ready.load(Ordering::Acquire) => (
            "200 OK",
            "application/json",
            "{\"status\":\"ready\"}\n".into(),
        ),
        (b"GET", b"/readyz") => (
            "503 Service Unavailable",
            "application/json",
            "{\"status\":\"not_ready\"}\n".into(),
        ),
        (b"GET", b"/config") => {
            let mut text = (state.config_text)();
            text.push_str(&(state.certificates.1)());
            ("200 OK", "application/yaml", text)
        }
        (b"POST", b"/reload") => {
            let (code, body) = (state.reload)();
            let status = if code == 200 {
                "200 OK"
            } else if code == 400 {
                "400 Bad Request"
            } else {
                "500 Internal Server Error"
            };
            (status, "application/json", body)
        }
        (b"POST", p) if p.starts_with(b"/cache/purge") => purge(p, state),
        (b"GET", b"/certificates") => match (state.certificates.0)() {
            Some(json) => ("200 OK", "application/json", json),
            None => (
                "404 Not Found",
                "application/json",
                "{\"error\":\"no listener speaks TLS\"}\n".into(),
            ),
        },
        (b"GET", b"/metrics") => ("200 OK", "text/plain; version=0.0.4", (state.metrics)()),
        (b"GET", b"/anomalies") => match &state.anomalies {
            Some(render) => ("200 OK", "application/json", render()),
            None => (
                "404 Not Found",
                "application/json",
                "{\"error\":\"anomaly detection is off: it runs with telemetry.logs_dir\"}\n"
                    .into(),
            ),
        },
        (b"GET", _) => (
            "404 Not Found",
            "application/json",
            "{\"error\":\"not_found\"}\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "application/json",
            "{\"error\":\"method_not_allowed\"}\n".into(),
        ),
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
