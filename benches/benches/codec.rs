//! Codec benches: the per-request CPU work of the data plane, without I/O.
//!
//! * `request_head`: find the end of a request head, parse it strictly into a reused
//!   [`RequestHead`] and write the forwarded head into a reused output buffer — exactly what a
//!   session does per request. Compared with a naive proxy: `httparse` into
//!   `[httparse::EMPTY_HEADER; 64]`, then the forwarded head built in a fresh `String` with
//!   `format!` and pushes. Both produce byte-identical output (checked before measuring).
//! * `response_head`: the same for upstream response heads.
//! * `chunked`: the streaming chunked decoder on a 64 KiB body sent as 4 KiB chunks, fed in
//!   16 KiB reads (the data plane's read buffer size), next to a plain copy of the same bytes.
//!
//! All inputs and buffers are built outside the timed closures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use ringway_core::{RequestId, RequestIdGen};
use ringway_proxy::codec::{
    find_head_end, write_request_head, write_response_head, Body, ChunkedDecoder, ForwardInfo,
    HeadLimits, OutBody, Output, RequestEdits, RequestHead, ResponseHead,
};

/// A small curl-style GET.
const CURL_GET: &[u8] = b"GET /api/v1/status?verbose=1 HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

/// A browser navigation: 13 fields, cookies, hop-by-hop `Connection: keep-alive`.
const BROWSER_GET: &[u8] = b"GET /products/widgets/blue-widget-3000?ref=homepage&utm_source=newsletter HTTP/1.1\r\n\
Host: shop.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Referer: https://shop.example.com/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7\r\n\
Cookie: session_id=7f3c2a9e4b1d8f60a5c3e2d1b0a99887; cart=3%3A1%2C17%3A2; theme=dark; _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; consent=necessary%2Canalytics\r\n\
\r\n";

/// A JSON API POST with a Content-Length body (the body itself is not part of the head).
const POST_JSON: &[u8] = b"POST /api/v1/orders HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: shop-frontend/2.3.1 (+https://shop.example.com)\r\n\
Accept: application/json\r\n\
Content-Type: application/json; charset=utf-8\r\n\
Content-Length: 348\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl\r\n\
X-Forwarded-For: 198.51.100.23\r\n\
X-Request-Id: 5b0c8a4e-checkout-7781\r\n\
\r\n";

/// The smallest useful response (what the roundtrip bench's upstream sends).
const RESP_MINIMAL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n";

/// An nginx-style HTML response with 11 fields.
const RESP_NGINX: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.25.3\r\n\
Date: Tue, 14 May 2024 09:21:07 GMT\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Length: 51234\r\n\
Connection: keep-alive\r\n\
Vary: Accept-Encoding\r\n\
Cache-Control: private, max-age=0, must-revalidate\r\n\
ETag: \"66432d5b-c822\"\r\n\
Set-Cookie: session_id=7f3c2a9e4b1d8f60a5c3e2d1b0a99887; Path=/; HttpOnly; Secure; SameSite=Lax\r\n\
Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n\
X-Frame-Options: SAMEORIGIN\r\n\
\r\n";

const CLIENT_IP: &str = "203.0.113.7";
const FALLBACK_HOST: &str = "10.0.0.12:8080";
/// The data plane's per-connection read buffer size.
const READ_BYTES: usize = 16 * 1024;

fn request_id() -> RequestId {
    RequestIdGen::new(0).next_id()
}

/// The data plane's request path: `find_head_end`, `RequestHead::parse`, `write_request_head`
/// into buffers reused across calls. Returns the forwarded head's length.
fn ringway_request(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
    id: &RequestId,
    out: &mut Vec<u8>,
) -> usize {
    let mut scanned = 0;
    let end = find_head_end(buf, &mut scanned, limits)
        .expect("valid head")
        .expect("complete head");
    head.parse(&buf[..end], limits).expect("parses");
    let info = ForwardInfo {
        client_ip: CLIENT_IP.as_bytes(),
        proto: b"http",
        fallback_host: FALLBACK_HOST.as_bytes(),
        client_cert: None,
    };
    out.clear();
    write_request_head(&buf[..end], head, &info, id, &RequestEdits::default(), out);
    out.len()
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
    "content-length",
];

