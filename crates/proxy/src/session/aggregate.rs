//! Aggregate routes: one client request fans out to several upstream groups at once, and the
//! JSON bodies that come back are merged into one object (`ringway_transform::merge`).
//!
//! Each sub-request runs on this core, on its group's pools, balancer, health and breakers
//! like any forwarded request (an ejected endpoint or an open breaker fails it at once), under
//! its own deadline inside the route's. A required backend's failure answers 502 (504 on its
//! timeout) without waiting for the others; an optional one's leaves its part out, and the
//! answer says so (`x-ringway-completed: false`, `cache-control: no-store`). Every
//! sub-request gets its own record in the logs, carrying its parent's request id.

use std::sync::LazyLock;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};
use ringway_config::model::{AggregateAction, AggregateBackend};
use ringway_core::{ErrorKind, RequestId};
use ringway_resilience::Outcome;
use ringway_telemetry::metrics::Transformed;
use ringway_telemetry::record::{Inline, Method as RecMethod, Outcome as RecOutcome};

use super::attempt::{read_final_head, ReadFailure};
use super::body::{read_whole, BodyError};
use super::forward::outlier_outcome;
use super::reshape::reshape_counted;
use super::{micros, outcome_of, Failure, Session};
use crate::codec::{Method, ResponseHead};
use crate::io::Conn;
use crate::per_core::Core;
use crate::upstream::{Group, InFlight, UpConn};

/// The answer's fields: complete, and partial (which no cache may keep as if it were whole).
static ANSWER_HEADERS: LazyLock<[Vec<(String, String)>; 2]> = LazyLock::new(|| {
    let field = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    let json = field("content-type", "application/json");
    [
        vec![json.clone(), field("x-ringway-completed", "true")],
        vec![
            json,
            field("x-ringway-completed", "false"),
            field("cache-control", "no-store"),
        ],
    ]
});

/// Why a sub-request's part is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubFailure {
    /// Connect, send, read, deadline, no endpoint, breaker: classified as for any request.
    Upstream(ErrorKind),
    /// Answered, but not with a 2xx.
    Status(u16),
    /// The body was over the aggregate's `max_body_bytes`.
    TooLarge,
    /// The body was not JSON the merge takes (or was content-encoded).
    Body,
}

impl SubFailure {
    /// The client's answer when a required backend failed this way: 504 on a timeout, else 502.
    fn answer(self) -> ErrorKind {
        match self {
            SubFailure::Upstream(
                ErrorKind::UpstreamTimeout | ErrorKind::UpstreamConnectTimeout,
            ) => ErrorKind::UpstreamTimeout,
            _ => ErrorKind::UpstreamBadResponse,
        }
    }

    /// How the sub-request's record says it ended.
    fn outcome(self) -> RecOutcome {
        match self {
            SubFailure::Upstream(kind) => outcome_of(kind),
            _ => RecOutcome::UpstreamError,
        }
    }
}

/// One sub-request, as it went.
struct Fetched {
    id: RequestId,
    /// Path and query sent.
    target: Vec<u8>,
    /// The endpoint asked last.
    ep: Option<usize>,
    tries: u8,
    status: u16,
    body: Vec<u8>,
    result: Result<(), SubFailure>,
    started: Instant,
    sent: Option<Instant>,
    first_byte: Option<Instant>,
    ended: Instant,
    sent_bytes: u64,
    received_bytes: u64,
}

