//! End-to-end conformance run of the real `ringway` binary against the HTTP/1.1 parser cases of
//! llhttp (Node.js's parser), vendored in `tests/data/llhttp/llhttp_cases.jsonl` (see its README
//! and MIT licence there).
//!
//! * [`llhttp_request_cases`]: every strict `request` case is sent raw, on a fresh client
//!   connection, to one gateway in front of one recording upstream. What llhttp rejects must be
//!   answered with 4xx (or a close without any response) and no complete request may reach the
//!   upstream. What llhttp accepts must reach the upstream as exactly the requests an independent
//!   parser (httparse, via `ringway_testkit::parse_requests`) finds in the input, each framed
//!   one way, unless one of Ringway's documented stricter rules rejects it (then 4xx/501/505 and
//!   nothing from that request on reaches the upstream).
//! * [`llhttp_response_cases`]: every strict `response` case is what an upstream sends back to
//!   `GET /`, once with the upstream closing its side after the bytes and once with the upstream
//!   holding the connection open. The client must get the case's status (re-framed), or the
//!   documented exception, and for malformed responses a 502/504 or a close, never a complete
//!   response with the upstream's malformed framing.
//!
//! The corpus is read at test time: `RINGWAY_CORPUS` if set (another extract of the same suite),
//! else the vendored copy. A missing corpus fails the tests.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "test threads share what they observed; no gateway request path here"
)]

use std::collections::BTreeMap;
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringway_testkit::{
    exchange_raw, parse_requests, parse_responses, Gateway, RawExchange, Reply, Request, Response,
    Upstream,
};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");
const CORPUS_FILE: &str = "llhttp_cases.jsonl";
/// Per-case client timeout for request cases (the client half-closes, so incomplete inputs end
/// at once; this only bounds a gateway that would hang).
const REQUEST_CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// Upstream response timeout given to the gateway in the response test.
const RESPONSE_UPSTREAM_TIMEOUT: &str = "1s";
/// Client timeout for response cases: well above the gateway's upstream timeout.
const RESPONSE_CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Parallel (case, upstream mode) runs in the response test, each with its own gateway.
const RESPONSE_THREADS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Documented exceptions
// ---------------------------------------------------------------------------------------------

/// Request cases llhttp accepts where httparse (the independent reference used to compute the
/// expected requests) stops with a parse error. The expectation is then "the requests before the
/// error, and nothing from the invalid rest": the gateway may close or answer 4xx for the rest.
/// Every accepted case httparse rejects must be listed here, and every entry must still apply.
const HTTPARSE_REJECTS: &[(&str, &str)] = &[
    (
        "No HTTP version",
        "HTTP/0.9-style request line without a version: httparse requires HTTP/1.x; Ringway \
         rejects missing versions too (the head is incomplete here, so it just closes)",
    ),
    (
        "SOURCE request with ICE",
        "ICE/1.0 is not an HTTP version for httparse; Ringway accepts only HTTP/1.0 and HTTP/1.1",
    ),
    (
        "OPTIONS request with RTSP",
        "RTSP/1.0 is not an HTTP version for httparse; Ringway accepts only HTTP/1.0 and HTTP/1.1",
    ),
    (
        "ANNOUNCE request with RTSP",
        "RTSP/1.0 is not an HTTP version for httparse; Ringway accepts only HTTP/1.0 and HTTP/1.1",
    ),
];

/// What the client must see for a response case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The upstream's first final response, with the same status and decoded body, re-framed
    /// (Content-Length or chunked), and nothing after it. When the upstream holds the connection
    /// open and the body is close-delimited, a body cut short at the upstream timeout is accepted.
    Forward,
    /// The upstream's head with this status, then a body the gateway had to cut short because the
    /// upstream's body is incomplete: the client must NOT receive a complete response.
    Truncated(u16),
    /// The gateway answers with its own error: 502 when the upstream closes, 502 or 504 when it
    /// holds the connection open (the head never completes, so the upstream timeout fires).
    GatewayError,
    /// Malformed response (default for llhttp errors): a gateway 502/504, a close without any
    /// response, or a response cut short; never a complete response from the upstream.
    ErrorOrClose,
}

