//! The edge cache through real sockets: a scripted origin counts its hits per path and
//! answers with the caching fields each path is about; the gateway caches the route.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringway_testkit::{Gateway, Reply, Req, Response, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// The origin: each path answers with its own caching fields; the body names the path, the
/// request's `accept-language` and a global fetch count, so a stored copy is recognisable.
fn origin() -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&count);
    let up = Upstream::start(move |r| {
        let k = n.fetch_add(1, Ordering::SeqCst) + 1;
        let path = r.path.split('?').next().unwrap_or_default().to_owned();
        let fields = match path.as_str() {
            "/fresh" | "/other" => "cache-control: max-age=60\r\nage: 5\r\n",
            "/short" => "cache-control: max-age=1\r\n",
            "/nostore" => "cache-control: no-store, max-age=60\r\n",
            "/private" => "cache-control: private, max-age=60\r\n",
            "/cookie" => "cache-control: max-age=60\r\nset-cookie: a=1\r\n",
            "/public" => "cache-control: public, max-age=60\r\n",
            "/vary" => "cache-control: max-age=60\r\nvary: Accept-Language\r\n",
            "/star" => "cache-control: max-age=60\r\nvary: *\r\n",
            "/swr" => "cache-control: max-age=1, stale-while-revalidate=30\r\n",
            "/sie" => "cache-control: max-age=1, stale-if-error=60\r\n",
            "/strict" => "cache-control: max-age=1, stale-if-error=60, must-revalidate\r\n",
            _ => "",
        };
        if path == "/etag" {
            // Short-lived, validated by its entity tag: a matching request gets a 304 that
            // makes it fresh for a minute.
            if r.header("if-none-match") == Some("\"v1\"") {
                return Reply::Raw(
                    b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncache-control: max-age=60\r\nx-updated: yes\r\n\r\n"
                        .to_vec(),
                );
            }
            let body = format!("etag body #{k}");
            return Reply::Raw(
                format!(
                    "HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncache-control: max-age=1\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            );
        }
        if r.header("x-fail").is_some() {
            return Reply::Raw(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown".to_vec(),
            );
        }
        let lang = r.header("accept-language").unwrap_or("-");
        let body = format!("{path} {lang} #{k}");
        Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\n{fields}content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    });
    (up, count)
}

fn gateway(up: &Upstream, workers: usize) -> Gateway {
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\n\
         upstreams: {{ origin: {{ endpoints: [{{ address: \"{}\" }}] }} }}\n\
         listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n\
         \x20     - {{ name: cached, proxy: {{ upstream: origin }}, cache: {{ max_object_bytes: 4096 }} }}\n",
        up.addr()
    );
    Gateway::run_yaml(BIN, &yaml, workers)
}

fn get(gw: &Gateway, path: &str, extra: &str) -> Response {
    Req::get(path)
        .host("cache.test")
        .lines(extra)
        .send(gw.addr())
}

#[test]
fn fresh_responses_are_served_from_the_store_with_age_and_cache_status() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 1);
    let first = get(&gw, "/fresh", "");
    assert_eq!(
        (first.status, first.text()),
        (200, "/fresh - #1".to_owned())
    );
    let status = first.header("cache-status").unwrap();
    assert!(
        status.starts_with("ringway; fwd=uri-miss; fwd-status=200; stored"),
        "{status}"
    );
    let second = get(&gw, "/fresh", "");
    assert_eq!(second.text(), "/fresh - #1", "served from the store");
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
    let status = second.header("cache-status").unwrap();
    assert!(status.starts_with("ringway; hit; ttl="), "{status}");
    // The origin said age 5: the stored copy is at least that old.
    let age: u64 = second.header("age").unwrap().parse().unwrap();
    assert!((5..60).contains(&age), "age {age}");
    assert!(second.header("x-request-id").unwrap() != first.header("x-request-id").unwrap());
    // The query is part of the key.
    assert_eq!(get(&gw, "/fresh?x=1", "").text(), "/fresh - #2");
    // HEAD is answered from the stored GET: the length of the representation, no body.
    let head = Req::new("HEAD", "/fresh")
        .host("cache.test")
        .send(gw.addr());
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("11"));
    assert!(head.body.is_empty());
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
    // Stale after its max-age: fetched again.
    assert_eq!(get(&gw, "/short", "").text(), "/short - #3");
    assert_eq!(get(&gw, "/short", "").text(), "/short - #3");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get(&gw, "/short", "").text(), "/short - #4");
}

#[test]
fn what_a_shared_cache_must_not_store_or_serve() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 1);
    for path in ["/nostore", "/private", "/cookie", "/star", "/none"] {
        let a = get(&gw, path, "");
        let b = get(&gw, path, "");
        assert_ne!(a.text(), b.text(), "{path} was served from the store");
    }
    assert_eq!(fetched.load(Ordering::SeqCst), 10);
    // A request with credentials is stored only when the response allows sharing it.
    let auth = "authorization: Bearer x\r\n";
    assert_ne!(
        get(&gw, "/other", auth).text(),
        get(&gw, "/other", auth).text()
    );
    assert_eq!(
        get(&gw, "/public", auth).text(),
        get(&gw, "/public", auth).text()
    );
    // The client can refuse a stored response.
    let stored = get(&gw, "/fresh", "").text();
    assert_eq!(get(&gw, "/fresh", "").text(), stored);
    assert_ne!(
        get(&gw, "/fresh", "cache-control: no-cache\r\n").text(),
        stored
    );
    assert_ne!(
        get(&gw, "/fresh", "pragma: no-cache\r\n").text(),
        get(&gw, "/fresh", "pragma: no-cache\r\n").text()
    );
    // only-if-cached with nothing stored: 504, and the origin is not asked.
    let before = fetched.load(Ordering::SeqCst);
    let r = get(&gw, "/never", "cache-control: only-if-cached\r\n");
    assert_eq!(r.status, 504);
    assert_eq!(fetched.load(Ordering::SeqCst), before);
}

#[test]
fn vary_keeps_one_variant_per_request_value() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 1);
    let en = "accept-language: en\r\n";
    let fr = "accept-language: fr\r\n";
    assert_eq!(get(&gw, "/vary", en).text(), "/vary en #1");
    assert_eq!(get(&gw, "/vary", en).text(), "/vary en #1");
    let miss = get(&gw, "/vary", fr);
    assert_eq!(miss.text(), "/vary fr #2");
    assert!(miss
        .header("cache-status")
        .unwrap()
        .contains("fwd=vary-miss"));
    assert_eq!(get(&gw, "/vary", fr).text(), "/vary fr #2");
    assert_eq!(get(&gw, "/vary", en).text(), "/vary en #1");
    assert_eq!(
        get(&gw, "/vary", "").text(),
        "/vary - #3",
        "absent is its own variant"
    );
    assert_eq!(fetched.load(Ordering::SeqCst), 3);
}