impl Session {
    /// Answers an aggregate route: GET and HEAD only; a request body is not read (the
    /// connection closes after the answer, as for a direct response).
    pub(super) async fn aggregate(
        &mut self,
        client: &mut Conn,
        core: &Core,
        route: usize,
        action: &AggregateAction,
    ) -> Result<bool, Failure> {
        if !matches!(self.head.method_kind, Method::Get | Method::Head) {
            return Err(Failure::Respond(ErrorKind::MethodNotAllowed));
        }
        let common = self.sub_request_fields(client, action);
        let buf = client.buffered();
        let query = self.head.query_part(buf);
        let mut pending: FuturesUnordered<_> = action
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut target = Vec::with_capacity(b.path.len() + query.len());
                target.extend_from_slice(b.path.as_bytes());
                target.extend_from_slice(query);
                let id = core.ids.borrow_mut().next_id();
                let group = &core.groups[b.upstream.0];
                let common = &common[..];
                let max = action.max_body_bytes;
                async move { (i, fetch(core, group, b, id, target, common, max).await) }
            })
            .collect();
        let mut fetched: Vec<Option<Fetched>> = action.backends.iter().map(|_| None).collect();
        let mut failed: Option<SubFailure> = None;
        while let Some((i, f)) = pending.next().await {
            let required_failed = action.backends[i].required && f.result.is_err();
            if required_failed {
                failed = f.result.err();
            }
            fetched[i] = Some(f);
            if required_failed {
                // The answer is known: the others are dropped (their connections close).
                break;
            }
        }
        drop(pending);

        // Each part checked for the merge; a part that fails it is missing like any other.
        let mut bad_bodies = Vec::new();
        let mut parts = Vec::with_capacity(fetched.len());
        for (i, (b, f)) in action.backends.iter().zip(&fetched).enumerate() {
            let part = match f {
                Some(f) if f.result.is_ok() => {
                    match ringway_transform::parse_part(&f.body, action.merge) {
                        Ok(p) => Some(p),
                        Err(_) => {
                            bad_bodies.push(i);
                            if b.required && failed.is_none() {
                                failed = Some(SubFailure::Body);
                            }
                            None
                        }
                    }
                }
                _ => None,
            };
            parts.push((b.name.as_str(), part));
        }
        let complete = parts.iter().all(|(_, p)| p.is_some());
        let mut merged = Vec::new();
        if failed.is_none() {
            ringway_transform::merge(&parts, &mut merged);
        }
        drop(parts);
        for i in bad_bodies {
            if let Some(f) = &mut fetched[i] {
                f.result = Err(SubFailure::Body);
            }
        }
        for (b, f) in action.backends.iter().zip(&fetched) {
            if let Some(f) = f {
                self.emit_sub_record(core, b, f);
            }
        }
        if let Some(why) = failed {
            core.count(Transformed::AggregateFailed);
            return Err(Failure::Respond(why.answer()));
        }
        core.count(if complete {
            Transformed::AggregateComplete
        } else {
            Transformed::AggregatePartial
        });
        let reshape = core.cfg.listeners[self.listener].routes[route]
            .reshape
            .as_ref();
        let body = match reshape {
            Some(r) if merged.len() as u64 <= r.max_body_bytes => {
                reshape_counted(core, r, merged).0
            }
            Some(_) => {
                core.count(Transformed::ReshapeTooLarge);
                merged
            }
            None => merged,
        };

        let headers = &ANSWER_HEADERS[usize::from(!complete)];
        self.send_generated(client, 200, headers, &body).await
    }

    /// The header lines every sub-request carries: the client's address and scheme, the
    /// trace context, the forwarded claims, and the client headers the route passes on.
    fn sub_request_fields(&self, client: &Conn, action: &AggregateAction) -> Vec<u8> {
        let buf = &client.buffered()[..self.head.len];
        let mut out = Vec::with_capacity(256);
        let mut line = |name: &[u8], value: &[u8]| {
            for part in [name, b": ", value, b"\r\n"] {
                out.extend_from_slice(part);
            }
        };
        line(b"x-forwarded-for", &self.peer_text);
        line(b"x-forwarded-proto", self.proto);
        if self.req.trace.is_some() {
            line(b"traceparent", &self.req.traceparent);
        }
        for h in &self.head.headers {
            let name = h.name.of(buf);
            if action
                .forward_headers
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
            {
                line(name, h.value.of(buf));
            }
        }
        out.extend_from_slice(&self.req.policy_headers);
        out
    }

    /// The log record of one sub-request: the client request's, with the sub-request's own
    /// id, target, upstream, status and times, and the client request's id as its parent.
    fn emit_sub_record(&self, core: &Core, b: &AggregateBackend, f: &Fetched) {
        let mut rec = self.req.rec;
        rec.ts_us += micros(f.started - self.req.started) as i64;
        rec.upstream = core.labels.upstreams[b.upstream.0];
        rec.endpoint = f.ep.map_or(ringway_telemetry::record::NONE, |ep| {
            core.labels.endpoints[b.upstream.0][ep]
        });
        rec.method = RecMethod::Get;
        rec.http_version = 11;
        rec.status = f.status;
        rec.outcome = f
            .result
            .map_or_else(SubFailure::outcome, |()| RecOutcome::Ok);
        rec.cache = Default::default();
        rec.retries = f.tries.saturating_sub(1);
        rec.total_us = micros(f.ended - f.started);
        rec.upstream_us = f.sent.map_or(0, |s| micros(f.ended - s));
        rec.ttfb_us = match (f.sent, f.first_byte) {
            (Some(s), Some(t)) => micros(t - s),
            _ => 0,
        };
        rec.request_bytes = f.sent_bytes;
        rec.response_bytes = f.received_bytes;
        rec.request_id = Inline::new(f.id.as_bytes());
        rec.path = Inline::new(&f.target);
        rec.parent_id = Inline::new(self.req.request_id.as_bytes());
        core.emit_sub(&rec);
    }
}

