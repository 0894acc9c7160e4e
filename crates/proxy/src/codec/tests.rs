use ringway_core::{ErrorKind, RequestId};

use super::*;

fn parse(input: &[u8]) -> Result<RequestHead, ErrorKind> {
    let limits = HeadLimits::default();
    let skip = leading_empty_lines(input)?;
    let buf = &input[skip..];
    let mut from = 0;
    let end = find_head_end(buf, &mut from, &limits)?.expect("complete head");
    let mut head = RequestHead::default();
    head.parse(&buf[..end], &limits)?;
    Ok(head)
}

#[test]
fn parses_a_typical_request() {
    let buf =
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Request-Id: abc\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(h.method.of(buf), b"GET");
    assert_eq!(h.path.of(buf), b"/a?b=c");
    assert_eq!(h.path_only(buf), b"/a");
    assert_eq!(h.query_part(buf), b"?b=c");
    assert_eq!(h.query(buf), b"b=c");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.host.unwrap().of(buf), b"example.com");
    assert_eq!(h.body, Body::None);
    assert!(h.keep_alive);
    assert_eq!(h.request_id.unwrap().as_str(), "abc");
    assert_eq!(h.len, buf.len());
}

#[test]
fn framing_and_connection_semantics() {
    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  042 \r\n\r\n").unwrap();
    assert_eq!(h.body, Body::Length(42));
    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
    assert_eq!(h.body, Body::Chunked);
    let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\t\r\n\r\n").unwrap();
    assert!(!h.keep_alive);
    let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!h.keep_alive && h.host.is_none());
    let h = parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
    assert!(h.keep_alive);
    let h =
        parse(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .unwrap();
    assert!(h.expect_continue);
    let h = parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(h.method_kind, Method::Get);
}

