//! Forwarding: choose the upstream group and what identifies the request to its balancer, then
//! attempt, retry as [`retry::decide`] says, and stream the chosen response back.

use std::time::Instant;

use ringway_config::model::{Balance, HashKey, ProxyAction};
use ringway_core::ErrorKind;
use ringway_policy::RouteId;
use ringway_resilience::Outcome;

use super::attempt::{AttemptFailure, Plan};
use super::cache::Origin;
use super::pump::{self, Timeouts};
use super::retry::{self, Attempted, Next, Tries};
use super::tunnel::{self, TunnelEnd};
use super::view::{cookie_value, header_value, rewrite_path};
use super::{Failure, Session};
use crate::codec::{parse_grpc_status, write_response_head, Body, OutBody};
use crate::framing;
use crate::io::Conn;
use crate::per_core::Core;
use crate::stats::bump;
use crate::upstream::{Group, InFlight, UpConn};
use ringway_cache::Handled;
use ringway_config::model::HeaderOps;
use ringway_telemetry::record::GRPC_NONE;

impl Session {
    /// Forwards the request to the route's upstream group, retrying where the decision allows,
    /// and streams the response back; on a cached route, through the cache first. Returns
    /// whether the client connection stays open.
    pub(super) async fn forward(
        &mut self,
        client: &mut Conn,
        core: &Core,
        route: usize,
        action: &ProxyAction,
    ) -> Result<bool, Failure> {
        let ops = Some(&action.response_headers).filter(|o| !is_empty_ops(o));
        match core.cfg.listeners[self.listener].routes[route]
            .cache
            .as_ref()
        {
            Some(rc) => {
                self.forward_cached(client, core, route, action, rc, ops)
                    .await
            }
            None => {
                let origin = Origin::default();
                self.forward_to_origin(client, core, route, action, ops, origin)
                    .await
            }
        }
    }

