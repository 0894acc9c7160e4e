//! Parsing access-log lines: the combined format (nginx's and Apache's default, optionally
//! followed by a request time in seconds, as `log_format` setups often add), and JSON lines
//! with nginx's variable names.
//!
//! Written by hand: no maintained crate parses the combined format, and the parse is a few
//! fixed fields, each checked (a line that does not parse is counted, never guessed at).

use crate::civil::{days_from_civil, parse_rfc3339, US_PER_DAY, US_PER_HOUR, US_PER_MINUTE};

/// One parsed access-log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When the request was logged, µs since the epoch (UTC).
    pub ts_us: i64,
    /// The client address.
    pub client_ip: String,
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The status sent.
    pub status: u16,
    /// Response body bytes.
    pub bytes: u64,
    /// The user agent (empty for `-`).
    pub user_agent: String,
    /// The request time, µs, when the line has one.
    pub total_us: Option<u32>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `10/Oct/2000:13:55:36 -0700` as µs since the epoch.
pub fn parse_clf_time(s: &str) -> Option<i64> {
    let (dt, zone) = s.split_once(' ')?;
    let mut p = dt.splitn(4, [':', '/']);
    let (day, mon, year) = (num(p.next()?)?, p.next()?, num(p.next()?)?);
    let mut t = p.next()?.split(':');
    let (h, m, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if t.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let month = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    if !(1..=31).contains(&day) || day > crate::civil::days_in_month(i64::from(year), month) {
        return None;
    }
    let zb = zone.as_bytes();
    if zb.len() != 5 || !matches!(zb[0], b'+' | b'-') {
        return None;
    }
    let (zh, zm) = (num(&zone[1..3])?, num(&zone[3..5])?);
    let offset = i64::from(zh) * US_PER_HOUR + i64::from(zm) * US_PER_MINUTE;
    let local = days_from_civil(i64::from(year), month, day) * US_PER_DAY
        + i64::from(h) * US_PER_HOUR
        + i64::from(m) * US_PER_MINUTE
        + i64::from(sec) * 1_000_000;
    Some(if zb[0] == b'+' {
        local - offset
    } else {
        local + offset
    })
}

/// A quoted field at the start of `s` (backslash escapes kept as they are): the field and
/// the rest after the closing quote.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// `GET /path HTTP/1.1` into method and path.
fn request_line(r: &str) -> Result<(String, String), &'static str> {
    let mut p = r.split(' ');
    let (method, path) = (p.next().unwrap_or(""), p.next().unwrap_or(""));
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !(path.starts_with('/') || path == "*")
    {
        return Err("request line is not METHOD /path");
    }
    Ok((method.to_owned(), path.to_owned()))
}

/// Seconds (`0.123`) as µs.
fn seconds_us(s: &str) -> Option<u32> {
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * 1e6).min(f64::from(u32::MAX)) as u32)
}

/// A combined-format line:
/// `addr ident user [time] "request" status bytes "referer" "user agent" [request_time]`.
pub fn parse_combined(line: &str) -> Result<LogLine, &'static str> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (client_ip, rest) = line.split_once(' ').ok_or("no client address")?;
    if client_ip.is_empty() || client_ip.parse::<std::net::IpAddr>().is_err() {
        return Err("client address is not an IP address");
    }
    let rest = rest.split_once(" [").ok_or("no [time]")?.1;
    let (time, rest) = rest.split_once("] ").ok_or("no [time]")?;
    let ts_us = parse_clf_time(time).ok_or("bad time")?;
    let (request, rest) = quoted(rest).ok_or("no quoted request")?;
    let (method, path) = request_line(request)?;
    let mut fields = rest.trim_start().splitn(3, ' ');
    let status = fields
        .next()
        .and_then(num)
        .filter(|s| (100..=999).contains(s))
        .ok_or("bad status")? as u16;
    let bytes = match fields.next() {
        Some("-") => 0,
        Some(b) => b.parse().map_err(|_| "bad byte count")?,
        None => return Err("no byte count"),
    };
    let rest = fields.next().unwrap_or("").trim_start();
    let (_referer, rest) = quoted(rest).ok_or("no quoted referer")?;
    let (ua, rest) = quoted(rest.trim_start()).ok_or("no quoted user agent")?;
    let total_us = match rest.split_whitespace().next() {
        None => None,
        Some(t) => Some(seconds_us(t).ok_or("trailing field is not a request time")?),
    };
    Ok(LogLine {
        ts_us,
        client_ip: client_ip.to_owned(),
        method,
        path,
        status,
        bytes,
        user_agent: if ua == "-" {
            String::new()
        } else {
            ua.to_owned()
        },
        total_us,
    })
}

