//! Round-trip latency of one proxied request over loopback.
//!
//! A minimal blocking HTTP/1.1 keep-alive upstream (one thread per connection, fixed 13-byte
//! body) runs in-process, and so does the real gateway (`ringway_proxy::Server`, one worker).
//! A blocking keep-alive client sends `GET / HTTP/1.1` and reads the whole response: one
//! iteration is one round trip. `direct` talks to the upstream itself, `via_ringway` goes
//! through the gateway, so the difference is the cost of the extra hop.
//!
//! The upstream is written here rather than taken from `ringway_testkit::Upstream`: that mock
//! records every request and raw byte in growing, mutex-guarded vectors and re-parses its
//! whole pending buffer per read, which would add upstream-side work (and memory growth over
//! millions of iterations) to both sides of the comparison.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ringway_proxy::{driver_name, RunOptions, Server};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: b\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nhello, world!";
const BODY: &[u8] = b"hello, world!";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A keep-alive upstream answering every (body-less) request with [`RESPONSE`].
struct MiniUpstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl MiniUpstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(stream) = stream {
                    std::thread::spawn(move || serve(stream));
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for MiniUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers each complete head in the stream; exits when the peer closes.
fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0;
    loop {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = find(&buf[start..filled], b"\r\n\r\n") {
            start += end + 4;
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            return; // A head this large is not something this bench sends.
        }
    }
}

/// A blocking keep-alive client reusing one connection and one buffer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        Self {
            stream,
            buf: vec![0u8; 4096],
        }
    }

    /// Sends one request and reads exactly one response; returns its body length.
    fn round_trip(&mut self) -> usize {
        self.stream.write_all(REQUEST).expect("write request");
        let mut filled = 0;
        let mut total = None;
        let mut body_len = 0;
        loop {
            let n = self.stream.read(&mut self.buf[filled..]).expect("read");
            assert!(n > 0, "connection closed mid-response");
            filled += n;
            if total.is_none() {
                if let Some(end) = find(&self.buf[..filled], b"\r\n\r\n") {
                    let head = &self.buf[..end + 4];
                    assert!(head.starts_with(b"HTTP/1.1 200 "), "unexpected response");
                    body_len = content_length(head);
                    total = Some(end + 4 + body_len);
                }
            }
            if let Some(total) = total {
                if filled >= total {
                    assert_eq!(filled, total, "bytes after the response");
                    return body_len;
                }
            }
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
            name.eq_ignore_ascii_case(b"content-length").then(|| {
                std::str::from_utf8(&value[1..])
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })?
        })
        .expect("content-length")
}

fn bench_roundtrip(c: &mut Criterion) {
    let upstream = MiniUpstream::start();
    let yaml = format!(
        "admin: {{ enabled: false }}\n\
         upstreams: {{ up: {{ endpoints: [{{ address: \"{}\" }}] }} }}\n\
         listeners: [{{ name: bench, listen: \"127.0.0.1:0\", routes: [{{ name: all, proxy: {{ upstream: up }} }}] }}]\n",
        upstream.addr
    );
    let cfg = ringway_config::from_yaml_str(&yaml).expect("bench config");
    // Client, gateway and upstream threads take turns on 2 cores; let the scheduler place them.
    let opts = RunOptions {
        workers: 1,
        pin_workers: false,
    };
    let mut registry = ringway_telemetry::metrics::Registry::default();
    let labels = registry
        .register(&ringway_telemetry::metrics::Shape {
            listeners: vec![("bench".into(), vec!["all".into()])],
            upstreams: vec![("up".into(), vec![upstream.addr.to_string()])],
        })
        .expect("names");
    let hooks = ringway_proxy::TelemetryHooks {
        queues: None,
        hub: std::sync::Arc::new(ringway_telemetry::metrics::MetricsHub::new(
            registry.metric_names().clone(),
            1,
        )),
    };
    let policies = ringway_policy::Policies::new(&cfg, Default::default(), 1).expect("policies");
    let resilience = ringway_proxy::Resilience::new(&cfg, 1);
    let server = Server::start(
        std::sync::Arc::new(cfg),
        opts,
        hooks,
        ringway_proxy::Services {
            policies: std::sync::Arc::new(policies),
            tls: vec![None],
            upstream_tls: vec![None],
            resilience,
        },
        labels,
    )
    .expect("start gateway");
    eprintln!("roundtrip: ringway worker driver = {}", driver_name());

    let mut direct = Client::connect(upstream.addr);
    let mut proxied = Client::connect(server.local_addr());
    // Check both paths once, outside timing.
    let mut check = Client::connect(server.local_addr());
    check.stream.write_all(REQUEST).expect("write");
    let mut response = vec![0u8; 4096];
    let n = check.stream.read(&mut response).expect("read");
    assert!(
        response[..n].ends_with(BODY),
        "gateway answered: {}",
        String::from_utf8_lossy(&response[..n])
    );
    drop(check);
    assert_eq!(direct.round_trip(), BODY.len());
    assert_eq!(proxied.round_trip(), BODY.len());

    let mut group = c.benchmark_group("roundtrip");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    group.bench_function("direct", |b| b.iter(|| direct.round_trip()));
    group.bench_function("via_ringway", |b| b.iter(|| proxied.round_trip()));
    group.finish();

    drop(direct);
    drop(proxied);
    let stats = server.shutdown().expect("gateway shutdown");
    eprintln!("roundtrip: gateway stats at shutdown: {stats:?}");
    drop(upstream);
}

/// Runs the group; command-line flags (`--quick`, filters, times) apply as with
/// `criterion_main!`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_roundtrip(&mut c);
    c.final_summary();
}