/// Response cases whose expectation differs from the default (`Forward` for cases llhttp
/// accepts, `ErrorOrClose` for cases it rejects), with the reason.
const RESPONSE_EXCEPTIONS: &[(&str, Expect, &str)] = &[
    // -- llhttp rejects, but the gateway reads exactly one well-framed message and re-frames it.
    (
        "HTTP/1.1 with keep-alive disabled and 204 status",
        Expect::Forward,
        "llhttp flags the bytes after a `Connection: close` response; the gateway forwards the \
         204 (no body by definition) and drops the upstream connection with the extra bytes, \
         so the junk never reaches the client",
    ),
    (
        "HTTP/1.1 with keep-alive disabled, content-length",
        Expect::Forward,
        "llhttp flags the bytes after a `Connection: close` response; the gateway forwards \
         exactly Content-Length bytes and drops the rest with the upstream connection",
    ),
    // -- llhttp accepts: the head never completes in the input, so there is nothing to forward.
    (
        "Tabs in `Content-Length` (surrounding)",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "Extra space between status code and reason",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "Simple response",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "RTSP response",
        Expect::GatewayError,
        "head incomplete; RTSP/ICE versions would be rejected by the gateway anyway",
    ),
    (
        "ICE response",
        Expect::GatewayError,
        "head incomplete; RTSP/ICE versions would be rejected by the gateway anyway",
    ),
    (
        "Empty body should not trigger spurious span callbacks",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "No headers and no body",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "No reason phrase",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "Empty reason phrase after space",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "Underscore in header key",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "bonjourmadame.fr",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "Non ASCII in status line",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    (
        "HTTP version 0.9",
        Expect::GatewayError,
        "head incomplete; HTTP/0.9 would be rejected by the gateway anyway",
    ),
    (
        "Response starting with CRLF",
        Expect::GatewayError,
        "head incomplete (no empty line)",
    ),
    // -- llhttp accepts: the head is complete but the body is not.
    (
        "Content-Length reset when no body is received",
        Expect::Truncated(200),
        "Content-Length: 123 with a shorter body: the client gets the head and a short body",
    ),
    (
        "HTTP 103 first, then 200",
        Expect::Truncated(200),
        "the 103 is skipped; the 200 says Content-Length: 17 but carries 16 bytes",
    ),
    (
        "Google 301",
        Expect::Truncated(301),
        "Content-Length: 219 but the captured body has 213 bytes",
    ),
    (
        "HTTP 200 response with Upgrade header and Transfer-Encoding",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "Content-Length-X",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "on_chunk_header",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "on_chunk_extension_name",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "on_chunk_extension_value",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "on_chunk_complete",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "amazon.com",
        Expect::Truncated(301),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "Spaces in header value",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "Chunk extensions",
        Expect::Truncated(200),
        "chunked body ends at `0\\r\\n` without the final empty line",
    ),
    (
        "Chunk extensions quoting",
        Expect::Truncated(200),
        "chunked body ends at `0` without CRLF and last chunk",
    ),
    // -- llhttp accepts, Ringway is stricter on purpose.
    (
        "`chunked` before other transfer-encoding",
        Expect::GatewayError,
        "stricter: a transfer-coding list not ending in exactly one `chunked` is refused (502); \
         llhttp reads such a body until close",
    ),
    (
        "multiple transfer-encoding where chunked is not the last one",
        Expect::GatewayError,
        "stricter: a transfer-coding list not ending in exactly one `chunked` is refused (502); \
         llhttp reads such a body until close",
    ),
    (
        "`chunkedchunked` transfer-encoding does not enable chunked enconding",
        Expect::GatewayError,
        "stricter: Transfer-Encoding without a final `chunked` is refused (502); llhttp reads \
         such a body until close",
    ),
];

// ---------------------------------------------------------------------------------------------
// Corpus reading: a flat-JSON reader and a base64 decoder (no dependencies)
// ---------------------------------------------------------------------------------------------

/// One corpus line.
#[derive(Debug, Clone)]
struct Case {
    /// 1-based line in the corpus file.
    line: usize,
    name: String,
    /// Where the case stands in llhttp's suite (`file:line`).
    origin: String,
    kind: String,
    ty: String,
    input: Vec<u8>,
    expect_error: bool,
    error: Option<String>,
}

/// One line of the corpus file as written (see `tests/data/llhttp/README.md`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    file: String,
    line: u64,
    name: String,
    kind: String,
    #[serde(rename = "type")]
    ty: String,
    input_b64: String,
    expect_error: bool,
    error: Option<String>,
}

fn corpus_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RINGWAY_CORPUS") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "RINGWAY_CORPUS={} is not a readable file",
            p.display()
        );
        return p;
    }
    let vendored = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/llhttp")
        .join(CORPUS_FILE);
    assert!(
        vendored.is_file(),
        "llhttp corpus missing: {} (or set RINGWAY_CORPUS)",
        vendored.display()
    );
    vendored
}

fn load_corpus() -> Vec<Case> {
    use base64::Engine as _;
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", path.display()));
    let mut cases = Vec::new();
    for (i, text) in text.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let line: Line =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{at}: bad JSON: {e}"));
        let input = base64::engine::general_purpose::STANDARD
            .decode(line.input_b64.trim())
            .unwrap_or_else(|e| panic!("{at}: bad input_b64: {e}"));
        cases.push(Case {
            line: i + 1,
            name: line.name,
            origin: format!("{}:{}", line.file, line.line),
            kind: line.kind,
            ty: line.ty,
            input,
            expect_error: line.expect_error,
            error: line.error,
        });
    }
    assert!(!cases.is_empty(), "corpus {} is empty", path.display());
    cases
}