/// How a naive proxy does it: `httparse`, then a fresh `String` per request.
/// Produces the same bytes as [`write_request_head`] for the heads used here.
fn naive_request(buf: &[u8], id: &str) -> String {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = req.parse(buf).expect("parses") else {
        panic!("incomplete head");
    };
    let method = req.method.expect("method");
    let path = req.path.expect("path");
    let mut connection_named: Vec<String> = Vec::new();
    let mut host = FALLBACK_HOST.to_string();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut xff = String::new();
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "connection" => {
                for token in value.split(',') {
                    connection_named.push(token.trim().to_ascii_lowercase());
                }
            }
            "host" => host = value.to_string(),
            "content-length" => content_length = Some(value.trim().parse().expect("number")),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().ends_with("chunked"),
            "x-forwarded-for" if !value.is_empty() => {
                xff.push_str(value);
                xff.push_str(", ");
            }
            _ => {}
        }
    }
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let skip = HOP_BY_HOP.contains(&name.as_str())
            || name.starts_with("proxy-")
            || connection_named.contains(&name)
            || matches!(
                name.as_str(),
                "host"
                    | "expect"
                    | "x-forwarded-for"
                    | "x-forwarded-proto"
                    | "x-forwarded-host"
                    | "x-request-id"
            );
        if !skip {
            let value = std::str::from_utf8(h.value).unwrap_or("");
            out.push_str(&format!("{}: {}\r\n", h.name, value));
        }
    }
    out.push_str(&format!("x-forwarded-for: {xff}{CLIENT_IP}\r\n"));
    out.push_str(&format!(
        "x-forwarded-proto: http\r\nx-forwarded-host: {host}\r\n"
    ));
    out.push_str(&format!("via: 1.1 ringway\r\nx-request-id: {id}\r\n"));
    if chunked {
        out.push_str("transfer-encoding: chunked\r\n");
    } else if let Some(n) = content_length {
        out.push_str(&format!("content-length: {n}\r\n"));
    }
    out.push_str("\r\n");
    out
}

fn bench_request_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_head");
    let limits = HeadLimits::default();
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(READ_BYTES);
    let generated = request_id();
    for (name, buf) in [
        ("curl_get", CURL_GET),
        ("browser_get", BROWSER_GET),
        ("post_json", POST_JSON),
    ] {
        // Same id the data plane would use: the client's own if valid, else a generated one.
        let mut probe = RequestHead::default();
        probe.parse(buf, &limits).expect("bench head is valid");
        let id = probe.request_id.unwrap_or(generated);
        ringway_request(buf, &limits, &mut head, &id, &mut out);
        let naive = naive_request(buf, id.as_str());
        assert_eq!(
            String::from_utf8_lossy(&out),
            naive,
            "baseline must produce the same forwarded head ({name})"
        );
        if name == "post_json" {
            assert_eq!(probe.body, Body::Length(348));
        }

        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_with_input(BenchmarkId::new("ringway", name), buf, |b, buf| {
            b.iter(|| ringway_request(black_box(buf), &limits, &mut head, &id, &mut out))
        });
        group.bench_with_input(BenchmarkId::new("naive_httparse", name), buf, |b, buf| {
            b.iter(|| naive_request(black_box(buf), id.as_str()))
        });
    }
    group.finish();
}

/// The data plane's response path: `find_head_end`, `ResponseHead::parse`,
/// `write_response_head` (keep-alive client, Content-Length framing kept).
fn ringway_response(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut ResponseHead,
    id: &RequestId,
    out: &mut Vec<u8>,
) -> usize {
    let mut scanned = 0;
    let end = find_head_end(buf, &mut scanned, limits)
        .expect("valid head")
        .expect("complete head");
    head.parse(&buf[..end], false, limits.max_headers)
        .expect("parses");
    let body = match head.body {
        Body::None => OutBody::None,
        Body::Length(n) => OutBody::Length(n),
        Body::Chunked | Body::UntilClose => OutBody::Chunked,
    };
    out.clear();
    write_response_head(&buf[..end], head, body, None, id, None, out);
    out.len()
}

