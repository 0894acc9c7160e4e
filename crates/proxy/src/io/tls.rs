//! TLS over a monoio TCP stream, driving a rustls connection (the server side for clients,
//! the client side for upstreams) by hand over owned buffers (tokio-rustls is the model). Written here rather than taken from monoio-rustls,
//! whose reads are not cancel-safe, which hides SNI and peer certificates, and which copies
//! twice:
//!
//! * ciphertext is read with a cancelable read: when the deadline passes, the read is
//!   cancelled and awaited, so bytes the kernel delivered meanwhile are kept, never lost; rustls
//!   only ever sees whole reads, so its state is never torn;
//! * ciphertext not yet taken by rustls (its plaintext buffer is full) waits in `raw_in`;
//! * plaintext is copied once, from rustls's buffer into the connection's read buffer; writes
//!   are encrypted into `raw_out` and written as one owned buffer.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent, Canceller,
};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::IoError;

/// Ciphertext read at once: one full TLS record and its header.
const RAW_BYTES: usize = 16 * 1024 + 256;
/// Time for the small writes a read may cause (alerts, key updates) when the read itself
/// waits for a cancellation rather than a deadline.
const SIDE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read waits.
enum Wait {
    /// Until this time.
    Until(Instant),
    /// Until data arrives or this is cancelled.
    Cancel(CancelHandle),
}

/// What a finished handshake agreed on (telemetry, logs).
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFacts {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: Option<rustls::ProtocolVersion>,
    /// The ALPN protocol chosen.
    pub alpn: Option<Vec<u8>>,
    /// The host the client named.
    pub sni: Option<String>,
    /// Whether the session was resumed.
    pub resumed: bool,
}

/// A TLS stream, either side.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: Connection,
    /// Ciphertext read from the socket, `raw_in[raw_pos..]` not yet given to rustls.
    raw_in: Vec<u8>,
    raw_pos: usize,
    /// Ciphertext on its way out; reused.
    raw_out: Vec<u8>,
}

