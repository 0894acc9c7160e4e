//! The zero-drop reload storm: 4 workers, three kinds of clients (a new connection per request,
//! keep-alive GETs, keep-alive POSTs with bodies), 100 reloads at about 15 a second alternating
//! two configurations that differ in routes, split weights and one listener. Every client error
//! is classified (connect error, reset, other status, other); the upstreams record every
//! request id. The negative control shows the classification sees resets: a listener closed
//! with connections queued on it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_testkit::{Gateway, Reply, TempDir, Upstream};

use super::{post_reload, write_atomically, BIN};

/// Reloads in the storm, and how long between two.
const RELOADS: usize = 100;
const RELOAD_EVERY: Duration = Duration::from_millis(65);
/// Requests per client thread at most (three threads: ~20k in all).
const PER_CLIENT: u64 = 7_000;
/// The storm's bound, whatever happens.
const LIMIT: Duration = Duration::from_secs(30);

/// How a client's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ended {
    Ok,
    /// The connection could not be opened.
    Connect,
    /// Reset, broken pipe, or closed before a whole response.
    Reset,
    /// A response other than 200 with the request's id.
    Status,
    /// Anything else (a timeout).
    Other,
}

fn classify(e: &io::Error) -> Ended {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Ended::Reset,
        _ => Ended::Other,
    }
}

/// Reads one response: status, whether the server closes, body.
fn read_response(s: &mut TcpStream) -> io::Result<(u16, bool, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let close = head.contains("\r\nconnection: close");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, close, buf[head_end..head_end + len].to_vec()))
}

/// One request on `conn` (opened first if `None`); the connection is kept when the response
/// allows it.
fn exchange(
    addr: SocketAddr,
    conn: &mut Option<TcpStream>,
    id: &str,
    body: Option<&[u8]>,
    keep: bool,
) -> Ended {
    if conn.is_none() {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.set_nodelay(true);
                *conn = Some(s);
            }
            Err(_) => return Ended::Connect,
        }
    }
    let s = conn.as_mut().expect("opened above");
    let method = if body.is_some() { "POST" } else { "GET" };
    let mut req = format!(
        "{method} /api/{id} HTTP/1.1\r\nhost: storm\r\nx-req-id: {id}\r\ncontent-length: {}\r\n{}\r\n",
        body.map_or(0, <[u8]>::len),
        if keep { "" } else { "connection: close\r\n" }
    )
    .into_bytes();
    req.extend_from_slice(body.unwrap_or_default());
    let result = s.write_all(&req).and_then(|()| read_response(s));
    match result {
        Ok((status, close, text)) => {
            if close || !keep {
                *conn = None;
            }
            if status == 200 && text == id.as_bytes() {
                Ended::Ok
            } else {
                Ended::Status
            }
        }
        Err(e) => {
            *conn = None;
            classify(&e)
        }
    }
}

/// A client thread's tally.
#[derive(Debug, Default)]
struct Tally {
    sent: Vec<String>,
    ended: HashMap<Ended, u64>,
    first_failure: Option<String>,
}

