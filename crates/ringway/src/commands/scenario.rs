//! `ringway scenario NAME --out DIR`: labelled synthetic traffic as Parquet traffic logs.

use std::process::ExitCode;

use anyhow::Context;
use ringway_analytics::scenario::{scenario, Timing, SCENARIOS};
use ringway_analytics::SinkConfig;

use crate::cli::ScenarioArgs;
use crate::commands::config_error;

/// Lists the scenarios, or writes one and prints its labels as JSON.
pub(crate) fn run(args: &ScenarioArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for s in SCENARIOS {
            println!("{:28} {}", s.name, s.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.as_deref().unwrap_or_default();
    let Some(s) = scenario(name) else {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        return Ok(config_error(&[format!(
            "unknown scenario {name:?}; one of {}",
            names.join(", ")
        )]));
    };
    let duration_us = i64::try_from(args.duration.as_micros()).unwrap_or(i64::MAX);
    if duration_us < 30 * 60_000_000 {
        return Ok(config_error(&["--duration: at least 30m"]));
    }
    if !(args.peak_rps > 0.0 && args.peak_rps <= 100_000.0) {
        return Ok(config_error(&["--peak-rps: between 0 and 100000"]));
    }
    let Some(out) = &args.out else {
        return Ok(config_error(&["--out is required"]));
    };
    let standard = Timing::standard();
    let timing = Timing {
        duration_us,
        inject_at_us: duration_us / 3 * 2,
        peak_rps: args.peak_rps,
        ..standard
    };
    let stats = s
        .write_parquet(timing, args.seed, SinkConfig::new(out))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{} requests in {} files under {}",
        stats.rows_written,
        stats.files_written,
        out.display()
    );
    println!("{}", serde_json::to_string_pretty(&s.labels(&timing))?);
    Ok(ExitCode::SUCCESS)
}
