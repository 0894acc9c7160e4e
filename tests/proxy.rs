//! End-to-end tests of the HTTP/1.1 data plane: the real `ringway proxy` binary, real loopback
//! sockets, in-process mock upstreams that record what they receive.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ringway_testkit::{
    eventually, exchange_raw, get, parse_responses, Gateway, Reply, Response, Upstream,
};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");
const WAIT: Duration = Duration::from_secs(5);

fn gateway(upstreams: &[SocketAddr], extra: &[&str]) -> Gateway {
    let mut args = vec!["--workers", "1"];
    args.extend_from_slice(extra);
    Gateway::proxy(BIN, upstreams, &args)
}

/// Sends raw bytes on a fresh connection (half-closing after) and parses every response.
fn roundtrip(gw: &Gateway, input: &[u8]) -> Vec<Response> {
    let ex = exchange_raw(gw.addr(), input, true, WAIT);
    parse_responses(&ex.bytes, |_| false)
}

fn connect(gw: &Gateway) -> TcpStream {
    let s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads from a keep-alive connection until `n` complete responses arrived.
fn read_responses(s: &mut TcpStream, n: usize, head: bool) -> Vec<Response> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let until = Instant::now() + WAIT;
    loop {
        let parsed = parse_responses(&bytes, |_| head);
        if parsed.iter().filter(|r| r.status >= 200).count() >= n || Instant::now() > until {
            return parsed;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return parse_responses(&bytes, |_| head),
            Ok(k) => bytes.extend_from_slice(&buf[..k]),
        }
    }
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn forwards_and_adds_forwarding_headers() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &[]);
    let r = roundtrip(&gw, b"GET /hello?x=1 HTTP/1.1\r\nHost: api.example\r\nX-Forwarded-For: 10.1.2.3\r\nAccept: */*\r\n\r\n");
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].status, r[0].text()),
        (200, "GET /hello?x=1".to_string())
    );
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.header("host"), Some("api.example"));
    assert_eq!(q.header("x-forwarded-for"), Some("10.1.2.3, 127.0.0.1"));
    assert_eq!(q.header("x-forwarded-proto"), Some("http"));
    assert_eq!(q.header("x-forwarded-host"), Some("api.example"));
    assert_eq!(q.header("via"), Some("1.1 ringway"));
    assert_eq!(q.header("accept"), Some("*/*"));
    let id = q.header("x-request-id").expect("request id added");
    assert!(is_hex_id(id), "{id}");
    assert_eq!(
        r[0].header("x-request-id"),
        Some(id),
        "response carries the same id"
    );
}

#[test]
fn request_id_is_kept_when_valid_and_replaced_when_not() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &[]);
    roundtrip(
        &gw,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: trace-42.a:b\r\n\r\n",
    );
    roundtrip(
        &gw,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id\"\r\n\r\n",
    );
    let reqs = up.requests();
    assert_eq!(reqs[0].header("x-request-id"), Some("trace-42.a:b"));
    let replaced = reqs[1].header("x-request-id").unwrap();
    assert!(is_hex_id(replaced), "{replaced}");
}

#[test]
fn hop_by_hop_headers_are_removed_both_ways() {
    let up = Upstream::start(|_| {
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=5\r\n\
Proxy-Thing: p\r\nX-End: e\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
        )
    });
    let gw = gateway(&[up.addr()], &[]);
    let r = roundtrip(
        &gw,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\
Keep-Alive: timeout=1\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic x\r\n\
Proxy-Connection: keep-alive\r\nX-Keep: yes\r\n\r\n",
    );
    let q = &up.requests()[0];
    for gone in [
        "connection",
        "x-hop",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            q.header_all(gone).is_empty(),
            "{gone} forwarded: {:?}",
            q.headers
        );
    }
    assert_eq!(q.header("x-keep"), Some("yes"));
    let resp = &r[0];
    assert_eq!(resp.body, b"ok");
    for gone in ["x-up-hop", "keep-alive", "proxy-thing"] {
        assert!(
            resp.header(gone).is_none(),
            "{gone} in response: {:?}",
            resp.headers
        );
    }
    assert_eq!(resp.header("x-end"), Some("e"));
    assert_eq!(resp.header("content-length"), Some("2"));
}

#[test]
fn keep_alive_reuses_one_upstream_connection() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &[]);
    let mut s = connect(&gw);
    for i in 0..20 {
        write!(s, "GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let r = read_responses(&mut s, 1, false);
        assert_eq!(r[0].text(), format!("GET /{i}"));
    }
    // A second client connection reuses the same pooled upstream connection.
    assert_eq!(get(gw.addr(), "/other").status, 200);
    assert_eq!(up.requests().len(), 21);
    assert_eq!(
        up.connections(),
        1,
        "every exchange reused the pooled connection"
    );
}

