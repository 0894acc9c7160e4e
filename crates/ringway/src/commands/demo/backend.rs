//! The demo's backends: small blocking HTTP/1.1 servers on loopback, one thread per
//! connection, answering what a responder says; and the client side's response reader.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ringway_proxy::codec::{find_head_end, Body, HeadLimits, RequestHead};

/// A request as a backend sees it.
pub(super) struct Seen<'a> {
    /// Path and query.
    pub(super) path: &'a str,
    /// Header value by lower-case name.
    pub(super) header: &'a dyn Fn(&str) -> Option<String>,
}

/// What a backend answers: status line, JSON body, and how long to wait first.
pub(super) struct Answer {
    pub(super) status: String,
    pub(super) body: String,
    pub(super) delay: Duration,
}

/// Answers requests.
pub(super) type Responder = Arc<dyn Fn(&Seen<'_>) -> Answer + Send + Sync>;

/// Starts a backend on an ephemeral loopback port; `name` shows in its `server` header.
pub(super) fn start_backend(name: &'static str, respond: Responder) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a demo backend")?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let respond = Arc::clone(&respond);
                std::thread::spawn(move || serve_backend(stream, name, &respond));
            }
        })?;
    Ok(addr)
}

fn serve_backend(mut stream: TcpStream, name: &str, respond: &Responder) {
    let limits = HeadLimits::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut head = RequestHead::default();
    loop {
        let mut scanned = 0;
        let end = loop {
            match find_head_end(&buf, &mut scanned, &limits) {
                Ok(Some(end)) => break end,
                Ok(None) => {}
                Err(_) => return,
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        if head.parse(&buf[..end], &limits).is_err() {
            return;
        }
        let body_len = match head.body {
            Body::Length(n) => n as usize,
            _ => 0,
        };
        while buf.len() < end + body_len {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let answer = {
            let path = String::from_utf8_lossy(head.path.of(&buf)).into_owned();
            let header = |name: &str| {
                head.headers
                    .iter()
                    .find(|h| h.name.of(&buf).eq_ignore_ascii_case(name.as_bytes()))
                    .map(|h| String::from_utf8_lossy(h.value.of(&buf)).into_owned())
            };
            respond(&Seen {
                path: &path,
                header: &header,
            })
        };
        buf.drain(..end + body_len);
        if !answer.delay.is_zero() {
            std::thread::sleep(answer.delay);
        }
        let reply = format!(
            "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nserver: demo-{name}\r\n\r\n{}",
            answer.status,
            answer.body.len(),
            answer.body
        );
        if stream.write_all(reply.as_bytes()).is_err() || !head.keep_alive {
            return;
        }
    }
}

/// Reads one response with a Content-Length body (what the demo backends and the gateway's
/// own responses send).
pub(super) fn read_one(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut have = 0;
    loop {
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while have < end + 4 + len {
                match s.read(&mut buf[have..]) {
                    Ok(0) | Err(_) => return false,
                    Ok(k) => have += k,
                }
            }
            return true;
        }
        if have == buf.len() {
            return false;
        }
        match s.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => have += k,
        }
    }
}
