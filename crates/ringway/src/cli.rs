//! Command-line interface: parse, validate everything before binding, run, exit.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ringway_proxy::{ProxyConfig, Server};

/// Exit status for a bad configuration or command line (EX_USAGE / EX_CONFIG family).
pub const EXIT_CONFIG: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "ringway",
    version,
    about = "An io_uring, thread-per-core API gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reverse-proxy everything on one address to one or more upstreams (round robin).
    Proxy(ProxyArgs),
    /// Start demo backends and the gateway in front of them, send sample traffic, keep serving.
    Demo(DemoArgs),
}

/// Options of `ringway proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Upstream endpoints, comma separated (`host:port`).
    #[arg(
        long,
        value_name = "ADDR[,ADDR...]",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Data-plane tuning shared by the commands that run the gateway.
#[derive(Args, Debug, Clone)]
pub struct Tuning {
    /// Worker threads: `auto` (one per available CPU) or a number.
    #[arg(long, default_value = "auto")]
    pub workers: String,
    /// Upstream connect timeout (e.g. `5s`, `250ms`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Time allowed to receive a complete request head (slowloris guard).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time allowed between reads of a request body and for writes to the client.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Time allowed for the upstream's response head, and between reads of its body.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,
    /// Idle client keep-alive connections are closed after this.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 8 << 30)]
    pub max_body_bytes: u64,
    /// Longest request target in bytes (414 beyond).
    #[arg(long, default_value_t = 8 * 1024)]
    pub max_uri_bytes: usize,
    /// Largest request head in bytes (431 beyond).
    #[arg(long, default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Most request header fields (431 beyond).
    #[arg(long, default_value_t = 100)]
    pub max_headers: usize,
    /// Idle upstream connections kept per endpoint and worker. Keep it at or above the peak
    /// number of concurrent requests per worker, or connections churn under load.
    #[arg(long, default_value_t = 1024)]
    pub pool_max_idle: usize,
    /// Idle upstream connections are closed after this.
    #[arg(long, default_value = "55s", value_parser = parse_duration)]
    pub pool_idle_timeout: Duration,
    /// Do not pin workers to CPUs.
    #[arg(long)]
    pub no_pin: bool,
}

/// Options of `ringway demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address for the gateway (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Stop after this long instead of serving until Ctrl-C (e.g. `30s`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// Parses `250ms`, `5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 5s or 250ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Ok(d)
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr:?} (expected host:port)"))?
        .next()
        .with_context(|| format!("{addr:?} resolves to no address"))
}

impl Tuning {
    /// Applies the tuning to a config; every problem is reported at once.
    pub fn apply(&self, cfg: &mut ProxyConfig) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        cfg.workers = match self.workers.as_str() {
            "auto" => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => match n.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => {
                    errors.push(format!("--workers: expected `auto` or 1..=1024, got {n:?}"));
                    1
                }
            },
        };
        let t = &mut cfg.timeouts;
        t.connect = self.connect_timeout;
        t.client_header = self.header_timeout;
        t.client_body = self.body_timeout;
        t.upstream_response = self.upstream_timeout;
        t.client_idle = self.idle_timeout;
        for (name, d) in [
            ("--connect-timeout", t.connect),
            ("--header-timeout", t.client_header),
            ("--body-timeout", t.client_body),
            ("--upstream-timeout", t.upstream_response),
            ("--idle-timeout", t.client_idle),
        ] {
            if d.is_zero() {
                errors.push(format!("{name}: must be greater than zero"));
            }
        }
        cfg.drain_timeout = self.drain_timeout;
        cfg.limits.max_body_bytes = self.max_body_bytes;
        cfg.limits.head.max_uri_bytes = self.max_uri_bytes;
        cfg.limits.head.max_head_bytes = self.max_header_bytes;
        cfg.limits.head.max_headers = self.max_headers;
        if self.max_header_bytes < 64 {
            errors.push("--max-header-bytes: must be at least 64".into());
        }
        if self.max_headers == 0 {
            errors.push("--max-headers: must be at least 1".into());
        }
        cfg.pool.max_idle_per_endpoint = self.pool_max_idle;
        cfg.pool.idle_timeout = self.pool_idle_timeout;
        cfg.pin_workers = !self.no_pin;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn proxy_config(args: &ProxyArgs) -> Result<ProxyConfig, Vec<String>> {
    let mut errors = Vec::new();
    let listen = resolve(&args.listen)
        .map_err(|e| errors.push(format!("--listen: {e:#}")))
        .ok();
    let mut upstreams = Vec::new();
    for (i, to) in args.to.iter().enumerate() {
        match resolve(to) {
            Ok(a) => upstreams.push(a),
            Err(e) => errors.push(format!("--to[{i}]: {e:#}")),
        }
    }
    let mut cfg = ProxyConfig::new(listen.unwrap_or(([127, 0, 0, 1], 0).into()), upstreams);
    if let Err(e) = args.tuning.apply(&mut cfg) {
        errors.extend(e);
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

fn init_logging() {
    let level = std::env::var("RINGWAY_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Registers SIGTERM and SIGINT; the returned flag is set when either arrives.
pub fn termination_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .context("registering signal handler")?;
    }
    Ok(flag)
}

/// Serves until a signal arrives (or `limit` passes), then drains and reports.
pub fn serve_until_stopped(
    server: Server,
    term: &AtomicBool,
    limit: Option<Duration>,
) -> anyhow::Result<()> {
    let until = limit.map(|d| std::time::Instant::now() + d);
    while !term.load(Ordering::Relaxed)
        && !server.any_finished()
        && until.is_none_or(|u| std::time::Instant::now() < u)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!("Shutting down: draining in-flight requests");
    let stats = server.shutdown()?;
    tracing::info!(
        connections = stats.connections,
        requests = stats.requests,
        errors = stats.errors,
        upstream_connects = stats.upstream_connects,
        upstream_reuses = stats.upstream_reuses,
        reuse_ratio = format!("{:.4}", stats.reuse_ratio()),
        "Stopped"
    );
    Ok(())
}

fn run_proxy(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let cfg = match proxy_config(&args) {
        Ok(cfg) => cfg,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let term = termination_flag()?;
    let server = Server::start(cfg).context("starting the gateway")?;
    announce(server.local_addr());
    serve_until_stopped(server, &term, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the bound address on stdout (tests and scripts read it when the port was 0).
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ringway listening on http://{addr}");
    let _ = out.flush();
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Proxy(args) => run_proxy(args),
        Command::Demo(args) => crate::demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
    }
}
