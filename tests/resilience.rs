//! Upstream resilience through real sockets: active health checks, outlier ejection, panic
//! mode, circuit breakers. Mock upstreams on loopback name themselves in their replies; the
//! gateway's `/metrics` shows what the health thread decided.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_testkit::{eventually, roundtrip, Gateway, Reply, Req, Response, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// A mock answering `<name> <path>`; `/healthz` answers 200 while `healthy` is set, else 503.
fn flaky(name: &'static str, healthy: &Arc<AtomicBool>) -> Upstream {
    let healthy = Arc::clone(healthy);
    Upstream::start(move |r| handler(name, &healthy, r))
}

fn handler(name: &str, healthy: &AtomicBool, r: &ringway_testkit::Request) -> Reply {
    if r.path == "/healthz" {
        let status = if healthy.load(Ordering::Acquire) {
            200
        } else {
            503
        };
        return Reply::Status(status, Vec::new());
    }
    Reply::Status(200, format!("{name} {}", r.path).into_bytes())
}

/// Requests that reached `up` other than health checks.
fn traffic(up: &Upstream) -> usize {
    up.requests()
        .iter()
        .filter(|r| r.path != "/healthz")
        .count()
}

fn served_by(r: &Response) -> String {
    r.text().split(' ').next().unwrap_or_default().to_owned()
}

fn metrics(gw: &Gateway) -> String {
    ringway_testkit::get(gw.admin_addr().unwrap(), "/metrics").text()
}

/// The value of `name{labels}` on `/metrics` (labels as rendered, e.g. `upstream="g"`).
fn metric(gw: &Gateway, name: &str, labels: &str) -> Option<u64> {
    let text = metrics(gw);
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn endpoint(up: &Upstream) -> String {
    format!("upstream=\"g\",endpoint=\"{}\"", up.addr())
}

fn gateway(group: &str, workers: usize) -> Gateway {
    Gateway::run_yaml(
        BIN,
        &format!(
            "admin: {{ listen: 127.0.0.1:0 }}\nupstreams:\n  g: {group}\nlisteners:\n  - name: main\n    \
             listen: 127.0.0.1:0\n    routes:\n      - {{ name: ping, match: {{ path: {{ exact: /ping }} }}, respond: {{ status: 200, body: pong }} }}\n      \
             - {{ name: all, proxy: {{ upstream: g }} }}\n"
        ),
        workers,
    )
}

#[test]
fn a_killed_endpoint_is_avoided_without_client_errors_and_used_again_once_back() {
    let up = Arc::new(AtomicBool::new(true));
    let a = flaky("a", &up);
    let b = flaky("b", &up);
    let a_addr = a.addr();
    // interval 200ms, timeout 100ms, unhealthy after 2: marked within 2 × 200 + 100 = 500ms.
    // Passive ejection is off, so this is the active check's doing.
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{a_addr}\" }}, {{ address: \"{}\" }}], \
             health_check: {{ path: /healthz, interval: 200ms, timeout: 100ms, unhealthy_threshold: 2, healthy_threshold: 1 }}, \
             outlier_detection: {{ consecutive_local_failures: 0 }}, retries: {{ attempts: 1, budget_percent: 100 }} }}",
            b.addr()
        ),
        2,
    );
    let healthy = |gw: &Gateway, up: &Upstream| {
        metric(gw, "ringway_upstream_endpoint_healthy", &endpoint(up))
    };
    let ep_a = format!("upstream=\"g\",endpoint=\"{a_addr}\"");
    assert!(
        eventually(Duration::from_secs(3), || !a.requests().is_empty()),
        "the first probe fires at start"
    );
    for _ in 0..20 {
        assert_eq!(Req::get("/x").send(gw.addr()).status, 200);
    }
    assert!(
        traffic(&a) > 0 && traffic(&b) > 0,
        "both serve while healthy"
    );
    assert_eq!(healthy(&gw, &a), Some(1));

    drop(a);
    let killed = Instant::now();
    let mut statuses = Vec::new();
    let mut marked = None;
    while killed.elapsed() < Duration::from_secs(3) {
        statuses.push(Req::get("/x").send(gw.addr()).status);
        if marked.is_none() && metric(&gw, "ringway_upstream_endpoint_healthy", &ep_a) == Some(0) {
            marked = Some(killed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let marked = marked.expect("the killed endpoint was marked unhealthy");
    assert!(
        marked <= Duration::from_millis(500 + 300),
        "marked after {marked:?}: the bound is 2 × 200ms + 100ms (plus scheduling)"
    );
    assert!(
        statuses.iter().all(|&s| s == 200),
        "retries absorbed every failure: {statuses:?}"
    );

    // Back on the same port: healthy after one passing probe, and traffic returns.
    let a = Upstream::start_at(a_addr, {
        let up = Arc::clone(&up);
        move |r| handler("a2", &up, r)
    });
    assert!(eventually(Duration::from_secs(3), || metric(
        &gw,
        "ringway_upstream_endpoint_healthy",
        &ep_a
    ) == Some(1)));
    let served: Vec<String> = (0..20)
        .map(|_| served_by(&Req::get("/x").send(gw.addr())))
        .collect();
    assert!(
        served.iter().any(|s| s == "a2"),
        "traffic returned: {served:?}"
    );
    assert!(traffic(&a) > 0);
}

#[test]
fn every_core_stops_using_an_unhealthy_endpoint_once_it_is_published() {
    let a_up = Arc::new(AtomicBool::new(true));
    let b_up = Arc::new(AtomicBool::new(true));
    let a = flaky("a", &a_up);
    let b = flaky("b", &b_up);
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}, {{ address: \"{}\" }}], \
             health_check: {{ path: /healthz, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1, healthy_threshold: 1 }} }}",
            a.addr(),
            b.addr()
        ),
        4,
    );
    // Sixteen keep-alive connections, spread over the four workers by SO_REUSEPORT.
    let mut conns: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(gw.addr()).unwrap())
        .collect();
    let mut buf = Vec::new();
    let req = Req::get("/x").keep_alive();
    let mut round = |conns: &mut Vec<TcpStream>| {
        for c in conns.iter_mut() {
            for _ in 0..4 {
                let (r, _) = roundtrip(c, &req, &mut buf);
                assert_eq!(r.status, 200);
            }
        }
    };
    round(&mut conns);
    assert!(traffic(&a) >= 16, "a served its share");

    a_up.store(false, Ordering::Release);
    let ep_a = endpoint(&a);
    assert!(eventually(Duration::from_secs(3), || metric(
        &gw,
        "ringway_upstream_endpoint_healthy",
        &ep_a
    ) == Some(0)));
    // One worker tick (50ms) later, no core sends anything to a.
    std::thread::sleep(Duration::from_millis(50));
    let before = traffic(&a);
    round(&mut conns);
    round(&mut conns);
    assert_eq!(
        traffic(&a),
        before,
        "a request reached the unhealthy endpoint"
    );

    a_up.store(true, Ordering::Release);
    assert!(eventually(Duration::from_secs(3), || metric(
        &gw,
        "ringway_upstream_endpoint_healthy",
        &ep_a
    ) == Some(1)));
    round(&mut conns);
    assert!(traffic(&a) > before, "a is used again");
}

