//! Fleet-wide rate limits through real processes: two and three gateways (2 workers each)
//! sharing one real `redis-server`, paced load spread over gateways and connections, with
//! leases and in the approximate sync mode; the store paused, killed and restarted under load.

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
        .find(|l| l.starts_with(&format!("{name}{{limit=\"web/api/fleet\"}}")))?;
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
fn live_the_sync_mode_stays_within_its_bound_and_counts_every_request() {
    let up = Upstream::start(|_| ringway_testkit::Reply::Status(200, b"ok".to_vec()));
    let redis = Redis::start();
    let (rate, burst, secs, hosts, interval_ms) = (100, 10, 10, 3_u64, 100);
    let sync = format!("on_failure: deny, mode: sync, sync_interval: {interval_ms}ms");
    let gws: Vec<Gateway> = (0..hosts)
        .map(|_| gateway(&up, &redis, rate, burst, &sync))
        .collect();
    let addrs: Vec<SocketAddr> = gws.iter().map(Gateway::addr).collect();
    // Ten times the rate over three gateways, two connections each.
    let t = load(&addrs, 2, rate * 10 / hosts / 2, secs as f64, None);
    let ok = t.ok.load(Ordering::Relaxed);
    let target = rate * secs;
    // b + r·W + (h−1)·(b + 2·r·I): each other gateway's burst and two intervals unseen.
    let bound = burst + rate * secs + (hosts - 1) * (burst + 2 * rate * interval_ms / 1000);
    eprintln!(
        "sync mode, {hosts} gateways at 10x: {ok} admitted (rate x W = {target}, bound {bound})"
    );
    assert_eq!(
        t.other.load(Ordering::Relaxed) + t.unavailable.load(Ordering::Relaxed),
        0
    );
    assert!(ok <= bound, "{ok} admitted over the bound {bound}");
    assert!(
        ok * 100 >= target * 95,
        "{ok} admitted, below 95% of {target}"
    );
    // Every admitted request reaches the store in a flush; one call per gateway and interval
    // at most, whatever the request rate.
    let sum = |name: &str| -> u64 { gws.iter().map(|g| metric(g, name).unwrap()).sum() };
    assert!(ringway_testkit::eventually(Duration::from_secs(2), || {
        sum("ringway_ratelimit_store_synced_requests_total") == ok
    }));
    let commands = sum("ringway_ratelimit_store_commands_total");
    let intervals = secs * 1000 / interval_ms + 3;
    assert!(
        commands <= hosts * intervals,
        "{commands} store calls, more than one per gateway and interval"
    );
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

/// A gateway where API-key consumer `acme` is on a plan with an hourly quota of `quota`
/// counted in `redis`, and a route whose fleet-wide limit is in shadow mode.
fn quota_gateway(up: &Upstream, redis: &Redis, quota: u64) -> Gateway {
    let acme = ringway_auth::apikey::hash(b"acme-key-0123456789");
    let yaml = format!(
        r#"
admin: {{ listen: 127.0.0.1:0 }}
upstreams:
  api: {{ endpoints: [{{ address: "{up}" }}] }}
auth:
  api_keys: {{ header: x-api-key }}
  plans:
    metered:
      quotas: [{{ requests: {quota}, per: hour }}]
      store: {{ url: "{url}" }}
  consumers:
    acme: {{ plan: metered, api_keys: ["{acme}"] }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - name: reports
        match: {{ path: {{ prefix: /reports }} }}
        proxy: {{ upstream: api }}
        auth: {{ api_key: true }}
      - name: tried
        match: {{ path: {{ prefix: /tried }} }}
        proxy: {{ upstream: api }}
        rate_limits: [{{ name: trial, key: global, requests: 2, burst: 2, shadow: true, store: {{ url: "{url}" }} }}]
"#,
        up = up.addr(),
        url = redis.url()
    );
    Gateway::run_yaml(BIN, &yaml, 2)
}

fn hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
}

#[test]
fn a_quota_in_the_store_survives_a_restart_and_shadow_mode_counts() {
    let up = Upstream::start(|_| ringway_testkit::Reply::Status(200, b"ok".to_vec()));
    let redis = Redis::start();
    // Retried once if an hour boundary passes during the run (a new window starts afresh).
    for attempt in 0..2 {
        redis.command(&["FLUSHALL"]);
        let started = hour();
        // Paced: a client's next request comes after the lease exchange a request starts.
        let get = |gw: &Gateway| {
            std::thread::sleep(Duration::from_millis(20));
            Req::get("/reports/q")
                .header("x-api-key", "acme-key-0123456789")
                .send(gw.addr())
                .status
        };
        let gw = quota_gateway(&up, &redis, 10);
        let first: Vec<u16> = (0..6).map(|_| get(&gw)).collect();
        drop(gw);
        // A new process: the quota's count is in the store, not in the gateway.
        let gw = quota_gateway(&up, &redis, 10);
        let second: Vec<u16> = (0..8).map(|_| get(&gw)).collect();
        if hour() != started && attempt == 0 {
            continue;
        }
        assert_eq!(first, vec![200; 6]);
        let admitted = second.iter().filter(|&&s| s == 200).count();
        // 10 per hour over both processes: 4 more here, less what the first process held
        // unused when it stopped, plus at most the one unit of credit (lease 1 = 1% of the
        // quota, at least 1) this gateway may run ahead by: the documented bound.
        assert!(
            (3..=5).contains(&admitted),
            "{second:?}: the quota started afresh after the restart"
        );
        assert_eq!(second.last(), Some(&429));

        // Shadow mode: the fleet-wide limit of 2 refuses nothing and counts what it would.
        let tried: Vec<u16> = (0..6)
            .map(|_| Req::get("/tried").send(gw.addr()).status)
            .collect();
        assert_eq!(tried, vec![200; 6]);
        let admin = gw.admin_addr().unwrap();
        assert!(ringway_testkit::eventually(Duration::from_secs(5), || {
            let m = ringway_testkit::get(admin, "/metrics").text();
            m.lines().any(|l| {
                l.starts_with(
                    "ringway_policy_shadow_refusals_total{route=\"main/tried\",rule=\"trial\"}",
                ) && l
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v >= 2)
            })
        }));
        return;
    }
}
