//! `ringway report --logs DIR`: the anomaly detectors over Parquet traffic logs.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use ringway_analytics::anomaly::Config;
use ringway_analytics::report::{Format, Report};
use ringway_analytics::source::Logs;

use crate::cli::ReportArgs;
use crate::commands::config_error;

/// A progress bar on standard error, drawn only on a terminal.
fn progress_bar() -> impl FnMut(u64, u64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = u64::MAX;
    move |done, total| {
        if !tty || total == 0 {
            return;
        }
        let pct = done * 100 / total;
        if pct == last {
            return;
        }
        last = pct;
        let filled = (pct / 4) as usize;
        eprint!(
            "\r[{}{}] {pct:>3}% of {total} rows",
            "#".repeat(filled),
            " ".repeat(25 - filled)
        );
        if done >= total {
            eprintln!();
        }
    }
}

/// Runs the detectors over the logs and writes the report.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    let (since, until) =
        super::time_range(args.since.as_deref(), args.until.as_deref(), &mut errors);
    let format = args
        .format
        .parse::<Format>()
        .map_err(|e| errors.push(format!("--format: {e}")))
        .ok();
    if !args.logs.is_dir() {
        errors.push(format!(
            "--logs: {} is not a directory",
            args.logs.display()
        ));
    }
    let mut detectors = Config::default();
    if let Some(file) = &args.config {
        match ringway_config::load_file(file) {
            Ok(cfg) => {
                if let Some(a) = &cfg.telemetry.anomalies {
                    detectors = crate::app::pipeline::detector_config(a);
                }
            }
            Err(problems) => errors.extend(
                problems
                    .iter()
                    .map(|e| format!("--config {}: {e}", file.display())),
            ),
        }
    }
    let (Some(format), true) = (format, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    let logs = Logs::open(&args.logs, since, until)
        .with_context(|| format!("reading {}", args.logs.display()))?;
    let report = Report::build(&logs, detectors, &mut progress_bar())
        .with_context(|| format!("reading {}", args.logs.display()))?;
    let text = report.render(format);
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the report")?,
    }
    if let (Some(out), Some(config)) = (&args.proposed, &args.config) {
        let yaml = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        let patch = crate::app::patch::apply(&yaml, &report.proposals, args.shadow)?;
        for s in &patch.not_applied {
            eprintln!("not applied: {s}");
        }
        for n in &patch.notes {
            eprintln!("note: {n}");
        }
        let patched = patch.text;
        // The patched file must be one the gateway accepts: checked as `validate` does.
        let checked = ringway_config::from_yaml_str(&patched)
            .map_err(|e| anyhow::anyhow!("the patched configuration is invalid: {e}"))
            .and_then(|cfg| {
                let (_, problems) =
                    crate::app::check(&cfg, 1, ringway_policy::Secrets::MayBeAbsent);
                match problems
                    .iter()
                    .find(|p| p.severity == crate::app::Severity::Error)
                {
                    Some(p) => Err(anyhow::anyhow!(
                        "the patched configuration is invalid: {}",
                        p.error
                    )),
                    None => Ok(()),
                }
            });
        checked?;
        std::fs::write(out, patched).with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "proposed configuration ({} changes{}) written to {}",
            patch.applied,
            if args.shadow { ", in shadow mode" } else { "" },
            out.display()
        );
    }
    eprintln!(
        "{} findings over {} requests from {} files",
        report.findings.len(),
        report.scan.rows,
        report.scan.files
    );
    Ok(ExitCode::SUCCESS)
}