#[test]
fn consecutive_5xx_eject_for_longer_each_time() {
    let bad = Upstream::start(|_| Reply::Status(500, b"bad".to_vec()));
    let good = Upstream::start(|r| Reply::Status(200, format!("good {}", r.path).into_bytes()));
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}, {{ address: \"{}\" }}], retries: {{ attempts: 0 }}, \
             outlier_detection: {{ consecutive_5xx: 3, base_ejection_time: 400ms, max_ejection_time: 2s, max_ejection_percent: 50 }} }}",
            bad.addr(),
            good.addr()
        ),
        1,
    );
    // One request every 10ms for 2.5s; note when the bad endpoint answers.
    let start = Instant::now();
    let mut bad_at = Vec::new();
    while start.elapsed() < Duration::from_millis(2500) {
        let r = Req::get("/x").send(gw.addr());
        if r.status == 500 {
            bad_at.push(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Gaps between the bad endpoint's answers: the long ones are its ejections.
    let gaps: Vec<Duration> = bad_at
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > Duration::from_millis(200))
        .collect();
    assert!(gaps.len() >= 2, "at least two ejections: {gaps:?}");
    assert!(
        gaps[0] >= Duration::from_millis(380) && gaps[0] < Duration::from_millis(700),
        "first: {gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(780),
        "the second lasts twice the base: {gaps:?}"
    );
    let ejections = metric(&gw, "ringway_outlier_ejections_total", &endpoint(&bad)).unwrap();
    assert!(ejections >= 2, "{ejections}");
    assert_eq!(
        metric(&gw, "ringway_outlier_ejections_total", &endpoint(&good)),
        Some(0)
    );
}

#[test]
fn max_ejection_percent_caps_ejections_and_one_is_always_allowed() {
    let ups: Vec<Upstream> = (0..4)
        .map(|_| Upstream::start(|_| Reply::Status(503, Vec::new())))
        .collect();
    let list: Vec<String> = ups
        .iter()
        .map(|u| format!("{{ address: \"{}\" }}", u.addr()))
        .collect();
    // 10% of 4 is 0.4 endpoints: one may be ejected all the same, and only one.
    let gw = gateway(
        &format!(
            "{{ endpoints: [{}], retries: {{ attempts: 0 }}, \
             outlier_detection: {{ consecutive_5xx: 2, base_ejection_time: 30s }} }}",
            list.join(", ")
        ),
        1,
    );
    for _ in 0..40 {
        assert_eq!(Req::get("/x").send(gw.addr()).status, 503);
    }
    let ejected: u64 = ups
        .iter()
        .map(|u| metric(&gw, "ringway_upstream_endpoint_ejected", &endpoint(u)).unwrap())
        .sum();
    assert_eq!(ejected, 1, "{}", metrics(&gw));
}

#[test]
fn below_the_panic_threshold_every_endpoint_is_used_and_counted() {
    let down = Arc::new(AtomicBool::new(false));
    let a = flaky("a", &down);
    let b = flaky("b", &down);
    let check =
        "health_check: { path: /healthz, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1 }";
    let group = |panic: u32| {
        format!(
            "{{ endpoints: [{{ address: \"{}\" }}, {{ address: \"{}\" }}], {check}, panic_threshold: {panic} }}",
            a.addr(),
            b.addr()
        )
    };
    // Both checks fail: with the default threshold (50%) the group panics and serves anyway.
    let gw = gateway(&group(50), 1);
    assert!(eventually(Duration::from_secs(3), || {
        metric(&gw, "ringway_upstream_endpoint_healthy", &endpoint(&a)) == Some(0)
            && metric(&gw, "ringway_upstream_endpoint_healthy", &endpoint(&b)) == Some(0)
    }));
    let served: Vec<String> = (0..10)
        .map(|_| served_by(&Req::get("/x").send(gw.addr())))
        .collect();
    assert!(
        served.contains(&"a".to_owned()) && served.contains(&"b".to_owned()),
        "{served:?}"
    );
    let picks = metric(&gw, "ringway_upstream_panic_picks_total", "upstream=\"g\"").unwrap();
    assert!(picks >= 10, "{picks}");
    drop(gw);

    // Panic off: nothing is eligible, and the gateway says so.
    let gw = gateway(&group(0), 1);
    assert!(eventually(Duration::from_secs(3), || {
        metric(&gw, "ringway_upstream_endpoint_healthy", &endpoint(&b)) == Some(0)
            && metric(&gw, "ringway_upstream_endpoint_healthy", &endpoint(&a)) == Some(0)
    }));
    let r = Req::get("/x").send(gw.addr());
    assert_eq!(r.status, 503);
    assert!(r.text().contains("no_endpoint"), "{}", r.text());
}

/// A mock answering its path after `ms` milliseconds.
fn slow(ms: u64) -> Upstream {
    Upstream::start(move |r| {
        let reply = Reply::Status(200, r.path.clone().into_bytes());
        Reply::Delay(Duration::from_millis(ms), Box::new(reply))
    })
}

/// Sends `GET path` on a new connection from a thread; the response comes back on join.
fn in_background(addr: SocketAddr, path: &'static str) -> std::thread::JoinHandle<Response> {
    std::thread::spawn(move || Req::get(path).send(addr))
}

#[test]
fn max_requests_answers_503_at_once_with_retry_after_and_keeps_the_connection() {
    let slow = slow(800);
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}], circuit_breakers: {{ max_requests: 2 }} }}",
            slow.addr()
        ),
        4,
    );
    let first = in_background(gw.addr(), "/one");
    let second = in_background(gw.addr(), "/two");
    assert!(eventually(Duration::from_secs(2), || slow.requests().len() == 2));
    // The third, on a keep-alive connection: refused at once, connection kept.
    let mut c = TcpStream::connect(gw.addr()).unwrap();
    let mut buf = Vec::new();
    let asked = Instant::now();
    let (r, _) = roundtrip(&mut c, &Req::get("/three").keep_alive(), &mut buf);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "refused without waiting"
    );
    assert_eq!(r.status, 503);
    assert!(r.text().contains("upstream_overloaded"), "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    let (pong, _) = roundtrip(&mut c, &Req::get("/ping").keep_alive(), &mut buf);
    assert_eq!(pong.text(), "pong", "the connection stayed open");
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(second.join().unwrap().status, 200);
    assert_eq!(
        slow.requests().len(),
        2,
        "the refused request never reached the upstream"
    );
    // Slots come back: a request after them is served.
    assert_eq!(Req::get("/four").send(gw.addr()).status, 200);
    let refused = metric(
        &gw,
        "ringway_upstream_overloaded_total",
        "upstream=\"g\",limit=\"max_requests\"",
    );
    assert_eq!(refused, Some(1));
}

