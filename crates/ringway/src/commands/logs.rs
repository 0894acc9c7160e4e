//! `ringway logs DIR`: filter, group and aggregate Parquet traffic logs.

use std::process::ExitCode;

use anyhow::Context;
use ringway_analytics::{GroupBy, OutputFormat, Query};

use crate::cli::LogsArgs;
use crate::commands::config_error;

/// Runs a query over the logs directory and prints the result.
pub(crate) fn run(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    use ringway_analytics::query::parse_time;
    let now = std::time::SystemTime::now();
    let mut errors = Vec::new();
    fn field<T>(
        errors: &mut Vec<String>,
        name: &str,
        r: ringway_analytics::Result<T>,
    ) -> Option<T> {
        r.map_err(|e| errors.push(format!("--{name}: {e}"))).ok()
    }
    let e = &mut errors;
    let mut q = Query {
        since_us: args
            .since
            .as_deref()
            .and_then(|s| field(e, "since", parse_time(s, now))),
        until_us: args
            .until
            .as_deref()
            .and_then(|s| field(e, "until", parse_time(s, now))),
        status: args
            .status
            .as_deref()
            .and_then(|s| field(e, "status", s.parse())),
        route: args.route.clone(),
        client: args.client.clone(),
        method: args.method.clone(),
        top: args.top,
        ..Query::default()
    };
    let group: Option<GroupBy> = field(e, "group-by", args.group_by.parse());
    let format: Option<OutputFormat> = field(e, "format", args.format.parse());
    let (Some(group), Some(format), true) = (group, format, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    q.group_by = group;
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: usize, total: usize| {
        if show_progress && total >= 20 {
            eprint!("\rscanning {done}/{total} files");
            if done == total {
                eprintln!();
            }
        }
    };
    let result = ringway_analytics::run_query(&args.dir, &q, &mut progress)
        .with_context(|| format!("querying {}", args.dir.display()))?;
    print!("{}", result.render(format));
    Ok(ExitCode::SUCCESS)
}
