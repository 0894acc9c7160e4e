//! The `ringway` binary: parse the command line, set up logging, run one subcommand.
//! Starting a gateway is `app`; each subcommand is one file under `commands/`.

mod app;
mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, EXIT_CONFIG};

fn init_logging() {
    use std::io::IsTerminal;
    let level = std::env::var("RINGWAY_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Validate(args) => Ok(commands::validate::run(args)),
        Command::Proxy(args) => commands::proxy::run(*args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Logs(args) => commands::logs::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Scenario(args) => commands::scenario::run(&args),
        Command::HashKey { key } => commands::hash_key::run(key),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast::<app::ConfigProblems>() {
            Ok(problems) => {
                let errors: Vec<_> = problems.0.iter().map(|p| &p.error).collect();
                commands::config_error(&errors)
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
