//! A mock upstream on `127.0.0.1:0` that records every byte it receives.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::message::{parse_requests, Request};

/// What the mock does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `HTTP/1.1 <status>` with the body and a Content-Length.
    Status(u16, Vec<u8>),
    /// These exact bytes (may be malformed on purpose).
    Raw(Vec<u8>),
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
    /// Closes the connection without replying.
    Close,
    /// Replies, then closes the connection without announcing it (a stale keep-alive).
    ThenClose(Box<Reply>),
    /// Several replies in turn (e.g. raw parts with delays between them).
    Sequence(Vec<Reply>),
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    requests: Mutex<Vec<Request>>,
    raw: Mutex<Vec<Vec<u8>>>,
    connections: AtomicUsize,
    streamed_body_bytes: AtomicU64,
    stop: AtomicBool,
    /// Keep request bytes (false: count Content-Length bodies without storing them).
    keep_bodies: bool,
}

/// A running mock upstream; stops when dropped.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Upstream {
    /// Starts a mock that answers each request with `handler`'s reply.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(handler, true)
    }

    /// Answers `200` with a body naming the method and path: `GET /x`.
    pub fn echo() -> Self {
        Self::start(|r| Reply::Status(200, format!("{} {}", r.method, r.path).into_bytes()))
    }

    /// A mock that streams Content-Length bodies without storing them (for huge uploads);
    /// [`Upstream::streamed_body_bytes`] counts them.
    pub fn sink() -> Self {
        Self::start_with(|_| Reply::Status(200, b"stored".to_vec()), false)
    }

    /// Like [`Upstream::start`], on a given address (an upstream coming back where it was).
    pub fn start_at(
        addr: SocketAddr,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).expect("bind mock upstream again");
        Self::serve_on(listener, handler, true)
    }

    fn start_with(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static, keep: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock upstream");
        Self::serve_on(listener, handler, keep)
    }

    fn serve_on(
        listener: TcpListener,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
        keep: bool,
    ) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            streamed_body_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            keep_bodies: keep,
        });
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let index = {
                    let mut raw = st.raw.lock().unwrap();
                    raw.push(Vec::new());
                    raw.len() - 1
                };
                st.connections.fetch_add(1, Ordering::AcqRel);
                let st = Arc::clone(&st);
                std::thread::spawn(move || serve(stream, index, &st));
            }
        });
        Self { addr, state }
    }

    /// Where the mock listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Complete requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Raw bytes received, one entry per connection.
    pub fn raw(&self) -> Vec<Vec<u8>> {
        self.state.raw.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::Acquire)
    }

    /// Body bytes received in sink mode.
    pub fn streamed_body_bytes(&self) -> u64 {
        self.state.streamed_body_bytes.load(Ordering::Acquire)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> bool {
    match reply {
        Reply::Status(status, body) => {
            let mut msg = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            msg.extend_from_slice(body);
            stream.write_all(&msg).is_ok()
        }
        Reply::Raw(bytes) => stream.write_all(bytes).is_ok(),
        Reply::Delay(d, inner) => {
            std::thread::sleep(*d);
            write_reply(stream, inner)
        }
        Reply::Close => {
            let _ = stream.shutdown(Shutdown::Both);
            false
        }
        Reply::Sequence(parts) => parts.iter().all(|p| write_reply(stream, p)),
        Reply::ThenClose(inner) => {
            write_reply(stream, inner);
            let _ = stream.shutdown(Shutdown::Both);
            false
        }
    }
}

fn serve(mut stream: TcpStream, index: usize, st: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    // Replies may be written in parts (Sequence): never let Nagle hold one back.
    let _ = stream.set_nodelay(true);
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sink_remaining: u64 = 0;
    while !st.stop.load(Ordering::Acquire) {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        let mut data = &chunk[..n];
        if !st.keep_bodies {
            let take = (data.len() as u64).min(sink_remaining) as usize;
            st.streamed_body_bytes
                .fetch_add(take as u64, Ordering::AcqRel);
            sink_remaining -= take as u64;
            data = &data[take..];
            if sink_remaining == 0 && take > 0 && !write_reply(&mut stream, &(st.handler)(&dummy()))
            {
                return;
            }
            if data.is_empty() {
                continue;
            }
        } else {
            st.raw.lock().unwrap()[index].extend_from_slice(data);
        }
        pending.extend_from_slice(data);
        if !st.keep_bodies {
            // Sink mode: parse only the head, then count the body as it streams.
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = req.parse(&pending) {
                let cl = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
                    .unwrap_or(0);
                let body_here = ((pending.len() - head) as u64).min(cl);
                st.streamed_body_bytes
                    .fetch_add(body_here, Ordering::AcqRel);
                sink_remaining = cl - body_here;
                pending.clear();
                if sink_remaining == 0 && !write_reply(&mut stream, &(st.handler)(&dummy())) {
                    return;
                }
            }
            continue;
        }
        let parsed = parse_requests(&pending);
        if parsed.invalid {
            return;
        }
        for req in parsed.requests {
            st.requests.lock().unwrap().push(req.clone());
            if !write_reply(&mut stream, &(st.handler)(&req)) {
                return;
            }
        }
        pending = parsed.rest;
    }
}

fn dummy() -> Request {
    Request {
        method: String::new(),
        path: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        raw: Vec::new(),
    }
}
