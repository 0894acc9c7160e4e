//! `ringway replay --logs DIR --config FILE`: what a configuration's IP filters and rate
//! limits would have refused of the logged traffic, split between the clients the anomaly
//! detectors flagged and everyone else.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use ringway_analytics::report::Report;
use ringway_analytics::source::Logs;

use crate::app::replay::{Replayer, Tally};
use crate::cli::ReplayArgs;
use crate::commands::config_error;

/// Replays the logs and prints the tallies.
pub(crate) fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    let (since, until) =
        super::time_range(args.since.as_deref(), args.until.as_deref(), &mut errors);
    let json = match args.format.as_str() {
        "md" => false,
        "json" => true,
        other => {
            errors.push(format!("--format: {other:?} is not md or json"));
            false
        }
    };
    if !args.logs.is_dir() {
        errors.push(format!(
            "--logs: {} is not a directory",
            args.logs.display()
        ));
    }
    let cfg = match ringway_config::load_file(&args.config) {
        Ok(cfg) => Some(cfg),
        Err(problems) => {
            errors.extend(
                problems
                    .iter()
                    .map(|e| format!("--config {}: {e}", args.config.display())),
            );
            None
        }
    };
    let (Some(cfg), true) = (cfg, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    let detectors = cfg
        .telemetry
        .anomalies
        .as_ref()
        .map_or_else(Default::default, crate::app::pipeline::detector_config);
    let mut replayer = Replayer::new(cfg)?;
    let logs = Logs::open(&args.logs, since, until)
        .with_context(|| format!("reading {}", args.logs.display()))?;
    let report = Report::build_with(&logs, detectors, &mut |_, _| {}, &mut |o| {
        replayer.replay(o);
    })
    .with_context(|| format!("reading {}", args.logs.display()))?;
    let flagged: Vec<&str> = {
        let mut v: Vec<&str> = report
            .findings
            .iter()
            .flat_map(|f| f.top_clients.iter().map(|c| c.client.as_str()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut involved = Tally::default();
    let mut others = Tally::default();
    let mut total = Tally::default();
    for (client, t) in &replayer.by_client {
        let into = if flagged.contains(&client.as_str()) {
            &mut involved
        } else {
            &mut others
        };
        for x in [into, &mut total] {
            x.requests += t.requests;
            x.ip_denied += t.ip_denied;
            x.rate_limited += t.rate_limited;
        }
    }
    let mut routes: Vec<(&String, &Tally)> = replayer.by_route.iter().collect();
    routes.sort_by(|a, b| b.1.refused().cmp(&a.1.refused()).then(a.0.cmp(b.0)));
    let mut clients: Vec<(&String, &Tally)> = replayer
        .by_client
        .iter()
        .filter(|(_, t)| t.refused() > 0)
        .collect();
    clients.sort_by(|a, b| b.1.refused().cmp(&a.1.refused()).then(a.0.cmp(b.0)));
    clients.truncate(20);
    if json {
        let v = serde_json::json!({
            "config": args.config.display().to_string(),
            "total": total,
            "flagged_clients": flagged,
            "flagged": involved,
            "others": others,
            "by_route": routes.iter().map(|(r, t)| serde_json::json!({"route": r, "tally": t})).collect::<Vec<_>>(),
            "top_refused_clients": clients.iter().map(|(c, t)| serde_json::json!({"client": c, "tally": t})).collect::<Vec<_>>(),
            "not_replayed": { "auth_on_routes": replayer.auth_skipped, "rows_of_unknown_routes": replayer.unknown_routes },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let pct = |t: &Tally| format!("{:.2}%", t.share() * 100.0);
    let _ = writeln!(o, "# Replay of {}\n", args.config.display());
    let _ = writeln!(
        o,
        "{} requests replayed; {} refused ({}): {} by IP filters, {} by rate limits.\n",
        total.requests,
        total.refused(),
        pct(&total),
        total.ip_denied,
        total.rate_limited
    );
    if !replayer.auth_skipped.is_empty() {
        let _ = writeln!(
            o,
            "Not replayed: authentication (and the plans' limits and quotas behind it) on routes {}; the logs carry no credentials.\n",
            replayer.auth_skipped.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "| clients | requests | refused | share |\n|---|---|---|---|"
    );
    let _ = writeln!(
        o,
        "| in findings ({}) | {} | {} | {} |",
        flagged.len(),
        involved.requests,
        involved.refused(),
        pct(&involved)
    );
    let _ = writeln!(
        o,
        "| all others | {} | {} | {} |\n",
        others.requests,
        others.refused(),
        pct(&others)
    );
    let _ = writeln!(o, "## Per route\n\n| route | requests | IP filters | rate limits | share |\n|---|---|---|---|---|");
    for (r, t) in &routes {
        let _ = writeln!(
            o,
            "| {r} | {} | {} | {} | {} |",
            t.requests,
            t.ip_denied,
            t.rate_limited,
            pct(t)
        );
    }
    let _ = writeln!(
        o,
        "\n## Clients refused most\n\n| client | requests | refused | share |\n|---|---|---|---|"
    );
    for (c, t) in &clients {
        let _ = writeln!(o, "| {c} | {} | {} | {} |", t.requests, t.refused(), pct(t));
    }
    print!("{o}");
    Ok(ExitCode::SUCCESS)
}