#[test]
fn idle_pooled_connections_expire() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &["--pool-idle-timeout", "200ms"]);
    assert_eq!(get(gw.addr(), "/a").status, 200);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(gw.addr(), "/b").status, 200);
    assert_eq!(up.connections(), 2, "the expired connection was not reused");
}

#[test]
fn stale_pooled_connection_is_retried_on_a_new_one() {
    // The upstream answers, then silently closes: the pooled connection is dead.
    let up = Upstream::start(|_| Reply::ThenClose(Box::new(Reply::Status(200, b"fine".to_vec()))));
    let gw = gateway(&[up.addr()], &[]);
    for _ in 0..3 {
        let r = get(gw.addr(), "/");
        assert_eq!((r.status, r.text()), (200, "fine".to_string()));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        up.requests().len(),
        3,
        "each GET reached the upstream exactly once"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &[]);
    let mut input = Vec::new();
    for i in 0..5 {
        input.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    input.extend_from_slice(
        b"POST /last HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz",
    );
    let r = roundtrip(&gw, &input);
    let bodies: Vec<String> = r.iter().map(Response::text).collect();
    assert_eq!(
        bodies,
        [
            "GET /0",
            "GET /1",
            "GET /2",
            "GET /3",
            "GET /4",
            "POST /last"
        ]
    );
    assert_eq!(up.requests()[5].body, b"xyz");
}

#[test]
fn request_bodies_are_reframed_unambiguously() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &[]);
    roundtrip(
        &gw,
        b"POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 011\r\n\r\nhello world",
    );
    roundtrip(
        &gw,
        b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    let reqs = up.requests();
    assert_eq!(reqs[0].body, b"hello world");
    assert_eq!(reqs[0].header("content-length"), Some("11"));
    assert!(reqs[0].header_all("transfer-encoding").is_empty());
    assert_eq!(reqs[1].body, b"hello world");
    assert_eq!(reqs[1].header("transfer-encoding"), Some("chunked"));
    assert!(reqs[1].header_all("content-length").is_empty());
    // Extensions and trailers are dropped; the chunk framing is our own.
    let raw = String::from_utf8_lossy(&reqs[1].raw).into_owned();
    assert!(
        raw.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{raw:?}"
    );
}

#[test]
fn response_bodies_stream_with_each_framing() {
    let up = Upstream::start(|r| {
        match r.path.as_str() {
        "/chunked" => Reply::Raw(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n".to_vec(),
        ),
        // No framing: the body ends when the upstream closes.
        _ => Reply::ThenClose(Box::new(Reply::Raw(b"HTTP/1.1 200 OK\r\nX: close-delimited\r\n\r\nuntil close".to_vec()))),
    }
    });
    let gw = gateway(&[up.addr()], &[]);
    let r = roundtrip(
        &gw,
        b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\nGET /close HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].body, b"abcde");
    assert_eq!(r[0].header("transfer-encoding"), Some("chunked"));
    assert_eq!(r[1].body, b"until close");
    assert_eq!(
        r[1].header("transfer-encoding"),
        Some("chunked"),
        "re-framed for a 1.1 client"
    );
    // An HTTP/1.0 client gets a close-delimited body.
    let ex = exchange_raw(gw.addr(), b"GET /chunked HTTP/1.0\r\n\r\n", true, WAIT);
    let text = String::from_utf8_lossy(&ex.bytes).into_owned();
    assert!(text.ends_with("\r\n\r\nabcde"), "{text:?}");
    assert!(text.contains("connection: close"), "{text:?}");
    assert!(ex.closed);
}

#[test]
fn one_gib_upload_streams_with_bounded_memory() {
    let up = Upstream::sink();
    let gw = gateway(&[up.addr()], &[]);
    const SIZE: u64 = 1 << 30;
    let mut s = connect(&gw);
    write!(
        s,
        "PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    .unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        s.write_all(&block).unwrap();
    }
    let r = read_responses(&mut s, 1, false);
    assert_eq!((r[0].status, r[0].text()), (200, "stored".to_string()));
    assert_eq!(up.streamed_body_bytes(), SIZE);
    let rss_kib = gw.peak_rss_kib().expect("VmHWM readable");
    assert!(
        rss_kib < 64 * 1024,
        "peak RSS {rss_kib} KiB for a 1 GiB upload"
    );
}

