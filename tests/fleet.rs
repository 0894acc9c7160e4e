//! Fleet-wide rate limits through real processes: two and three gateways (2 workers each)
//! sharing one real `redis-server`, paced load spread over gateways and connections; the
//! store paused, killed and restarted under load.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_testkit::{roundtrip, Gateway, Redis, Req, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// A gateway whose `/api` route has one global limit of `rate`/s (burst `burst`) in `redis`.
fn gateway(up: &Upstream, redis: &Redis, rate: u64, burst: u64, on_failure: &str) -> Gateway {
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n\
         upstreams: {{ app: {{ endpoints: [{{ address: \"{}\" }}] }} }}\n\
         listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n\
         \x20     - name: api\n        proxy: {{ upstream: app }}\n        rate_limits:\n\
         \x20         - {{ name: fleet, key: global, requests: {rate}, burst: {burst}, \
         store: {{ url: \"{}\", timeout: 50ms, {on_failure} }} }}\n",
        up.addr(),
        redis.url()
    );
    Gateway::run_yaml(BIN, &yaml, 2)
}

/// What paced load got back.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    limited: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    /// Slowest answer, µs.
    slowest_us: AtomicU64,
}

/// `per_conn` requests per second on each of `conns` keep-alive connections to each gateway,
/// for `secs`, paced (a request is sent on schedule whatever the answers).
fn load(
    addrs: &[SocketAddr],
    conns: usize,
    per_conn: u64,
    secs: f64,
    stop: Option<&AtomicBool>,
) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    std::thread::scope(|s| {
        for &addr in addrs {
            for _ in 0..conns {
                let tally = Arc::clone(&tally);
                s.spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut buf = Vec::new();
                    let gap = Duration::from_secs_f64(1.0 / per_conn as f64);
                    let start = Instant::now();
                    let end = start + Duration::from_secs_f64(secs);
                    let mut next = start;
                    while Instant::now() < end && stop.is_none_or(|s| !s.load(Ordering::Relaxed)) {
                        let t = Instant::now();
                        let (r, _) = roundtrip(&mut c, &Req::get("/api").keep_alive(), &mut buf);
                        tally
                            .slowest_us
                            .fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                        let counter = match r.status {
                            200 => &tally.ok,
                            429 => &tally.limited,
                            503 => &tally.unavailable,
                            _ => &tally.other,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        next += gap;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                });
            }
        }
    });
    tally
}

fn metric(gw: &Gateway, name: &str) -> Option<u64> {
    let text = ringway_testkit::get(gw.admin_addr().unwrap(), "/metrics").text();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{limit=\"fleet\"}}")))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// The documented upper bound over `secs`: burst + rate × W + 2 × hosts × lease, the lease
/// being rate × 20 ms (at least 1, at most the burst).
fn upper_bound(rate: u64, burst: u64, hosts: u64, secs: u64) -> u64 {
    let lease = (rate / 50).clamp(1, burst);
    burst + rate * secs + 2 * hosts * lease
}

#[test]
fn live_two_and_three_gateways_share_one_limit_within_the_bound() {
    let up = Upstream::start(|_| ringway_testkit::Reply::Status(200, b"ok".to_vec()));
    let redis = Redis::start();
    let (rate, burst, secs) = (100, 10, 10);
    // Two gateways at twice the rate, then three at ten times it (a fresh store each time).
    for (hosts, factor) in [(2_u64, 2_u64), (3, 10)] {
        redis.command(&["FLUSHALL"]);
        let gws: Vec<Gateway> = (0..hosts)
            .map(|_| gateway(&up, &redis, rate, burst, "on_failure: deny"))
            .collect();
        let addrs: Vec<SocketAddr> = gws.iter().map(Gateway::addr).collect();
        // Two connections per gateway.
        let per_conn = rate * factor / hosts / 2;
        let t = load(&addrs, 2, per_conn, secs as f64, None);
        let ok = t.ok.load(Ordering::Relaxed);
        let limited = t.limited.load(Ordering::Relaxed);
        let target = rate * secs;
        let bound = upper_bound(rate, burst, hosts, secs);
        eprintln!("{hosts} gateways at {factor}x: {ok} admitted, {limited} limited (rate x W = {target}, bound {bound})");
        assert_eq!(
            t.other.load(Ordering::Relaxed) + t.unavailable.load(Ordering::Relaxed),
            0
        );
        assert!(ok <= bound, "{ok} admitted over the bound {bound}");
        assert!(
            ok * 100 >= target * 95 && ok * 100 <= target * 105,
            "{ok} admitted, not within 5% of {target}"
        );
        assert!(limited > 0);
        // Redis load follows leases, not requests.
        let commands: u64 = gws
            .iter()
            .map(|g| metric(g, "ringway_ratelimit_store_commands_total").unwrap())
            .sum();
        assert!(
            commands < ok + limited,
            "{commands} store calls for {} requests",
            ok + limited
        );
    }
}

#[test]
fn live_a_paused_or_killed_store_falls_back_without_waiting_and_recovers() {
    let up = Upstream::start(|_| ringway_testkit::Reply::Status(200, b"ok".to_vec()));
    let mut redis = Redis::start();
    let port = redis.port();
    let allow = "on_failure: allow, fallback: { requests: 1000 }";
    let gw = gateway(&up, &redis, 50, 5, allow);
    let denying = gateway(&up, &redis, 50, 5, "on_failure: deny");
    let addrs = [gw.addr()];
    // Healthy: the fleet limit holds (50/s, 200/s offered for 1 s).
    let t = load(&addrs, 2, 100, 1.0, None);
    let ok = t.ok.load(Ordering::Relaxed);
    assert!((40..=70).contains(&ok), "{ok} admitted in 1 s at 50/s");

    // Paused: store calls time out, the store goes down, the fallback (1000/s) admits; no
    // request waits on the store.
    redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]);
    let t = load(&addrs, 2, 100, 1.2, None);
    let slowest = Duration::from_micros(t.slowest_us.load(Ordering::Relaxed));
    assert!(
        slowest < Duration::from_millis(250),
        "a request waited {slowest:?}"
    );
    assert!(
        t.ok.load(Ordering::Relaxed) > 150,
        "{t:?}: the fallback admits"
    );
    assert_eq!(metric(&gw, "ringway_ratelimit_store_up"), Some(0));
    assert!(metric(&gw, "ringway_ratelimit_store_fallback_total").unwrap() > 0);

    // Killed: still the fallback here; the deny gateway refuses with 503.
    redis.kill();
    let t = load(&addrs, 1, 100, 0.5, None);
    assert_eq!(t.limited.load(Ordering::Relaxed), 0, "{t:?}");
    assert!(ringway_testkit::eventually(Duration::from_secs(5), || {
        Req::get("/api").send(denying.addr()).status == 503
    }));
    let refused = Req::get("/api").send(denying.addr());
    assert!(
        refused.text().contains("limit_store_unavailable"),
        "{}",
        refused.text()
    );

    // Back on the same port: both recover without a restart, and the fleet limit holds again.
    let _redis = Redis::start_on(port);
    assert!(
        ringway_testkit::eventually(Duration::from_secs(10), || metric(
            &gw,
            "ringway_ratelimit_store_up"
        ) == Some(1)),
        "the store was not found up again"
    );
    assert!(ringway_testkit::eventually(Duration::from_secs(10), || {
        Req::get("/api").send(denying.addr()).status == 200
    }));
    std::thread::sleep(Duration::from_millis(300));
    let t = load(&addrs, 2, 100, 1.0, None);
    let ok = t.ok.load(Ordering::Relaxed);
    assert!(
        (40..=75).contains(&ok),
        "{ok} admitted in 1 s at 50/s after recovery"
    );
}
