//! `ringway import FILE... --out DIR`: access logs into Parquet traffic logs.

use std::process::ExitCode;

use anyhow::Context;
use ringway_analytics::import::{first_segment, Format, Importer, LogLine};
use ringway_router::{NoHeaders, Router};

use crate::cli::ImportArgs;
use crate::commands::config_error;

/// Imports the files; prints what was read, written and refused.
pub(crate) fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    let format = args
        .format
        .parse::<Format>()
        .map_err(|e| errors.push(format!("--format: {e}")))
        .ok();
    for f in &args.files {
        if !f.is_file() {
            errors.push(format!("{}: not a file", f.display()));
        }
    }
    let routes = match &args.config {
        None => None,
        Some(file) => match ringway_config::load_file(file) {
            Ok(cfg) => cfg.listeners.first().map(|l| {
                let names: Vec<String> = l.routes.iter().map(|r| r.name.clone()).collect();
                (Router::new(&l.routes), names)
            }),
            Err(problems) => {
                errors.extend(
                    problems
                        .iter()
                        .map(|e| format!("--config {}: {e}", file.display())),
                );
                None
            }
        },
    };
    let (Some(format), true) = (format, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    let mut route = |l: &LogLine| -> Option<String> {
        let path = l.path.split('?').next().unwrap_or("/");
        match &routes {
            Some((router, names)) => router
                .route(b"", l.method.as_bytes(), path.as_bytes(), &NoHeaders)
                .map(|i| names[i].clone()),
            // Without routes, a 404 is a request for something that does not exist.
            None => (l.status != 404).then(|| first_segment(path)),
        }
    };
    let mut importer = Importer::new(&args.out)?;
    for f in &args.files {
        importer
            .import_file(f, format, &mut route)
            .with_context(|| format!("importing {}", f.display()))?;
    }
    let stats = importer.finish()?;
    for e in &stats.examples {
        eprintln!("skipped {e}");
    }
    println!(
        "{} lines: {} rows in {} files under {}, {} lines skipped",
        stats.lines,
        stats.rows,
        stats.files,
        args.out.display(),
        stats.bad_lines
    );
    Ok(ExitCode::SUCCESS)
}
