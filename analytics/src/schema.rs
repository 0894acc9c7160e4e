//! The Arrow schema of Ringway's Parquet log files (version [`SCHEMA_VERSION`]), the column
//! names, the derived values (status class, error verdict, client address text) and the
//! [`Names`] table that resolves the record's configuration indices.
//!
//! Low-cardinality text columns (listener, route, upstream, endpoint, method, status class,
//! outcome, cache) are Arrow dictionary arrays, so Arrow readers (pyarrow, polars) get
//! categorical columns back; DuckDB reads them as `VARCHAR`. Higher-cardinality text (client
//! address, client id, path, user agent) is plain `Utf8` in the schema. Physically every text
//! column is dictionary-encoded per row group, or `PLAIN` when a row group's values are
//! mostly distinct; the writer (`columns`, `pages`) chooses. See `docs/parquet-schema.md` for
//! the table.

use std::net::Ipv6Addr;
use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ringway_telemetry::record::{Outcome, RequestRecord};

/// Version of the column layout, stored in every file's key-value metadata under
/// [`META_SCHEMA_VERSION`]. Bumped when a column is added, removed, renamed or changes type;
/// readers refuse versions they do not know. Version 2 added the TLS columns (`tls_version`,
/// `tls_session`, `alpn`, `sni`), version 3 `grpc_status`, version 4 `trace_id`, version 5
/// `parent_id`.
pub const SCHEMA_VERSION: &str = "5";

/// Versions this build reads: earlier versions are the current one without the columns
/// added since, which no query needs.
pub const READABLE_SCHEMA_VERSIONS: [&str; 5] = ["1", "2", "3", "4", "5"];

/// Key-value metadata key holding [`SCHEMA_VERSION`].
pub const META_SCHEMA_VERSION: &str = "ringway.schema_version";

/// Key-value metadata key holding the writing crate's version ([`WRITER_VERSION`]).
pub const META_WRITER: &str = "ringway.writer";

/// This crate's version, written under [`META_WRITER`].
pub const WRITER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The time zone of the `ts` column.
pub const TIME_ZONE: &str = "UTC";

/// Column names, in schema order.
pub mod col {
    /// Request head complete, `Timestamp(Microsecond, "UTC")`.
    pub const TS: &str = "ts";
    /// Worker core index.
    pub const CORE: &str = "core";
    /// Listener name.
    pub const LISTENER: &str = "listener";
    /// Route name (null: no route matched).
    pub const ROUTE: &str = "route";
    /// Upstream group name (null: none involved).
    pub const UPSTREAM: &str = "upstream";
    /// Endpoint `ip:port` (null: none chosen).
    pub const ENDPOINT: &str = "endpoint";
    /// Request method.
    pub const METHOD: &str = "method";
    /// 10, 11 or 20.
    pub const HTTP_VERSION: &str = "http_version";
    /// Status sent to the client (0: none sent).
    pub const STATUS: &str = "status";
    /// `"2xx"` etc. (null when no status was sent).
    pub const STATUS_CLASS: &str = "status_class";
    /// How the request ended.
    pub const OUTCOME: &str = "outcome";
    /// Cache status.
    pub const CACHE: &str = "cache";
    /// Retries to other endpoints.
    pub const RETRIES: &str = "retries";
    /// Head complete to response complete, µs.
    pub const TOTAL_US: &str = "total_us";
    /// Upstream request to response complete, µs (null: no upstream).
    pub const UPSTREAM_US: &str = "upstream_us";
    /// Upstream request to first response byte, µs (null: no upstream).
    pub const TTFB_US: &str = "ttfb_us";
    /// Bytes from the client.
    pub const REQUEST_BYTES: &str = "request_bytes";
    /// Bytes to the client.
    pub const RESPONSE_BYTES: &str = "response_bytes";
    /// Client address text.
    pub const CLIENT_IP: &str = "client_ip";
    /// Client identity (null: anonymous).
    pub const CLIENT_ID: &str = "client_id";
    /// Request id.
    pub const REQUEST_ID: &str = "request_id";
    /// Path and query.
    pub const PATH: &str = "path";
    /// User agent (null: none).
    pub const USER_AGENT: &str = "user_agent";
    /// `TLSv1.2`, `TLSv1.3` (null: plain TCP). Since schema version 2.
    pub const TLS_VERSION: &str = "tls_version";
    /// `full` or `resumed` (null: plain TCP). Since schema version 2.
    pub const TLS_SESSION: &str = "tls_session";
    /// `http/1.1` or `h2` as chosen by ALPN (null: none). Since schema version 2.
    pub const ALPN: &str = "alpn";
    /// The server name the client sent (null: none). Since schema version 2.
    pub const SNI: &str = "sni";
    /// The response's gRPC status code, `0`..`16` or `other` (null: none). Since version 3.
    pub const GRPC_STATUS: &str = "grpc_status";
    /// The W3C trace id the request was forwarded with, 32 lowercase hex digits (null:
    /// none). Since version 4.
    pub const TRACE_ID: &str = "trace_id";
    /// For a sub-request an aggregate route made, the client request's `request_id` (null:
    /// a client request). Since version 5.
    pub const PARENT_ID: &str = "parent_id";
}

