//! JSON access log lines: one object per request, for teams that ship logs to another
//! system. Off by default (`telemetry.access_log`); written by the analytics thread from the
//! same records as the Parquet logs, so the data plane does no extra work.
//!
//! ```json
//! {"ts":"2026-12-06T21:45:01.123456Z","listener":"main","route":"api","upstream":"users",
//!  "endpoint":"10.0.0.7:8080","method":"GET","path":"/v1/users","http_version":"1.1",
//!  "status":200,"outcome":"ok","total_us":812,"upstream_us":640,"request_bytes":96,
//!  "response_bytes":1342,"client_ip":"203.0.113.9","client_id":"alice","request_id":"...",
//!  "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","parent_id":null,"user_agent":"curl/8.5.0",
//!  "retries":0,"tls":"TLSv1.3","sni":"api.example.com","grpc_status":null}
//! ```
//!
//! (one line in the file). Absent values are `null`. `parent_id` is set on the records of an
//! aggregate route's sub-requests: the client request's id.

use ringway_telemetry::record::{RequestRecord, TlsVersion, GRPC_NONE, NONE};
use serde_json::{json, Value};

use crate::civil::format_rfc3339;
use crate::schema::{client_ip_text, Names};

/// Appends `rec` as one JSON line (ending in `\n`) to `out`, naming its indices with `names`.
pub fn write_json_line(rec: &RequestRecord, names: &Names, out: &mut Vec<u8>) {
    let text = |b: &[u8]| -> Value {
        if b.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
    };
    let name =
        |v: Option<&String>, fallback: String| -> Value { json!(v.cloned().unwrap_or(fallback)) };
    let l = usize::from(rec.listener);
    let listener = name(names.listeners.get(l), format!("listener#{l}"));
    let route = if rec.route == NONE {
        Value::Null
    } else {
        let r = usize::from(rec.route);
        name(
            names.routes.get(l).and_then(|rs| rs.get(r)),
            format!("route#{l}.{r}"),
        )
    };
    let u = usize::from(rec.upstream);
    let (upstream, endpoint) = if rec.upstream == NONE {
        (Value::Null, Value::Null)
    } else {
        let e = usize::from(rec.endpoint);
        let endpoint = if rec.endpoint == NONE {
            Value::Null
        } else {
            name(
                names.endpoints.get(u).and_then(|es| es.get(e)),
                format!("endpoint#{u}.{e}"),
            )
        };
        (
            name(names.upstreams.get(u), format!("upstream#{u}")),
            endpoint,
        )
    };
    let http_version = match rec.http_version {
        10 => "1.0",
        20 => "2",
        _ => "1.1",
    };
    let with_upstream = rec.upstream != NONE;
    let line = json!({
        "ts": format_rfc3339(rec.ts_us),
        "listener": listener,
        "route": route,
        "upstream": upstream,
        "endpoint": endpoint,
        "method": rec.method.as_str(),
        "path": text(rec.path.as_bytes()),
        "http_version": http_version,
        "status": rec.status,
        "outcome": rec.outcome.as_str(),
        "total_us": rec.total_us,
        "upstream_us": with_upstream.then_some(rec.upstream_us),
        "request_bytes": rec.request_bytes,
        "response_bytes": rec.response_bytes,
        "client_ip": client_ip_text(&rec.client_ip),
        "client_id": text(rec.client_id.as_bytes()),
        "request_id": text(rec.request_id.as_bytes()),
        "trace_id": (rec.trace_id != [0; 16]).then(|| hex(&rec.trace_id)),
        "parent_id": text(rec.parent_id.as_bytes()),
        "user_agent": text(rec.user_agent.as_bytes()),
        "retries": rec.retries,
        "tls": (rec.tls_version != TlsVersion::None).then(|| rec.tls_version.as_str()),
        "sni": text(rec.sni.as_bytes()),
        "grpc_status": (rec.grpc_status != GRPC_NONE).then_some(rec.grpc_status),
    });
    // Serialising a `Value` to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_telemetry::record::{Inline, Outcome};

    #[test]
    fn a_record_is_one_json_object_with_names() {
        let names = Names {
            listeners: vec!["main".into()],
            routes: vec![vec!["api".into()]],
            upstreams: vec!["users".into()],
            endpoints: vec![vec!["10.0.0.7:8080".into()]],
        };
        let rec = RequestRecord {
            ts_us: 1_765_057_501_123_456,
            route: 0,
            upstream: 0,
            endpoint: 0,
            http_version: 11,
            status: 200,
            total_us: 812,
            upstream_us: 640,
            client_ip: std::net::Ipv4Addr::new(203, 0, 113, 9)
                .to_ipv6_mapped()
                .octets(),
            path: Inline::new(b"/v1/users?q=\"x\""),
            request_id: Inline::new(b"r-1"),
            trace_id: [0xab; 16],
            ..RequestRecord::default()
        };
        let mut out = Vec::new();
        write_json_line(&rec, &names, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ts"], "2025-12-06T21:45:01.123456Z");
        assert_eq!(v["route"], "api");
        assert_eq!(v["endpoint"], "10.0.0.7:8080");
        assert_eq!(v["path"], "/v1/users?q=\"x\"");
        assert_eq!(v["client_ip"], "203.0.113.9");
        assert_eq!(v["trace_id"], "abababababababababababababababab");
        assert_eq!(v["upstream_us"], 640);
        assert!(v["client_id"].is_null() && v["tls"].is_null() && v["grpc_status"].is_null());

        let refused = RequestRecord {
            route: NONE,
            upstream: NONE,
            endpoint: NONE,
            status: 404,
            outcome: Outcome::NoRoute,
            ..rec
        };
        out.clear();
        write_json_line(&refused, &names, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["route"].is_null() && v["upstream"].is_null() && v["upstream_us"].is_null());
        assert_eq!(v["outcome"], "no_route");
    }
}
