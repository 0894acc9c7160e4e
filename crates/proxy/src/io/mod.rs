//! A connection with its own read buffer, using monoio's owned-buffer I/O: the buffer goes to
//! the kernel and comes back; it is compacted, not reallocated, between reads. The connection
//! is plain TCP or TLS (`tls.rs`); the session sees plaintext either way.

mod poll;
mod tls;

use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent,
};
use monoio::net::TcpStream;

use crate::h2::{Bridge, UpBridge};
pub(crate) use poll::PollIo;
pub(crate) use tls::{TlsFacts, TlsStream};

/// Read buffer size; also the most a single read returns.
pub(crate) const BUF_BYTES: usize = 16 * 1024;
/// Time a closing TLS connection gets to send its `close_notify`.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a read or write did not complete.
#[derive(Debug)]
pub(crate) enum IoError {
    /// The deadline passed.
    Timeout,
    /// The peer closed its side (read returned 0).
    Eof,
    /// An OS error (reset, broken pipe).
    Os,
    /// The TLS peer broke the protocol (a failed handshake, a bad record).
    Tls,
    /// A cancelable read was cancelled before any byte arrived.
    Canceled,
    /// An HTTP/2 upstream refused the stream (`REFUSED_STREAM`): nothing was processed, the
    /// request may go elsewhere whatever its method.
    Refused,
}

/// Whether an I/O error is the cancellation of the operation (`ECANCELED`).
pub(crate) fn canceled(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(125)
}

/// What carries the bytes.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// One HTTP/2 stream, as HTTP/1.1 bytes.
    Stream(Box<Bridge>),
    /// One HTTP/2 stream to an upstream, as HTTP/1.1 bytes.
    UpStream(Box<UpBridge>),
}