fn cases_of(ty: &str) -> Vec<Case> {
    let cases: Vec<Case> = load_corpus()
        .into_iter()
        .filter(|c| c.kind == "http" && c.ty == ty)
        .collect();
    assert!(!cases.is_empty(), "the corpus has no http/{ty} cases");
    cases
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Bytes as escaped ASCII, cut at `max` characters.
fn show(b: &[u8], max: usize) -> String {
    let s = b.escape_ascii().to_string();
    if s.len() > max {
        format!("{}… ({} bytes)", &s[..max], b.len())
    } else {
        s
    }
}

fn describe(case: &Case) -> String {
    format!(
        "line {} {:?} ({}) expect_error={}{}",
        case.line,
        case.name,
        case.origin,
        case.expect_error,
        case.error
            .as_ref()
            .map(|e| format!(" [{e}]"))
            .unwrap_or_default()
    )
}

fn failure_report(
    case: &Case,
    mode: &str,
    ex: &RawExchange,
    upstream: &[Vec<u8>],
    why: &str,
) -> String {
    let mut s = format!(
        "{mode}{}\n    input:    {}\n    client:   closed={} {}\n",
        describe(case),
        show(&case.input, 600),
        ex.closed,
        show(&ex.bytes, 600)
    );
    for (i, c) in upstream.iter().enumerate() {
        s.push_str(&format!("    upstream conn {i}: {}\n", show(c, 600)));
    }
    s.push_str(&format!("    PROBLEM:  {why}"));
    s
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Comma-separated list items of every field `name`, trimmed and lowercased.
fn list_items(r: &Request, name: &str) -> Vec<String> {
    r.header_all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| trim_ows(t).to_ascii_lowercase())
        .collect()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request line of a message as an upstream saw it (leading empty lines skipped).
fn request_line(raw: &[u8]) -> &[u8] {
    let mut s = raw;
    loop {
        if let Some(rest) = s.strip_prefix(b"\r\n") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix(b"\n") {
            s = rest;
        } else {
            break;
        }
    }
    let end = s.iter().position(|&b| b == b'\n').unwrap_or(s.len());
    let line = &s[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn version_of(r: &Request) -> String {
    let line = request_line(&r.raw);
    let v = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    String::from_utf8_lossy(v).into_owned()
}

fn is_absolute_form(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://")
}

/// Splits an absolute-form target into (authority, path as forwarded in origin-form).
fn split_absolute(target: &str) -> (String, String) {
    let scheme_len = target.find("://").map_or(0, |i| i + 3);
    let rest = &target[scheme_len..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let path = &rest[auth_len..];
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    (rest[..auth_len].to_string(), path)
}

// ---------------------------------------------------------------------------------------------
// Request cases
// ---------------------------------------------------------------------------------------------

/// A documented way in which Ringway is stricter than llhttp for a request llhttp accepts.
fn stricter_rule(r: &Request, data_after: bool) -> Option<&'static str> {
    let version = version_of(r);
    let http10 = version == "HTTP/1.0";
    if !http10 && version != "HTTP/1.1" {
        return Some("protocol other than HTTP/1.0 or HTTP/1.1 (400/505)");
    }
    if r.path.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Some("control or non-ASCII byte in the target (400)");
    }
    if r.headers
        .iter()
        .any(|(_, v)| v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f))
    {
        return Some("control byte in a field value (400)");
    }
    if r.method == "CONNECT" {
        return Some("CONNECT is not proxied (405)");
    }
    let cl = r.header_all("content-length");
    if cl.len() > 1 {
        return Some("duplicate Content-Length (400)");
    }
    if cl
        .iter()
        .any(|v| trim_ows(v).is_empty() || !trim_ows(v).bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("invalid Content-Length (400)");
    }
    if !r.header_all("transfer-encoding").is_empty() {
        let codings = list_items(r, "transfer-encoding");
        let chunked = codings.iter().filter(|c| *c == "chunked").count();
        let well_formed = codings
            .iter()
            .all(|c| !c.is_empty() && c.bytes().all(is_tchar));
        if !cl.is_empty()
            || chunked != 1
            || codings.last().map(String::as_str) != Some("chunked")
            || !well_formed
        {
            return Some("Transfer-Encoding not ending in exactly one `chunked`, or with CL (400)");
        }
        if http10 {
            return Some("Transfer-Encoding in an HTTP/1.0 request (400)");
        }
        if codings.len() > 1 {
            return Some("transfer-coding other than plain `chunked` (501)");
        }
    }
    if r.header_all("expect")
        .iter()
        .any(|v| !trim_ows(v).eq_ignore_ascii_case("100-continue"))
    {
        return Some("Expect other than 100-continue (417)");
    }
    if r.header_all("upgrade")
        .iter()
        .any(|v| !trim_ows(v).eq_ignore_ascii_case("h2c"))
    {
        return Some("Upgrade other than h2c (400)");
    }
    let hosts = r.header_all("host").len();
    if hosts > 1 {
        return Some("duplicate Host (400)");
    }
    if !http10 && hosts == 0 {
        return Some(if is_absolute_form(&r.path) {
            "absolute-form target without Host (400)"
        } else {
            "HTTP/1.1 request without Host (400)"
        });
    }
    if r.path == "*" {
        if r.method != "OPTIONS" {
            return Some("asterisk-form target with a method other than OPTIONS (400)");
        }
    } else if is_absolute_form(&r.path) {
        let (authority, _) = split_absolute(&r.path);
        if authority.is_empty() || authority.contains('@') {
            return Some("absolute-form with empty authority or userinfo (400)");
        }
    } else if !r.path.starts_with('/') {
        return Some("target neither origin-, absolute- nor asterisk-form (400)");
    }
    let connection = list_items(r, "connection");
    let close = connection.iter().any(|t| t == "close");
    let keep_alive = if http10 {
        !close && connection.iter().any(|t| t == "keep-alive")
    } else {
        !close
    };
    if !keep_alive && data_after {
        return Some("data after a `Connection: close` / HTTP/1.0 request (400)");
    }
    None
}

/// Checks that `got` (as the upstream parsed it) is `exp` (as parsed from the client's input)
/// forwarded: same method, origin-form path, host, decoded body, and one framing.
fn same_request(exp: &Request, got: &Request) -> Result<(), String> {
    let (authority, path) = if is_absolute_form(&exp.path) {
        let (a, p) = split_absolute(&exp.path);
        (Some(a), p)
    } else {
        (None, exp.path.clone())
    };
    if got.method != exp.method {
        return Err(format!(
            "method {:?}, expected {:?}",
            got.method, exp.method
        ));
    }
    if got.path != path {
        return Err(format!("path {:?}, expected {:?}", got.path, path));
    }
    let host = authority.or_else(|| exp.header("host").map(|h| trim_ows(h).to_string()));
    match (got.header_all("host").as_slice(), host) {
        ([h], Some(want)) if trim_ows(h) != want => {
            return Err(format!("host {h:?}, expected {want:?}"));
        }
        ([_], _) => {}
        (hs, _) => return Err(format!("{} Host fields forwarded, expected 1", hs.len())),
    }
    if got.body != exp.body {
        return Err(format!(
            "body {:?}, expected {:?}",
            show(&got.body, 200),
            show(&exp.body, 200)
        ));
    }
    let cl = got.header_all("content-length");
    let te = got.header_all("transfer-encoding");
    let had_framing = !exp.header_all("content-length").is_empty()
        || !exp.header_all("transfer-encoding").is_empty();
    let framings = cl.len() + te.len();
    if framings > 1 || (had_framing || !exp.body.is_empty()) && framings != 1 {
        return Err(format!(
            "forwarded with content-length {cl:?} and transfer-encoding {te:?}: expected exactly one"
        ));
    }
    if let [v] = te.as_slice() {
        if !trim_ows(v).eq_ignore_ascii_case("chunked") {
            return Err(format!(
                "forwarded transfer-encoding {v:?}, expected plain chunked"
            ));
        }
    }
    if let [v] = cl.as_slice() {
        if trim_ows(v) != got.body.len().to_string() {
            return Err(format!(
                "forwarded content-length {v:?} for a {}-byte body",
                got.body.len()
            ));
        }
    }
    Ok(())
}

fn is_gateway_rejection(status: u16) -> bool {
    (400..500).contains(&status) || status == 501 || status == 505
}

/// Waits until the upstream has been quiet for a moment, then returns the raw bytes of the
/// connections accepted since `before` (the gateway may still be writing an aborted request
/// when the client sees the close).
fn settle(up: &Upstream, before: usize) -> Vec<Vec<u8>> {
    let snapshot = || {
        let raw = up.raw();
        (raw.len(), raw.iter().map(Vec::len).sum::<usize>())
    };
    let until = Instant::now() + Duration::from_secs(2);
    let mut last = snapshot();
    let mut quiet_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = snapshot();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(40) || Instant::now() > until {
            break;
        }
    }
    up.raw().split_off(before)
}

/// Judges one request case; `Ok` names its category for the summary.
fn judge_request(case: &Case, ex: &RawExchange, conns: &[Vec<u8>]) -> Result<String, String> {
    if !ex.closed {
        return Err(format!(
            "the gateway did not close within {REQUEST_CLIENT_TIMEOUT:?} after the client half-closed"
        ));
    }
    let mut got = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let p = parse_requests(c);
        if p.invalid {
            return Err(format!(
                "upstream connection {i} received bytes httparse cannot parse: {}",
                show(&p.rest, 300)
            ));
        }
        got.extend(p.requests);
    }

    if case.expect_error {
        if !got.is_empty() {
            return Err(format!(
                "llhttp rejects this input, yet {} complete request(s) reached the upstream: {}",
                got.len(),
                got.iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let resps = client_responses(&ex.bytes, |_| false)?;
        return match resps.as_slice() {
            [] => Ok("llhttp rejects -> closed without a response".into()),
            [r] if (400..500).contains(&r.status) => {
                Ok(format!("llhttp rejects -> gateway {}", r.status))
            }
            [r] => Err(format!(
                "llhttp rejects this input, but the client got status {}",
                r.status
            )),
            rs => Err(format!(
                "llhttp rejects this input, but the client got {} responses ({:?})",
                rs.len(),
                rs.iter().map(|r| r.status).collect::<Vec<_>>()
            )),
        };
    }

    // llhttp accepts: what an independent parser finds, minus Ringway's stricter rules.
    let parsed = parse_requests(&case.input);
    let listed = HTTPARSE_REJECTS.iter().any(|(n, _)| *n == case.name);
    if parsed.invalid != listed {
        return Err(if listed {
            "listed in HTTPARSE_REJECTS, but httparse parses this input: remove the entry".into()
        } else {
            format!(
                "llhttp accepts this input but httparse stops with an error at {}: \
                 document it in HTTPARSE_REJECTS",
                show(&parsed.rest, 200)
            )
        });
    }
    let mut expected = Vec::new();
    let mut stricter = None;
    let mut offset = 0;
    for r in &parsed.requests {
        offset += r.raw.len();
        if let Some(rule) = stricter_rule(r, offset < case.input.len()) {
            stricter = Some(rule);
            break;
        }
        expected.push(r);
    }
    if got.len() != expected.len() {
        return Err(format!(
            "the upstream received {} complete request(s), expected {}{}",
            got.len(),
            expected.len(),
            stricter
                .map(|s| format!(" (request {} breaks the rule: {s})", expected.len() + 1))
                .unwrap_or_default()
        ));
    }
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        same_request(e, g).map_err(|why| format!("forwarded request {}: {why}", i + 1))?;
    }

    let heads: Vec<bool> = got.iter().map(|r| r.method == "HEAD").collect();
    let resps = client_responses(&ex.bytes, |i| heads.get(i).copied().unwrap_or(false))?;
    for (i, g) in got.iter().enumerate() {
        let Some(r) = resps.get(i) else {
            return Err(format!(
                "{} request(s) forwarded but only {} response(s) reached the client",
                got.len(),
                resps.len()
            ));
        };
        let echo = format!("{} {}", g.method, g.path);
        if r.status != 200 || (!heads[i] && r.body != echo.as_bytes()) {
            return Err(format!(
                "response {} is {} {:?}, expected the upstream's 200 {echo:?}",
                i + 1,
                r.status,
                r.text()
            ));
        }
    }
    let extra = &resps[got.len().min(resps.len())..];
    // After the last complete request, a head may be complete while its body is not: the
    // gateway sees that head, so the stricter rules apply to it as well.
    let rest_rule = match stricter {
        Some(_) => None,
        None => head_of_incomplete(&parsed.rest).and_then(|r| stricter_rule(&r, false)),
    };
    let what = if got.is_empty() {
        "nothing complete to forward"
    } else {
        "forwarded exactly"
    };
    match (stricter.or(rest_rule), extra) {
        (Some(rule), [r]) if is_gateway_rejection(r.status) => Ok(match stricter {
            Some(_) => format!("stricter: {rule}"),
            None => format!("stricter: {rule} [body incomplete]"),
        }),
        (Some(rule), _) => Err(format!(
            "stricter rule `{rule}` applies: expected one 4xx/501/505 after {} response(s), got {:?}",
            got.len(),
            extra.iter().map(|r| r.status).collect::<Vec<_>>()
        )),
        (None, []) => Ok(format!("llhttp accepts -> {what}, closed")),
        (None, [r]) if parsed.invalid && is_gateway_rejection(r.status) => Ok(format!(
            "llhttp accepts -> {what}, rest httparse rejects answered {}",
            r.status
        )),
        (None, _) => Err(format!(
            "expected {} response(s) from the upstream and nothing else, got {:?}",
            got.len(),
            resps.iter().map(|r| r.status).collect::<Vec<_>>()
        )),
    }
}

/// The request whose head is complete at the start of `rest` (after empty lines) but whose body
/// is not: httparse is given the head with its framing fields renamed (so it does not wait for
/// the body) and the names are restored in the result.
fn head_of_incomplete(rest: &[u8]) -> Option<Request> {
    let mut r = rest;
    while let Some(tail) = r.strip_prefix(b"\r\n") {
        r = tail;
    }
    let end = r.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut hidden = Vec::with_capacity(end + 32);
    for (i, line) in r[..end].split_inclusive(|&b| b == b'\n').enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0
            && (lower.starts_with(b"content-length") || lower.starts_with(b"transfer-encoding"))
        {
            hidden.extend_from_slice(b"x-hidden-");
        }
        hidden.extend_from_slice(line);
    }
    let p = parse_requests(&hidden);
    let [req] = <[Request; 1]>::try_from(p.requests).ok()?;
    let mut req = req;
    for (name, _) in &mut req.headers {
        if let Some(orig) = name.strip_prefix("x-hidden-") {
            *name = orig.to_string();
        }
    }
    Some(req)
}

/// Parses the responses the client received and checks nothing unparseable is left over (a
/// sentinel appended after them must come out as the last response).
fn client_responses(
    bytes: &[u8],
    no_body: impl Fn(usize) -> bool,
) -> Result<Vec<Response>, String> {
    let mut with_sentinel = bytes.to_vec();
    with_sentinel.extend_from_slice(SENTINEL);
    let mut parsed = parse_responses(&with_sentinel, no_body);
    match parsed.pop() {
        Some(s) if s.status == 299 && s.header("x-sentinel") == Some("1") => Ok(parsed),
        _ => Err(format!(
            "the client received bytes that are not complete responses: {}",
            show(bytes, 400)
        )),
    }
}

/// Per-case verdicts are printed when `RINGWAY_CORPUS_VERBOSE` is set.
fn verbose() -> bool {
    std::env::var_os("RINGWAY_CORPUS_VERBOSE").is_some()
}

fn print_summary(title: &str, counts: &BTreeMap<String, usize>, failures: usize) {
    let total: usize = counts.values().sum::<usize>() + failures;
    println!("\n{title}: {total} runs");
    let group = |prefix: &str| -> usize {
        counts
            .iter()
            .filter(|(c, _)| c.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    let groups = [
        ("llhttp rejects", "rejected as expected"),
        ("llhttp accepts", "accepted and matched"),
        ("stricter:", "stricter by a documented rule"),
    ];
    if groups.iter().any(|(p, _)| group(p) > 0) {
        for (prefix, label) in groups {
            println!("  {:>4}  {label}", group(prefix));
        }
        println!("  ----");
    }
    for (category, n) in counts {
        println!("  {n:>4}  {category}");
    }
    println!("  {failures:>4}  FAILED");
}

#[test]
fn llhttp_request_cases() {
    let cases = cases_of("request");
    let upstream = Upstream::echo();
    let gw = Gateway::proxy(
        BIN,
        &[upstream.addr()],
        &[
            "--workers",
            "1",
            "--no-pin",
            "--pool-max-idle",
            "0",
            "--header-timeout",
            "2s",
            "--body-timeout",
            "2s",
            "--upstream-timeout",
            "2s",
        ],
    );
    for (name, _) in HTTPARSE_REJECTS {
        assert!(
            cases.iter().any(|c| c.name == *name && !c.expect_error),
            "HTTPARSE_REJECTS names {name:?}, which is no accepted request case of the corpus"
        );
    }

    // Control: a plain request goes through and is attributed to its own upstream connection.
    let before = upstream.raw().len();
    let ex = exchange_raw(
        gw.addr(),
        b"GET /control HTTP/1.1\r\nHost: control.test\r\n\r\n",
        true,
        REQUEST_CLIENT_TIMEOUT,
    );
    let conns = settle(&upstream, before);
    let resps = parse_responses(&ex.bytes, |_| false);
    assert!(
        ex.closed && resps.len() == 1 && resps[0].status == 200,
        "control request failed: {}",
        show(&ex.bytes, 400)
    );
    assert_eq!(
        conns.len(),
        1,
        "control request: upstream connections {conns:?}"
    );

    let mut counts = BTreeMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in &cases {
        let before = upstream.raw().len();
        let ex = exchange_raw(gw.addr(), &case.input, true, REQUEST_CLIENT_TIMEOUT);
        let conns = settle(&upstream, before);
        match judge_request(case, &ex, &conns) {
            Ok(category) => {
                if verbose() {
                    println!(
                        "  line {:>3} {:<58} {category}",
                        case.line,
                        show(case.name.as_bytes(), 56)
                    );
                }
                *counts.entry(category).or_insert(0) += 1
            }
            Err(why) => failures.push(failure_report(case, "", &ex, &conns, &why)),
        }
    }
    print_summary(
        &format!(
            "llhttp request cases ({} cases in {:.1?})",
            cases.len(),
            started.elapsed()
        ),
        &counts,
        failures.len(),
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} llhttp request cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Response cases
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpMode {
    /// The upstream writes the case bytes and closes its side (EOF ends the input, as in llhttp's
    /// tests).
    CloseAfterReply,
    /// The testkit mock writes the case bytes and keeps the connection open.
    HoldOpen,
}

impl UpMode {
    fn label(self) -> &'static str {
        match self {
            Self::CloseAfterReply => "[upstream closes] ",
            Self::HoldOpen => "[upstream holds open] ",
        }
    }
}

/// Appended after what the client received to prove nothing unparseable was left over.
const SENTINEL: &[u8] = b"HTTP/1.1 299 Sentinel\r\nx-sentinel: 1\r\ncontent-length: 0\r\n\r\n";

const CLIENT_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// One read into `received`: false at EOF, on an error, or once `until` has passed.
fn read_some(stream: &mut TcpStream, received: &mut Vec<u8>, until: Instant) -> bool {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            received.extend_from_slice(&buf[..n]);
            Instant::now() < until
        }
        Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {
            Instant::now() < until
        }
        Err(_) => false,
    }
}

/// An upstream for one exchange: reads a request head, writes `reply`, half-closes, then reads
/// until the gateway closes. Returns what it received when joined.
fn one_shot_upstream(reply: Vec<u8>) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind one-shot upstream");
    let addr = listener.local_addr().expect("local addr");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let handle = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(10);
        let mut received = Vec::new();
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == IoErrorKind::WouldBlock && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => return received,
            }
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            if !read_some(&mut stream, &mut received, until) {
                return received;
            }
        }
        let _ = stream.write_all(&reply);
        let _ = stream.shutdown(Shutdown::Write);
        while read_some(&mut stream, &mut received, until) {}
        received
    });
    (addr, handle)
}