/// A naive proxy's response path: `httparse`, then a fresh `String`. Same output as
/// [`write_response_head`] for the heads used here.
fn naive_response(buf: &[u8], id: &str) -> String {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(_) = resp.parse(buf).expect("parses") else {
        panic!("incomplete head");
    };
    let mut connection_named: Vec<String> = Vec::new();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        match h.name.to_ascii_lowercase().as_str() {
            "connection" => {
                for token in value.split(',') {
                    connection_named.push(token.trim().to_ascii_lowercase());
                }
            }
            "content-length" => content_length = Some(value.trim().parse().expect("number")),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().ends_with("chunked"),
            _ => {}
        }
    }
    let mut out = String::new();
    write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        resp.code.expect("code"),
        resp.reason.unwrap_or("")
    )
    .expect("write to String");
    for h in resp.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let skip = HOP_BY_HOP.contains(&name.as_str())
            || name.starts_with("proxy-")
            || connection_named.contains(&name)
            || name == "x-request-id";
        if !skip {
            let value = std::str::from_utf8(h.value).unwrap_or("");
            out.push_str(&format!("{}: {}\r\n", h.name, value));
        }
    }
    if chunked {
        out.push_str("transfer-encoding: chunked\r\n");
    } else if let Some(n) = content_length {
        out.push_str(&format!("content-length: {n}\r\n"));
    }
    out.push_str(&format!("x-request-id: {id}\r\n\r\n"));
    out
}

fn bench_response_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("response_head");
    // The data plane's limits for upstream response heads.
    let limits = HeadLimits {
        max_uri_bytes: 0,
        max_head_bytes: 64 * 1024,
        max_headers: 200,
    };
    let mut head = ResponseHead::default();
    let mut out = Vec::with_capacity(READ_BYTES);
    let id = request_id();
    for (name, buf) in [("minimal", RESP_MINIMAL), ("nginx_html", RESP_NGINX)] {
        ringway_response(buf, &limits, &mut head, &id, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            naive_response(buf, id.as_str()),
            "baseline must produce the same response head ({name})"
        );

        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_with_input(BenchmarkId::new("ringway", name), buf, |b, buf| {
            b.iter(|| ringway_response(black_box(buf), &limits, &mut head, &id, &mut out))
        });
        group.bench_with_input(BenchmarkId::new("naive_httparse", name), buf, |b, buf| {
            b.iter(|| naive_response(black_box(buf), id.as_str()))
        });
    }
    group.finish();
}

/// A 64 KiB body as sixteen 4 KiB chunks plus the last chunk; returns (encoded, body length).
fn chunked_body() -> (Vec<u8>, usize) {
    const BODY: usize = 64 * 1024;
    const CHUNK: usize = 4 * 1024;
    let data: Vec<u8> = (0..BODY).map(|i| b'a' + (i % 26) as u8).collect();
    let mut encoded = Vec::with_capacity(BODY + 256);
    for chunk in data.chunks(CHUNK) {
        encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        encoded.extend_from_slice(chunk);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    (encoded, BODY)
}

/// Feeds `input` to a fresh decoder in read-buffer-sized pieces, as the data plane does.
fn decode_all(input: &[u8], output: Output, out: &mut Vec<u8>) -> u64 {
    let mut decoder = ChunkedDecoder::new(output);
    out.clear();
    for read in input.chunks(READ_BYTES) {
        let used = decoder.decode(read, out).expect("valid chunked body");
        debug_assert_eq!(used, read.len());
    }
    assert!(decoder.is_done());
    decoder.data_bytes()
}

fn bench_chunked(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunked_64k_in_4k_chunks");
    let (encoded, body_len) = chunked_body();
    let mut out = Vec::with_capacity(encoded.len() + 64);
    assert_eq!(
        decode_all(&encoded, Output::Rechunk, &mut out),
        body_len as u64
    );
    // Canonical re-chunking of canonical input is the identity.
    assert_eq!(out, encoded);
    assert_eq!(decode_all(&encoded, Output::Raw, &mut out), body_len as u64);
    assert_eq!(out.len(), body_len);

    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("decode_rechunk", |b| {
        b.iter(|| decode_all(black_box(&encoded), Output::Rechunk, &mut out))
    });
    group.bench_function("decode_raw", |b| {
        b.iter(|| decode_all(black_box(&encoded), Output::Raw, &mut out))
    });
    // The floor: copying the same bytes into the output buffer, no decoding.
    group.bench_function("memcpy_floor", |b| {
        b.iter(|| {
            out.clear();
            for read in black_box(&encoded).chunks(READ_BYTES) {
                out.extend_from_slice(read);
            }
            out.len()
        })
    });
    group.finish();
}

/// Runs every group with this file's defaults; command-line flags (`--quick`, filters, times)
/// override them, as with `criterion_main!`.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_request_head(&mut c);
    bench_response_head(&mut c);
    bench_chunked(&mut c);
    c.final_summary();
}
