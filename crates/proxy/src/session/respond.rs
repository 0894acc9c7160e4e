//! Responses the gateway makes itself: a route's direct response, and the one place where a
//! gateway error becomes a response.

use std::time::Duration;

use ringway_config::model::DirectResponse;
use ringway_core::ErrorKind;

use super::{deadline, Failure, Session};
use crate::codec::{write_direct_response, write_error_response, Method};
use crate::framing;
use crate::io::Conn;
use crate::stats::bump;

/// Most bytes read and dropped while lingering before a close.
const LINGER_BYTES: usize = 1 << 20;
/// Longest linger before a close.
const LINGER: Duration = Duration::from_millis(500);

/// Whether an error leaves the connection usable once answered: refusals decided before
/// anything of the request was read beyond its head.
fn keeps_connection(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NoRoute
            | ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::IpDenied
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExceeded
            | ErrorKind::UpstreamOverloaded
            | ErrorKind::LimitStoreUnavailable
    )
}

impl Session {
    /// Answers with a route's direct response. A request body is not read: the connection
    /// closes after the answer instead of draining it.
    pub(super) async fn respond_direct(
        &mut self,
        client: &mut Conn,
        d: &DirectResponse,
    ) -> Result<bool, Failure> {
        self.send_generated(client, d.status, &d.headers, &d.body)
            .await
    }

    /// Sends a response the gateway made (status, fields, body; the head only for HEAD). A
    /// request body is not read: the connection closes after the answer instead of draining
    /// it. Returns whether the connection stays open.
    pub(super) async fn send_generated(
        &mut self,
        client: &mut Conn,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<bool, Failure> {
        self.req.rec.status = status;
        let f = framing::generated(self.head.body, self.head.version, self.keeps_alive());
        self.out.clear();
        write_direct_response(
            status,
            headers,
            body,
            self.head.method_kind == Method::Head,
            f.connection,
            &self.req.request_id,
            &mut self.out,
        );
        if self.head.body.is_empty() {
            client.consume(self.head.len);
        }
        client
            .send(&mut self.out, self.lt.body)
            .await
            .map_err(|_| Failure::Abort)?;
        Ok(f.keep_alive)
    }

    /// The one place gateway errors become responses: a JSON body naming the error and the
    /// request id, plus the refusal's header lines. A refusal of a body-less request that may
    /// keep its connection keeps it; anything else ends with `connection: close` and a
    /// lingering close, so the client reads the response before the connection goes away.
    /// Returns whether the connection stays open.
    pub(super) async fn respond_error(&mut self, client: &mut Conn, kind: ErrorKind) -> bool {
        bump(&self.core.stats.errors);
        self.req.rec.status = kind.status();
        tracing::debug!(
            error = kind.code(),
            status = kind.status(),
            request_id = self.req.request_id.as_str(),
            "Request failed"
        );
        if matches!(
            kind,
            ErrorKind::UpstreamOverloaded | ErrorKind::LimitStoreUnavailable
        ) {
            // Shed, not failed: worth trying again shortly.
            self.req
                .refusal_headers
                .extend_from_slice(b"retry-after: 1\r\n");
        }
        let keep = self.req.parsed && keeps_connection(kind) && self.keeps_alive();
        let f = framing::generated(self.head.body, self.head.version, keep);
        if f.keep_alive {
            client.consume(self.head.len);
        }
        self.out.clear();
        write_error_response(
            kind,
            &self.req.request_id,
            self.req.trace.is_some().then_some(&self.req.trace_hex[..]),
            f.connection,
            &self.req.refusal_headers,
            &mut self.out,
        );
        let sent = client.send(&mut self.out, self.lt.body).await.is_ok();
        if f.keep_alive || !sent {
            return f.keep_alive && sent;
        }
        client.shutdown().await;
        // Read and discard what the client still sends (bounded), so closing with unread data
        // does not reset the connection before the client has read our response.
        let until = deadline(LINGER);
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match client.fill(until).await {
                Ok(n) => {
                    discarded += n;
                    client.discard_buffered();
                }
                Err(_) => break,
            }
        }
        false
    }
}
