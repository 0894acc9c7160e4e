//! Test helpers for Ringway: a recording mock upstream that keeps the raw bytes it received and
//! parses them with an independent parser (httparse), a harness that runs the real `ringway`
//! binary on an ephemeral port (from a YAML text, in a temp file removed afterwards), one
//! request builder, and a raw HTTP client. Everything binds `127.0.0.1:0`.

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "harness threads share what they recorded; no gateway request path here"
)]

mod client;
mod config;
mod duckdb;
mod gateway;
mod message;
mod python;
mod redis;
mod request;
mod upstream;

pub use client::{exchange_raw, get, parse_responses, RawExchange, Response};
pub use config::{TempConfig, TempDir};
pub use duckdb::duckdb_rows;
pub use gateway::Gateway;
pub use message::{parse_requests, Request};
pub use python::ensure_python;
pub use redis::Redis;
pub use request::{read_one, roundtrip, Req, PATIENCE};
pub use upstream::{Reply, Upstream};

/// Retries `check` until it returns true or `patience` passes; for truly asynchronous effects.
pub fn eventually(patience: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + patience;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Checks a gateway-made error body (`{"error":code,"request_id":id,"trace_id":hex}` and a
/// newline) and returns its trace id (32 hex digits).
pub fn error_body_trace(body: &str, code: &str, request_id: &str) -> String {
    let start = format!("{{\"error\":\"{code}\",\"request_id\":\"{request_id}\",\"trace_id\":\"");
    assert!(
        body.starts_with(&start) && body.ends_with("\"}\n"),
        "{body}"
    );
    let trace = &body[start.len()..body.len() - 3];
    assert!(
        trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
        "{body}"
    );
    trace.to_owned()
}