#[test]
fn max_connections_makes_requests_wait_for_a_connection_and_pending_overflow_is_refused() {
    let slow = slow(300);
    let group = |pending: u32| {
        format!(
            "{{ endpoints: [{{ address: \"{}\" }}], circuit_breakers: {{ max_connections: 1, max_pending_requests: {pending}, max_wait: 2s }} }}",
            slow.addr()
        )
    };
    let gw = gateway(&group(4), 1);
    let started = Instant::now();
    let both: Vec<_> = ["/a", "/b"]
        .into_iter()
        .map(|p| in_background(gw.addr(), p))
        .collect();
    for r in both {
        assert_eq!(r.join().unwrap().status, 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(590),
        "the second waited for the first's connection"
    );
    assert_eq!(slow.connections(), 1, "one upstream connection served both");
    drop(gw);

    let gw = gateway(&group(0), 1);
    let first = in_background(gw.addr(), "/a");
    assert!(eventually(Duration::from_secs(2), || slow.requests().len() == 3));
    let r = Req::get("/b").send(gw.addr());
    assert_eq!(r.status, 503, "no room to wait: refused");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(first.join().unwrap().status, 200);
}

#[test]
fn connect_failures_eject_by_default() {
    let up = Arc::new(AtomicBool::new(true));
    let a = flaky("a", &up);
    let b = flaky("b", &up);
    let ep_a = endpoint(&a);
    // No health check and no outlier settings: the defaults eject after 5 connect failures.
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}, {{ address: \"{}\" }}], retries: {{ attempts: 1, budget_percent: 100 }} }}",
            a.addr(),
            b.addr()
        ),
        1,
    );
    assert_eq!(Req::get("/x").send(gw.addr()).status, 200);
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..30 {
        assert_eq!(
            Req::get("/x").send(gw.addr()).status,
            200,
            "a retry absorbed it"
        );
    }
    assert!(eventually(Duration::from_secs(2), || metric(
        &gw,
        "ringway_upstream_endpoint_ejected",
        &ep_a
    ) == Some(1)));
    assert_eq!(
        metric(&gw, "ringway_outlier_ejections_total", &ep_a),
        Some(1)
    );
    assert_eq!(
        metric(&gw, "ringway_upstream_endpoint_healthy", &ep_a),
        Some(1),
        "no active check ran"
    );
}

