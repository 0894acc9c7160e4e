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

#[path = "corpus/requests.rs"]
mod requests;
#[path = "corpus/responses.rs"]
mod responses;

use requests::*;
use responses::*;

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
