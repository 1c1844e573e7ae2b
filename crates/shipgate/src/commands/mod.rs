//! One module per command.

pub mod agent;
pub mod analysis;
pub mod approve;
pub mod audit;
pub mod changelog;
pub mod check;
pub mod checklist;
pub mod demo;
pub mod deploy;
pub mod flags;
mod init;
pub mod keys;
pub mod logs;
pub mod migrate;
pub mod pipeline;
pub mod plan;
pub mod release;
pub mod rollback;
mod sarif;
pub mod scan;
mod schema;
pub mod secrets;
pub mod server;
mod show;
pub mod status;
pub mod token;
mod validate;

use crate::cli::Command;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

pub fn run(command: Command, out: &Output) -> Result<ExitStatus, Failure> {
    match command {
        Command::Init(args) => init::run(&args, out),
        Command::Validate(args) => validate::run(&args, out),
        Command::Schema => schema::run(out),
        Command::Migrate(command) => migrate::run(command, out),
        Command::Scan(args) => scan::run(&args, out),
        Command::Agent(args) => agent::run(args, out),
        Command::Audit(args) => audit::run(args, out),
        Command::Release(args) => release::run(args, out),
        Command::Server(args) => server::run(args, out),
        Command::Plan(args) => plan::run(&args, out),
        Command::Deploy(args) => deploy::run(args, out),
        Command::Rollback(args) => rollback::run(&args, out),
        Command::Status(args) => status::status(&args, out),
        Command::History(args) => status::history(&args, out),
        Command::Logs(args) => logs::run(&args, out),
        Command::Check(args) => check::check(&args, out),
        Command::Drift(args) => check::drift(&args, out),
        Command::Rules(args) => check::rules(&args, out),
        Command::Token(args) => token::run(args, out),
        Command::Flags(args) => flags::run(args, out),
        Command::Secrets(args) => secrets::run(args, out),
        Command::Keys(args) => keys::run(args, out),
        Command::Approve(args) => approve::run(&args, true, out),
        Command::Checklist(args) => checklist::run(&args, out),
        Command::Reject(args) => approve::run(&args, false, out),
        Command::Analysis(args) => analysis::run(args, out),
        Command::Changelog(args) => changelog::run(&args, out),
        Command::Demo(args) => demo::run(args, out),
        Command::Pipeline(args) => pipeline::run(args, out),
    }
}