/// `threads` clients sending requests back to back for `run`; returns (answered 200, shed 503).
fn load(addr: SocketAddr, threads: usize, run: Duration) -> (usize, usize) {
    let until = Instant::now() + run;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut ok, mut shed) = (0, 0);
                while Instant::now() < until {
                    let r = Req::get("/x").send(addr);
                    match r.status {
                        200 => ok += 1,
                        503 => {
                            assert!(r.text().contains("upstream_overloaded"), "{}", r.text());
                            shed += 1;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
                (ok, shed)
            })
        })
        .collect();
    handles.into_iter().fold((0, 0), |(a, b), h| {
        let (ok, shed) = h.join().unwrap();
        (a + ok, b + shed)
    })
}

#[test]
fn adaptive_concurrency_sheds_when_the_upstream_slows_and_recovers() {
    let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(20));
    let up = {
        let delay_ms = Arc::clone(&delay_ms);
        Upstream::start(move |_| {
            let ms = delay_ms.load(Ordering::Acquire);
            Reply::Delay(
                Duration::from_millis(ms),
                Box::new(Reply::Status(200, b"ok".to_vec())),
            )
        })
    };
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}], adaptive_concurrency: {{ sample_window: 50ms, \
             min_rtt_samples: 10, min_limit: 2, max_limit: 100 }} }}",
            up.addr()
        ),
        1,
    );
    let limit = || {
        metric(
            &gw,
            "ringway_adaptive_concurrency_limit",
            "upstream=\"g\",core=\"0\"",
        )
        .unwrap()
    };
    // Learn the unloaded latency one request at a time, then let the limit grow.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert_eq!(Req::get("/x").send(gw.addr()).status, 200);
    }
    let (ok, shed) = load(gw.addr(), 8, Duration::from_secs(1));
    assert!(
        shed * 20 <= ok,
        "a fast upstream is barely shed: {ok} ok, {shed} shed"
    );
    std::thread::sleep(Duration::from_millis(100));
    let grown = limit();
    assert!(grown >= 8, "limit {grown}");

    // Ten times slower: the limit falls and the excess is shed with 503.
    delay_ms.store(200, Ordering::Release);
    let (ok, shed) = load(gw.addr(), 8, Duration::from_secs(2));
    assert!(shed > ok, "a slow upstream is shed: {ok} ok, {shed} shed");
    std::thread::sleep(Duration::from_millis(100));
    let fallen = limit();
    assert!(fallen <= 4, "limit {fallen} (was {grown})");

    // Fast again: the limit grows back and shedding stops.
    delay_ms.store(20, Ordering::Release);
    let _ = load(gw.addr(), 2, Duration::from_millis(1500));
    let (ok, shed) = load(gw.addr(), 8, Duration::from_secs(1));
    assert!(shed * 20 <= ok, "recovered: {ok} ok, {shed} shed");
    assert!(limit() >= 8, "limit {}", limit());
    let shed_total = metric(
        &gw,
        "ringway_upstream_overloaded_total",
        "upstream=\"g\",limit=\"adaptive_concurrency\"",
    );
    assert!(shed_total.unwrap() > 0);
}