#[test]
fn absolute_and_asterisk_forms() {
    let buf = b"GET http://Example.org:8080?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(h.authority.unwrap().of(buf), b"Example.org:8080");
    assert_eq!(h.path.of(buf), b"?q=1");
    assert_eq!(h.path_only(buf), b"");
    assert_eq!(h.query(buf), b"q=1");
    assert!(parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
    assert_eq!(
        parse(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
        ErrorKind::BadRequest
    );
    assert_eq!(
        parse(b"GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err(),
        ErrorKind::BadRequest
    );
}

#[test]
fn rejects_ambiguous_and_malformed_requests() {
    use ErrorKind::*;
    let table: &[(&[u8], ErrorKind)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4 2\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedchunked\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NotImplemented),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0cb\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nFo@: b\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", BadRequest),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", BadRequest),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / ICE/1.0\r\nHost: a\r\n\r\n", BadRequest),
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", MethodNotAllowed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", BadRequest),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", ExpectationFailed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", BadRequest),
    ];
    for (input, want) in table {
        assert_eq!(
            parse(input).err(),
            Some(*want),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn bare_lf_is_rejected_while_scanning() {
    let limits = HeadLimits::default();
    for input in [
        &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"\n",
    ] {
        let mut from = 0;
        assert_eq!(
            find_head_end(input, &mut from, &limits),
            Err(ErrorKind::BadRequest)
        );
    }
    assert_eq!(leading_empty_lines(b"\nGET"), Err(ErrorKind::BadRequest));
}

#[test]
fn limits_have_their_statuses() {
    let limits = HeadLimits {
        max_uri_bytes: 16,
        max_head_bytes: 128,
        max_headers: 2,
    };
    let mut head = RequestHead::default();
    let long_uri = b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut from = 0;
    let end = find_head_end(long_uri, &mut from, &limits)
        .unwrap()
        .unwrap();
    assert_eq!(
        head.parse(&long_uri[..end], &limits),
        Err(ErrorKind::UriTooLong)
    );
    let no_newline = [b'a'; 100];
    assert_eq!(
        find_head_end(&no_newline, &mut 0, &limits),
        Err(ErrorKind::UriTooLong)
    );
    let many = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    let end = find_head_end(many, &mut 0, &limits).unwrap().unwrap();
    assert_eq!(
        head.parse(&many[..end], &limits),
        Err(ErrorKind::HeadersTooLarge)
    );
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nA: ".to_vec();
    big.extend_from_slice(&[b'x'; 200]);
    assert_eq!(
        find_head_end(&big, &mut 0, &limits),
        Err(ErrorKind::HeadersTooLarge)
    );
}

#[test]
fn incremental_scan_finds_the_end_once() {
    let limits = HeadLimits::default();
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
    let mut from = 0;
    for n in 1..input.len() {
        if let Some(end) = find_head_end(&input[..n], &mut from, &limits).unwrap() {
            assert_eq!(end, input.len() - 4);
            return;
        }
    }
    panic!("head end not found");
}

#[test]
fn request_rewrite_removes_hop_by_hop_and_adds_forwarding_headers() {
    let buf = b"POST /x HTTP/1.1\r\nHost: api.example\r\nConnection: keep-alive, X-Secret\r\n\
X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: b\r\n\
X-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.2\r\nExpect: 100-continue\r\n\
Transfer-Encoding: chunked\r\n\r\n";
    let h = parse(buf).unwrap();
    let id = RequestId::parse(b"rid").unwrap();
    let info = ForwardInfo {
        client_ip: b"127.0.0.1",
        proto: b"http",
        fallback_host: b"up:80",
        client_cert: None,
    };
    let mut out = Vec::new();
    write_request_head(buf, &h, &info, &id, &RequestEdits::default(), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "POST /x HTTP/1.1\r\nhost: api.example\r\nAccept: */*\r\n\
x-forwarded-for: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\nx-forwarded-proto: http\r\n\
x-forwarded-host: api.example\r\nvia: 1.1 ringway\r\nx-request-id: rid\r\n\
transfer-encoding: chunked\r\n\r\n"
    );
}

#[test]
fn absolute_form_is_forwarded_in_origin_form() {
    let buf = b"GET http://h.example?q HTTP/1.1\r\nHost: ignored\r\n\r\n";
    let h = parse(buf).unwrap();
    let id = RequestId::parse(b"r").unwrap();
    let info = ForwardInfo {
        client_ip: b"::1",
        proto: b"http",
        fallback_host: b"up",
        client_cert: None,
    };
    let mut out = Vec::new();
    write_request_head(buf, &h, &info, &id, &RequestEdits::default(), &mut out);
    assert!(
        out.starts_with(b"GET /?q HTTP/1.1\r\nhost: h.example\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

fn parse_response(input: &[u8], head_request: bool) -> Result<ResponseHead, ErrorKind> {
    let mut from = 0;
    let end = find_head_end(input, &mut from, &HeadLimits::default())
        .map_err(|_| ErrorKind::UpstreamBadResponse)?
        .expect("complete head");
    let mut head = ResponseHead::default();
    head.parse(&input[..end], head_request, 100)?;
    Ok(head)
}

#[test]
fn response_framing_follows_rfc_9112() {
    let ok = |s: &[u8], head: bool| parse_response(s, head).unwrap();
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).body,
        Body::Length(5)
    );
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).body,
        Body::None
    );
    assert_eq!(
        ok(b"HTTP/1.1 204 No Content\r\n\r\n", false).body,
        Body::None
    );
    assert_eq!(
        ok(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false
        )
        .body,
        Body::None
    );
    assert_eq!(
        ok(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        )
        .body,
        Body::Chunked
    );
    let close = ok(b"HTTP/1.1 200 OK\r\n\r\n", false);
    assert_eq!(close.body, Body::UntilClose);
    assert!(!close.keep_alive);
    assert!(!ok(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false).keep_alive);
    assert!(
        !ok(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            false
        )
        .keep_alive
    );
    assert_eq!(
        ok(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false).status,
        200
    );
}

#[test]
fn ambiguous_responses_are_bad_upstream_responses() {
    let bad: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        b"HTTP/1.1 99 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ];
    for input in bad {
        assert_eq!(
            parse_response(input, false).err(),
            Some(ErrorKind::UpstreamBadResponse),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn response_rewrite_reframes_and_strips() {
    let buf = b"HTTP/1.1 200 OK\r\nServer: up\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\
Transfer-Encoding: chunked\r\nKeep-Alive: x\r\n\r\n";
    let h = parse_response(buf, false).unwrap();
    let id = RequestId::parse(b"r").unwrap();
    let mut out = Vec::new();
    write_response_head(buf, &h, OutBody::Chunked, None, &id, None, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nServer: up\r\ntransfer-encoding: chunked\r\nx-request-id: r\r\n\r\n"
    );
}

#[test]
fn error_response_is_json_with_exact_length() {
    let id = RequestId::parse(b"abc").unwrap();
    let mut out = Vec::new();
    write_error_response(
        ErrorKind::UpstreamTimeout,
        &id,
        None,
        Some(b"close"),
        b"",
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"));
    assert!(head.contains("connection: close"));
    assert_eq!(
        body,
        "{\"error\":\"upstream_timeout\",\"request_id\":\"abc\"}\n"
    );
    assert!(head.contains(&format!("content-length: {}", body.len())));

    let mut out = Vec::new();
    let trace = b"4bf92f3577b34da6a3ce929d0e0e4736";
    write_error_response(ErrorKind::NoRoute, &id, Some(trace), None, b"", &mut out);
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        body,
        "{\"error\":\"no_route\",\"request_id\":\"abc\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n"
    );
    assert!(head.contains(&format!("content-length: {}", body.len())));
}

#[test]
fn route_edits_rewrite_path_host_and_headers() {
    use ringway_config::model::HeaderOps;
    let buf = b"GET /api/x?q=1 HTTP/1.1\r\nHost: public.example\r\nX-Drop: 1\r\nX-Set: old\r\nX-Keep: k\r\n\r\n";
    let h = parse(buf).unwrap();
    let id = RequestId::parse(b"r").unwrap();
    let info = ForwardInfo {
        client_ip: b"1.2.3.4",
        proto: b"http",
        fallback_host: b"up",
        client_cert: None,
    };
    let ops = HeaderOps {
        remove: vec!["x-drop".into()],
        set: vec![("x-set".into(), "new".into())],
        add: vec![("x-add".into(), "a".into())],
    };
    let edits = RequestEdits {
        path: Some(b"/x?q=1"),
        host: Some(b"internal"),
        headers: Some(&ops),
        ..RequestEdits::default()
    };
    let mut out = Vec::new();
    write_request_head(buf, &h, &info, &id, &edits, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(
            "GET /x?q=1 HTTP/1.1\r\nhost: internal\r\nX-Keep: k\r\nx-set: new\r\nx-add: a\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("x-forwarded-host: public.example\r\n"),
        "{text}"
    );
    assert!(!text.contains("X-Drop") && !text.contains("old"), "{text}");
}

#[test]
fn policy_edits_remove_credentials_and_append_claims() {
    let buf = b"GET /o HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nX-User-Id: mallory\r\nX-Keep: k\r\n\r\n";
    let h = parse(buf).unwrap();
    let id = RequestId::parse(b"r").unwrap();
    let info = ForwardInfo {
        client_ip: b"1.2.3.4",
        proto: b"http",
        fallback_host: b"up",
        client_cert: None,
    };
    let remove = ["authorization".to_owned(), "x-user-id".to_owned()];
    let edits = RequestEdits {
        remove: &remove,
        append: b"x-user-id: alice\r\n",
        ..RequestEdits::default()
    };
    let mut out = Vec::new();
    write_request_head(buf, &h, &info, &id, &edits, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("GET /o HTTP/1.1\r\nhost: a\r\nX-Keep: k\r\nx-user-id: alice\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("mallory") && !text.contains("Bearer"),
        "{text}"
    );
}

#[test]
fn error_responses_carry_extra_header_lines() {
    let id = RequestId::parse(b"abc").unwrap();
    let mut out = Vec::new();
    write_error_response(
        ErrorKind::RateLimited,
        &id,
        None,
        None,
        b"retry-after: 3\r\n",
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nretry-after: 3\r\nx-request-id: abc\r\n\r\n{\"error\":\"rate_limited\""),
        "{text}"
    );
    assert!(!text.contains("connection: close"));
}

#[test]
fn client_certificate_field_is_only_the_gateways() {
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Client-Cert: Hash=forged\r\n\
x-forwarded-client-cert: Subject=\"CN=admin\"\r\n\r\n";
    let h = parse(buf).unwrap();
    let id = RequestId::parse(b"r").unwrap();
    for (cert, want) in [
        (None, None),
        (
            Some(&b"Hash=ab;Subject=\"CN=alice\""[..]),
            Some("Hash=ab;Subject=\"CN=alice\""),
        ),
    ] {
        let info = ForwardInfo {
            client_ip: b"::1",
            proto: b"https",
            fallback_host: b"up",
            client_cert: cert,
        };
        let mut out = Vec::new();
        write_request_head(buf, &h, &info, &id, &RequestEdits::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-forwarded-client-cert")
            })
            .collect();
        match want {
            None => assert!(lines.is_empty(), "{text}"),
            Some(v) => assert_eq!(lines, [format!("x-forwarded-client-cert: {v}")], "{text}"),
        }
        assert!(text.contains("x-forwarded-proto: https\r\n"));
    }
}

#[test]
fn websocket_handshakes_are_recognised_only_when_whole() {
    let ok = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let h = parse(ok).unwrap();
    assert!(h.websocket);
    // Forwarded with the upgrade fields written again for the next hop.
    let id = RequestId::parse(b"r").unwrap();
    let info = ForwardInfo {
        client_ip: b"::1",
        proto: b"http",
        fallback_host: b"up",
        client_cert: None,
    };
    let mut out = Vec::new();
    write_request_head(ok, &h, &info, &id, &RequestEdits::default(), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("connection: upgrade\r\nupgrade: websocket\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
        "{text}"
    );
    assert_eq!(text.matches("pgrade").count(), 2, "{text}");
    let plain = parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(!plain.websocket);
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let v13 = "Sec-WebSocket-Version: 13\r\n";
    let up = "Upgrade: websocket\r\nConnection: upgrade\r\n";
    for bad in [
        format!("POST / HTTP/1.1\r\nHost: a\r\n{up}{key}{v13}\r\n"),
        format!("GET / HTTP/1.0\r\nHost: a\r\n{up}{key}{v13}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}{v13}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}{key}{key}{v13}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}Sec-WebSocket-Key: short==\r\n{v13}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}{key}Sec-WebSocket-Version: 8\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}{key}{v13}Content-Length: 3\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n{key}{v13}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{up}Upgrade: websocket\r\n{key}{v13}\r\n"),
    ] {
        assert_eq!(
            parse(bad.as_bytes()).err(),
            Some(ErrorKind::BadRequest),
            "{bad}"
        );
    }
}

#[test]
fn trailers_are_relayed_only_when_asked_for_and_never_framing_ones() {
    let body = b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nContent-Length: 5\r\nproxy-x: y\r\ngrpc-message: ok\r\n\r\nNEXT";
    for step in [1, 3, body.len()] {
        let mut d = ChunkedDecoder::keeping_trailers();
        let mut out = Vec::new();
        let mut used = 0;
        for piece in body.chunks(step) {
            if d.is_done() {
                break;
            }
            used += d.decode(piece, &mut out).unwrap();
        }
        assert!(d.is_done());
        assert_eq!(&body[used..], b"NEXT");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n",
            "step {step}"
        );
    }
    let mut d = ChunkedDecoder::new(Output::Rechunk);
    let mut out = Vec::new();
    d.decode(body, &mut out).unwrap();
    assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
    // TE: trailers is noted on the request.
    assert!(
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: TE\r\n\r\n")
            .unwrap()
            .te_trailers
    );
    assert!(
        !parse(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .te_trailers
    );
}
