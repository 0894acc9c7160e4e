//! A raw HTTP/1.1 client: send exact bytes, read what comes back, parse responses with httparse.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::message::decode_chunked;

/// What came back for some raw bytes sent.
#[derive(Debug, Clone)]
pub struct RawExchange {
    /// Everything received.
    pub bytes: Vec<u8>,
    /// The gateway closed the connection (EOF or reset) before the timeout.
    pub closed: bool,
}

/// Sends `input`, optionally half-closes, and reads until the peer closes or `timeout` passes.
pub fn exchange_raw(
    addr: SocketAddr,
    input: &[u8],
    half_close: bool,
    timeout: Duration,
) -> RawExchange {
    let mut s = TcpStream::connect(addr).expect("connect to gateway");
    s.set_nodelay(true).ok();
    let _ = s.write_all(input);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    read_until_close(&mut s, timeout)
}

/// Reads until EOF/reset or `timeout`.
pub(crate) fn read_until_close(s: &mut TcpStream, timeout: Duration) -> RawExchange {
    let until = Instant::now() + timeout;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return RawExchange {
                bytes,
                closed: false,
            };
        }
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok();
        match s.read(&mut buf) {
            Ok(0) => {
                return RawExchange {
                    bytes,
                    closed: true,
                }
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return RawExchange {
                    bytes,
                    closed: false,
                }
            }
            Err(_) => {
                return RawExchange {
                    bytes,
                    closed: true,
                }
            }
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (names lowercased).
    pub headers: Vec<(String, String)>,
    /// Decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of a header, if present exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let v: Vec<_> = self.headers.iter().filter(|(n, _)| n == name).collect();
        match v.as_slice() {
            [(_, v)] => Some(v.as_str()),
            _ => None,
        }
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses consecutive responses. `no_body(i)` says whether the i-th final response answers a
/// HEAD request. A response without framing takes the rest of the bytes.
pub fn parse_responses(mut bytes: &[u8], no_body: impl Fn(usize) -> bool) -> Vec<Response> {
    let mut out = Vec::new();
    let mut finals = 0;
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = resp.parse(bytes) else {
            break;
        };
        let status = resp.code.unwrap_or(0);
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let rest = &bytes[head..];
        let interim = status < 200;
        let (body, used) = if interim || no_body(finals) || status == 204 || status == 304 {
            (Vec::new(), 0)
        } else if get("transfer-encoding").is_some() {
            match decode_chunked(rest) {
                Ok(Some((b, n))) => (b, n),
                _ => break,
            }
        } else if let Some(cl) = get("content-length") {
            let n: usize = cl.trim().parse().unwrap_or(usize::MAX);
            if rest.len() < n {
                break;
            }
            (rest[..n].to_vec(), n)
        } else {
            (rest.to_vec(), rest.len())
        };
        if !interim {
            finals += 1;
        }
        out.push(Response {
            status,
            headers,
            body,
        });
        bytes = &rest[used..];
    }
    out
}

/// `GET path` with `Connection: close`; panics when no complete response arrives in 10 s.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n");
    let ex = exchange_raw(addr, req.as_bytes(), false, Duration::from_secs(10));
    parse_responses(&ex.bytes, |_| false)
        .into_iter()
        .next()
        .unwrap_or_else(|| {
            panic!(
                "no response to GET {path}: {:?}",
                String::from_utf8_lossy(&ex.bytes)
            )
        })
}