/// A JSON line with nginx's variable names: time from `time_iso8601` (or `@timestamp`,
/// `timestamp`, `time`), `msec` or `time_local`; `remote_addr`; `request`, or
/// `request_method` with `request_uri` (or `uri` and `args`); `status`; `body_bytes_sent`;
/// `http_user_agent`; `request_time` in seconds. Numbers may be strings, as nginx's
/// `escape=json` writes them.
pub fn parse_json(line: &str) -> Result<LogLine, String> {
    use serde_json::Value;
    let v: serde_json::Map<String, Value> =
        serde_json::from_str(line.trim()).map_err(|e| format!("not a JSON object: {e}"))?;
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let first = |keys: &[&str]| keys.iter().find_map(|k| text(k));
    let ts_us = if let Some(t) = first(&["time_iso8601", "@timestamp", "timestamp", "time"]) {
        parse_rfc3339(&t).ok_or_else(|| format!("bad time {t:?}"))?
    } else if let Some(t) = text("msec") {
        let s: f64 = t.parse().map_err(|_| format!("bad msec {t:?}"))?;
        (s * 1e6) as i64
    } else if let Some(t) = text("time_local") {
        parse_clf_time(&t).ok_or_else(|| format!("bad time_local {t:?}"))?
    } else {
        return Err("no time (time_iso8601, msec or time_local)".into());
    };
    let client_ip = first(&["remote_addr", "client_ip", "client"]).ok_or("no remote_addr")?;
    let (method, path) = if let Some(r) = text("request") {
        request_line(&r).map_err(str::to_owned)?
    } else {
        let method = text("request_method").ok_or("no request or request_method")?;
        let path = match (text("request_uri"), text("uri")) {
            (Some(p), _) => p,
            (None, Some(u)) => match text("args").filter(|a| !a.is_empty()) {
                Some(a) => format!("{u}?{a}"),
                None => u,
            },
            _ => return Err("no request_uri or uri".into()),
        };
        request_line(&format!("{method} {path}")).map_err(str::to_owned)?
    };
    let status = text("status")
        .as_deref()
        .and_then(num)
        .filter(|s| (100..=999).contains(s))
        .ok_or("bad or missing status")? as u16;
    let bytes = first(&["body_bytes_sent", "bytes_sent"])
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    let total_us = match text("request_time") {
        Some(t) => Some(seconds_us(&t).ok_or_else(|| format!("bad request_time {t:?}"))?),
        None => None,
    };
    Ok(LogLine {
        ts_us,
        client_ip,
        method,
        path,
        status,
        bytes,
        user_agent: first(&["http_user_agent", "user_agent"])
            .filter(|u| u != "-")
            .unwrap_or_default(),
        total_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_lines_parse_field_by_field() {
        let l = parse_combined(
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        )
        .unwrap();
        assert_eq!(l.ts_us, 971_211_336_000_000);
        assert_eq!(
            (l.method.as_str(), l.path.as_str()),
            ("GET", "/apache_pb.gif?x=1")
        );
        assert_eq!((l.status, l.bytes, l.total_us), (200, 2326, None));
        assert_eq!(l.user_agent, "Mozilla/4.08 [en] (Win98; I ;Nav)");
        let l = parse_combined(
            r#"2001:db8::7 - - [06/Dec/2026:10:00:00 +0000] "POST /login HTTP/1.1" 401 - "-" "curl/8 \"quoted\"" 0.081"#,
        )
        .unwrap();
        assert_eq!((l.status, l.bytes, l.total_us), (401, 0, Some(81_000)));
        assert_eq!(l.client_ip, "2001:db8::7");
        assert_eq!(l.user_agent, r#"curl/8 \"quoted\""#);
    }

    #[test]
    fn malformed_combined_lines_say_why() {
        for (line, why) in [
            ("", "no client address"),
            ("nope - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"", "not an IP"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"", "bad time"),
            ("1.2.3.4 - - [31/Feb/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"", "bad time"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"\\x16\\x03\" 400 1 \"-\" \"-\"", "METHOD /path"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 2000 1 \"-\" \"-\"", "bad status"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 x \"-\" \"-\"", "byte count"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\"", "user agent"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\" fast", "request time"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1", "quoted request"),
        ] {
            let err = parse_combined(line).unwrap_err();
            assert!(err.contains(why), "{line:?}: {err}");
        }
    }

    #[test]
    fn json_lines_take_nginx_names() {
        let l = parse_json(
            r#"{"time_iso8601":"2026-12-06T10:00:00+01:00","remote_addr":"10.0.0.9","request":"GET /users/7?x=1 HTTP/1.1","status":"404","body_bytes_sent":"12","http_user_agent":"-","request_time":"0.004"}"#,
        )
        .unwrap();
        assert_eq!(l.ts_us, parse_rfc3339("2026-12-06T09:00:00Z").unwrap());
        assert_eq!((l.status, l.bytes, l.total_us), (404, 12, Some(4_000)));
        assert_eq!(
            (l.path.as_str(), l.user_agent.as_str()),
            ("/users/7?x=1", "")
        );
        let l = parse_json(
            r#"{"msec":1796025600.250,"remote_addr":"10.0.0.9","request_method":"GET","uri":"/search","args":"q=1","status":200}"#,
        )
        .unwrap();
        assert_eq!(l.ts_us, 1_796_025_600_250_000);
        assert_eq!(l.path, "/search?q=1");
        assert!(parse_json("{\"remote_addr\":\"1.1.1.1\"}")
            .unwrap_err()
            .contains("no time"));
        assert!(parse_json("not json")
            .unwrap_err()
            .contains("not a JSON object"));
    }
}
