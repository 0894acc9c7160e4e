//! `ringway validate FILE...`: every problem of every file, with its path; nothing bound.

use std::process::ExitCode;

use ringway_policy::Secrets;

use crate::app::{self, reload, Severity};
use crate::cli::{ValidateArgs, EXIT_CONFIG};

/// Checks configuration files; exit 0, or 64 when any file has an error (warnings alone do
/// not fail: an HMAC secret is usually set only where the gateway runs).
pub(crate) fn run(args: ValidateArgs) -> ExitCode {
    let mut failed = false;
    let running = match &args.against {
        None => None,
        Some(path) => match ringway_config::load_file(path) {
            Ok(cfg) => Some(cfg),
            Err(errors) => {
                let shown = path.display();
                for e in errors.iter() {
                    eprintln!("{shown}: {e}");
                }
                eprintln!("{shown}: the running configuration does not load; nothing compared");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    for file in &args.files {
        let shown = file.display();
        let cfg = match ringway_config::load_file(file) {
            Ok(cfg) => cfg,
            Err(errors) => {
                failed = true;
                for e in errors.iter() {
                    eprintln!("{shown}: {e}");
                }
                eprintln!("{shown}: {} problem(s)", errors.len());
                continue;
            }
        };
        let (_, problems) = app::check(&cfg, 1, Secrets::MayBeAbsent);
        let mut errors = 0;
        if let Some(running) = &running {
            for e in reload::restart_needed(running, &cfg).iter() {
                errors += 1;
                eprintln!("{shown}: {e} (a reload would be refused)");
            }
        }
        for p in &problems {
            match p.severity {
                Severity::Warning => eprintln!("{shown}: warning: {}", p.error),
                Severity::Error => {
                    errors += 1;
                    eprintln!("{shown}: {}", p.error);
                }
            }
        }
        if errors > 0 {
            failed = true;
            eprintln!("{shown}: {errors} problem(s)");
            continue;
        }
        let routes: usize = cfg.listeners.iter().map(|l| l.routes.len()).sum();
        println!(
            "{shown}: ok ({} listeners, {routes} routes, {} upstream groups)",
            cfg.listeners.len(),
            cfg.upstreams.len()
        );
    }
    if failed {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::SUCCESS
    }
}
