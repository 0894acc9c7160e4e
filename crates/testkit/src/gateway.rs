//! Runs the real `ringway` binary on an ephemeral port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `ringway` process; killed when dropped (and its temp configuration removed).
pub struct Gateway {
    child: Child,
    _config: Option<crate::TempConfig>,
    addr: SocketAddr,
    /// The admin address, once its line has been read.
    admin: std::sync::Arc<std::sync::Mutex<Option<SocketAddr>>>,
    /// Every listener's address, as their lines are read.
    listeners: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
}

impl Gateway {
    /// Runs `bin args...` and waits for its `ringway listening on http://ADDR` (or `https://`)
    /// line. Its logs
    /// go to the test's stderr when `RINGWAY_TEST_LOG` is set.
    pub fn start(bin: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        if std::env::var_os("RINGWAY_TEST_LOG").is_some() {
            cmd.stderr(Stdio::inherit()).env("RINGWAY_LOG", "debug");
        } else {
            cmd.stderr(Stdio::null());
        }
        let mut child = cmd.spawn().expect("spawn ringway");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let rest = line.strip_prefix("ringway listening on ");
                    if let Some(a) =
                        rest.and_then(|r| r.strip_prefix("http://").or(r.strip_prefix("https://")))
                    {
                        break a.trim().parse().expect("listen address");
                    }
                }
                _ => {
                    let status = child.wait();
                    panic!("ringway exited before listening: {status:?}");
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe; note the admin and
        // listener addresses.
        let admin = std::sync::Arc::new(std::sync::Mutex::new(None));
        let listeners = std::sync::Arc::new(std::sync::Mutex::new(vec![addr]));
        let (seen, more) = (
            std::sync::Arc::clone(&admin),
            std::sync::Arc::clone(&listeners),
        );
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("ringway admin on http://") {
                    *seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = a.trim().parse().ok();
                }
                let rest = line.strip_prefix("ringway listening on ");
                if let Some(a) =
                    rest.and_then(|r| r.strip_prefix("http://").or(r.strip_prefix("https://")))
                {
                    if let Ok(a) = a.trim().parse() {
                        more.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(a);
                    }
                }
            }
        });
        Self {
            child,
            _config: None,
            addr,
            admin,
            listeners,
        }
    }

    /// `ringway run --config <yaml in a temp file> --workers <workers>`.
    pub fn run_yaml(bin: &str, yaml: &str, workers: usize) -> Self {
        let config = crate::TempConfig::new(yaml);
        let workers = workers.to_string();
        let mut gw = Self::start(
            bin,
            &["run", "--config", config.arg(), "--workers", &workers],
        );
        gw._config = Some(config);
        gw
    }

    /// Quick-mode gateway: `ringway proxy --listen 127.0.0.1:0 --to <upstreams> <extra>`.
    pub fn proxy(bin: &str, upstreams: &[SocketAddr], extra: &[&str]) -> Self {
        let to = upstreams
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec!["proxy", "--listen", "127.0.0.1:0", "--to", &to];
        args.extend_from_slice(extra);
        Self::start(bin, &args)
    }

    /// Where the admin listener is (waits up to 5 s for its line), if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = *self
                .admin
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.is_some() || Instant::now() > until {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Where listener `i` (in configuration order) listens; waits up to 5 s for its line.
    pub fn listener_addr(&self, i: usize) -> Option<SocketAddr> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self
                .listeners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(i)
                .copied();
            if seen.is_some() || Instant::now() > until {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Where the gateway listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Peak resident memory of the process in KiB (VmHWM), if readable.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
