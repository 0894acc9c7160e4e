//! A client connection in poll style (tokio's `AsyncRead`/`AsyncWrite`, over monoio's
//! poll-io), for the `h2` crate: HTTP/2 connections only, so HTTP/1.1 keeps its owned-buffer
//! fast path. Plain or TLS (the same rustls connection the handshake ran on, driven the way
//! `tls.rs` drives it), starting with the bytes already read before the switch.
//!
//! Reads are budgeted: after [`READ_BUDGET`] reads that found data, a read pauses for a timer
//! tick ([`BUDGET_PAUSE`]), so one connection flooding frames cannot keep its core from the
//! others — monoio, unlike tokio, has no cooperative budget of its own. A pause, not a
//! self-wake: a task that wakes itself keeps the run queue from emptying, and monoio then never
//! waits on the ring, which is where completions are reaped (with `DEFER_TASKRUN`, see
//! `worker.rs`, the only place) and timers fire; every other connection of the core would
//! starve until the flood stopped (tests/h2.rs, the PING flood test).

use std::future::Future;
use std::io::{self, BufRead, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use monoio::net::tcp::stream_poll::TcpStreamPoll;
use rustls::Connection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads that found data before one pause.
pub(crate) const READ_BUDGET: u32 = 32;
/// A pause after the budget: monoio's timer tick. A connection that always has data reads
/// `READ_BUDGET` × up to 16 KiB per tick or two (over 250 MB/s).
const BUDGET_PAUSE: Duration = Duration::from_millis(1);
/// Ciphertext read at once.
const RAW_BYTES: usize = 16 * 1024 + 256;
/// Encrypted bytes waiting for the socket beyond which writes wait.
const MAX_PENDING_OUT: usize = 256 * 1024;

/// See the [module docs](self).
pub(crate) struct PollIo {
    tcp: TcpStreamPoll,
    tls: Option<Box<Connection>>,
    /// Plain: plaintext read before the switch. TLS: ciphertext not yet given to rustls.
    pending: Vec<u8>,
    pending_pos: usize,
    /// Encrypted bytes not yet written, `raw_out[out_pos..]`.
    raw_out: Vec<u8>,
    out_pos: usize,
    reads: u32,
    /// The pause after a spent budget, while it runs.
    pause: Option<Pin<Box<monoio::time::Sleep>>>,
}

impl PollIo {
    /// A plain connection whose first bytes (`already`) were read before the switch.
    pub(crate) fn plain(tcp: TcpStreamPoll, already: Vec<u8>) -> Self {
        Self::new(tcp, None, already)
    }

    /// A TLS connection after its handshake, with the ciphertext rustls has not taken yet.
    pub(crate) fn tls(tcp: TcpStreamPoll, tls: Connection, unfed: Vec<u8>) -> Self {
        Self::new(tcp, Some(Box::new(tls)), unfed)
    }

    fn new(tcp: TcpStreamPoll, tls: Option<Box<Connection>>, pending: Vec<u8>) -> Self {
        Self {
            tcp,
            tls,
            pending,
            pending_pos: 0,
            raw_out: Vec::new(),
            out_pos: 0,
            reads: 0,
            pause: None,
        }
    }

    /// Whether this read should yield first (see the module docs).
    fn over_budget(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return true;
            }
            self.pause = None;
        }
        self.reads += 1;
        if self.reads > READ_BUDGET {
            self.reads = 0;
            let mut pause = Box::pin(monoio::time::sleep(BUDGET_PAUSE));
            if pause.as_mut().poll(cx).is_pending() {
                self.pause = Some(pause);
                return true;
            }
        }
        false
    }

    /// Writes encrypted bytes waiting in `raw_out`; ready when none are left.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.raw_out.len() {
            let n = match Pin::new(&mut self.tcp).poll_write(cx, &self.raw_out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            self.out_pos += n;
        }
        self.raw_out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Moves everything rustls has to send into `raw_out`.
    fn encrypt_pending(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                tls.write_tls(&mut self.raw_out)?;
            }
        }
        Ok(())
    }

    fn poll_read_tls(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let Some(tls) = self.tls.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match tls.reader().fill_buf() {
                Ok(chunk) => {
                    // Empty: a clean close (`close_notify`), end of stream.
                    let n = chunk.len().min(buf.remaining());
                    buf.put_slice(&chunk[..n]);
                    tls.reader().consume(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.pending_pos < self.pending.len() {
                let mut rd = &self.pending[self.pending_pos..];
                let n = tls.read_tls(&mut rd)?;
                self.pending_pos += n;
                if self.pending_pos == self.pending.len() {
                    self.pending.clear();
                    self.pending_pos = 0;
                }
                let processed = tls
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                // Alerts and key updates go out; a write that must wait is sent later.
                self.encrypt_pending()?;
                let _ = self.poll_drain(cx)?;
                processed?;
                continue;
            }
            if self.over_budget(cx) {
                return Poll::Pending;
            }
            self.pending.resize(RAW_BYTES, 0);
            let mut raw = ReadBuf::new(&mut self.pending);
            match Pin::new(&mut self.tcp).poll_read(cx, &mut raw) {
                Poll::Ready(Ok(())) => {
                    let n = raw.filled().len();
                    self.pending.truncate(n);
                    if n == 0 {
                        // TCP end of stream: rustls reports a clean or unclean close.
                        let mut empty: &[u8] = &[];
                        let _ = self.tls.as_mut().map(|t| t.read_tls(&mut empty));
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.pending.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    self.pending.clear();
                    return Poll::Pending;
                }
            }
        }
    }
}

impl AsyncRead for PollIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.tls.is_some() {
            return this.poll_read_tls(cx, buf);
        }
        if this.pending_pos < this.pending.len() {
            let n = (&this.pending[this.pending_pos..]).read(buf.initialize_unfilled())?;
            buf.advance(n);
            this.pending_pos += n;
            return Poll::Ready(Ok(()));
        }
        if this.over_budget(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for PollIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.tls.is_none() {
            return Pin::new(&mut this.tcp).poll_write(cx, data);
        }
        if this.raw_out.len() - this.out_pos > MAX_PENDING_OUT && this.poll_drain(cx)?.is_pending()
        {
            return Poll::Pending;
        }
        // What the socket took goes, so a slow reader cannot make the buffer grow.
        if this.out_pos > 0 {
            this.raw_out.drain(..this.out_pos);
            this.out_pos = 0;
        }
        if let Some(tls) = this.tls.as_mut() {
            tls.writer().write_all(data)?;
        }
        this.encrypt_pending()?;
        // Whatever the socket does not take now goes with the next write or flush.
        let _ = this.poll_drain(cx)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.encrypt_pending()?;
        if this.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_mut() {
            tls.send_close_notify();
        }
        this.encrypt_pending()?;
        if this.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
