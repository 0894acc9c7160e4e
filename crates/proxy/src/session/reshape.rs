//! Reshaping proxied JSON responses (`routes[].reshape`): the body is read whole (up to the
//! route's limit), rewritten by `ringway_transform::reshape`, and sent with its new length.
//! A body that is not JSON (by `Content-Type` or content), is content-encoded, or is too large
//! passes unchanged and is counted; a too large one streams as it came.

use std::time::Instant;

use ringway_config::model::{HeaderOps, Reshape};
use ringway_telemetry::metrics::Transformed;

use super::body::{read_whole, BodyError};
use super::view::header_value;
use super::{Failure, Session};
use crate::codec::{write_response_head, Body, Method};
use crate::framing;
use crate::io::Conn;
use crate::per_core::Core;
use crate::upstream::UpConn;

impl Session {
    /// Sends the upstream response in `self.resp`, reshaped when its body is JSON within the
    /// limit. Returns whether the client connection stays open.
    pub(super) async fn respond_reshaped(
        &mut self,
        client: &mut Conn,
        up: &mut UpConn,
        core: &Core,
        r: &Reshape,
        ops: Option<&HeaderOps>,
    ) -> Result<bool, Failure> {
        if self.head.method_kind == Method::Head || self.resp.body.is_empty() {
            // No body to reshape: not counted.
            return self.respond_upstream(client, up, ops).await;
        }
        let head = &up.conn.buffered()[..self.resp.len];
        let fields = &self.resp.headers;
        let json = header_value(head, fields, b"content-type").is_some_and(is_json);
        let encoded = header_value(head, fields, b"content-encoding")
            .is_some_and(|v| !v.eq_ignore_ascii_case(b"identity"));
        if !json || encoded {
            core.count(Transformed::ReshapeNotJson);
            return self.respond_upstream(client, up, ops).await;
        }
        let until = Instant::now() + self.req.response_timeout;
        let mut body = Vec::new();
        let read = read_whole(
            &mut up.conn,
            self.resp.len,
            self.resp.body,
            r.max_body_bytes,
            until,
            &mut body,
        )
        .await;
        let spanned = match read {
            Ok(n) => n,
            Err(BodyError::TooLarge) => {
                core.count(Transformed::ReshapeTooLarge);
                return self.respond_upstream(client, up, ops).await;
            }
            // Nothing was sent yet: the client gets the gateway's error.
            Err(BodyError::Upstream(kind)) => return Err(Failure::Respond(kind)),
        };
        let (body, applied) = reshape_counted(core, r, body);
        // Another representation: the upstream's validator no longer names it.
        let ops = if applied {
            Some(&r.reshaped_headers)
        } else {
            ops
        };
        let f = framing::proxied(
            Body::Length(body.len() as u64),
            self.head.version,
            self.keeps_alive(),
        );
        self.req.rec.status = self.resp.status;
        self.out.clear();
        write_response_head(
            &up.conn.buffered()[..self.resp.len],
            &self.resp,
            f.body,
            f.connection,
            &self.req.request_id,
            ops,
            &mut self.out,
        );
        self.out.extend_from_slice(&body);
        up.conn.consume(self.resp.len + spanned);
        client
            .send(&mut self.out, self.lt.body)
            .await
            .map_err(|_| Failure::Abort)?;
        Ok(f.keep_alive)
    }
}

/// `body` reshaped by `r` when it is JSON (the same bytes otherwise), counted either way;
/// and whether it was reshaped.
pub(super) fn reshape_counted(core: &Core, r: &Reshape, body: Vec<u8>) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(body.len());
    if ringway_transform::reshape(&body, &r.shape, &mut out).is_ok() {
        core.count(Transformed::ReshapeApplied);
        (out, true)
    } else {
        core.count(Transformed::ReshapeNotJson);
        (body, false)
    }
}

/// `application/json`, or any `+json` type (`application/problem+json`), parameters ignored.
fn is_json(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
        || (media.len() > 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_media_types() {
        assert!(is_json(b"application/json"));
        assert!(is_json(b"Application/JSON; charset=utf-8"));
        assert!(is_json(b"application/problem+json"));
        assert!(!is_json(b"text/html"));
        assert!(!is_json(b"application/jsonp"));
        assert!(!is_json(b"+json"));
    }
}
