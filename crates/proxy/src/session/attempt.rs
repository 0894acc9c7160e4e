//! One attempt: a connection to one endpoint, the rewritten head (and the body, if any), and the
//! response head back. Every way it can fail is classified here, once, into an
//! [`ErrorKind`] whose [`ErrorKind::retryable`] flag the retry decision reads.

use std::time::Instant;

use ringway_config::model::ProxyAction;
use ringway_core::ErrorKind;

use super::pump::{self, RequestBody, Timeouts};
use super::{deadline, Failure, Session};
use crate::codec::{
    find_head_end, leading_empty_lines, write_request_head, ForwardInfo, HeadLimits, Method, Name,
    RequestEdits, ResponseHead,
};
use crate::io::{Conn, IoError};
use crate::per_core::Core;
use crate::upstream::{Group, InFlight, UpConn};

/// Limits applied to upstream response heads.
pub(super) const RESPONSE_LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 0,
    max_head_bytes: 64 * 1024,
    max_headers: 200,
};

/// What an attempt needs that stays the same across retries.
pub(super) struct Plan<'a> {
    pub group: &'a Group,
    pub action: &'a ProxyAction,
    /// Header names the policy removes from the forwarded request.
    pub removed: &'a [String],
    /// Whether the route rewrote the path (into the request's `path` buffer).
    pub rewritten: bool,
    /// Whether the request has no body, so it can be sent again whole.
    pub replayable: bool,
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy)]
pub(super) enum AttemptFailure {
    /// The upstream side failed, classified.
    Upstream(ErrorKind),
    /// The client side failed while its body was streamed (timeout, too large, gone): the
    /// request is over, whatever the upstream does.
    Request(Failure),
}

impl Session {
    /// Sends the request to endpoint `ep` of the plan's group (on a new connection when
    /// `fresh`, otherwise on a pooled one if there is any) and reads the final response head
    /// into `self.resp`. Interim (1xx) responses are skipped.
    pub(super) async fn attempt<'g>(
        &mut self,
        client: &mut Conn,
        core: &Core,
        plan: &Plan<'g>,
        ep: usize,
        fresh: bool,
        inflight: &mut Option<InFlight<'g>>,
    ) -> Result<UpConn, AttemptFailure> {
        let group = plan.group;
        let mut up = group
            .connect(ep, !fresh, &core.stats)
            .await
            .map_err(AttemptFailure::Upstream)?;
        *inflight = Some(InFlight::start(group, ep));
        self.req.rec.endpoint = core.labels.endpoints[group.index()][ep];
        self.req.rec.retries = (self.req.tried.len() - 1).min(255) as u8;
        self.req.upstream_sent = Some(Instant::now());

        let head_len = self.head.len;
        let action = plan.action;
        let edits = RequestEdits {
            path: plan.rewritten.then_some(&self.req.path[..]),
            host: action.host.as_deref().map(str::as_bytes),
            headers: Some(&action.request_headers)
                .filter(|o| !(o.remove.is_empty() && o.set.is_empty() && o.add.is_empty())),
            remove: plan.removed,
            append: &self.req.policy_headers,
            traceparent: self
                .req
                .trace
                .is_some()
                .then_some(&self.req.traceparent[..]),
            keep_tracestate: self.req.trace.is_some_and(|t| t.continued),
        };
        let info = ForwardInfo {
            client_ip: &self.peer_text,
            proto: self.proto,
            fallback_host: &group.authorities[ep],
            client_cert: self.xfcc.as_deref(),
        };
        self.out.clear();
        write_request_head(
            &client.buffered()[..head_len],
            &self.head,
            &info,
            &self.req.request_id,
            &edits,
            &mut self.out,
        );
        // A failure on a pooled connection before any response byte means the upstream had
        // closed it while idle; a body-less request can then go again, whole.
        let stale = |up: &UpConn| {
            if up.reused && plan.replayable {
                ErrorKind::UpstreamClosedIdle
            } else {
                ErrorKind::UpstreamReset
            }
        };
        if plan.replayable {
            let sent = up.conn.send(&mut self.out, self.req.response_timeout).await;
            if sent.is_err() {
                return Err(AttemptFailure::Upstream(stale(&up)));
            }
        } else {
            client.consume(head_len);
            let body = RequestBody {
                framing: self.head.body,
                max_bytes: self.req.max_body,
                expect_continue: self.head.expect_continue,
            };
            let t = Timeouts {
                read: self.lt.body,
                write: self.req.response_timeout,
            };
            pump::request_body(client, &mut up.conn, body, &mut self.out, t)
                .await
                .map_err(AttemptFailure::Request)?;
        }
        match self.read_response_head(&mut up).await {
            Ok(()) => {
                self.req.upstream_first_byte = Some(Instant::now());
                Ok(up)
            }
            Err(ReadFailure::BeforeAnyByte) => Err(AttemptFailure::Upstream(stale(&up))),
            Err(ReadFailure::Kind(kind)) => Err(AttemptFailure::Upstream(kind)),
        }
    }

    /// Reads the final response head into `self.resp`, skipping interim (1xx) responses.
    async fn read_response_head(&mut self, up: &mut UpConn) -> Result<(), ReadFailure> {
        let until = deadline(self.req.response_timeout);
        let head_request = self.head.method_kind == Method::Head;
        let websocket = self.head.websocket;
        read_final_head(up, &mut self.resp, until, head_request, websocket).await
    }
}