fn client(addr: SocketAddr, kind: &'static str, done: &AtomicBool, total: &AtomicU64) -> Tally {
    let body = vec![b'x'; 4096];
    let mut tally = Tally::default();
    let mut conn = None;
    let started = Instant::now();
    for n in 0..PER_CLIENT {
        if done.load(Ordering::Acquire) || started.elapsed() > LIMIT {
            break;
        }
        let id = format!("{kind}-{n}");
        let ended = match kind {
            "new" => exchange(addr, &mut conn, &id, None, false),
            "keepalive" => exchange(addr, &mut conn, &id, None, true),
            _ => exchange(addr, &mut conn, &id, Some(&body), true),
        };
        *tally.ended.entry(ended).or_default() += 1;
        if ended != Ended::Ok && tally.first_failure.is_none() {
            tally.first_failure = Some(format!("{id}: {ended:?}"));
        }
        tally.sent.push(id);
        total.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

fn storm_config(u1: SocketAddr, u2: SocketAddr, b: bool) -> String {
    let (w1, w2) = if b { (1, 3) } else { (3, 1) };
    let (only, only_up) = if b {
        ("only-b", "u2")
    } else {
        ("only-a", "u1")
    };
    let extra = if b {
        "  - name: extra\n    listen: 127.0.0.1:0\n    routes:\n      - { name: x, proxy: { upstream: u1 } }\n"
    } else {
        ""
    };
    format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n\
         upstreams:\n  u1: {{ endpoints: [{{ address: \"{u1}\" }}] }}\n  u2: {{ endpoints: [{{ address: \"{u2}\" }}] }}\n\
         listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n\
         \x20     - {{ name: {only}, match: {{ path: {{ prefix: /{only} }} }}, proxy: {{ upstream: {only_up} }} }}\n\
         \x20     - name: api\n        match: {{ path: {{ prefix: /api }} }}\n        proxy:\n\
         \x20         split: [{{ upstream: u1, weight: {w1} }}, {{ upstream: u2, weight: {w2} }}]\n{extra}"
    )
}

/// The request ids an upstream saw, counted.
fn seen_ids(ups: &[&Upstream]) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for up in ups {
        for r in up.requests() {
            if let Some(id) = r.header("x-req-id") {
                *seen.entry(id.to_string()).or_insert(0) += 1;
            }
        }
    }
    seen
}

fn echo_id() -> Upstream {
    Upstream::start(|r| Reply::Status(200, r.header("x-req-id").unwrap_or("").as_bytes().to_vec()))
}

#[test]
fn live_reload_storm_drops_nothing() {
    let (u1, u2) = (echo_id(), echo_id());
    let dir = TempDir::new("reload-storm");
    let file = dir.0.join("gateway.yaml");
    write_atomically(&file, &storm_config(u1.addr(), u2.addr(), false));
    let gw = Gateway::start(
        BIN,
        &["run", "--config", file.to_str().unwrap(), "--workers", "4"],
    );
    let (addr, admin) = (gw.addr(), gw.admin_addr().unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = ["new", "keepalive", "body"]
        .into_iter()
        .map(|kind| {
            let (done, total) = (Arc::clone(&done), Arc::clone(&total));
            std::thread::spawn(move || client(addr, kind, &done, &total))
        })
        .collect();
    let started = Instant::now();
    for i in 0..RELOADS {
        let b = i % 2 == 0;
        write_atomically(&file, &storm_config(u1.addr(), u2.addr(), b));
        let (status, body) = post_reload(admin);
        assert_eq!(status, 200, "reload {i}: {body}");
        assert_eq!(body.contains("\"name\":\"extra\""), b, "reload {i}: {body}");
        std::thread::sleep(RELOAD_EVERY);
    }
    let reload_time = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Release);
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();

    let mut ended: HashMap<Ended, u64> = HashMap::new();
    for t in &tallies {
        for (k, n) in &t.ended {
            *ended.entry(*k).or_default() += n;
        }
    }
    let failures: Vec<&String> = tallies
        .iter()
        .filter_map(|t| t.first_failure.as_ref())
        .collect();
    let sent: Vec<&String> = tallies.iter().flat_map(|t| &t.sent).collect();
    eprintln!(
        "storm: {} requests, {RELOADS} reloads in {reload_time:?}, outcomes {ended:?}",
        sent.len()
    );
    assert!(
        sent.len() >= 3_000,
        "too little traffic to mean anything: {}",
        sent.len()
    );
    assert_eq!(
        ended.get(&Ended::Ok).copied(),
        Some(sent.len() as u64),
        "{ended:?} {failures:?}"
    );
    let seen = seen_ids(&[&u1, &u2]);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "ids the upstreams saw more than once: {twice:?}"
    );
    let missing: Vec<_> = sent
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "ids the upstreams never saw: {missing:?}"
    );
    assert_eq!(seen.len(), sent.len());
    // Both configurations' weights were used: each upstream got a real share.
    for up in [&u1, &u2] {
        assert!(
            up.requests().len() * 10 > sent.len(),
            "one upstream starved"
        );
    }
    let metrics = ringway_testkit::get(admin, "/metrics").text();
    assert!(
        metrics.contains(&format!("ringway_config_generation {}", RELOADS + 1)),
        "{metrics}"
    );
}

#[test]
fn the_storm_harness_sees_resets() {
    // A listener nobody accepts on: connections queue in its backlog, then it closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                exchange(addr, &mut None, &format!("queued-{i}"), None, true)
            })
        })
        .collect();
    // Each client has connected (the kernel completes the handshake) and sent its request.
    std::thread::sleep(Duration::from_millis(300));
    drop(listener);
    let ended: Vec<Ended> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(ended.iter().all(|e| *e == Ended::Reset), "{ended:?}");
}