impl TlsStream {
    /// Runs the server handshake on `tcp` until it completes or `deadline` passes.
    pub(crate) async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        deadline: Instant,
    ) -> Result<TlsStream, IoError> {
        let tls = ServerConnection::new(config).map_err(|_| IoError::Tls)?;
        Self::handshake(tcp, Connection::Server(tls), deadline).await
    }

    /// Runs the client handshake with `name` on `tcp` until it completes or `deadline`
    /// passes; the server's certificate is verified by `config`'s verifier.
    pub(crate) async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        deadline: Instant,
    ) -> Result<TlsStream, IoError> {
        let tls = ClientConnection::new(config, name).map_err(|_| IoError::Tls)?;
        Self::handshake(tcp, Connection::Client(tls), deadline).await
    }

    async fn handshake(
        tcp: TcpStream,
        mut tls: Connection,
        deadline: Instant,
    ) -> Result<TlsStream, IoError> {
        // Plaintext is encrypted as soon as it is written: no second copy waits in rustls.
        tls.set_buffer_limit(None);
        let mut s = TlsStream {
            tcp,
            tls,
            raw_in: Vec::with_capacity(RAW_BYTES),
            raw_pos: 0,
            raw_out: Vec::with_capacity(RAW_BYTES),
        };
        while s.tls.is_handshaking() {
            if s.tls.wants_write() {
                s.flush(deadline).await?;
            } else {
                s.feed(&Wait::Until(deadline)).await?;
            }
        }
        // The last flight (TLS 1.3 session tickets, a resumed TLS 1.2 Finished).
        if s.tls.wants_write() {
            s.flush(deadline).await?;
        }
        Ok(s)
    }

    /// The socket, the connection and the ciphertext rustls has not taken yet (handing the
    /// connection to the HTTP/2 driver).
    pub(crate) fn into_parts(mut self) -> (TcpStream, Connection, Vec<u8>) {
        let unfed = self.raw_in.split_off(self.raw_pos);
        (self.tcp, self.tls, unfed)
    }

    /// What the handshake agreed on.
    pub(crate) fn facts(&self) -> TlsFacts {
        TlsFacts {
            version: self.tls.protocol_version(),
            alpn: self.tls.alpn_protocol().map(<[u8]>::to_vec),
            sni: match &self.tls {
                Connection::Server(c) => c.server_name().map(str::to_owned),
                Connection::Client(_) => None,
            },
            resumed: matches!(
                self.tls.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed)
            ),
        }
    }

    /// The peer's leaf certificate, verified by the configuration's verifier (the client's,
    /// with mTLS).
    pub(crate) fn peer_certificate(&self) -> Option<&[u8]> {
        self.tls
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref())
    }

    /// Appends decrypted bytes to `buf`, reading and decrypting more as needed. Returns how
    /// many were appended; a clean close (`close_notify`) or TCP end of stream is `Eof`.
    pub(crate) async fn read_plain(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<usize, IoError> {
        self.read_plain_until(buf, &Wait::Until(deadline)).await
    }

    /// [`TlsStream::read_plain`] without a deadline: until data arrives or `cancel` is
    /// cancelled (`Canceled` when no byte came; bytes that did are kept).
    pub(crate) async fn read_plain_cancelable(
        &mut self,
        buf: &mut Vec<u8>,
        cancel: CancelHandle,
    ) -> Result<usize, IoError> {
        self.read_plain_until(buf, &Wait::Cancel(cancel)).await
    }

    async fn read_plain_until(&mut self, buf: &mut Vec<u8>, wait: &Wait) -> Result<usize, IoError> {
        loop {
            let room = buf.capacity() - buf.len();
            let copied = match self.tls.reader().fill_buf() {
                Ok([]) => return Err(IoError::Eof),
                Ok(chunk) => {
                    let n = chunk.len().min(room);
                    buf.extend_from_slice(&chunk[..n]);
                    n
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                // TCP closed without `close_notify`: what came may be cut short, which a body
                // delimited by the close must not pass for complete.
                Err(_) => return Err(IoError::Os),
            };
            if copied > 0 {
                self.tls.reader().consume(copied);
                return Ok(copied);
            }
            match self.feed(wait).await {
                // rustls now knows of the TCP close; the loop asks it how the stream ended.
                Err(IoError::Eof) => {}
                other => other?,
            }
        }
    }

    /// Gives rustls more ciphertext (reading it from the socket when none waits) and
    /// processes it, sending whatever rustls answers (handshake messages, alerts).
    async fn feed(&mut self, wait: &Wait) -> Result<(), IoError> {
        if self.raw_pos == self.raw_in.len() {
            if let Err(e) = self.read_raw(wait).await {
                if matches!(e, IoError::Eof) {
                    // Tell rustls: a clean close (after `close_notify`) or a truncation.
                    let mut end: &[u8] = &[];
                    let _ = self.tls.read_tls(&mut end);
                }
                return Err(e);
            }
        }
        let mut pending = &self.raw_in[self.raw_pos..];
        let taken = self.tls.read_tls(&mut pending).map_err(|_| IoError::Tls);
        let processed = taken.and_then(|n| {
            self.raw_pos += n;
            self.tls.process_new_packets().map_err(|_| IoError::Tls)
        });
        if self.raw_pos == self.raw_in.len() {
            self.raw_in.clear();
            self.raw_pos = 0;
        }
        // An alert explaining a failure goes out before the error is returned.
        if self.tls.wants_write() {
            let deadline = match wait {
                Wait::Until(d) => *d,
                Wait::Cancel(_) => Instant::now() + SIDE_WRITE_TIMEOUT,
            };
            let flushed = self.flush(deadline).await;
            processed?;
            return flushed;
        }
        processed.map(drop)
    }

    /// Reads ciphertext into `raw_in` (empty on entry), cancel-safely: on the deadline (or the
    /// caller's cancellation) the read is cancelled and awaited, keeping what it read.
    async fn read_raw(&mut self, wait: &Wait) -> Result<(), IoError> {
        let buf = std::mem::take(&mut self.raw_in);
        let mut timed_out = false;
        let (res, slice) = match wait {
            Wait::Cancel(handle) => {
                self.tcp
                    .cancelable_read(buf.slice_mut(0..RAW_BYTES), handle.clone())
                    .await
            }
            Wait::Until(deadline) => {
                let canceller = Canceller::new();
                let mut read = std::pin::pin!(self
                    .tcp
                    .cancelable_read(buf.slice_mut(0..RAW_BYTES), canceller.handle()));
                monoio::select! {
                    done = &mut read => done,
                    _ = monoio::time::sleep_until((*deadline).into()) => {
                        timed_out = true;
                        let _canceller = canceller.cancel();
                        read.await
                    }
                }
            }
        };
        self.raw_in = slice.into_inner();
        match res {
            Ok(0) => Err(IoError::Eof),
            Ok(_) => Ok(()),
            Err(_) if timed_out => Err(IoError::Timeout),
            Err(e) if super::canceled(&e) => Err(IoError::Canceled),
            Err(_) => Err(IoError::Os),
        }
    }

    /// Encrypts `data` and writes it all.
    pub(crate) async fn write_plain(
        &mut self,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), IoError> {
        self.tls
            .writer()
            .write_all(data)
            .map_err(|_| IoError::Tls)?;
        self.flush(Instant::now() + timeout).await
    }

    /// Writes every byte rustls has to send.
    async fn flush(&mut self, deadline: Instant) -> Result<(), IoError> {
        while self.tls.wants_write() {
            self.tls
                .write_tls(&mut self.raw_out)
                .map_err(|_| IoError::Os)?;
        }
        if self.raw_out.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.raw_out);
        let (res, mut buf) = monoio::time::timeout_at(deadline.into(), self.tcp.write_all(buf))
            .await
            .map_err(|_| IoError::Timeout)?;
        buf.clear();
        self.raw_out = buf;
        res.map(drop).map_err(|_| IoError::Os)
    }

    /// Sends `close_notify` and shuts the write side, ignoring errors: the connection is
    /// ending either way.
    pub(crate) async fn shutdown(&mut self, timeout: Duration) {
        self.tls.send_close_notify();
        let _ = self.flush(Instant::now() + timeout).await;
        let _ = self.tcp.shutdown().await;
    }
}