/// `live_`: run once in CI (not again under the legacy driver): 30 s of load.
#[test]
fn live_overload_at_five_times_the_sustainable_rate_sheds_and_stays_healthy() {
    // Sustainable: 10 requests in flight × 50 ms = 200 requests a second.
    let up = slow(50);
    let gw = gateway(
        &format!(
            "{{ endpoints: [{{ address: \"{}\" }}], circuit_breakers: {{ max_requests: 10 }} }}",
            up.addr()
        ),
        2,
    );
    let addr = gw.addr();
    // 1000 requests a second offered for 30 s: 50 keep-alive clients, one request every
    // 50 ms each (a client whose answer is late sends its next at once).
    let run = Duration::from_secs(30);
    let start = Instant::now();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = Vec::new();
                let (mut served, mut shed, mut latencies) = (0u32, 0u32, Vec::new());
                let mut next = Instant::now() + Duration::from_millis(i);
                while start.elapsed() < run {
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    next += Duration::from_millis(50);
                    let sent = Instant::now();
                    let (r, _) = roundtrip(&mut c, &Req::get("/x").keep_alive(), &mut buf);
                    match r.status {
                        200 => {
                            served += 1;
                            latencies.push(sent.elapsed());
                        }
                        503 => {
                            assert_eq!(r.header("retry-after"), Some("1"));
                            shed += 1;
                        }
                        other => panic!("unexpected {other}: {}", r.text()),
                    }
                }
                (served, shed, latencies)
            })
        })
        .collect();
    let (mut served, mut shed, mut latencies) = (0, 0, Vec::new());
    for c in clients {
        let (a, b, l) = c.join().unwrap();
        served += a;
        shed += b;
        latencies.extend(l);
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let rss_mib = gw.peak_rss_kib().unwrap() / 1024;
    eprintln!("overload: {served} served, {shed} shed (503), p99 of served {p99:?}, peak RSS {rss_mib} MiB");
    // The upstream's capacity is what gets served (within a fifth), the rest is shed.
    assert!(served >= 200 * 30 * 4 / 5, "{served} served");
    assert!(shed > served, "{shed} shed, {served} served");
    // Admitted requests are not queued behind the overload: the upstream's 50 ms plus
    // little (a debug build on a shared machine).
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?}");
    assert!(rss_mib < 256, "peak RSS {rss_mib} MiB");
    // Alive and well afterwards.
    assert_eq!(Req::get("/after").send(addr).status, 200);
    assert_eq!(
        up.requests().len() as u32,
        served + 1,
        "nothing shed reached the upstream"
    );
}
