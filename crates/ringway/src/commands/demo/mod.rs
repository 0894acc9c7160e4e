//! `ringway demo`: two small JSON backends on loopback, the gateway in front of them, a few
//! sample requests through it, then serving until Ctrl-C (or `--duration`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ringway_proxy::RunOptions;

mod backend;
mod scenario;

use backend::{read_one, start_backend, Answer, Responder};

use crate::app;
use crate::cli::DemoArgs;

/// The demo API's answers: `/users/{id}`, `/slow`, `/flaky`, `/reports`; 404 otherwise.
fn demo_responder(backend: &'static str) -> Responder {
    let hits = Arc::new(AtomicU64::new(0));
    Arc::new(move |seen| {
        let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
        let (status, body) = respond(backend, seen.path, n);
        Answer {
            status: status.to_owned(),
            body,
            delay: Duration::ZERO,
        }
    })
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
        // The alpha instance is struggling: it fails every other request it gets. The gateway
        // retries those on another endpoint (config/demo.yaml: retries.on_status).
        "/flaky" if backend == "alpha" && n.is_multiple_of(2) => (
            "500 Internal Server Error",
            "{\"error\":\"flaky\"}\n".into(),
        ),
        "/flaky" => (
            "200 OK",
            format!("{{\"flaky\":\"ok\",\"served_by\":\"{backend}\"}}\n"),
        ),
        "/reports" => (
            "200 OK",
            format!("{{\"report\":\"daily\",\"served_by\":\"{backend}\"}}\n"),
        ),
        _ => ("404 Not Found", "{\"error\":\"not found\"}\n".into()),
    }
}

/// Sends one GET through the gateway and returns the status line and body.
fn sample(gateway: SocketAddr, path: &str, extra: &str) -> anyhow::Result<(String, String)> {
    let mut s = TcpStream::connect(gateway)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: demo.local\r\n{extra}Connection: close\r\n\r\n"
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

/// Runs the demo: the embedded `config/demo.yaml` with its upstream addresses pointed at
/// in-process backends and its listeners at `--listen` / `--admin-listen`.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.scenario {
        let Some(s) = ringway_analytics::scenario::scenario(name) else {
            let names: Vec<&str> = ringway_analytics::scenario::SCENARIOS
                .iter()
                .map(|s| s.name)
                .collect();
            return Ok(crate::commands::config_error(&[format!(
                "--scenario: unknown scenario {name:?}; one of {}",
                names.join(", ")
            )]));
        };
        scenario::run(&args, s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen: invalid address {:?}", args.listen))?;
    let admin_listen: SocketAddr = args
        .admin_listen
        .parse()
        .with_context(|| format!("--admin-listen: invalid address {:?}", args.admin_listen))?;
    let mut cfg = ringway_config::from_yaml_str(ringway_config::DEMO_YAML)
        .map_err(|e| anyhow::anyhow!("embedded demo config: {e}"))?;
    let mut names = ["alpha", "beta", "gamma", "delta"].into_iter();
    for group in &mut cfg.upstreams {
        for ep in &mut group.endpoints {
            let name = names.next().unwrap_or("extra");
            ep.addr = start_backend(name, demo_responder(name))?;
            println!("demo backend {name:<6} ({}) on {}", group.name, ep.addr);
        }
    }
    cfg.listeners[0].listen = listen;
    if let Some(admin) = &mut cfg.admin {
        admin.listen = admin_listen;
    }
    let logs_dir = args.logs.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        std::env::temp_dir().join(format!("ringway-demo-logs-{stamp}"))
    });
    cfg.telemetry.logs_dir = Some(logs_dir.clone());
    // Short files, so the summary below sees the traffic a second after it was sent.
    cfg.telemetry.rotate = Duration::from_secs(1);
    let running = app::start(cfg, ringway_config::DEMO_YAML, None, RunOptions::default())?;
    let addr = running.addrs[0];
    println!("\nsample traffic through the gateway (config/demo.yaml):");
    let key = "x-api-key: ringway-demo-key\r\n";
    let samples: [(&str, &str, &str); 13] = [
        ("/users/42", "", "canary split: 90% users, 10% users-v2"),
        ("/users/7", "", ""),
        ("/users/7", "x-canary: users-v2\r\n", "forced to the canary"),
        ("/flaky", "", "one instance fails half the time; retried"),
        ("/flaky", "", ""),
        ("/flaky", "", ""),
        ("/slow", "", "300 ms upstream, 2 s route timeout"),
        ("/reports", "", "no API key: 401"),
        ("/reports", key, "consumer demo, plan starter (2/s)"),
        ("/reports", key, ""),
        ("/reports", key, "over the plan's rate: 429"),
        ("/healthz", "", "answered by the gateway"),
        ("/nope", "", "no route: 404 JSON"),
    ];
    for (path, extra, note) in samples {
        match sample(addr, path, extra) {
            Ok((status, body)) => println!("  GET {path:<10} {status:<26} {body}  {note}"),
            Err(e) => println!("  GET {path:<10} error: {e}"),
        }
    }
    if args.traffic > 0 {
        synthetic_traffic(addr, args.traffic);
        // Files are closed (renamed into place) every second: wait for this traffic's.
        std::thread::sleep(Duration::from_millis(2200));
        summarize(&logs_dir);
    }
    println!("\ntry it yourself:");
    println!("  curl -i http://{addr}/users/1");
    println!("  curl -i -H 'x-canary: users-v2' http://{addr}/users/1");
    println!("  curl -i http://{addr}/slow");
    println!("  curl -i -H 'x-api-key: ringway-demo-key' http://{addr}/reports");
    if let Some(admin) = running.admin_addr {
        println!("  curl -s http://{admin}/readyz; curl -s http://{admin}/config");
    }
    println!("  curl -i -H 'Content-Length: 1' -H 'Transfer-Encoding: chunked' http://{addr}/users/1   # 400");
    match args.duration {
        Some(d) => println!("\nserving for {}s; Ctrl-C stops earlier", d.as_secs()),
        None => println!("\nserving until Ctrl-C"),
    }
    running.wait(args.duration)?;
    Ok(ExitCode::SUCCESS)
}

