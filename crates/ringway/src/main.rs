//! The `ringway` binary: a thin CLI over the data plane.

mod cli;
mod demo;
mod jwks;
mod pipeline;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
