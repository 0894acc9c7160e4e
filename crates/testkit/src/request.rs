//! One request builder for the end-to-end tests, and a reader of one response on a
//! keep-alive connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::client::{exchange_raw, parse_responses, Response};

/// How long a request waits for its response.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// An HTTP/1.1 request as the tests write them: a method, a target, a Host, header lines, an
/// optional body; `Connection: close` unless [`Req::keep_alive`].
#[derive(Debug, Clone)]
pub struct Req {
    method: String,
    target: String,
    host: String,
    lines: String,
    body: Vec<u8>,
    close: bool,
}

impl Req {
    /// `method target` to `Host: test.local`.
    pub fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.to_owned(),
            target: target.to_owned(),
            host: "test.local".to_owned(),
            lines: String::new(),
            body: Vec::new(),
            close: true,
        }
    }

    /// `GET target`.
    pub fn get(target: &str) -> Req {
        Req::new("GET", target)
    }

    /// The Host header.
    pub fn host(mut self, host: &str) -> Req {
        self.host = host.to_owned();
        self
    }

    /// One more header field.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.lines.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    /// More header lines as written, each ending in CRLF (possibly none).
    pub fn lines(mut self, lines: &str) -> Req {
        self.lines.push_str(lines);
        self
    }

    /// A body with its Content-Length.
    pub fn body(mut self, body: &[u8]) -> Req {
        self.body = body.to_vec();
        self
    }

    /// No `Connection: close` (for several requests on one connection).
    pub fn keep_alive(mut self) -> Req {
        self.close = false;
        self
    }

    /// The request's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n{}",
            self.method, self.target, self.host, self.lines
        );
        if !self.body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request on a new connection and returns the response; panics when none
    /// arrives in [`PATIENCE`].
    pub fn send(&self, addr: SocketAddr) -> Response {
        let ex = exchange_raw(addr, &self.bytes(), false, PATIENCE);
        let head = self.method == "HEAD";
        parse_responses(&ex.bytes, |_| head)
            .into_iter()
            .next()
            .unwrap_or_else(|| {
                panic!(
                    "no response to {} {}: {:?}",
                    self.method,
                    self.target,
                    String::from_utf8_lossy(&ex.bytes)
                )
            })
    }
}

/// Reads exactly one response with a Content-Length (or no) body from a keep-alive
/// connection, using `buf` (cleared first) as the read buffer; returns it with its raw head.
pub fn read_one(s: &mut TcpStream, buf: &mut Vec<u8>) -> (Response, String) {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length").then(|| v.trim())
                })
                .map_or(0, |v| v.parse().expect("content-length"));
            if buf.len() >= end + 4 + len {
                let response = parse_responses(&buf[..end + 4 + len], |_| false)
                    .into_iter()
                    .next()
                    .expect("a complete response");
                return (response, head);
            }
        }
        let n = s.read(&mut chunk).expect("read a response");
        assert!(n > 0, "connection closed before a complete response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `req` on an open connection (keep-alive) and reads its response.
pub fn roundtrip(s: &mut TcpStream, req: &Req, buf: &mut Vec<u8>) -> (Response, String) {
    s.write_all(&req.bytes()).expect("send a request");
    read_one(s, buf)
}