/// Runs one response case: its own upstream and gateway. Returns the client's exchange and what
/// the upstream received.
fn run_response_case(case: &Case, mode: UpMode) -> (RawExchange, Vec<u8>) {
    let args = [
        "--workers",
        "1",
        "--no-pin",
        "--pool-max-idle",
        "0",
        "--upstream-timeout",
        RESPONSE_UPSTREAM_TIMEOUT,
    ];
    match mode {
        UpMode::CloseAfterReply => {
            let (addr, handle) = one_shot_upstream(case.input.clone());
            let gw = Gateway::proxy(BIN, &[addr], &args);
            let ex = exchange_raw(gw.addr(), CLIENT_GET, false, RESPONSE_CLIENT_TIMEOUT);
            drop(gw);
            let received = handle.join().unwrap_or_default();
            (ex, received)
        }
        UpMode::HoldOpen => {
            let reply = case.input.clone();
            let up = Upstream::start(move |_| Reply::Raw(reply.clone()));
            let gw = Gateway::proxy(BIN, &[up.addr()], &args);
            let ex = exchange_raw(gw.addr(), CLIENT_GET, false, RESPONSE_CLIENT_TIMEOUT);
            drop(gw);
            (ex, up.raw().concat())
        }
    }
}

/// The status code of the first final response head the gateway sent (interim 1xx heads, which
/// have no body, are skipped), if any.
fn first_status(mut bytes: &[u8]) -> Option<u16> {
    loop {
        let code = bytes.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
        let status: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
        if !(100..200).contains(&status) || status == 101 {
            return Some(status);
        }
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        bytes = &bytes[end + 4..];
    }
}

