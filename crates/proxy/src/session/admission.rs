//! Admission: everything decided before a request is answered or forwarded, in the design's
//! order: framing guard -> client address (trusted proxies) -> global IP filter -> route ->
//! body limit -> the route's policy (IP filter, credentials, limits).

use ringway_core::ErrorKind;
use ringway_policy::{Request, RouteId};
use ringway_telemetry::record::Inline;

use super::view::HeaderView;
use super::{ip16, Failure, Session};
use crate::codec::{Body, ChunkedDecoder, Name, Output};
use crate::io::Conn;
use crate::per_core::Core;

impl Session {
    /// Admits the request whose head is buffered in `client`; returns its route's index.
    pub(super) fn admit(&mut self, client: &Conn, core: &Core) -> Result<usize, Failure> {
        self.guard_framing(client)?;
        let buf = &client.buffered()[..self.head.len];
        let view = HeaderView {
            buf,
            headers: &self.head.headers,
        };
        let policies = core.policy.policies();
        let forwarded_for = self
            .head
            .headers
            .iter()
            .filter(|h| h.kind == Name::XForwardedFor)
            .map(|h| h.value.of(buf));
        let client_ip = policies.client_ip(self.peer_ip, forwarded_for);
        if client_ip != self.peer_ip {
            self.req.rec.client_ip = ip16(client_ip);
        }
        if policies.global_denies(client_ip) {
            return Err(Failure::Respond(ErrorKind::IpDenied));
        }

        let host = self
            .head
            .authority
            .or(self.head.host)
            .map_or(&b""[..], |s| s.of(buf));
        let listener = &core.listeners[self.listener];
        let method = self.head.method.of(buf);
        let Some(ri) = listener
            .router
            .route(host, method, self.head.path_only(buf), &view)
        else {
            return Err(Failure::Respond(ErrorKind::NoRoute));
        };
        self.req.rec.route = core.labels.routes[self.listener][ri];
        // A protocol switch only where the route passes WebSockets through.
        if self.head.websocket && !core.cfg.listeners[self.listener].routes[ri].websocket {
            return Err(Failure::Respond(ErrorKind::BadRequest));
        }
        self.req.max_body = core.cfg.listeners[self.listener].routes[ri]
            .limits
            .max_body_bytes;
        if let Body::Length(n) = self.head.body {
            if n > self.req.max_body {
                return Err(Failure::Respond(ErrorKind::PayloadTooLarge));
            }
        }

        let route = RouteId {
            listener: self.listener,
            route: ri,
        };
        if !policies.route_has_policy(route) {
            return Ok(ri);
        }
        let req = Request {
            headers: &view,
            query: self.head.query(buf),
            client_ip,
            now_unix_us: self.req.rec.ts_us,
            client_cert: self.client_cert.as_deref(),
            now: self.req.started,
        };
        let policy = &core.policy;
        let (identity, refused) = match policy.check(route, &req) {
            Ok(identity) => (identity, None),
            Err(refusal) => {
                refusal.write_headers(&mut self.req.refusal_headers);
                (refusal.identity, Some(refusal.kind.error_kind()))
            }
        };
        if let Some(id) = policy.client_id(&identity) {
            self.req.rec.client_id = Inline::new(id.as_bytes());
        }
        match refused {
            Some(kind) => Err(Failure::Respond(kind)),
            None => {
                policy.write_forwarded_claims(route, &identity, &mut self.req.policy_headers);
                Ok(ri)
            }
        }
    }

    /// Bytes after the last request of a connection mean the client and we disagree on where
    /// messages end: refuse rather than guess (request smuggling).
    fn guard_framing(&self, client: &Conn) -> Result<(), Failure> {
        if self.head.keep_alive {
            return Ok(());
        }
        let head_len = self.head.len;
        let after_head = (client.buffered().len() - head_len) as u64;
        let body_end = match self.head.body {
            Body::None => Some(0),
            Body::Length(n) => Some(n),
            // A chunked body already complete in the buffer: measure it without output.
            Body::Chunked | Body::UntilClose => {
                let mut d = ChunkedDecoder::new(Output::Discard);
                let used = d
                    .decode(&client.buffered()[head_len..], &mut Vec::new())
                    .map_err(Failure::Respond)?;
                d.is_done().then_some(used as u64)
            }
        };
        if body_end.is_some_and(|n| after_head > n) {
            return Err(Failure::Respond(ErrorKind::BadRequest));
        }
        Ok(())
    }
}