#[test]
fn an_unsafe_request_invalidates_on_every_core_and_purge_answers_its_count() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 2);
    // New connections spread over both cores: each core stores its own copy (≤ 2 fetches).
    for _ in 0..20 {
        assert_eq!(get(&gw, "/fresh", "").status, 200);
    }
    let filled = fetched.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&filled),
        "{filled} fetches for one key on 2 cores"
    );
    let post = Req::new("POST", "/fresh")
        .host("cache.test")
        .body(b"x")
        .send(gw.addr());
    assert_eq!(post.status, 200);
    let after_post = fetched.load(Ordering::SeqCst);
    // Every core dropped its copy: the next GETs refetch (again at most once per core).
    for _ in 0..20 {
        get(&gw, "/fresh", "");
    }
    let refetched = fetched.load(Ordering::SeqCst) - after_post;
    assert!((1..=2).contains(&refetched), "{refetched}");
    let stored_before = get(&gw, "/fresh", "").text();
    assert!(stored_before.starts_with("/fresh - #"));
    // Purge on the admin listener: by host and prefix, every core, the count answered.
    let admin = gw.admin_addr().unwrap();
    let purge = Req::new("POST", "/cache/purge?host=cache.test&prefix=/fre")
        .host("admin")
        .send(admin);
    assert_eq!(purge.status, 200, "{}", purge.text());
    let removed: usize = purge
        .text()
        .split("\"removed\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert_eq!(removed, refetched, "{}", purge.text());
    let before = fetched.load(Ordering::SeqCst);
    get(&gw, "/fresh", "");
    assert_eq!(fetched.load(Ordering::SeqCst), before + 1, "purged");
    // Each core publishes its numbers every second.
    let hits = || -> u64 {
        let text = ringway_testkit::get(admin, "/metrics").text();
        text.lines()
            .filter(|l| l.starts_with("ringway_cache_requests_total{") && l.contains("\"hit\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert!(ringway_testkit::eventually(
        Duration::from_secs(3),
        || hits() >= 30
    ));
}

#[test]
fn a_stale_entry_is_revalidated_and_a_304_freshens_it() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 1);
    assert_eq!(get(&gw, "/etag", "").text(), "etag body #1");
    std::thread::sleep(Duration::from_millis(2100));
    // Stale: the gateway asks with its entity tag; the origin's 304 freshens the entry.
    let revalidated = get(&gw, "/etag", "");
    assert_eq!(
        (revalidated.status, revalidated.text()),
        (200, "etag body #1".to_owned())
    );
    let status = revalidated.header("cache-status").unwrap();
    assert!(
        status.contains("fwd=stale; fwd-status=304; stored"),
        "{status}"
    );
    assert_eq!(
        revalidated.header("x-updated"),
        Some("yes"),
        "fields updated from the 304"
    );
    let asked = up.requests();
    assert_eq!(
        asked.last().unwrap().header("if-none-match"),
        Some("\"v1\"")
    );
    // Fresh for a minute now: served from the store without asking.
    assert_eq!(get(&gw, "/etag", "").text(), "etag body #1");
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
    // A client's own matching validator gets a 304 from the store.
    let own = get(&gw, "/etag", "if-none-match: W/\"v1\"\r\n");
    assert_eq!(own.status, 304);
    assert!(own.body.is_empty());
    assert_eq!(own.header("etag"), Some("\"v1\""));
    assert_eq!(get(&gw, "/etag", "if-none-match: \"v0\"\r\n").status, 200);
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
}