/// The client bytes as exactly one complete final response (after any forwarded interim 1xx
/// responses), nothing missing or left over.
fn exactly_one_response(bytes: &[u8]) -> Option<Response> {
    let mut resps = client_responses(bytes, |_| false).ok()?;
    let interim = resps
        .iter()
        .take_while(|r| (100..200).contains(&r.status) && r.status != 101)
        .count();
    <[Response; 1]>::try_from(resps.split_off(interim))
        .ok()
        .map(|[r]| r)
}

fn has_framing(r: &Response) -> bool {
    r.headers
        .iter()
        .any(|(n, _)| n == "content-length" || n == "transfer-encoding")
}

/// Judges one response case; `Ok` names its category for the summary.
fn judge_response(
    case: &Case,
    mode: UpMode,
    ex: &RawExchange,
    upstream_got: &[u8],
) -> Result<String, String> {
    let forwarded = parse_requests(upstream_got);
    if forwarded.requests.len() != 1
        || forwarded.requests[0].method != "GET"
        || forwarded.requests[0].path != "/"
    {
        return Err(format!(
            "the upstream should have received one `GET /`, got {}",
            show(upstream_got, 300)
        ));
    }
    if !ex.closed {
        return Err(format!(
            "the gateway did not close the `Connection: close` exchange within {RESPONSE_CLIENT_TIMEOUT:?}"
        ));
    }
    let expect = RESPONSE_EXCEPTIONS
        .iter()
        .find(|(n, _, _)| *n == case.name)
        .map(|(_, e, _)| *e)
        .unwrap_or(if case.expect_error {
            Expect::ErrorOrClose
        } else {
            Expect::Forward
        });
    let one = exactly_one_response(&ex.bytes);
    let status = first_status(&ex.bytes);
    let gateway_error = |one: &Option<Response>| -> Option<String> {
        let r = one.as_ref()?;
        let ok = match mode {
            UpMode::CloseAfterReply => r.status == 502,
            UpMode::HoldOpen => r.status == 502 || r.status == 504,
        };
        (ok && r.header("content-type") == Some("application/json"))
            .then(|| format!("gateway {}", r.status))
    };
    let got = || {
        format!(
            "status {:?}, {} response",
            status,
            if one.is_some() {
                "one complete"
            } else {
                "no complete"
            }
        )
    };
    match expect {
        Expect::Forward => {
            let reference = parse_responses(&case.input, |_| false)
                .into_iter()
                .find(|r| r.status >= 200)
                .ok_or(
                    "the case bytes hold no complete final response: document the expectation \
                     in RESPONSE_EXCEPTIONS",
                )?;
            let close_delimited =
                !has_framing(&reference) && reference.status != 204 && reference.status != 304;
            match &one {
                Some(r) => {
                    if r.status != reference.status || r.body != reference.body {
                        return Err(format!(
                            "got {} {:?}, expected the upstream's {} {:?}",
                            r.status,
                            show(&r.body, 200),
                            reference.status,
                            show(&reference.body, 200)
                        ));
                    }
                    let bodiless = r.status == 204 || r.status == 304;
                    let count = |n: &str| r.headers.iter().filter(|(k, _)| k == n).count();
                    let (cl, te) = (count("content-length"), count("transfer-encoding"));
                    let framed_once = if bodiless {
                        te == 0 && cl <= 1
                    } else {
                        cl + te == 1
                    };
                    if !framed_once {
                        return Err(format!(
                            "response not framed by exactly one of content-length or \
                             transfer-encoding: {:?}",
                            r.headers
                        ));
                    }
                    Ok(format!("forwarded {}", r.status))
                }
                None if mode == UpMode::HoldOpen
                    && close_delimited
                    && status == Some(reference.status) =>
                {
                    Ok(format!(
                        "forwarded {} (close-delimited body cut at the upstream timeout)",
                        reference.status
                    ))
                }
                None => Err(format!(
                    "expected the upstream's {} forwarded, got {}",
                    reference.status,
                    got()
                )),
            }
        }
        Expect::Truncated(want) => {
            if one.is_some() || status != Some(want) {
                return Err(format!(
                    "expected the upstream's {want} head with a body cut short (no complete \
                     response), got {}",
                    got()
                ));
            }
            Ok(format!("truncated {want} (upstream body incomplete)"))
        }
        Expect::GatewayError => gateway_error(&one)
            .ok_or_else(|| format!("expected a gateway 502/504 error, got {}", got())),
        Expect::ErrorOrClose => {
            if let Some(c) = gateway_error(&one) {
                return Ok(format!("llhttp rejects -> {c}"));
            }
            match (&one, status) {
                (None, None) if ex.bytes.is_empty() => {
                    Ok("llhttp rejects -> closed without a response".into())
                }
                (None, Some(s)) => Ok(format!("llhttp rejects -> {s} head, body cut short")),
                _ => Err(format!(
                    "llhttp rejects this response; expected 502/504, a close or a cut-short \
                     response, got {}",
                    got()
                )),
            }
        }
    }
}