/// Dictionary key type of the names columns (listener, route, upstream, endpoint).
pub const NAME_KEY: DataType = DataType::UInt32;
/// Dictionary key type of the enum columns (method, status class, outcome, cache).
pub const ENUM_KEY: DataType = DataType::UInt8;

fn dict(key: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
}

/// The schema every log file is written with (shared; built once).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(
                    col::TS,
                    DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into())),
                    false,
                ),
                Field::new(col::CORE, DataType::UInt16, false),
                Field::new(col::LISTENER, dict(NAME_KEY), false),
                Field::new(col::ROUTE, dict(NAME_KEY), true),
                Field::new(col::UPSTREAM, dict(NAME_KEY), true),
                Field::new(col::ENDPOINT, dict(NAME_KEY), true),
                Field::new(col::METHOD, dict(ENUM_KEY), false),
                Field::new(col::HTTP_VERSION, DataType::UInt8, false),
                Field::new(col::STATUS, DataType::UInt16, false),
                Field::new(col::STATUS_CLASS, dict(ENUM_KEY), true),
                Field::new(col::OUTCOME, dict(ENUM_KEY), false),
                Field::new(col::CACHE, dict(ENUM_KEY), false),
                Field::new(col::RETRIES, DataType::UInt8, false),
                Field::new(col::TOTAL_US, DataType::UInt32, false),
                Field::new(col::UPSTREAM_US, DataType::UInt32, true),
                Field::new(col::TTFB_US, DataType::UInt32, true),
                Field::new(col::REQUEST_BYTES, DataType::UInt64, false),
                Field::new(col::RESPONSE_BYTES, DataType::UInt64, false),
                Field::new(col::CLIENT_IP, DataType::Utf8, false),
                Field::new(col::CLIENT_ID, DataType::Utf8, true),
                Field::new(col::REQUEST_ID, DataType::Utf8, false),
                Field::new(col::PATH, DataType::Utf8, false),
                Field::new(col::USER_AGENT, DataType::Utf8, true),
                Field::new(col::TLS_VERSION, dict(ENUM_KEY), true),
                Field::new(col::TLS_SESSION, dict(ENUM_KEY), true),
                Field::new(col::ALPN, dict(ENUM_KEY), true),
                Field::new(col::SNI, DataType::Utf8, true),
                Field::new(col::GRPC_STATUS, dict(ENUM_KEY), true),
                Field::new(col::TRACE_ID, DataType::Utf8, true),
                Field::new(col::PARENT_ID, DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Dictionary values of the `status_class` column; the key is `status / 100 - 1`.
pub const STATUS_CLASSES: [&str; 9] = [
    "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
];

/// The `status_class` dictionary key of `status` (`None` for 0, i.e. no response sent, and for
/// values outside 100..=999).
pub fn status_class_key(status: u16) -> Option<u8> {
    (100..1000)
        .contains(&status)
        .then(|| (status / 100 - 1) as u8)
}

/// The `status_class` text of `status` (see [`status_class_key`]).
pub fn status_class(status: u16) -> Option<&'static str> {
    status_class_key(status).map(|k| STATUS_CLASSES[usize::from(k)])
}

/// Outcomes that are the gateway's or the upstream's failure, not the client's.
pub const ERROR_OUTCOMES: [Outcome; 5] = [
    Outcome::UpstreamConnect,
    Outcome::UpstreamTimeout,
    Outcome::UpstreamError,
    Outcome::NoEndpoint,
    Outcome::Overloaded,
];

