//! Hot reload through real sockets: `POST /reload` and SIGHUP read the configuration file
//! again; keep-alive clients get the new routes on their next request; idle upstream
//! connections are kept; a bad configuration changes nothing and is answered with every
//! problem's path; listeners come and go. The storm test reloads 100 times under mixed
//! traffic and counts every request at the upstream.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

#[path = "reload/storm.rs"]
mod storm;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ringway_testkit::{eventually, roundtrip, Gateway, Reply, Req, TempDir, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// A mock answering `<name> <path>`.
fn named(name: &'static str) -> Upstream {
    Upstream::start(move |r| Reply::Status(200, format!("{name} {}", r.path).into_bytes()))
}

/// Writes `text` to `path` the way an editor or a deploy tool does: a new file renamed over.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `POST /reload` on the admin listener: status and body.
fn post_reload(admin: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /reload HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

/// A sample of `/metrics` without labels beyond those given.
fn metric(admin: SocketAddr, series: &str) -> Option<f64> {
    let text = ringway_testkit::get(admin, "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn config(a: SocketAddr, b: SocketAddr, routes: &str, extra_listener: bool) -> String {
    let extra = if extra_listener {
        "  - name: extra\n    listen: 127.0.0.1:0\n    routes:\n      - { name: x, proxy: { upstream: a } }\n"
    } else {
        ""
    };
    format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n\
         upstreams:\n  a: {{ endpoints: [{{ address: \"{a}\" }}] }}\n  b: {{ endpoints: [{{ address: \"{b}\" }}] }}\n\
         listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n{routes}{extra}"
    )
}

const ROUTES_A: &str =
    "      - { name: to-a, match: { path: { prefix: /a } }, proxy: { upstream: a } }\n";
const ROUTES_AB: &str = "      - { name: to-a, match: { path: { prefix: /a } }, proxy: { upstream: a } }\n      - { name: to-b, match: { path: { prefix: /b } }, proxy: { upstream: b } }\n";

fn start(dir: &TempDir, yaml: &str) -> (Gateway, std::path::PathBuf) {
    let file = dir.0.join("gateway.yaml");
    write_atomically(&file, yaml);
    let gw = Gateway::start(
        BIN,
        &["run", "--config", file.to_str().unwrap(), "--workers", "1"],
    );
    (gw, file)
}

#[test]
fn reload_switches_routes_on_open_connections_and_keeps_idle_upstreams() {
    let (up_a, up_b) = (named("A"), named("B"));
    let dir = TempDir::new("reload-routes");
    let (gw, file) = start(&dir, &config(up_a.addr(), up_b.addr(), ROUTES_A, false));
    let admin = gw.admin_addr().unwrap();
    let mut client = TcpStream::connect(gw.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let get = |path: &str| Req::get(path).keep_alive();
    let (r, _) = roundtrip(&mut client, &get("/a/1"), &mut buf);
    assert_eq!((r.status, r.text().as_str()), (200, "A /a/1"));
    let (r, _) = roundtrip(&mut client, &get("/b/1"), &mut buf);
    assert_eq!(r.status, 404, "no /b route yet");
    assert_eq!(metric(admin, "ringway_config_generation"), Some(1.0));

    write_atomically(&file, &config(up_a.addr(), up_b.addr(), ROUTES_AB, true));
    let (status, body) = post_reload(admin);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"generation\":2"), "{body}");
    // The same keep-alive connection sees the new route once its core has switched (≤ 1 tick).
    let mut seen = String::new();
    assert!(
        eventually(Duration::from_secs(3), || {
            let (r, _) = roundtrip(&mut client, &get("/b/2"), &mut buf);
            seen = format!("{} {}", r.status, r.text());
            r.status == 200
        }),
        "{seen}"
    );
    assert_eq!(seen, "200 B /b/2");
    // The idle connection to A was handed to the new configuration: no second connection.
    let (r, _) = roundtrip(&mut client, &get("/a/2"), &mut buf);
    assert_eq!(r.status, 200);
    assert_eq!(
        up_a.connections(),
        1,
        "the pooled upstream connection is kept"
    );
    // The added listener serves; its address is in the answer and on stdout.
    let extra = body_listener(&body, "extra");
    let (r, _) = roundtrip(
        &mut TcpStream::connect(extra).unwrap(),
        &Req::get("/x"),
        &mut Vec::new(),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "A /x"));

    // A bad configuration: nothing changes, every problem named with its path.
    let bad = config(up_a.addr(), up_b.addr(), ROUTES_AB, true)
        .replace("upstream: b }", "upstream: nowhere }")
        .replace(
            "listen: 127.0.0.1:0\n    routes:\n      - { name: x",
            "listen: 127.0.0.1:0\n    timeouts: { idle: soon }\n    routes:\n      - { name: x",
        );
    write_atomically(&file, &bad);
    let (status, body) = post_reload(admin);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("listeners[0].routes[1]"), "{body}");
    assert!(body.contains("listeners[1].timeouts.idle"), "{body}");
    let (r, _) = roundtrip(&mut client, &get("/b/3"), &mut buf);
    assert_eq!(r.status, 200, "the running configuration is kept");
    // A worker count change needs a restart, and says so.
    let more = format!(
        "workers: 3\n{}",
        config(up_a.addr(), up_b.addr(), ROUTES_AB, true)
    );
    write_atomically(&file, &more);
    let (status, body) = post_reload(admin);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("workers") && body.contains("needs a restart"),
        "{body}"
    );
    assert_eq!(metric(admin, "ringway_config_generation"), Some(2.0));
    assert_eq!(
        metric(admin, "ringway_config_reloads_total{result=\"failed\"}"),
        Some(2.0)
    );

    // SIGHUP: the extra listener and the /b route go away.
    write_atomically(&file, &config(up_a.addr(), up_b.addr(), ROUTES_A, false));
    gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || {
            metric(admin, "ringway_config_generation") == Some(3.0)
        }),
        "SIGHUP reloaded"
    );
    assert!(
        eventually(Duration::from_secs(3), || {
            roundtrip(&mut client, &get("/b/4"), &mut buf).0.status == 404
        }),
        "the removed route is gone on the open connection"
    );
    assert!(
        eventually(Duration::from_secs(3), || TcpStream::connect(extra)
            .is_err()),
        "the removed listener is closed"
    );
    assert_eq!(
        metric(admin, "ringway_config_reloads_total{result=\"ok\"}"),
        Some(2.0)
    );
    // Every generation's records are counted under their own names.
    let text = ringway_testkit::get(admin, "/metrics").text();
    for series in [
        "listener=\"web\",route=\"to-b\"",
        "listener=\"extra\",route=\"x\"",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

/// The address `/reload` reported for listener `name`.
fn body_listener(body: &str, name: &str) -> SocketAddr {
    let at = body
        .find(&format!("\"name\":\"{name}\",\"addr\":\""))
        .unwrap();
    let rest = &body[at + name.len() + 18..];
    rest[..rest.find('"').unwrap()].parse().unwrap()
}

/// A mock whose `/healthz` fails: the active check marks it unhealthy.
fn sick(name: &'static str) -> Upstream {
    Upstream::start(move |r| {
        let status = if r.path == "/healthz" { 503 } else { 200 };
        Reply::Status(status, format!("{name} {}", r.path).into_bytes())
    })
}

fn carried_config(good: SocketAddr, bad: SocketAddr, extra_route: bool) -> String {
    let extra = if extra_route {
        "      - { name: added, match: { path: { prefix: /added } }, respond: { status: 200, body: added } }\n"
    } else {
        ""
    };
    format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n\
         upstreams:\n  pool:\n    endpoints: [{{ address: \"{good}\" }}, {{ address: \"{bad}\" }}]\n\
         \x20   health_check: {{ path: /healthz, interval: 300ms, timeout: 100ms, unhealthy_threshold: 3, healthy_threshold: 1 }}\n\
         \x20   retries: {{ attempts: 1 }}\n\
         listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n{extra}\
         \x20     - name: limited\n        match: {{ path: {{ prefix: /limited }} }}\n        proxy: {{ upstream: pool }}\n\
         \x20       rate_limits: [{{ name: per-ip, key: client_ip, requests: 4, per: 1m, burst: 4 }}]\n\
         \x20     - {{ name: free, proxy: {{ upstream: pool }} }}\n"
    )
}

#[test]
fn a_reload_keeps_endpoint_health_and_rate_limit_tables() {
    let (good, bad) = (named("good"), sick("bad"));
    let dir = TempDir::new("reload-carry");
    let (gw, file) = start(&dir, &carried_config(good.addr(), bad.addr(), false));
    let admin = gw.admin_addr().unwrap();
    let bad_health = format!(
        "ringway_upstream_endpoint_healthy{{upstream=\"pool\",endpoint=\"{}\"}}",
        bad.addr()
    );
    assert!(
        eventually(Duration::from_secs(5), || metric(admin, &bad_health)
            == Some(0.0)),
        "the failing endpoint is marked unhealthy"
    );
    let bad_traffic = || {
        bad.requests()
            .iter()
            .filter(|r| r.path != "/healthz")
            .count()
    };
    let before = bad_traffic();
    for i in 0..4 {
        let r = Req::get(&format!("/limited/{i}")).send(gw.addr());
        assert_eq!(
            (r.status, r.text().split(' ').next().unwrap().to_owned()),
            (200, "good".into())
        );
    }
    assert_eq!(Req::get("/limited/4").send(gw.addr()).status, 429);

    write_atomically(&file, &carried_config(good.addr(), bad.addr(), true));
    let (status, body) = post_reload(admin);
    assert_eq!(status, 200, "{body}");
    // Once the cores have switched (the new route answers), nothing goes to the unhealthy
    // endpoint: a new health thread would need 3 failed probes (≥ 600 ms) to find it again.
    assert!(eventually(Duration::from_secs(2), || {
        Req::get("/added").send(gw.addr()).text() == "added"
    }));
    for i in 0..20 {
        let r = Req::get(&format!("/free/{i}")).send(gw.addr());
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        bad_traffic(),
        before,
        "the unhealthy verdict was carried over"
    );
    assert_eq!(metric(admin, &bad_health), Some(0.0));
    // The client's used allowance was carried over too.
    assert_eq!(Req::get("/limited/5").send(gw.addr()).status, 429);
}

#[test]
fn validate_against_the_running_file_names_what_needs_a_restart() {
    let dir = TempDir::new("reload-validate");
    let up: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let running = dir.0.join("running.yaml");
    let next = dir.0.join("next.yaml");
    write_atomically(&running, &config(up, up, ROUTES_A, false));
    let validate = |file: &Path| {
        std::process::Command::new(BIN)
            .args(["validate", file.to_str().unwrap(), "--against"])
            .arg(&running)
            .output()
            .unwrap()
    };
    // Routes and listeners reload.
    write_atomically(&next, &config(up, up, ROUTES_AB, true));
    let out = validate(&next);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A worker count does not.
    write_atomically(
        &next,
        &format!("workers: 8\n{}", config(up, up, ROUTES_AB, true)),
    );
    let out = validate(&next);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("workers: changing the worker count (one per CPU to 8) needs a restart"),
        "{stderr}"
    );
}

#[test]
fn parquet_rows_of_both_configurations_keep_their_names() {
    let (up_a, up_b) = (named("A"), named("B"));
    let dir = TempDir::new("reload-parquet");
    let logs = dir.0.join("logs");
    let with_logs = |routes: &str| {
        format!(
            "telemetry: {{ logs_dir: \"{}\" }}\n{}",
            logs.display(),
            config(up_a.addr(), up_b.addr(), routes, false)
        )
    };
    let (mut gw, file) = start(&dir, &with_logs(ROUTES_A));
    let admin = gw.admin_addr().unwrap();
    for i in 0..3 {
        assert_eq!(Req::get(&format!("/a/{i}")).send(gw.addr()).status, 200);
    }
    // The new file lists `to-b` before `to-a`: indices change, names must not.
    let swapped = "      - { name: to-b, match: { path: { prefix: /b } }, proxy: { upstream: b } }\n      - { name: to-a, match: { path: { prefix: /a } }, proxy: { upstream: a } }\n";
    write_atomically(&file, &with_logs(swapped));
    assert_eq!(post_reload(admin).0, 200);
    assert!(eventually(Duration::from_secs(2), || {
        Req::get("/b/0").send(gw.addr()).status == 200
    }));
    for i in 1..3 {
        assert_eq!(Req::get(&format!("/b/{i}")).send(gw.addr()).status, 200);
        assert_eq!(Req::get(&format!("/a/x{i}")).send(gw.addr()).status, 200);
    }
    gw.signal("TERM");
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let rows = ringway_testkit::duckdb_rows(&format!(
        "select route, upstream, count(*) from read_parquet('{}/**/*.parquet') \
         where status = 200 group by all order by route",
        logs.display()
    ));
    assert_eq!(rows, "to-a|a|5\nto-b|b|3\n", "{rows}");
}