#[test]
fn llhttp_response_cases() {
    let cases = cases_of("response");
    for (name, _, _) in RESPONSE_EXCEPTIONS {
        assert_eq!(
            cases.iter().filter(|c| c.name == *name).count(),
            1,
            "RESPONSE_EXCEPTIONS names {name:?}, which is not exactly one response case"
        );
    }
    let jobs: Vec<(&Case, UpMode)> = cases
        .iter()
        .flat_map(|c| [(c, UpMode::CloseAfterReply), (c, UpMode::HoldOpen)])
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..RESPONSE_THREADS {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(case, mode)) = jobs.get(j) else {
                    break;
                };
                let (ex, upstream_got) = run_response_case(case, mode);
                let verdict = judge_response(case, mode, &ex, &upstream_got);
                let report = verdict.map_err(|why| {
                    failure_report(
                        case,
                        mode.label(),
                        &ex,
                        std::slice::from_ref(&upstream_got),
                        &why,
                    )
                });
                results.lock().unwrap().push((j, mode, report));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(j, _, _)| *j);
    let mut counts = BTreeMap::new();
    let mut failures = Vec::new();
    for (j, mode, verdict) in results {
        match verdict {
            Ok(category) => {
                let category = format!("{}{category}", mode.label());
                if verbose() {
                    println!(
                        "  line {:>3} {:<58} {category}",
                        cases[j / 2].line,
                        show(cases[j / 2].name.as_bytes(), 56)
                    );
                }
                *counts.entry(category).or_insert(0) += 1
            }
            Err(report) => failures.push(report),
        }
    }
    print_summary(
        &format!(
            "llhttp response cases ({} cases x 2 upstream modes in {:.1?})",
            cases.len(),
            started.elapsed()
        ),
        &counts,
        failures.len(),
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} llhttp response runs failed:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_line_decodes() {
    let cases = load_corpus();
    assert!(cases.iter().any(|c| c.ty == "request") && cases.iter().any(|c| c.ty == "response"));
    assert!(cases.iter().all(|c| !c.input.is_empty() || c.kind == "url"));
}

