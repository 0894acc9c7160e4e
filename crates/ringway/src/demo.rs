//! `ringway demo`: two small JSON backends on loopback, the gateway in front of them, a few
//! sample requests through it, then serving until Ctrl-C (or `--duration`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ringway_proxy::codec::{find_head_end, Body, HeadLimits, RequestHead};
use ringway_proxy::{ProxyConfig, Server};

use crate::cli::{announce, serve_until_stopped, termination_flag, DemoArgs};

/// Starts one demo backend on an ephemeral loopback port; `name` shows in its responses.
fn start_backend(name: &'static str) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a demo backend")?;
    let addr = listener.local_addr()?;
    let hits = Arc::new(AtomicU64::new(0));
    std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let hits = Arc::clone(&hits);
                std::thread::spawn(move || serve_backend(stream, name, &hits));
            }
        })?;
    Ok(addr)
}

fn serve_backend(mut stream: TcpStream, name: &str, hits: &AtomicU64) {
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
        let path = String::from_utf8_lossy(head.path.of(&buf)).into_owned();
        let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
        let (status, body) = respond(name, &path, n);
        buf.drain(..end + body_len);
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nserver: demo-{name}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() || !head.keep_alive {
            return;
        }
    }
}

fn respond(backend: &str, path: &str, n: u64) -> (&'static str, String) {
    let path = path.split('?').next().unwrap_or("/");
    if let Some(id) = path.strip_prefix("/users/") {
        return match id.parse::<u32>() {
            Ok(id) => (
                "200 OK",
                format!("{{\"id\":{id},\"name\":\"user-{id}\",\"served_by\":\"{backend}\"}}\n"),
            ),
            Err(_) => ("404 Not Found", "{\"error\":\"no such user\"}\n".into()),
        };
    }
    match path {
        "/" => ("200 OK", format!("{{\"hello\":\"from {backend}\"}}\n")),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(300));
            (
                "200 OK",
                format!("{{\"slow\":true,\"served_by\":\"{backend}\"}}\n"),
            )
        }
        // Fails one request in three, like a struggling dependency.
        "/flaky" if n % 3 == 0 => (
            "500 Internal Server Error",
            "{\"error\":\"flaky\"}\n".into(),
        ),
        "/flaky" => (
            "200 OK",
            format!("{{\"flaky\":\"ok\",\"served_by\":\"{backend}\"}}\n"),
        ),
        _ => ("404 Not Found", "{\"error\":\"not found\"}\n".into()),
    }
}

/// Sends one GET through the gateway and returns the status line and body.
fn sample(gateway: SocketAddr, path: &str) -> anyhow::Result<(String, String)> {
    let mut s = TcpStream::connect(gateway)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: demo.local\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen: invalid address {:?}", args.listen))?;
    let backends = vec![start_backend("alpha")?, start_backend("beta")?];
    let mut cfg = ProxyConfig::new(listen, backends.clone());
    cfg.workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let term = termination_flag()?;
    let server = Server::start(cfg).with_context(|| format!("starting the gateway on {listen}"))?;
    let addr = server.local_addr();
    announce(addr);
    println!(
        "demo backends: alpha on {}, beta on {}",
        backends[0], backends[1]
    );
    println!("\nsample traffic through the gateway:");
    for path in [
        "/",
        "/users/42",
        "/users/7",
        "/flaky",
        "/flaky",
        "/flaky",
        "/nope",
    ] {
        match sample(addr, path) {
            Ok((status, body)) => println!("  GET {path:<10} -> {status:<28} {body}"),
            Err(e) => println!("  GET {path:<10} -> error: {e}"),
        }
    }
    println!("\ntry it yourself:");
    println!("  curl -i http://{addr}/users/1");
    println!("  curl -i http://{addr}/slow");
    println!("  curl -i -H 'Content-Length: 1' -H 'Transfer-Encoding: chunked' http://{addr}/   # rejected: 400");
    match args.duration {
        Some(d) => println!("\nserving for {}s; Ctrl-C stops earlier", d.as_secs()),
        None => println!("\nserving until Ctrl-C"),
    }
    serve_until_stopped(server, &term, args.duration)?;
    Ok(ExitCode::SUCCESS)
}