/// Reads the final response head of `up` into `resp`, skipping interim (1xx) responses; a
/// `101` is final only for a WebSocket handshake (`websocket`) switching to it.
pub(super) async fn read_final_head(
    up: &mut UpConn,
    resp: &mut ResponseHead,
    until: Instant,
    head_request: bool,
    websocket: bool,
) -> Result<(), ReadFailure> {
    let bad = |_: ErrorKind| ReadFailure::Kind(ErrorKind::UpstreamBadResponse);
    let mut scanned = 0;
    let mut received = false;
    loop {
        if scanned == 0 {
            // Tolerate empty lines before a status line (seen after `100 Continue`).
            if let Ok(n) = leading_empty_lines(up.conn.buffered()) {
                up.conn.consume(n);
            }
        }
        if !up.conn.buffered().is_empty() {
            received = true;
            let found =
                find_head_end(up.conn.buffered(), &mut scanned, &RESPONSE_LIMITS).map_err(bad)?;
            if let Some(end) = found {
                let max_headers = RESPONSE_LIMITS.max_headers;
                resp.parse(&up.conn.buffered()[..end], head_request, max_headers)
                    .map_err(bad)?;
                match resp.status {
                    // A switch only to what was asked: a WebSocket, by a WebSocket handshake.
                    101 if websocket && upgrades_to_websocket(resp, up.conn.buffered()) => {
                        return Ok(())
                    }
                    101 => return Err(bad(ErrorKind::UpstreamBadResponse)),
                    100..=199 => {
                        up.conn.consume(end);
                        scanned = 0;
                        continue;
                    }
                    _ => return Ok(()),
                }
            }
        }
        match up.conn.fill(until).await {
            Ok(_) => {}
            Err(IoError::Timeout) => return Err(ReadFailure::Kind(ErrorKind::UpstreamTimeout)),
            // Nothing was processed: like a refused connection, safe to send elsewhere.
            Err(IoError::Refused) => return Err(ReadFailure::Kind(ErrorKind::UpstreamConnect)),
            Err(_) if !received => return Err(ReadFailure::BeforeAnyByte),
            Err(_) => return Err(ReadFailure::Kind(ErrorKind::UpstreamReset)),
        }
    }
}

/// Why no response head was read.
pub(super) enum ReadFailure {
    /// The connection ended before any byte of a response.
    BeforeAnyByte,
    /// Anything else, classified.
    Kind(ErrorKind),
}

/// Whether a `101` response switches to WebSocket (`Upgrade: websocket`, and nothing else).
fn upgrades_to_websocket(resp: &ResponseHead, buf: &[u8]) -> bool {
    let mut upgrades = resp
        .headers
        .iter()
        .filter(|h| h.kind == Name::Upgrade)
        .map(|h| h.value.of(buf));
    upgrades
        .next()
        .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"))
        && upgrades.next().is_none()
}
