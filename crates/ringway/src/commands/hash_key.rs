//! `ringway hash-key [KEY]`: the stored form of an API key.

use std::process::ExitCode;

use anyhow::Context;

use crate::commands::config_error;

/// Prints `sha256:<hex>` of the key (read from standard input when not given, so it stays out
/// of shell history).
pub(crate) fn run(key: Option<String>) -> anyhow::Result<ExitCode> {
    let key = match key {
        Some(k) => k,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the key from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if key.is_empty() {
        return Ok(config_error(&["an empty API key"]));
    }
    println!("{}", ringway_auth::apikey::hash(key.as_bytes()));
    Ok(ExitCode::SUCCESS)
}
