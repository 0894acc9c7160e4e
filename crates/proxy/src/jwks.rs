//! A small blocking HTTP/1.1 GET for JWKS documents, run on the fetcher's own thread (never
//! on a worker). It reuses the strict codec, so a key server gets no more leniency than an
//! upstream.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::codec::{find_head_end, Body, ChunkedDecoder, HeadLimits, Output, ResponseHead};

/// Largest JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

const LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 0,
    max_head_bytes: 64 * 1024,
    max_headers: 100,
};

/// Fetches `url` (`http://host[:port]/path`, checked by the config) and returns the body of a
/// 200 response, or a message saying what went wrong.
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported URL {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let target = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("resolving {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))?;
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {authority}\r\naccept: application/json\r\nuser-agent: ringway\r\nconnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending to {addr}: {e}"))?;

    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    let mut scanned = 0;
    let mut head = ResponseHead::default();
    let head_len = loop {
        if let Some(end) = find_head_end(&buf, &mut scanned, &LIMITS)
            .map_err(|_| "malformed response head".to_owned())?
        {
            break end;
        }
        read_some(&mut stream, &mut buf, &mut chunk, deadline)?
            .then_some(())
            .ok_or("connection closed before the response head")?;
    };
    head.parse(&buf[..head_len], false, LIMITS.max_headers)
        .map_err(|_| "malformed response head".to_owned())?;
    if head.status != 200 {
        return Err(format!("status {}", head.status));
    }
    let mut body_in = buf.split_off(head_len);
    let done = |body: &[u8]| -> Result<Option<Vec<u8>>, String> {
        match head.body {
            Body::Length(n) if body.len() as u64 >= n => Ok(Some(body[..n as usize].to_vec())),
            Body::Chunked => {
                let mut d = ChunkedDecoder::new(Output::Raw);
                let mut out = Vec::new();
                d.decode(body, &mut out)
                    .map_err(|_| "malformed chunked body".to_owned())?;
                Ok(d.is_done().then_some(out))
            }
            Body::None => Ok(Some(Vec::new())),
            _ => Ok(None),
        }
    };
    loop {
        if let Some(body) = done(&body_in)? {
            return Ok(body);
        }
        if body_in.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("document larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        if !read_some(&mut stream, &mut body_in, &mut chunk, deadline)? {
            return match head.body {
                Body::UntilClose => Ok(body_in),
                _ => Err("connection closed before the end of the body".to_owned()),
            };
        }
    }
}

/// Reads once into `buf`; `false` at end of stream.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    deadline: Instant,
) -> Result<bool, String> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or("timed out")?;
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    let n = stream.read(chunk).map_err(|e| format!("reading: {e}"))?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}
