//! After a protocol switch (WebSocket): bytes copied both ways until either side closes, an
//! error, or the idle timeout with nothing moving. Both sides are read at once with cancelable
//! reads: when one completes, the other is cancelled and awaited, so what it read meanwhile is
//! forwarded too — never dropped with a cancelled future.

use std::time::Duration;

use monoio::io::Canceller;

use crate::io::{Conn, IoError};

/// How a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunnelEnd {
    /// One side closed (the other was told by closing it in turn).
    Closed,
    /// Nothing moved for the idle timeout.
    Idle,
    /// A read or write failed.
    Error,
}

/// Copies bytes between `client` and `up` (see the module docs). Bytes already buffered on
/// either side (sent right after the switch) go first.
pub(crate) async fn run(
    client: &mut Conn,
    up: &mut Conn,
    idle: Duration,
    write: Duration,
) -> TunnelEnd {
    loop {
        let to_up = client.buffered().len();
        if to_up > 0 && client.send_buffered_to(to_up, up, write).await.is_err() {
            return TunnelEnd::Error;
        }
        let to_client = up.buffered().len();
        if to_client > 0 && up.send_buffered_to(to_client, client, write).await.is_err() {
            return TunnelEnd::Error;
        }
        let (from_client, from_up, idled) = {
            let (a, b) = (Canceller::new(), Canceller::new());
            let mut read_client = std::pin::pin!(client.fill_cancelable(a.handle()));
            let mut read_up = std::pin::pin!(up.fill_cancelable(b.handle()));
            monoio::select! {
                r = &mut read_client => {
                    let _b = b.cancel();
                    (r, read_up.await, false)
                }
                r = &mut read_up => {
                    let _a = a.cancel();
                    (read_client.await, r, false)
                }
                _ = monoio::time::sleep(idle) => {
                    let (_a, _b) = (a.cancel(), b.cancel());
                    (read_client.await, read_up.await, true)
                }
            }
        };
        let moved = from_client.is_ok() || from_up.is_ok();
        let ended =
            |r: &Result<usize, IoError>| matches!(r, Err(e) if !matches!(e, IoError::Canceled));
        if ended(&from_client) || ended(&from_up) {
            // Whatever arrived before the close still goes through, including plaintext a
            // TLS side holds beyond the read buffer.
            drain_into(client, up, write).await;
            drain_into(up, client, write).await;
            let failed = |r: &Result<usize, IoError>| matches!(r, Err(e) if !matches!(e, IoError::Canceled | IoError::Eof));
            return if failed(&from_client) || failed(&from_up) {
                TunnelEnd::Error
            } else {
                TunnelEnd::Closed
            };
        }
        if idled && !moved {
            return TunnelEnd::Idle;
        }
    }
}

/// Forwards what `from` has already received (buffered, or decrypted but not yet read),
/// without waiting for more.
async fn drain_into(from: &mut Conn, to: &mut Conn, write: Duration) {
    loop {
        let n = from.buffered().len();
        if n > 0 && from.send_buffered_to(n, to, write).await.is_err() {
            return;
        }
        // A read cancelled before it starts returns only what is already there.
        let done = Canceller::new();
        let handle = done.handle();
        let _fresh = done.cancel();
        if from.fill_cancelable(handle).await.is_err() {
            return;
        }
    }
}