/// One sub-request under its deadline, reported to its group's outlier detection.
async fn fetch(
    core: &Core,
    group: &Group,
    b: &AggregateBackend,
    id: RequestId,
    target: Vec<u8>,
    common: &[u8],
    max_body: u64,
) -> Fetched {
    let started = Instant::now();
    let mut f = Fetched {
        id,
        target,
        ep: None,
        tries: 0,
        status: 0,
        body: Vec::new(),
        result: Ok(()),
        started,
        sent: None,
        first_byte: None,
        ended: started,
        sent_bytes: 0,
        received_bytes: 0,
    };
    let until = started + b.timeout;
    f.result = match monoio::time::timeout_at(
        until.into(),
        exchange(core, group, &mut f, common, max_body, until),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(SubFailure::Upstream(ErrorKind::UpstreamTimeout)),
    };
    f.ended = Instant::now();
    if let Some(ep) = f.ep {
        let outcome = match f.result {
            Err(SubFailure::Upstream(kind)) => outlier_outcome(kind),
            _ if f.status >= 500 => Some(Outcome::ServerError),
            _ if f.status > 0 => Some(Outcome::Success),
            _ => None,
        };
        if let Some(o) = outcome {
            group.report(ep, o);
        }
    }
    f
}

/// Connects (a pooled connection found closed is replaced once), sends the GET, reads the
/// response and its whole body.
async fn exchange(
    core: &Core,
    group: &Group,
    f: &mut Fetched,
    common: &[u8],
    max_body: u64,
    until: Instant,
) -> Result<(), SubFailure> {
    let up_err = SubFailure::Upstream;
    let _request_slot = group.request_slot().map_err(up_err)?;
    let mut admitted = group.admit().map_err(up_err)?;
    let mut tried: Vec<usize> = Vec::with_capacity(2);
    let mut fresh = false;
    let mut resp = ResponseHead::default();
    let mut head = Vec::with_capacity(256 + common.len());
    let mut _inflight = None;
    let mut up: UpConn = loop {
        let ep = match (fresh, tried.last()) {
            (true, Some(&ep)) => ep,
            _ => {
                let ep = group
                    .pick(None, &tried)
                    .ok_or(up_err(ErrorKind::NoEndpoint))?;
                tried.push(ep);
                ep
            }
        };
        f.ep = Some(ep);
        f.tries = f.tries.saturating_add(1);
        let mut up = group
            .connect(ep, !fresh, &core.stats)
            .await
            .map_err(up_err)?;
        _inflight = Some(InFlight::start(group, ep));
        head.clear();
        for part in [
            b"GET ".as_slice(),
            &f.target,
            b" HTTP/1.1\r\nhost: ",
            &group.authorities[ep],
            b"\r\nx-request-id: ",
            f.id.as_bytes(),
            b"\r\n",
            common,
            b"\r\n",
        ] {
            head.extend_from_slice(part);
        }
        f.sent_bytes = head.len() as u64;
        f.sent = Some(Instant::now());
        let sent = up.conn.send(&mut head, until - Instant::now()).await;
        let read = match sent {
            Ok(()) => read_final_head(&mut up, &mut resp, until, false, false).await,
            Err(_) => Err(ReadFailure::BeforeAnyByte),
        };
        match read {
            Ok(()) => break up,
            // The upstream had closed the pooled connection: once more, on a new one.
            Err(ReadFailure::BeforeAnyByte) if up.reused && !fresh => fresh = true,
            Err(ReadFailure::BeforeAnyByte) => return Err(up_err(ErrorKind::UpstreamReset)),
            Err(ReadFailure::Kind(kind)) => return Err(up_err(kind)),
        }
    };
    if let Some(a) = &mut admitted {
        a.answered();
    }
    f.first_byte = Some(Instant::now());
    f.status = resp.status;
    let encoded = resp.headers.iter().any(|h| {
        h.name
            .of(up.conn.buffered())
            .eq_ignore_ascii_case(b"content-encoding")
            && !h
                .value
                .of(up.conn.buffered())
                .eq_ignore_ascii_case(b"identity")
    });
    up.conn.consume(resp.len);
    f.received_bytes = resp.len as u64;
    let spanned = read_whole(&mut up.conn, 0, resp.body, max_body, until, &mut f.body)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => SubFailure::TooLarge,
            BodyError::Upstream(kind) => up_err(kind),
        })?;
    up.conn.consume(spanned);
    f.received_bytes += spanned as u64;
    if resp.keep_alive && up.conn.buffered().is_empty() {
        group.release(up);
    }
    if !(200..300).contains(&resp.status) {
        return Err(SubFailure::Status(resp.status));
    }
    if encoded {
        return Err(SubFailure::Body);
    }
    Ok(())
}