#[test]
fn expect_100_continue() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &["--max-body-bytes", "1000"]);
    let mut s = connect(&gw);
    s.write_all(
        b"PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let r = read_responses(&mut s, 1, false);
    assert_eq!((r[0].status, r[0].text()), (200, "PUT /up".to_string()));
    let q = &up.requests()[0];
    assert_eq!(q.body, b"hello");
    assert!(
        q.header_all("expect").is_empty(),
        "Expect is answered by the gateway"
    );
    // Too large: 413 at once, the body is never requested.
    let mut s = connect(&gw);
    s.write_all(
        b"PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    )
    .unwrap();
    let r = read_responses(&mut s, 1, false);
    assert_eq!(r[0].status, 413);
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn head_204_and_304_have_no_body() {
    let up = Upstream::start(|r| match r.path.as_str() {
        "/head" => Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec()),
        "/204" => Reply::Raw(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
        _ => Reply::Raw(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n".to_vec()),
    });
    let gw = gateway(&[up.addr()], &[]);
    let mut s = connect(&gw);
    s.write_all(b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let r = read_responses(&mut s, 1, true);
    assert_eq!(r[0].status, 200);
    assert_eq!(
        r[0].header("content-length"),
        Some("1234"),
        "HEAD keeps the representation length"
    );
    s.write_all(b"GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let r = read_responses(&mut s, 2, false);
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [204, 304]);
    assert!(r[0].header("content-length").is_none() && r[0].header("transfer-encoding").is_none());
    assert_eq!(r[1].header("etag"), Some("\"x\""));
    // The connection is still in sync after the bodiless responses.
    s.write_all(b"GET /204 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_responses(&mut s, 1, false)[0].status, 204);
}

#[test]
fn malformed_requests_get_4xx_and_never_reach_the_upstream() {
    let up = Upstream::echo();
    let gw = gateway(
        &[up.addr()],
        &[
            "--max-uri-bytes",
            "100",
            "--max-header-bytes",
            "2048",
            "--max-headers",
            "20",
            "--max-body-bytes",
            "100",
        ],
    );
    let many_headers: String = (0..30).map(|i| format!("X-{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(3000));
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "u".repeat(200));
    let cases: Vec<(String, u16)> = vec![
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(), 501),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\nHost: a\n\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\nabc\r\n0\r\n\r\n".into(), 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\n".into(), 400),
        ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".into(), 405),
        (long_uri, 414),
        (format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n"), 431),
        (format!("GET / HTTP/1.1\r\nHost: a\r\n{big_header}\r\n"), 431),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n".into(), 413),
        ("GET / HTTP/3.0\r\nHost: a\r\n\r\n".into(), 505),
    ];
    for (input, status) in &cases {
        let ex = exchange_raw(gw.addr(), input.as_bytes(), true, WAIT);
        let r = parse_responses(&ex.bytes, |_| false);
        assert_eq!(r.first().map(|r| r.status), Some(*status), "{input:?}");
        assert!(ex.closed, "connection closed after {input:?}");
        let body = r[0].text();
        assert!(
            body.starts_with("{\"error\":\"") && body.contains("\"request_id\":\""),
            "{body}"
        );
    }
    // Bytes after a final (`Connection: close`) request: the two sides disagree on where the
    // messages end, so nothing is forwarded, whatever the framing.
    for input in [
        "POST /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1\r\n\r\nxGET /evil HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a HTTP/1.0\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let r = roundtrip(&gw, input.as_bytes());
        assert_eq!(r.first().map(|r| r.status), Some(400), "{input:?}");
    }
    // A chunked body over the limit is cut off mid-stream: the upstream saw only a partial message.
    let ex = exchange_raw(
        gw.addr(),
        format!("POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n{}\r\n0\r\n\r\n", "b".repeat(128)).as_bytes(),
        true,
        WAIT,
    );
    assert_eq!(parse_responses(&ex.bytes, |_| false)[0].status, 413);
    assert!(
        up.requests().is_empty(),
        "no complete request reached the upstream: {:?}",
        up.requests()
    );
}

#[test]
fn ambiguous_upstream_responses_become_502() {
    let up = Upstream::start(|r| {
        Reply::Raw(match r.path.as_str() {
            "/cl-te" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n".to_vec(),
            "/dup-cl" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!".to_vec(),
            "/fold" => b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            "/bare-lf" => b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok".to_vec(),
            _ => b"SPDY/9 200 OK\r\n\r\n".to_vec(),
        })
    });
    let gw = gateway(&[up.addr()], &[]);
    for path in ["/cl-te", "/dup-cl", "/fold", "/bare-lf", "/garbage"] {
        let r = get(gw.addr(), path);
        assert_eq!(r.status, 502, "{path}");
        assert!(
            r.text().contains("\"error\":\"upstream_bad_response\""),
            "{path}: {}",
            r.text()
        );
    }
}

#[test]
fn malformed_upstream_chunked_body_aborts_the_client_response() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".to_vec();
    let up = Upstream::start(move |r| {
        if r.path == "/at-once" {
            let mut all = head.clone();
            all.extend_from_slice(b"zz\r\n");
            return Reply::Raw(all);
        }
        // The head and a valid chunk first, the bad chunk size later.
        Reply::Sequence(vec![
            Reply::Raw(head.clone()),
            Reply::Delay(
                Duration::from_millis(200),
                Box::new(Reply::Raw(b"zz\r\n".to_vec())),
            ),
        ])
    });
    let gw = gateway(&[up.addr()], &[]);
    // Nothing was sent to the client yet when the error is found: a clean 502.
    assert_eq!(get(gw.addr(), "/at-once").status, 502);
    // Part of the response was already forwarded: the client connection is cut short.
    let ex = exchange_raw(gw.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, WAIT);
    assert!(ex.closed, "client connection closed");
    let text = String::from_utf8_lossy(&ex.bytes).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the truncated body must not look complete: {text:?}"
    );
}

#[test]
fn connect_failure_retries_another_endpoint() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again: refused
    let up = Upstream::echo();
    let gw = gateway(&[dead, up.addr()], &[]);
    for i in 0..6 {
        let r = get(gw.addr(), &format!("/{i}"));
        assert_eq!(r.status, 200, "request {i}");
    }
    assert_eq!(up.requests().len(), 6);
    // With only dead endpoints: 502 with a JSON body naming the request.
    let gw = gateway(&[dead], &[]);
    let r = get(gw.addr(), "/");
    assert_eq!(r.status, 502);
    let id = r.header("x-request-id").unwrap().to_string();
    // The error names the request and its (new) trace.
    ringway_testkit::error_body_trace(&r.text(), "upstream_connect_failed", &id);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn connect_timeout_gives_504() {
    // A listener whose accept queue is full drops further SYNs, so connecting hangs.
    let sock = socket_with_backlog_zero();
    let addr = sock.local_addr().unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let gw = gateway(&[addr], &["--connect-timeout", "300ms"]);
    let started = Instant::now();
    let r = get(gw.addr(), "/");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.text().contains("upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(fillers);
}

fn socket_with_backlog_zero() -> TcpListener {
    // std's listen backlog is 128; re-listen with 0 (the kernel allows one pending connection).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = std::os::fd::AsFd::as_fd(&l).try_clone_to_owned().unwrap();
    let s = socket2::Socket::from(fd);
    s.listen(0).unwrap();
    l
}

#[test]
fn upstream_response_timeout_gives_504() {
    let up = Upstream::start(|_| {
        Reply::Delay(
            Duration::from_secs(3),
            Box::new(Reply::Status(200, b"late".to_vec())),
        )
    });
    let gw = gateway(&[up.addr()], &["--upstream-timeout", "300ms"]);
    let started = Instant::now();
    let r = get(gw.addr(), "/");
    assert_eq!(r.status, 504);
    assert!(r.text().contains("upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn slow_request_head_gets_408() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &["--header-timeout", "300ms"]);
    let mut s = connect(&gw);
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let started = Instant::now();
    let r = read_responses(&mut s, 1, false);
    assert_eq!(r[0].status, 408);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(up.requests().is_empty());
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let up = Upstream::echo();
    let gw = gateway(&[up.addr()], &["--idle-timeout", "300ms"]);
    let mut s = connect(&gw);
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, 1, false)[0].status, 200);
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_0() {
    let up = Upstream::start(|_| {
        Reply::Delay(
            Duration::from_millis(800),
            Box::new(Reply::Status(200, b"done".to_vec())),
        )
    });
    let mut gw = gateway(&[up.addr()], &[]);
    let addr = gw.addr();
    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    assert!(
        eventually(WAIT, || up.requests().len() == 1),
        "request reached the upstream"
    );
    gw.signal("TERM");
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.text()), (200, "done".to_string()));
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "the drained response closes"
    );
    let status = gw.wait_exit(WAIT).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn sigint_exits_0() {
    let up = Upstream::echo();
    let mut gw = gateway(&[up.addr()], &[]);
    assert_eq!(get(gw.addr(), "/").status, 200);
    gw.signal("INT");
    assert_eq!(gw.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn workers_are_named_threads_sharing_one_port() {
    let up = Upstream::echo();
    let gw = Gateway::proxy(BIN, &[up.addr()], &["--workers", "2"]);
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", gw.pid()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_string())
            .filter(|n| n.starts_with("ringway-core-"))
            .collect();
        names.sort();
        names
    };
    // Workers may still be starting when the address is announced.
    eventually(WAIT, || names().len() == 2);
    assert_eq!(names(), ["ringway-core-0", "ringway-core-1"]);
    // Many connections, spread by the kernel over both listeners, all get answers.
    for i in 0..40 {
        assert_eq!(get(gw.addr(), &format!("/{i}")).status, 200);
    }
}

#[test]
fn bad_command_line_exits_64() {
    let out = std::process::Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            "nonsense",
            "--to",
            "also-bad",
            "--workers",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["--listen", "--to[0]", "--workers"] {
        assert!(err.contains(expected), "{expected} not named in {err}");
    }
}
