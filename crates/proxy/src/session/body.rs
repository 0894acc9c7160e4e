//! A whole response body read into memory, for the routes that transform bodies (aggregate,
//! reshape), bounded by a size limit.

use std::time::Instant;

use ringway_core::ErrorKind;

use crate::codec::{Body, ChunkedDecoder, Output};
use crate::io::{Conn, IoError};

/// Why a body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// Larger than the limit (or announced so).
    TooLarge,
    /// The upstream failed: a bad chunk, a reset, the deadline.
    Upstream(ErrorKind),
}

/// Reads the body that starts `skip` bytes into `conn`'s buffer (after a head still there, or
/// consumed: 0), decoded, into `out` (at most `max` bytes). Nothing is consumed from `conn`, so
/// a caller that gives up on a too large body can still stream it as it came. Returns the
/// bytes the body spans in `conn`'s buffer after `skip`, for the caller to consume.
pub(super) async fn read_whole(
    conn: &mut Conn,
    skip: usize,
    framing: Body,
    max: u64,
    until: Instant,
    out: &mut Vec<u8>,
) -> Result<usize, BodyError> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let read_error = |e: IoError| {
        BodyError::Upstream(match e {
            IoError::Timeout => ErrorKind::UpstreamTimeout,
            _ => ErrorKind::UpstreamReset,
        })
    };
    match framing {
        Body::None => Ok(0),
        Body::Length(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > max {
                return Err(BodyError::TooLarge);
            }
            while conn.buffered().len() < skip + n {
                conn.fill(until).await.map_err(read_error)?;
            }
            out.extend_from_slice(&conn.buffered()[skip..skip + n]);
            Ok(n)
        }
        Body::Chunked => {
            let mut decoder = ChunkedDecoder::new(Output::Raw);
            let mut at = skip;
            loop {
                at += decoder
                    .decode(&conn.buffered()[at..], out)
                    .map_err(|_| BodyError::Upstream(ErrorKind::UpstreamBadResponse))?;
                if out.len() > max {
                    out.clear();
                    return Err(BodyError::TooLarge);
                }
                if decoder.is_done() {
                    return Ok(at - skip);
                }
                conn.fill(until).await.map_err(read_error)?;
            }
        }
        Body::UntilClose => loop {
            if conn.buffered().len() - skip > max {
                return Err(BodyError::TooLarge);
            }
            match conn.fill(until).await {
                Ok(_) => {}
                Err(IoError::Eof) => {
                    let n = conn.buffered().len() - skip;
                    out.extend_from_slice(&conn.buffered()[skip..]);
                    return Ok(n);
                }
                Err(e) => return Err(read_error(e)),
            }
        },
    }
}