#[test]
fn concurrent_misses_make_one_origin_fetch_per_core() {
    let count = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&count);
    // A slow origin: the first fetch is still running when the others arrive.
    let up = Upstream::start(move |r| {
        let k = n.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!("{} #{k}", r.path);
        Reply::Delay(
            Duration::from_millis(400),
            Box::new(Reply::Raw(
                format!(
                    "HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            )),
        )
    });
    let gw = gateway(&up, 2);
    let addr = gw.addr();
    let clients: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || Req::get("/slow").host("cache.test").send(addr).text()))
        .collect();
    let bodies: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let fetches = count.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&fetches),
        "{fetches} origin fetches for 20 misses on 2 cores"
    );
    assert!(
        bodies.iter().all(|b| b.starts_with("/slow #")),
        "{bodies:?}"
    );
}

#[test]
fn stale_while_revalidate_serves_at_once_and_refreshes_behind() {
    let (up, fetched) = origin();
    let gw = gateway(&up, 1);
    assert_eq!(get(&gw, "/swr", "").text(), "/swr - #1");
    std::thread::sleep(Duration::from_millis(2100));
    let stale = get(&gw, "/swr", "");
    assert_eq!(stale.text(), "/swr - #1", "served stale at once");
    let status = stale.header("cache-status").unwrap();
    assert!(status.contains("detail=stale-while-revalidate"), "{status}");
    // The refresh runs after the answer; the next request finds the new copy.
    assert!(ringway_testkit::eventually(
        Duration::from_secs(3),
        || fetched.load(Ordering::SeqCst) == 2
    ));
    let fresh = get(&gw, "/swr", "");
    assert_eq!(fresh.text(), "/swr - #2");
    assert!(fresh
        .header("cache-status")
        .unwrap()
        .contains("; hit; ttl="));
}

#[test]
fn stale_if_error_answers_an_origin_failure_unless_revalidation_is_required() {
    let (up, _) = origin();
    let gw = gateway(&up, 1);
    assert_eq!(get(&gw, "/sie", "").text(), "/sie - #1");
    assert_eq!(get(&gw, "/strict", "").text(), "/strict - #2");
    std::thread::sleep(Duration::from_millis(2100));
    // The origin answers 503 now: the stale copy goes out instead.
    let saved = get(&gw, "/sie", "x-fail: 1\r\n");
    assert_eq!((saved.status, saved.text()), (200, "/sie - #1".to_owned()));
    let status = saved.header("cache-status").unwrap();
    assert!(status.contains("detail=stale-if-error"), "{status}");
    // must-revalidate forbids it: the 503 is the answer.
    let failed = get(&gw, "/strict", "x-fail: 1\r\n");
    assert_eq!(failed.status, 503);
}