/// The error verdict used by `ringway logs`: a 5xx status, or an outcome in
/// [`ERROR_OUTCOMES`] (upstream connect/timeout/error, no endpoint) whatever the status —
/// e.g. an upstream that failed after the client had gone. Client-side verdicts (4xx, client
/// aborts, rate limits) are not errors.
pub fn is_error(status: u16, outcome: &str) -> bool {
    (500..600).contains(&status)
        || ERROR_OUTCOMES
            .iter()
            .any(|o| o.as_str().as_bytes() == outcome.as_bytes())
}

/// [`is_error`] on a record.
pub fn record_is_error(rec: &RequestRecord) -> bool {
    (500..600).contains(&rec.status) || ERROR_OUTCOMES.contains(&rec.outcome)
}

/// Appends the client address as text: `a.b.c.d` for IPv4-mapped addresses (`::ffff:a.b.c.d`),
/// the canonical IPv6 text otherwise. IPv4 is formatted by hand (it is on the write path).
pub fn write_client_ip(out: &mut String, ip: &[u8; 16]) {
    if ip[..10].iter().all(|&b| b == 0) && ip[10] == 0xff && ip[11] == 0xff {
        for (i, &octet) in ip[12..].iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            if octet >= 100 {
                out.push(char::from(b'0' + octet / 100));
            }
            if octet >= 10 {
                out.push(char::from(b'0' + octet / 10 % 10));
            }
            out.push(char::from(b'0' + octet % 10));
        }
    } else {
        use std::fmt::Write as _;
        let _ = write!(out, "{}", Ipv6Addr::from(*ip));
    }
}

/// The client address as text (see [`write_client_ip`]).
pub fn client_ip_text(ip: &[u8; 16]) -> String {
    let mut s = String::with_capacity(15);
    write_client_ip(&mut s, ip);
    s
}

/// Names for the configuration indices in a [`RequestRecord`]. An index that is
/// [`NONE`](ringway_telemetry::record::NONE) becomes null; an index outside the table (a record
/// from a configuration the table does not describe) becomes a placeholder such as
/// `route#0.7`, so no row is lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    /// Listener names, by listener index.
    pub listeners: Vec<String>,
    /// Route names per listener: `routes[listener][route]`.
    pub routes: Vec<Vec<String>>,
    /// Upstream group names, by upstream index.
    pub upstreams: Vec<String>,
    /// Endpoint addresses (`ip:port`) per upstream: `endpoints[upstream][endpoint]`.
    pub endpoints: Vec<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(0), None);
        assert_eq!(status_class(99), None);
        assert_eq!(status_class(100), Some("1xx"));
        assert_eq!(status_class(200), Some("2xx"));
        assert_eq!(status_class(503), Some("5xx"));
        assert_eq!(status_class(999), Some("9xx"));
        assert_eq!(status_class(1000), None);
    }

    #[test]
    fn error_verdict() {
        assert!(is_error(500, "ok"));
        assert!(is_error(0, "upstream_timeout"));
        assert!(is_error(503, "no_endpoint"));
        assert!(!is_error(404, "no_route"));
        assert!(!is_error(429, "rate_limited"));
        assert!(!is_error(0, "client_aborted"));
        let rec = RequestRecord {
            status: 502,
            ..Default::default()
        };
        assert!(record_is_error(&rec));
        for o in ERROR_OUTCOMES {
            let rec = RequestRecord {
                outcome: o,
                ..Default::default()
            };
            assert!(record_is_error(&rec) && is_error(0, o.as_str()));
        }
    }

    #[test]
    fn client_ip_text_forms() {
        let v4 = Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207]).octets();
        assert_eq!(client_ip_text(&v4), "192.0.2.7");
        let v4 = std::net::Ipv4Addr::new(10, 0, 100, 255)
            .to_ipv6_mapped()
            .octets();
        assert_eq!(client_ip_text(&v4), "10.0.100.255");
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(client_ip_text(&v6.octets()), "2001:db8::1");
        assert_eq!(client_ip_text(&[0; 16]), "::");
    }

    #[test]
    fn schema_has_the_documented_columns() {
        let s = schema();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "ts",
                "core",
                "listener",
                "route",
                "upstream",
                "endpoint",
                "method",
                "http_version",
                "status",
                "status_class",
                "outcome",
                "cache",
                "retries",
                "total_us",
                "upstream_us",
                "ttfb_us",
                "request_bytes",
                "response_bytes",
                "client_ip",
                "client_id",
                "request_id",
                "path",
                "user_agent",
                "tls_version",
                "tls_session",
                "alpn",
                "sni",
                "grpc_status",
                "trace_id",
                "parent_id"
            ]
        );
    }
}
