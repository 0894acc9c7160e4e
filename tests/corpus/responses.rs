//! Running and judging response cases: an upstream per case that sends the case's bytes back.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpMode {
    /// The upstream writes the case bytes and closes its side (EOF ends the input, as in llhttp's
    /// tests).
    CloseAfterReply,
    /// The testkit mock writes the case bytes and keeps the connection open.
    HoldOpen,
}

impl UpMode {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::CloseAfterReply => "[upstream closes] ",
            Self::HoldOpen => "[upstream holds open] ",
        }
    }
}

/// Appended after what the client received to prove nothing unparseable was left over.
pub(super) const SENTINEL: &[u8] =
    b"HTTP/1.1 299 Sentinel\r\nx-sentinel: 1\r\ncontent-length: 0\r\n\r\n";

pub(super) const CLIENT_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// One read into `received`: false at EOF, on an error, or once `until` has passed.
pub(super) fn read_some(stream: &mut TcpStream, received: &mut Vec<u8>, until: Instant) -> bool {
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
pub(super) fn one_shot_upstream(reply: Vec<u8>) -> (SocketAddr, JoinHandle<Vec<u8>>) {
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
pub(super) fn run_response_case(case: &Case, mode: UpMode) -> (RawExchange, Vec<u8>) {
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
pub(super) fn first_status(mut bytes: &[u8]) -> Option<u16> {
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
pub(super) fn exactly_one_response(bytes: &[u8]) -> Option<Response> {
    let mut resps = client_responses(bytes, |_| false).ok()?;
    let interim = resps
        .iter()
        .take_while(|r| (100..200).contains(&r.status) && r.status != 101)
        .count();
    <[Response; 1]>::try_from(resps.split_off(interim))
        .ok()
        .map(|[r]| r)
}

pub(super) fn has_framing(r: &Response) -> bool {
    r.headers
        .iter()
        .any(|(n, _)| n == "content-length" || n == "transfer-encoding")
}

/// Judges one response case; `Ok` names its category for the summary.
pub(super) fn judge_response(
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
