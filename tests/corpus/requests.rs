//! Judging request cases: what the upstream must have received for what the client sent.

use super::*;

pub(super) fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Comma-separated list items of every field `name`, trimmed and lowercased.
pub(super) fn list_items(r: &Request, name: &str) -> Vec<String> {
    r.header_all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| trim_ows(t).to_ascii_lowercase())
        .collect()
}

pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request line of a message as an upstream saw it (leading empty lines skipped).
pub(super) fn request_line(raw: &[u8]) -> &[u8] {
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

pub(super) fn version_of(r: &Request) -> String {
    let line = request_line(&r.raw);
    let v = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    String::from_utf8_lossy(v).into_owned()
}

pub(super) fn is_absolute_form(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://")
}

/// Splits an absolute-form target into (authority, path as forwarded in origin-form).
pub(super) fn split_absolute(target: &str) -> (String, String) {
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
pub(super) fn stricter_rule(r: &Request, data_after: bool) -> Option<&'static str> {
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
pub(super) fn same_request(exp: &Request, got: &Request) -> Result<(), String> {
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

pub(super) fn is_gateway_rejection(status: u16) -> bool {
    (400..500).contains(&status) || status == 501 || status == 505
}

/// Waits until the upstream has been quiet for a moment, then returns the raw bytes of the
/// connections accepted since `before` (the gateway may still be writing an aborted request
/// when the client sees the close).
pub(super) fn settle(up: &Upstream, before: usize) -> Vec<Vec<u8>> {
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
pub(super) fn judge_request(
    case: &Case,
    ex: &RawExchange,
    conns: &[Vec<u8>],
) -> Result<String, String> {
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
pub(super) fn head_of_incomplete(rest: &[u8]) -> Option<Request> {
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
pub(super) fn client_responses(
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
