//! One module per subcommand; what they share (exit codes, worker options) is here.

pub(crate) mod demo;
pub(crate) mod hash_key;
pub(crate) mod import;
pub(crate) mod logs;
pub(crate) mod proxy;
pub(crate) mod replay;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod scenario;
pub(crate) mod validate;

use std::process::ExitCode;

use ringway_proxy::RunOptions;

use crate::cli::{ProcessArgs, EXIT_CONFIG};

/// `--since` and `--until` (RFC 3339 or an age) as µs; a bad one is added to `errors`.
pub(crate) fn time_range(
    since: Option<&str>,
    until: Option<&str>,
    errors: &mut Vec<String>,
) -> (Option<i64>, Option<i64>) {
    let now = std::time::SystemTime::now();
    let mut time = |name: &str, v: Option<&str>| {
        v.and_then(|s| {
            ringway_analytics::query::parse_time(s, now)
                .map_err(|e| errors.push(format!("--{name}: {e}")))
                .ok()
        })
    };
    (time("since", since), time("until", until))
}

/// Prints every problem and returns the configuration exit status (64).
pub(crate) fn config_error<S: std::fmt::Display>(problems: &[S]) -> ExitCode {
    for p in problems {
        eprintln!("error: {p}");
    }
    ExitCode::from(EXIT_CONFIG)
}

impl ProcessArgs {
    /// Worker count and pinning, the command line winning over the configuration.
    pub(crate) fn options(
        &self,
        config_workers: Option<usize>,
        errors: &mut Vec<String>,
    ) -> RunOptions {
        let mut opts = RunOptions {
            pin_workers: !self.no_pin,
            ..RunOptions::default()
        };
        match self.workers.as_deref() {
            None => {
                if let Some(n) = config_workers {
                    opts.workers = n;
                }
            }
            // Already one per available CPU: the default.
            Some("auto") => {}
            Some(n) => match n.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => opts.workers = n,
                _ => errors.push(format!("--workers: expected `auto` or 1..=1024, got {n:?}")),
            },
        }
        opts
    }
}
