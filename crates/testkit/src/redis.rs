//! A throwaway `redis-server` on a free loopback port (no persistence), stopped when dropped,
//! and raw RESP commands to it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` this test started.
pub struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    /// Starts one on a free port and waits until it answers `PING`.
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts one on `port` (again, after [`Redis::kill`]).
    pub fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is installed");
        let r = Redis {
            child: Some(child),
            port,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while r.try_command(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < until,
                "redis-server did not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL) and waits for it to end.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends one command; the reply's first line without its type byte (a simple string, an
    /// integer, a bulk string's length, an error).
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args).expect("redis answered")
    }

    fn try_command(&self, args: &[&str]) -> Option<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut msg = format!("*{}\r\n", args.len());
        for a in args {
            msg.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(msg.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        Some(line.get(1..)?.trim_end().to_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
