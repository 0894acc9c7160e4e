//! Rate limits through real sockets and the wall clock: what one client gets over 10 s.

use super::*;

/// Sends requests at `offered` per second for `secs` over `connections` keep-alive
/// connections; returns (allowed, refused, elapsed seconds). Every 429 carries Retry-After and
/// the RateLimit fields.
pub(super) fn offer(
    addr: SocketAddr,
    connections: usize,
    offered: f64,
    secs: f64,
) -> (u64, u64, f64) {
    let start = Instant::now();
    let per_conn = offered / connections as f64;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                let (mut ok, mut refused) = (0u64, 0u64);
                let mut buf = Vec::with_capacity(4096);
                let mut n = 0u64;
                // Spread connections' schedules over the first interval.
                let offset = c as f64 / offered;
                loop {
                    let due = offset + n as f64 / per_conn;
                    if due >= secs {
                        break;
                    }
                    let wait = Duration::from_secs_f64(due).saturating_sub(start.elapsed());
                    std::thread::sleep(wait);
                    let req = Req::get("/limited").host("a").keep_alive();
                    let (response, head) = roundtrip(&mut s, &req, &mut buf);
                    match response.status {
                        200 => ok += 1,
                        429 => {
                            let text = head.to_ascii_lowercase();
                            assert!(text.contains("retry-after: "), "{text}");
                            assert!(
                                text.contains("ratelimit-policy: \"per-client\";q=100;w=1"),
                                "{text}"
                            );
                            refused += 1;
                        }
                        other => panic!("status {other}"),
                    }
                    n += 1;
                }
                (ok, refused)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        let (o, r) = h.join().unwrap();
        ok += o;
        refused += r;
    }
    (ok, refused, start.elapsed().as_secs_f64())
}

pub(super) fn limited_gateway(up: &Upstream) -> Gateway {
    run(
        &format!(
            r#"
admin: {{ listen: "127.0.0.1:0" }}
upstreams:
  u: {{ endpoints: [{{ address: "{}" }}] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: limited
        proxy: {{ upstream: u }}
        rate_limits: [{{ name: per-client, key: client_ip, requests: 100, per: 1s, burst: 10 }}]
"#,
            up.addr()
        ),
        "2",
    )
}

/// The configured rate (100/s, burst 10) is what one client gets over a 10 s window, within
/// ±5%, whether it uses one connection (one core) or 64 (both cores), at 2× and 10× overload.
pub(super) fn accuracy(connections: usize, overload: f64) {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let gw = limited_gateway(&up);
    let (ok, refused, elapsed) = offer(gw.addr(), connections, 100.0 * overload, 10.0);
    let expected = 10.0 + 100.0 * elapsed;
    let error = (ok as f64 - expected) / expected;
    eprintln!(
        "{connections} connection(s), {overload}x: allowed {ok}, refused {refused}, {elapsed:.2}s, expected {expected:.0}, error {:+.2}%",
        error * 100.0
    );
    assert!(
        error.abs() <= 0.05,
        "allowed {ok}, expected {expected:.0} ({:+.2}%)",
        error * 100.0
    );
    assert!(refused > 0);
    assert_eq!(
        up.requests().len() as u64,
        ok,
        "only allowed requests reach the upstream"
    );
    // Spread over many connections, both cores took tokens from the shared table: the limit
    // held across cores, not because every connection happened to land on one.
    if connections > 1 {
        let admin = gw.admin_addr().expect("admin address");
        let metrics = ringway_testkit::get(admin, "/metrics").text();
        for core in ["0", "1"] {
            let prefix = format!("ringway_ratelimit_leases_total{{core=\"{core}\"}} ");
            let leases: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{prefix} in\n{metrics}"));
            assert!(leases > 0, "core {core} never leased tokens:\n{metrics}");
        }
    }
}

// One wall-clock test per property: a client on one connection (one core), and a client
// spread over 64 connections (both cores). The same limiter at 2x and 10x overload, with
// every shard count and spreading pattern, runs on a fake clock in
// crates/ratelimit/tests/accuracy.rs.

#[test]
fn rate_limit_one_connection_2x() {
    accuracy(1, 2.0);
}

#[test]
fn rate_limit_64_connections_10x() {
    accuracy(64, 10.0);
}

/// Shadow mode through real sockets: a limit and an IP filter in shadow mode refuse nothing
/// and count what they would have refused on `/metrics`; an enforced limit beside them still
/// refuses.
#[test]
fn rules_in_shadow_mode_let_requests_through_and_count_them() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let yaml = format!(
        r#"
admin: {{ listen: "127.0.0.1:0" }}
upstreams: {{ api: {{ endpoints: [{{ address: "{}" }}] }} }}
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: login
        match: {{ path: {{ exact: /login }} }}
        proxy: {{ upstream: api }}
        ip_filter: {{ deny: [127.0.0.1/32], shadow: true }}
        rate_limits:
          - {{ name: trial, requests: 2, per: 60s, shadow: true }}
          - {{ name: enforced, requests: 6, per: 60s }}
"#,
        up.addr()
    );
    let gw = Gateway::run_yaml(BIN, &yaml, 1);
    let statuses: Vec<u16> = (0..8)
        .map(|_| Req::get("/login").host("a").send(gw.addr()).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
    assert_eq!(up.requests().len(), 6);
    let admin = gw.admin_addr().expect("admin address");
    let metrics = ringway_testkit::get(admin, "/metrics").text();
    for line in [
        // Every request came from the denied address.
        "ringway_policy_shadow_refusals_total{route=\"public/login\",rule=\"ip_filter\"} 8",
        // The 3rd to the 8th were over the trial limit.
        "ringway_policy_shadow_refusals_total{route=\"public/login\",rule=\"trial\"} 6",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}
