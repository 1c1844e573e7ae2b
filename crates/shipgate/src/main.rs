//! `shipgate`: the command line. Glue only: parse arguments, call the crates that do the
//! work, print the result, and exit with a documented status.

#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod credentials;
mod env_vars;
mod exit;
mod output;
mod render;
mod sse;

use clap::Parser;

use crate::exit::ExitStatus;

fn main() -> std::process::ExitCode {
    exit::install_panic_hook();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` are not errors; clap knows which is which.
            let status = if error.use_stderr() { ExitStatus::Usage } else { ExitStatus::Success };
            let _ = error.print();
            return status.into();
        }
    };
    let out = output::Output::new(cli.global.color);
    let status = match commands::run(cli.command, &out) {
        Ok(status) => status,
        Err(failure) => {
            out.failure(&failure);
            failure.status
        }
    };
    status.into()
}