/// A stream and the unconsumed bytes read from it (`buf[pos..]`).
pub(crate) struct Conn {
    io: Transport,
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Bytes consumed from the buffer so far (telemetry: request sizes).
    pub consumed: u64,
    /// Bytes written so far (telemetry: response sizes).
    pub written: u64,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self::with(Transport::Plain(stream))
    }

    /// One HTTP/2 stream, seen as an HTTP/1.1 connection.
    pub(crate) fn stream(bridge: Bridge) -> Self {
        Self::with(Transport::Stream(Box::new(bridge)))
    }

    /// One HTTP/2 stream to an upstream, seen as an HTTP/1.1 upstream connection.
    pub(crate) fn upstream_stream(bridge: UpBridge) -> Self {
        Self::with(Transport::UpStream(Box::new(bridge)))
    }

    /// Whether this is one HTTP/2 stream (never pooled: it ends with its exchange).
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.io, Transport::Stream(_) | Transport::UpStream(_))
    }

    /// A connection over an established TLS stream.
    pub(crate) fn tls(stream: TlsStream) -> Self {
        Self::with(Transport::Tls(Box::new(stream)))
    }

    fn with(io: Transport) -> Self {
        Self {
            io,
            buf: Vec::with_capacity(BUF_BYTES),
            pos: 0,
            consumed: 0,
            written: 0,
        }
    }

    /// The connection in poll style for the HTTP/2 driver, with the bytes read but not
    /// consumed. `None` when the socket cannot be switched (it is then closed).
    pub(crate) fn into_poll(self) -> Option<PollIo> {
        let rest = self.buf[self.pos..].to_vec();
        match self.io {
            Transport::Stream(_) | Transport::UpStream(_) => None,
            Transport::Plain(s) => s.try_into_poll_io().ok().map(|p| PollIo::plain(p, rest)),
            Transport::Tls(t) => {
                let (tcp, tls, mut unfed) = t.into_parts();
                // Plaintext already taken out of rustls cannot go back in: the switch happens
                // right after the handshake, before any was read.
                if !rest.is_empty() {
                    return None;
                }
                let tcp = tcp.try_into_poll_io().ok()?;
                unfed.shrink_to_fit();
                Some(PollIo::tls(tcp, tls, unfed))
            }
        }
    }

    /// Bytes read but not consumed yet.
    #[inline]
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as consumed.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
        self.consumed += n as u64;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Drops every buffered byte unread (a connection about to close).
    pub(crate) fn discard_buffered(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    /// Shuts down the write side (the peer reads end of stream), ignoring errors: the
    /// connection is ending either way.
    pub(crate) async fn shutdown(&mut self) {
        match &mut self.io {
            Transport::Plain(s) => drop(s.shutdown().await),
            Transport::Tls(t) => t.shutdown(SHUTDOWN_TIMEOUT).await,
            Transport::Stream(b) => b.finish(),
            // The stream ends with the bridge; the connection stays for the others.
            Transport::UpStream(_) => {}
        }
    }

    /// Compacts or grows the read buffer so a read has room.
    fn make_room(&mut self) {
        if self.pos > 0 && self.buf.capacity() - self.buf.len() < BUF_BYTES / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < BUF_BYTES / 2 {
            self.buf.reserve(BUF_BYTES);
        }
    }

    /// Reads more bytes like [`Conn::fill`], without a deadline: until data arrives, the
    /// peer closes, or `cancel` is cancelled. A cancelled read is awaited to its end, so bytes
    /// that arrived meanwhile are kept (`Canceled` when none did): two of these can race in a
    /// `select!` without losing data.
    pub(crate) async fn fill_cancelable(&mut self, cancel: CancelHandle) -> Result<usize, IoError> {
        self.make_room();
        let stream = match &mut self.io {
            Transport::Plain(s) => s,
            Transport::Tls(t) => return t.read_plain_cancelable(&mut self.buf, cancel).await,
            Transport::Stream(_) | Transport::UpStream(_) => return Err(IoError::Os),
        };
        let buf = std::mem::take(&mut self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = stream
            .cancelable_read(buf.slice_mut(len..cap), cancel)
            .await;
        self.buf = slice.into_inner();
        match res {
            Ok(0) => Err(IoError::Eof),
            Ok(n) => Ok(n),
            Err(e) if canceled(&e) => Err(IoError::Canceled),
            Err(_) => Err(IoError::Os),
        }
    }

    /// Reads more bytes, appending to the buffered ones. Returns how many arrived.
    pub(crate) async fn fill(&mut self, deadline: Instant) -> Result<usize, IoError> {
        self.make_room();
        let stream = match &mut self.io {
            Transport::Plain(s) => s,
            Transport::Tls(t) => return t.read_plain(&mut self.buf, deadline).await,
            Transport::Stream(b) => return b.read(&mut self.buf, deadline).await,
            Transport::UpStream(b) => return b.read(&mut self.buf, deadline).await,
        };
        let buf = std::mem::take(&mut self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let read = stream.read(buf.slice_mut(len..cap));
        let Ok((res, slice)) = monoio::time::timeout_at(deadline.into(), read).await else {
            // The dropped read took the buffer and its bytes: nothing is buffered any more
            // (the connection ends after a timeout; what matters is that it ends cleanly).
            self.pos = 0;
            return Err(IoError::Timeout);
        };
        self.buf = slice.into_inner();
        match res {
            Ok(0) => Err(IoError::Eof),
            Ok(n) => Ok(n),
            Err(_) => Err(IoError::Os),
        }
    }

    /// Writes all of `out` (which comes back cleared).
    pub(crate) async fn send(
        &mut self,
        out: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<(), IoError> {
        let stream = match &mut self.io {
            Transport::Plain(s) => s,
            Transport::Tls(t) => {
                t.write_plain(out, timeout).await?;
                self.written += out.len() as u64;
                out.clear();
                return Ok(());
            }
            Transport::Stream(b) => {
                b.write(out, timeout).await?;
                self.written += out.len() as u64;
                out.clear();
                return Ok(());
            }
            Transport::UpStream(b) => {
                b.write(out, timeout).await?;
                self.written += out.len() as u64;
                out.clear();
                return Ok(());
            }
        };
        let buf = std::mem::take(out);
        let write = stream.write_all(buf);
        let (res, mut buf) = monoio::time::timeout(timeout, write)
            .await
            .map_err(|_| IoError::Timeout)?;
        buf.clear();
        *out = buf;
        let n = res.map_err(|_| IoError::Os)?;
        self.written += n as u64;
        Ok(())
    }

    /// Writes `n` buffered bytes straight from the read buffer and consumes them.
    pub(crate) async fn send_buffered_to(
        &mut self,
        n: usize,
        to: &mut Conn,
        timeout: Duration,
    ) -> Result<(), IoError> {
        let stream = match &mut to.io {
            Transport::Plain(s) => s,
            Transport::Tls(t) => {
                t.write_plain(&self.buf[self.pos..self.pos + n], timeout)
                    .await?;
                to.written += n as u64;
                self.consume(n);
                return Ok(());
            }
            Transport::Stream(b) => {
                b.write(&self.buf[self.pos..self.pos + n], timeout).await?;
                to.written += n as u64;
                self.consume(n);
                return Ok(());
            }
            Transport::UpStream(b) => {
                b.write(&self.buf[self.pos..self.pos + n], timeout).await?;
                to.written += n as u64;
                self.consume(n);
                return Ok(());
            }
        };
        let buf = std::mem::take(&mut self.buf);
        let write = stream.write_all(buf.slice(self.pos..self.pos + n));
        let Ok((res, slice)) = monoio::time::timeout(timeout, write).await else {
            // As in `fill`: the buffer went with the dropped write.
            self.pos = 0;
            return Err(IoError::Timeout);
        };
        self.buf = slice.into_inner();
        res.map_err(|_| IoError::Os)?;
        to.written += n as u64;
        self.consume(n);
        Ok(())
    }
}
