//! `ringway run --config FILE`: load, check everything, bind, serve until a signal.

use std::process::ExitCode;

use crate::app;
use crate::cli::RunArgs;
use crate::commands::config_error;

/// Runs the gateway from a configuration file.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => return Ok(config_error(&[format!("{}: {e}", args.config.display())])),
    };
    let shown = args.config.display();
    let cfg = match ringway_config::from_file_text(&text, &args.config) {
        Ok(cfg) => cfg,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("{shown}: {e}")).collect();
            return Ok(config_error(&lines));
        }
    };
    let mut errors = Vec::new();
    let opts = args.process.options(cfg.workers, &mut errors);
    if !errors.is_empty() {
        return Ok(config_error(&errors));
    }
    match app::start(cfg, &text, Some(args.config.clone()), opts) {
        Ok(running) => running.wait(None)?,
        Err(e) => match e.downcast::<app::ConfigProblems>() {
            Ok(problems) => {
                let lines: Vec<String> = problems
                    .0
                    .iter()
                    .map(|p| format!("{shown}: {}", p.error))
                    .collect();
                return Ok(config_error(&lines));
            }
            Err(e) => return Err(e),
        },
    }
    Ok(ExitCode::SUCCESS)
}