/// Sends `n` requests from 8 keep-alive clients: mostly user lookups, some canary, flaky,
/// health and unknown paths, like a small API's traffic.
fn synthetic_traffic(addr: SocketAddr, n: usize) {
    const CLIENTS: usize = 8;
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(addr) else { return 0 };
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut done = 0;
                let mut buf = vec![0u8; 16 * 1024];
                let mut rng = fastrand::Rng::with_seed(c as u64);
                for i in (c..n).step_by(CLIENTS) {
                    let user = rng.u32(..500);
                    let (path, extra) = match rng.u32(..100) {
                        0..=69 => (format!("/users/{user}"), ""),
                        70..=74 => (format!("/users/{user}"), "x-canary: users-v2\r\n"),
                        75..=84 => ("/flaky".to_string(), ""),
                        85..=94 => ("/healthz".to_string(), ""),
                        _ => (format!("/missing/{i}"), ""),
                    };
                    let req = format!(
                        "GET {path} HTTP/1.1\r\nHost: demo.local\r\nUser-Agent: ringway-demo/{c}\r\n{extra}\r\n"
                    );
                    if s.write_all(req.as_bytes()).is_err() || !read_one(&mut s, &mut buf) {
                        // The gateway closed (e.g. after an error): open a new connection.
                        match TcpStream::connect(addr) {
                            Ok(new) => s = new,
                            Err(_) => break,
                        }
                        let _ = s.set_nodelay(true);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        continue;
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let sent: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    println!(
        "\nsynthetic traffic: {sent} requests from {CLIENTS} keep-alive clients in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Prints a `ringway logs` summary of what the demo's traffic left in the Parquet logs.
fn summarize(dir: &std::path::Path) {
    use ringway_analytics::{run_query, GroupBy, OutputFormat, Query};
    println!("\nParquet traffic logs: {}", dir.display());
    for group_by in [GroupBy::Route, GroupBy::Status] {
        let q = Query {
            group_by,
            ..Query::default()
        };
        match run_query(dir, &q, &mut |_, _| {}) {
            Ok(r) => {
                println!(
                    "\n$ ringway logs {} --group-by {}",
                    dir.display(),
                    group_by.as_str()
                );
                print!("{}", r.render(OutputFormat::Table));
            }
            Err(e) => println!("  (could not read the logs yet: {e})"),
        }
    }
    println!(
        "\nthe same with DuckDB:\n  duckdb -c \"select route, count(*), quantile_cont(total_us, 0.99) as p99_us \
from read_parquet('{}/**/*.parquet', hive_partitioning = true) group by route\"",
        dir.display()
    );
}
