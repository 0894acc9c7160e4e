//! A full telemetry queue drops and counts records; the data plane never waits for it. The
//! gateway runs in-process with a queue nobody drains (the analytics thread stalled), and
//! keeps answering every request at full speed.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_proxy::{RunOptions, Server, TelemetryHooks};
use ringway_telemetry::metrics::{ExtraGauges, MetricsHub, Registry, Shape};
use ringway_testkit::{eventually, Reply, Upstream};

const CAPACITY: usize = 1024;
const REQUESTS: usize = 3000;

#[test]
fn a_full_queue_drops_and_counts_without_blocking_the_data_plane() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let yaml = format!(
        "admin: {{ enabled: false }}\n\
         upstreams: {{ up: {{ endpoints: [{{ address: \"{}\" }}] }} }}\n\
         listeners: [{{ name: main, listen: \"127.0.0.1:0\", routes: [{{ name: all, proxy: {{ upstream: up }} }}] }}]\n",
        up.addr()
    );
    let cfg = ringway_config::from_yaml_str(&yaml).unwrap();
    let mut registry = Registry::default();
    let labels = registry
        .register(&Shape {
            listeners: vec![("main".into(), vec!["all".into()])],
            upstreams: vec![("up".into(), vec![up.addr().to_string()])],
        })
        .unwrap();
    let hub = Arc::new(MetricsHub::new(registry.metric_names().clone(), 1));
    // The consumer end is kept but never drained.
    let (producer, consumer) = ringway_telemetry::queue::channel(CAPACITY);
    let hooks = TelemetryHooks {
        queues: Some(vec![producer]),
        hub: Arc::clone(&hub),
    };
    let opts = RunOptions {
        workers: 1,
        pin_workers: false,
    };
    let policies = Arc::new(ringway_policy::Policies::new(&cfg, Default::default(), 1).unwrap());
    let services = ringway_proxy::Services {
        policies,
        tls: vec![None],
        upstream_tls: vec![None],
        resilience: ringway_proxy::Resilience::new(&cfg, 1),
    };
    let server = Server::start(Arc::new(cfg), opts, hooks, services, labels).unwrap();

    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    for i in 0..REQUESTS {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut got = Vec::new();
        // Each response is small and complete once its 2-byte body has arrived.
        while !(got.ends_with(b"\r\n\r\nok")) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed at request {i}");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 "), "request {i}");
    }
    let elapsed = started.elapsed();

    // The last record is handed over just after its response is written.
    let dropped = (REQUESTS - CAPACITY) as u64;
    assert!(
        eventually(Duration::from_secs(2), || consumer.dropped() == dropped),
        "every record past the capacity is dropped and counted: {} of {dropped}",
        consumer.dropped()
    );
    assert_eq!(consumer.len(), CAPACITY, "the queue is full");
    // Exported on /metrics once the core publishes (every second).
    let line = format!("ringway_telemetry_dropped_total {}", REQUESTS - CAPACITY);
    assert!(
        eventually(Duration::from_secs(5), || hub
            .render_prometheus(&ExtraGauges::default())
            .lines()
            .any(|l| l == line)),
        "{}",
        hub.render_prometheus(&ExtraGauges::default())
    );
    eprintln!("{REQUESTS} requests in {elapsed:?} with a stalled telemetry consumer");
    drop(s);
    server.shutdown().unwrap();
}