    /// The origin part of [`Session::forward`]: what the cache decided rides in `origin`.
    pub(super) async fn forward_to_origin(
        &mut self,
        client: &mut Conn,
        core: &Core,
        route: usize,
        action: &ProxyAction,
        ops: Option<&HeaderOps>,
        origin: Origin<'_>,
    ) -> Result<bool, Failure> {
        let Origin {
            cache,
            fill,
            invalidate,
            background,
        } = origin;
        let (group, has_key) = self.select(client, core, route, action);
        // Held until the response is forwarded.
        let _request_slot = group.request_slot().map_err(Failure::Respond)?;
        let mut admitted = group.admit().map_err(Failure::Respond)?;
        let mut _retry_slot = None;
        let plan = Plan {
            group,
            action,
            removed: core.policy.policies().removed_headers(RouteId {
                listener: self.listener,
                route,
            }),
            rewritten: rewrite_path(
                action,
                self.head.path_only(client.buffered()),
                self.head.query_part(client.buffered()),
                &mut self.req.path,
            ),
            // Only a request with no body can be sent again: nothing of it is lost.
            replayable: self.head.body == Body::None,
        };
        let policy = &group.spec.retries;
        let mut tries = Tries {
            endpoints_tried: 0,
            max_endpoints: 1 + policy.attempts as usize,
            group_size: group.len(),
            fresh_connection_used: false,
            idempotent: plan.replayable && self.head.method_kind.is_idempotent(),
            on_status: &policy.on_status,
        };
        group.budget.borrow_mut().record_request(Instant::now());

        let mut last_error = ErrorKind::NoEndpoint;
        // In flight on the endpoint of the current attempt, until the response is forwarded.
        let mut inflight: Option<InFlight<'_>> = None;
        let mut up: UpConn = loop {
            let ep = match (tries.fresh_connection_used, self.req.tried.last()) {
                // The same endpoint again, on a new connection (the pooled one was stale).
                (true, Some(&ep)) => ep,
                _ => {
                    let key = has_key.then_some(&self.req.hash_key[..]);
                    let Some(ep) = group.pick(key, &self.req.tried) else {
                        return Err(Failure::Respond(last_error));
                    };
                    self.req.tried.push(ep);
                    ep
                }
            };
            tries.endpoints_tried = self.req.tried.len();
            let fresh = tries.fresh_connection_used;
            let up = match self
                .attempt(client, core, &plan, ep, fresh, &mut inflight)
                .await
            {
                Ok(up) => up,
                Err(AttemptFailure::Request(f)) => return Err(f),
                Err(AttemptFailure::Upstream(kind)) => {
                    if let Some(outcome) = outlier_outcome(kind) {
                        group.report(ep, outcome);
                    }
                    match retry::decide(Attempted::Failed(kind), &tries) {
                        Next::NewConnection => tries.fresh_connection_used = true,
                        Next::OtherEndpoint => {
                            tries.fresh_connection_used = false;
                            last_error = kind;
                            // Past max_retries the failure is the answer.
                            _retry_slot =
                                Some(group.retry_slot().map_err(|_| Failure::Respond(kind))?);
                        }
                        Next::Fail(kind) => return Err(Failure::Respond(kind)),
                        // Only answered attempts are forwarded or retried by status.
                        Next::Forward | Next::OtherEndpointIfBudget => {
                            return Err(Failure::Respond(kind))
                        }
                    }
                    continue;
                }
            };
            group.report(
                ep,
                if self.resp.status >= 500 {
                    Outcome::ServerError
                } else {
                    Outcome::Success
                },
            );
            let retry = retry::decide(Attempted::Answered(self.resp.status), &tries)
                == Next::OtherEndpointIfBudget
                && group.budget.borrow_mut().try_retry(Instant::now())
                && match group.retry_slot() {
                    Ok(slot) => {
                        _retry_slot = Some(slot);
                        true
                    }
                    // Past max_retries the response is forwarded as it is.
                    Err(_) => false,
                };
            if !retry {
                if let Some(a) = &mut admitted {
                    a.answered();
                }
                break up;
            }
            // Elsewhere after a backoff; this connection is not reused.
            drop(up);
            tries.fresh_connection_used = false;
            bump(&core.stats.retries);
            let r = core.rng.borrow_mut().f64();
            let attempt = self.req.tried.len() as u32;
            let wait = ringway_balance::backoff(attempt, policy.backoff, policy.backoff_max, r);
            monoio::time::sleep(wait).await;
        };
        if let (Some(f), Some(rc)) = (&fill, cache) {
            // An origin error for a stale entry that allows it: the caller serves the entry.
            if self.resp.status >= 500 && f.stale_if_error().is_some() {
                return Err(Failure::Respond(ErrorKind::UpstreamBadResponse));
            }
            // A 304 to the cache's own validation freshens the stored entry, which is served.
            if self.resp.status == 304 && f.validating() {
                if let Some((v, stored)) = self.cache_freshen(&up, core, f, rc) {
                    let not_modified = self.client_not_modified(client, &v);
                    up.conn.consume(self.resp.len);
                    self.done_with(group, up);
                    drop(inflight);
                    if background {
                        return Ok(true);
                    }
                    client.consume(self.head.len);
                    let handled = Handled::Forward {
                        fwd: ringway_cache::Forward::Stale,
                        status: Some(304),
                        stored,
                        collapsed: false,
                        detail: None,
                    };
                    return self
                        .serve_stored(client, &v, handled, ops, not_modified)
                        .await;
                }
            }
        }
        // Decided while the request head is still buffered (Vary values come from it).
        let to_store = match (fill, cache) {
            (Some(f), Some(rc)) => {
                let hash = f.key().hash;
                match self.cache_plan(client, &up, f, rc) {
                    Ok(plan) => Some(plan),
                    Err(_) => {
                        bump(&core.cache.counters.not_stored);
                        core.cache.mark_uncacheable(hash);
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(inv) = invalidate.filter(|_| (200..400).contains(&self.resp.status)) {
            self.cache_invalidate(&up, core, inv);
        }
        if plan.replayable && !background {
            client.consume(self.head.len);
        }
        if let (Some(plan), Some(rc)) = (to_store, cache) {
            let send = !background;
            let keep_alive = self
                .store_and_send(client, &mut up, core, plan, rc, ops, send)
                .await?;
            self.done_with(group, up);
            drop(inflight);
            return Ok(keep_alive);
        }
        if background {
            // A background refresh that brought nothing to store: the connection goes.
            return Ok(true);
        }
        if self.resp.status == 101 {
            // Checked by the attempt: a WebSocket handshake answered by a switch to it.
            self.switch_protocols(client, &mut up, ops).await?;
            drop(inflight);
            return Ok(false);
        }
        let reshape = core.cfg.listeners[self.listener].routes[route]
            .reshape
            .as_ref();
        let keep_alive = match reshape {
            Some(r) => self.respond_reshaped(client, &mut up, core, r, ops).await?,
            None => self.respond_upstream(client, &mut up, ops).await?,
        };
        self.done_with(group, up);
        drop(inflight);
        Ok(keep_alive)
    }

    /// The upstream connection after its response: back to the pool when the response left it
    /// reusable (keep-alive, nothing unread), else closed.
    fn done_with(&self, group: &Group, up: UpConn) {
        if self.resp.keep_alive && up.conn.buffered().is_empty() {
            group.release(up);
        }
    }

    /// Upstream selection: the route's group (a weighted split, or the one a force header
    /// names), the response timeout, and the consistent-hash key copied out of the read
    /// buffer (a request body may overwrite it).
    fn select<'c>(
        &mut self,
        client: &Conn,
        core: &'c Core,
        route: usize,
        action: &ProxyAction,
    ) -> (&'c Group, bool) {
        let buf = &client.buffered()[..self.head.len];
        let headers = &self.head.headers;
        let group_id = match action.backends.as_slice() {
            [only] => only.upstream,
            backends => {
                let forced = action.force_header.as_deref().and_then(|name| {
                    let value = header_value(buf, headers, name.as_bytes())?;
                    backends
                        .iter()
                        .find(|b| core.groups[b.upstream.0].spec.name.as_bytes() == value)
                });
                match forced {
                    Some(b) => b.upstream,
                    None => {
                        let split = &core.listeners[self.listener].splits[route];
                        let i = split.as_ref().map_or(0, |s| s.borrow_mut().pick());
                        backends[i].upstream
                    }
                }
            }
        };
        let group = &core.groups[group_id.0];
        self.req.rec.upstream = core.labels.upstreams[group_id.0];
        self.req.response_timeout = core.cfg.listeners[self.listener].routes[route]
            .response_timeout
            .unwrap_or(group.spec.timeouts.response);
        let key = match &group.spec.balance {
            Balance::ConsistentHash(HashKey::Header(name)) => {
                header_value(buf, headers, name.as_bytes())
            }
            Balance::ConsistentHash(HashKey::Cookie(name)) => cookie_value(buf, headers, name),
            Balance::ConsistentHash(HashKey::ClientIp) => Some(&self.peer_text[..]),
            _ => None,
        };
        if let Some(k) = key {
            self.req.hash_key.extend_from_slice(k);
        }
        (group, key.is_some())
    }

    /// Sends the response head and streams the body, framed for this client. Returns whether
    /// the client connection stays open.
    pub(super) async fn respond_upstream(
        &mut self,
        client: &mut Conn,
        up: &mut UpConn,
        ops: Option<&ringway_config::model::HeaderOps>,
    ) -> Result<bool, Failure> {
        let f = framing::proxied(self.resp.body, self.head.version, self.keeps_alive());
        let resp_len = self.resp.len;
        self.req.rec.status = self.resp.status;
        self.out.clear();
        write_response_head(
            &up.conn.buffered()[..resp_len],
            &self.resp,
            f.body,
            f.connection,
            &self.req.request_id,
            ops,
            &mut self.out,
        );
        // A trailers-only gRPC response carries its status in the head.
        let buf = up.conn.buffered();
        self.req.rec.grpc_status = self
            .resp
            .headers
            .iter()
            .find(|h| h.name.of(buf).eq_ignore_ascii_case(b"grpc-status"))
            .and_then(|h| parse_grpc_status(h.value.of(buf)))
            .unwrap_or(GRPC_NONE);
        up.conn.consume(resp_len);
        let t = Timeouts {
            read: self.req.response_timeout,
            write: self.lt.body,
        };
        let raw = f.body == OutBody::Close;
        let trailers = self.head.te_trailers;
        let in_trailers = pump::response_body(
            &mut up.conn,
            client,
            self.resp.body,
            raw,
            trailers,
            &mut self.out,
            t,
        )
        .await?;
        if let Some(code) = in_trailers {
            self.req.rec.grpc_status = code;
        }
        Ok(f.keep_alive)
    }
}

impl Session {
    /// Forwards the `101` head, then copies bytes both ways until either side closes or
    /// nothing moves for the listener's idle timeout. The upstream connection ends with it.
    async fn switch_protocols(
        &mut self,
        client: &mut Conn,
        up: &mut UpConn,
        ops: Option<&ringway_config::model::HeaderOps>,
    ) -> Result<(), Failure> {
        let resp_len = self.resp.len;
        self.req.rec.status = 101;
        self.out.clear();
        write_response_head(
            &up.conn.buffered()[..resp_len],
            &self.resp,
            OutBody::None,
            Some(b"upgrade"),
            &self.req.request_id,
            ops,
            &mut self.out,
        );
        // The head ends with its empty line; the switch's own field goes before it.
        self.out.truncate(self.out.len() - 2);
        self.out.extend_from_slice(b"upgrade: websocket\r\n\r\n");
        up.conn.consume(resp_len);
        client
            .send(&mut self.out, self.lt.body)
            .await
            .map_err(|_| Failure::Abort)?;
        match tunnel::run(client, &mut up.conn, self.lt.idle, self.lt.body).await {
            TunnelEnd::Closed | TunnelEnd::Idle => Ok(()),
            TunnelEnd::Error => Err(Failure::Abort),
        }
    }
}

/// How a failed attempt counts for outlier detection: connect errors, timeouts and resets
/// are local failures, a malformed response is the server's; a pooled connection found closed
/// and a refusal by the gateway's own limits say nothing about the endpoint.
pub(super) fn outlier_outcome(kind: ErrorKind) -> Option<Outcome> {
    match kind {
        ErrorKind::UpstreamConnect
        | ErrorKind::UpstreamConnectTimeout
        | ErrorKind::UpstreamTimeout
        | ErrorKind::UpstreamReset => Some(Outcome::LocalFailure),
        ErrorKind::UpstreamBadResponse => Some(Outcome::ServerError),
        _ => None,
    }
}

fn is_empty_ops(ops: &ringway_config::model::HeaderOps) -> bool {
    ops.remove.is_empty() && ops.set.is_empty() && ops.add.is_empty()
}