/// The judges must fail on the violations they exist to catch (fed synthetic observations).
#[test]
fn judges_reject_violations() {
    let case = |ty: &str, name: &str, input: &[u8], expect_error: bool| Case {
        line: 0,
        name: name.into(),
        origin: "synthetic".into(),
        kind: "http".into(),
        ty: ty.into(),
        input: input.to_vec(),
        expect_error,
        error: None,
    };
    let ex = |bytes: &[u8]| RawExchange {
        bytes: bytes.to_vec(),
        closed: true,
    };
    let ok200 = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nPOST /a".as_slice();
    let bad400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".as_slice();
    let fwd = b"POST /a HTTP/1.1\r\nhost: h\r\ncontent-length: 1\r\n\r\nx".to_vec();

    // llhttp rejects: a complete request upstream, or a 200 to the client, fails.
    let rejected = case("request", "r", b"POST /a HTTP/1.1\r\nHost: h\r\n\rx", true);
    assert!(judge_request(&rejected, &ex(bad400), std::slice::from_ref(&fwd)).is_err());
    assert!(judge_request(&rejected, &ex(ok200), &[]).is_err());
    judge_request(&rejected, &ex(bad400), &[]).unwrap();
    judge_request(&rejected, &ex(b""), &[b"POST /a HTTP/1.1\r\nho".to_vec()]).unwrap();
    let hung = RawExchange {
        bytes: Vec::new(),
        closed: false,
    };
    assert!(judge_request(&rejected, &hung, &[]).is_err());

    // llhttp accepts: missing, altered or doubly framed requests fail.
    let accepted = case(
        "request",
        "a",
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
        false,
    );
    judge_request(&accepted, &ex(ok200), std::slice::from_ref(&fwd)).unwrap();
    assert!(judge_request(&accepted, &ex(ok200), &[]).is_err());
    assert!(judge_request(&accepted, &ex(bad400), &[]).is_err());
    let both = b"POST /a HTTP/1.1\r\nhost: h\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    assert!(judge_request(&accepted, &ex(ok200), &[both.to_vec()]).is_err());
    let other = b"POST /b HTTP/1.1\r\nhost: h\r\ncontent-length: 1\r\n\r\nx".to_vec();
    assert!(judge_request(&accepted, &ex(ok200), &[other]).is_err());
    let twice = [fwd.clone(), fwd.clone()];
    assert!(judge_request(&accepted, &ex(ok200), &twice).is_err());
    let junk = [ok200, b"garbage"].concat();
    assert!(judge_request(&accepted, &ex(&junk), std::slice::from_ref(&fwd)).is_err());

    // A stricter rule (no Host): 4xx and nothing upstream.
    let no_host = case("request", "n", b"GET / HTTP/1.1\r\n\r\n", false);
    judge_request(&no_host, &ex(bad400), &[]).unwrap();
    let get = b"GET / HTTP/1.1\r\nhost: h\r\n\r\n".to_vec();
    assert!(judge_request(
        &no_host,
        &ex(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nGET /"),
        &[get]
    )
    .is_err());

    // Responses: a malformed response must not come out complete; a forwarded one must match.
    let get_fwd = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    let malformed = case(
        "response",
        "m",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        true,
    );
    let complete = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx";
    let gw502 =
        b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
    for mode in [UpMode::CloseAfterReply, UpMode::HoldOpen] {
        assert!(judge_response(&malformed, mode, &ex(complete), get_fwd).is_err());
        judge_response(&malformed, mode, &ex(gw502), get_fwd).unwrap();
        judge_response(&malformed, mode, &ex(b""), get_fwd).unwrap();
        assert!(judge_response(&malformed, mode, &ex(gw502), b"").is_err());
    }
    let fine = case(
        "response",
        "f",
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi",
        false,
    );
    let mode = UpMode::CloseAfterReply;
    let good = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nhi";
    judge_response(&fine, mode, &ex(good), get_fwd).unwrap();
    assert!(judge_response(
        &fine,
        mode,
        &ex(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nho"),
        get_fwd
    )
    .is_err());
    assert!(judge_response(
        &fine,
        mode,
        &ex(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"),
        get_fwd
    )
    .is_err());
    assert!(judge_response(
        &fine,
        mode,
        &ex(&[good.as_slice(), b"HTTP/1.1 200"].concat()),
        get_fwd
    )
    .is_err());
    assert!(judge_response(
        &fine,
        mode,
        &ex(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nh"),
        get_fwd
    )
    .is_err());
    // A Truncated expectation refuses a complete response (a hidden truncation).
    let google = case("response", "Google 301", b"", false);
    let full = b"HTTP/1.1 301 Moved\r\ncontent-length: 1\r\n\r\nx";
    assert!(judge_response(&google, mode, &ex(full), get_fwd).is_err());
    judge_response(
        &google,
        mode,
        &ex(b"HTTP/1.1 301 Moved\r\ncontent-length: 9\r\n\r\nx"),
        get_fwd,
    )
    .unwrap();
}
