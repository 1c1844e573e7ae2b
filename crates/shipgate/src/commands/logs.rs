//! `shipgate logs ENV`: the output of an environment's instances, as the server streams it.

use std::io::BufRead;

use anyhow::Context;
use clap::Args;

use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The environment, e.g. `production`.
    pub env: String,
    /// Only this instance (its id, as `shipgate status` shows it).
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Keep printing new lines as the instances write them, until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Start with the last N lines of each instance.
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: &LogsArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let mut query = Vec::new();
    if let Some(instance) = &args.instance {
        query.push(("instance", instance.clone()));
    }
    if args.follow {
        query.push(("follow", "true".to_owned()));
    }
    if let Some(tail) = args.tail {
        query.push(("tail", tail.to_string()));
    }
    let path = format!("/environments/{}/logs", segment(&args.env));
    // Logs may be quiet for hours: no idle limit.
    let reader = client.stream(&path, &query, "text/plain", None)?;
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("the log stream from `{}` broke", client.url()))
            .map_err(|error| Failure::internal(error).hint("run the command again; `--tail N` limits the repeat"))?;
        if read == 0 {
            return Ok(ExitStatus::Success);
        }
        out.data(&String::from_utf8_lossy(&line))?;
    }
}
