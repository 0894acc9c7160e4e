//! Body pumps: a request body to the upstream and a response body to the client, streamed
//! through the connections' buffers (never collected), re-framed on the way.

use std::time::{Duration, Instant};

use ringway_core::ErrorKind;

use super::Failure;
use crate::codec::{write_chunk, Body, ChunkedDecoder, Output};
use crate::io::{Conn, IoError};

fn deadline(d: Duration) -> Instant {
    Instant::now() + d
}

/// Timeouts of a pump.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// Between reads of the side the body comes from.
    pub read: Duration,
    /// For each write to the side it goes to.
    pub write: Duration,
}

/// What the request body pump needs to know of the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestBody {
    /// Its framing (never `None` here).
    pub framing: Body,
    /// Largest body accepted (413 beyond).
    pub max_bytes: u64,
    /// Whether the client waits for `100 Continue` before sending it.
    pub expect_continue: bool,
}

/// Streams the request body (already-buffered bytes first) to the upstream, after whatever
/// `out` holds (the request head). Chunked bodies are validated and re-chunked canonically; a
/// body over the limit is refused mid-stream.
pub(super) async fn request_body(
    client: &mut Conn,
    up: &mut Conn,
    body: RequestBody,
    out: &mut Vec<u8>,
    t: Timeouts,
) -> Result<(), Failure> {
    let upstream_err = |_| Failure::Respond(ErrorKind::UpstreamReset);
    let mut decoder = match body.framing {
        Body::Chunked => Some(ChunkedDecoder::new(Output::Rechunk)),
        _ => None,
    };
    let mut remaining = match body.framing {
        Body::Length(n) => n,
        _ => 0,
    };
    let mut asked_continue = false;
    loop {
        let done = match decoder.as_mut() {
            Some(d) => {
                let used = d.decode(client.buffered(), out).map_err(Failure::Respond)?;
                client.consume(used);
                if d.data_bytes() > body.max_bytes {
                    return Err(Failure::Respond(ErrorKind::PayloadTooLarge));
                }
                d.is_done()
            }
            None if out.is_empty() && remaining > 0 => {
                // Large bodies go straight from the read buffer, without a copy.
                let take = (client.buffered().len() as u64).min(remaining) as usize;
                if take > 0 {
                    client
                        .send_buffered_to(take, up, t.write)
                        .await
                        .map_err(upstream_err)?;
                }
                remaining -= take as u64;
                remaining == 0
            }
            None => {
                let take = (client.buffered().len() as u64).min(remaining) as usize;
                out.extend_from_slice(&client.buffered()[..take]);
                client.consume(take);
                remaining -= take as u64;
                remaining == 0
            }
        };
        if !out.is_empty() {
            up.send(out, t.write).await.map_err(upstream_err)?;
        }
        if done {
            return Ok(());
        }
        if body.expect_continue && !asked_continue {
            asked_continue = true;
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            client.send(out, t.read).await.map_err(|_| Failure::Abort)?;
        }
        match client.fill(deadline(t.read)).await {
            Ok(_) => {}
            Err(IoError::Timeout) => return Err(Failure::Respond(ErrorKind::ClientTimeout)),
            // The client left mid-body: the upstream connection is dropped unfinished.
            Err(_) => return Err(Failure::Abort),
        }
    }
}

/// Streams a response body of `framing` from the upstream to the client, after the head in
/// `out`. `raw_chunks` sends decoded chunk data as is (close-delimited, for HTTP/1.0 clients)
/// instead of re-chunking it. Until the first write, a malformed body can still become a 502;
/// after it, a failure can only cut the connection.
pub(super) async fn response_body(
    up: &mut Conn,
    client: &mut Conn,
    framing: Body,
    raw_chunks: bool,
    trailers: bool,
    out: &mut Vec<u8>,
    t: Timeouts,
) -> Result<Option<u8>, Failure> {
    let client_gone = |_| Failure::Abort;
    let mut grpc_status = None;
    match framing {
        Body::None => {}
        Body::Length(n) => {
            let mut remaining = n;
            let take = (up.buffered().len() as u64).min(remaining) as usize;
            out.extend_from_slice(&up.buffered()[..take]);
            up.consume(take);
            remaining -= take as u64;
            while remaining > 0 {
                if !out.is_empty() {
                    client.send(out, t.write).await.map_err(client_gone)?;
                }
                // Upstream closing or stalling mid-body: the client sees a short body.
                up.fill(deadline(t.read))
                    .await
                    .map_err(|_| Failure::Abort)?;
                let take = (up.buffered().len() as u64).min(remaining) as usize;
                up.send_buffered_to(take, client, t.write)
                    .await
                    .map_err(client_gone)?;
                remaining -= take as u64;
            }
        }
        Body::Chunked => {
            let mut decoder = match (raw_chunks, trailers) {
                (true, _) => ChunkedDecoder::new(Output::Raw),
                (false, true) => ChunkedDecoder::keeping_trailers(),
                (false, false) => ChunkedDecoder::new(Output::Rechunk),
            };
            let mut head_sent = false;
            loop {
                let used = decoder.decode(up.buffered(), out).map_err(|_| {
                    if head_sent {
                        Failure::Abort
                    } else {
                        Failure::Respond(ErrorKind::UpstreamBadResponse)
                    }
                })?;
                up.consume(used);
                if decoder.is_done() {
                    grpc_status = decoder.grpc_status();
                    break;
                }
                if !out.is_empty() {
                    client.send(out, t.write).await.map_err(client_gone)?;
                    head_sent = true;
                }
                up.fill(deadline(t.read))
                    .await
                    .map_err(|_| Failure::Abort)?;
            }
        }
        Body::UntilClose => loop {
            let data = up.buffered();
            if raw_chunks {
                out.extend_from_slice(data);
            } else {
                write_chunk(out, data);
            }
            let n = data.len();
            up.consume(n);
            if !out.is_empty() {
                client.send(out, t.write).await.map_err(client_gone)?;
            }
            match up.fill(deadline(t.read)).await {
                Ok(_) => {}
                Err(IoError::Eof) => {
                    if !raw_chunks {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    break;
                }
                Err(_) => return Err(Failure::Abort),
            }
        },
    }
    if !out.is_empty() {
        client.send(out, t.write).await.map_err(client_gone)?;
    }
    Ok(grpc_status)
}
