//! HTTP/2 for clients (the maintained `h2` crate over monoio's poll-io, for HTTP/2
//! connections only): a connection task that accepts streams within the listener's limits and
//! runs each stream as a session of its own through [`Bridge`], so every request goes the same
//! way as an HTTP/1.1 one.
//!
//! Limits: concurrent streams, stream and connection windows from the configuration; the
//! header list bounded by the listener's `max_header_bytes`; GOAWAY after the configured number
//! of requests, at the configured age, when idle past the idle timeout, and when the gateway
//! drains. Abuse: the `h2` crate (0.4.20+) refuses CONTINUATION floods, bounds streams reset
//! before they were accepted and resets caused by the peer's errors (both with GOAWAY
//! `ENHANCE_YOUR_CALM`) and small-DATA floods; on top of that, a connection whose streams are
//! mostly cancelled by the client (rapid reset) is closed, and reads are budgeted per poll
//! (`io/poll.rs`) so one connection cannot keep its core from the others.

mod bridge;
mod upstream;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::Reason;

pub(crate) use bridge::Bridge;
pub(crate) use upstream::UpBridge;

use crate::io::{Conn, PollIo};
use crate::per_core::Core;
use crate::session::{self, ConnFacts};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How often the connection task looks at its age, idleness and the drain flag.
const TICK: Duration = Duration::from_secs(1);
/// Streams a connection may have opened before the share of them the client cancelled is
/// judged.
const RESET_JUDGED_AFTER: u32 = 100;
/// Most pending streams the client may reset before they are accepted (h2's default is 20).
const MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Most streams reset because of the client's errors before the connection is closed.
const MAX_LOCAL_ERROR_RESETS: usize = 100;
/// Send buffer per stream, bytes.
const MAX_SEND_BUFFER: usize = 256 * 1024;

/// Reads from a cleartext connection until it is known whether it opens with the HTTP/2
/// preface; the bytes stay buffered either way.
pub(crate) async fn sniff_preface(client: &mut Conn, deadline: Instant) -> bool {
    loop {
        let seen = client.buffered();
        let n = seen.len().min(PREFACE.len());
        if seen[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        if client.fill(deadline).await.is_err() {
            return false;
        }
    }
}

/// Serves one HTTP/2 connection until it closes.
pub(crate) async fn serve(
    core: Rc<Core>,
    listener: usize,
    io: PollIo,
    peer: SocketAddr,
    facts: ConnFacts,
) {
    let lt = core.listeners[listener].rt;
    let limits = lt.http2;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .initial_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_header_list_size(lt.head.max_head_bytes.min(u32::MAX as usize) as u32)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .max_send_buffer_size(MAX_SEND_BUFFER);
    let handshake = builder.handshake::<_, Bytes>(io);
    let mut conn =
        match monoio::time::timeout_at((Instant::now() + lt.header).into(), handshake).await {
            Ok(Ok(c)) => c,
            _ => return,
        };
    let started = Instant::now();
    let mut last_active = started;
    let resets = Rc::new(Cell::new(0u32));
    let mut accepted = 0u32;
    let mut closing = false;
    loop {
        let next = monoio::select! {
            next = conn.accept() => Some(next),
            _ = monoio::time::sleep(TICK) => None,
        };
        match next {
            Some(Some(Ok((req, mut respond)))) => {
                accepted += 1;
                last_active = Instant::now();
                if bridge::malformed(&req) {
                    respond.send_reset(Reason::PROTOCOL_ERROR);
                    continue;
                }
                let bridge = Bridge::new(req, respond, Rc::clone(&resets));
                monoio::spawn(session::run(
                    Rc::clone(&core),
                    listener,
                    Conn::stream(bridge),
                    peer,
                    facts.for_stream(),
                ));
                if accepted >= limits.max_requests && !closing {
                    closing = true;
                    conn.graceful_shutdown();
                }
            }
            // A connection error (the h2 crate has sent GOAWAY), or closed.
            Some(Some(Err(_))) | Some(None) => return,
            None => {
                if conn.has_streams() {
                    last_active = Instant::now();
                }
                let idle = last_active.elapsed() >= lt.idle;
                let old = started.elapsed() >= limits.max_age;
                if !closing && (idle || old || core.draining.get()) {
                    closing = true;
                    conn.graceful_shutdown();
                }
            }
        }
        // Rapid reset: most of the streams opened so far were cancelled by the client.
        if accepted >= RESET_JUDGED_AFTER && resets.get() * 2 > accepted {
            conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
            closing = true;
        }
    }
}
