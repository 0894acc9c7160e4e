//! `ringway demo --scenario NAME`: a labelled scenario's traffic through a live gateway, ten
//! times faster than the scenario's clock, so the live detectors (`/anomalies`) meet it; the
//! logs are left for `ringway report --config config/scenario.yaml` to judge the same way.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ringway_analytics::scenario::{Label, Scenario, Timing};
use ringway_analytics::schema::client_ip_text;
use ringway_proxy::RunOptions;
use ringway_telemetry::record::RequestRecord;

use super::backend::{read_one, start_backend, Answer, Responder};
use crate::app;
use crate::cli::DemoArgs;

/// Scenario seconds per real second: the scenarios' 10 s buckets are the live detectors' 1 s
/// (`config/scenario.yaml`).
const SPEED: i64 = 10;
/// Keep-alive client connections sending the traffic.
const CLIENTS: usize = 48;
const MINUTE_US: i64 = 60_000_000;

/// The backend: the status in `x-scenario-status`, after the latency in `x-scenario-delay-us`.
fn responder() -> Responder {
    Arc::new(|seen| {
        let status: u16 = (seen.header)("x-scenario-status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let delay_us: u64 = (seen.header)("x-scenario-delay-us")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Answer {
            status: format!("{status} Scenario"),
            body: format!("{{\"status\":{status}}}\n"),
            // The latency is not sped up: it is what the latency detector judges.
            delay: Duration::from_micros(delay_us.min(2_000_000)),
        }
    })
}

/// The scenario's layout: 14 simulated minutes around 10:00 UTC on a Monday (a busy hour),
/// the anomaly from minute 7 for 5 minutes — 84 s of real time.
fn timing() -> Timing {
    let standard = Timing::standard();
    Timing {
        start_us: standard.start_us + standard.inject_at_us - 7 * MINUTE_US,
        duration_us: 14 * MINUTE_US,
        inject_at_us: 7 * MINUTE_US,
        inject_for_us: 5 * MINUTE_US,
        ..standard
    }
}

/// Runs the scenario through a gateway started from `config/scenario.yaml`.
pub(super) fn run(args: &DemoArgs, s: Scenario) -> anyhow::Result<()> {
    let mut cfg = ringway_config::from_yaml_str(ringway_config::SCENARIO_YAML)
        .map_err(|e| anyhow::anyhow!("embedded scenario config: {e}"))?;
    for group in &mut cfg.upstreams {
        for ep in &mut group.endpoints {
            ep.addr = start_backend("scenario", responder())?;
        }
    }
    cfg.listeners[0].listen = args
        .listen
        .parse()
        .with_context(|| format!("--listen: invalid address {:?}", args.listen))?;
    if let Some(admin) = &mut cfg.admin {
        admin.listen = args
            .admin_listen
            .parse()
            .with_context(|| format!("--admin-listen: invalid address {:?}", args.admin_listen))?;
    }
    let logs_dir = args.logs.clone().unwrap_or_else(|| {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        std::env::temp_dir().join(format!("ringway-scenario-logs-{stamp}"))
    });
    cfg.telemetry.logs_dir = Some(logs_dir.clone());
    let running = app::start(
        cfg,
        ringway_config::SCENARIO_YAML,
        None,
        RunOptions::default(),
    )?;
    let addr = running.addrs[0];

    let timing = timing();
    let records: Vec<RequestRecord> = s.stream(timing, args.seed).collect();
    // Real time of a scenario instant.
    let t0 = SystemTime::now() + Duration::from_millis(500);
    let t0_us = t0
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let real = |sim_us: i64| t0_us + (sim_us - timing.start_us) / SPEED;
    let labels: Vec<Label> = s
        .labels(&timing)
        .into_iter()
        .map(|l| Label {
            start_us: real(l.start_us),
            end_us: real(l.end_us),
            ..l
        })
        .collect();
    println!(
        "scenario {}: {} ({} requests over {} s); labels: {}",
        s.name,
        s.description,
        records.len(),
        timing.duration_us / SPEED / 1_000_000,
        serde_json::to_string(&labels)?
    );
    let _ = std::io::stdout().flush();
    let sent = drive(addr, &records, t0, timing.start_us);
    println!("sent {sent} of {} requests", records.len());
    // Stop with the traffic: silence after it would rightly read as every endpoint dropping.
    // Episodes still open end here; the findings are in findings.jsonl.
    let snapshot = running.anomalies();
    running.wait(Some(Duration::ZERO))?;
    if let Some(s) = snapshot {
        println!("live findings:");
        for f in s.recent.iter().rev().chain(&s.open) {
            println!(
                "  {} on {} from {} ({} s after the anomaly started)",
                f.kind.as_str(),
                f.endpoint,
                ringway_analytics::civil::format_rfc3339(f.start_us),
                labels
                    .first()
                    .map_or(0, |l| (f.detected_us - l.start_us) / 1_000_000)
            );
        }
    }
    println!(
        "logs in {}; judge them as the gateway did:\n  ringway report --logs {} --config config/scenario.yaml --format md",
        logs_dir.display(),
        logs_dir.display()
    );
    Ok(())
}

/// Sends every record's request at its (sped-up) time from keep-alive clients; returns how
/// many got a response.
fn drive(addr: SocketAddr, records: &[RequestRecord], t0: SystemTime, sim_start_us: i64) -> usize {
    let start = Instant::now() + t0.duration_since(SystemTime::now()).unwrap_or_default();
    let records = Arc::new(records.to_vec());
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let records = Arc::clone(&records);
            std::thread::spawn(move || {
                let connect = || {
                    let s = TcpStream::connect(addr).ok()?;
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    Some(s)
                };
                let mut conn = connect();
                let mut buf = vec![0u8; 16 * 1024];
                let mut done = 0;
                for rec in records.iter().skip(c).step_by(CLIENTS) {
                    let at = Duration::from_micros(
                        u64::try_from((rec.ts_us - sim_start_us) / SPEED).unwrap_or(0),
                    );
                    if let Some(wait) = (start + at).checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let req = format!(
                        "{} {} HTTP/1.1\r\nHost: scenario.local\r\nX-Forwarded-For: {}\r\nx-scenario-status: {}\r\nx-scenario-delay-us: {}\r\nContent-Length: 0\r\n\r\n",
                        rec.method.as_str(),
                        String::from_utf8_lossy(rec.path.as_bytes()),
                        client_ip_text(&rec.client_ip),
                        rec.status,
                        rec.total_us,
                    );
                    let ok = conn.as_mut().is_some_and(|s| {
                        s.write_all(req.as_bytes()).is_ok() && read_one(s, &mut buf)
                    });
                    if ok {
                        done += 1;
                    } else {
                        conn = connect();
                    }
                }
                done
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
}
