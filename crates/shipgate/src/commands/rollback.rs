//! `shipgate rollback ENV [--to VERSION]`: back to the previous (or a given) release, in one
//! routing change when it is still warm.

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, Rollback, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment, e.g. `production`.
    pub env: String,
    /// The release to return to. Default: the one before the active release.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Why, for the deployment's record and the audit ledger.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// `human`, or `json`: the server's answer as one JSON line, then (for a cold rollback)
    /// each event as one JSON line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: &RollbackArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let path = format!("/environments/{}/rollback", segment(&args.env));
    let mut body = json!({});
    if let Some(to) = &args.to {
        body["to"] = to.as_str().into();
    }
    if let Some(reason) = &args.reason {
        body["reason"] = reason.as_str().into();
    }
    let raw = match client.post::<serde_json::Value>(&path, &body, false) {
        Ok(answer) => answer,
        Err(error) => {
            let nothing = error.is("nothing_to_roll_back");
            let mut failure = Failure::from(error);
            if nothing && failure.hint.is_none() {
                failure.hint = Some(format!("`shipgate history {}` lists the releases it ran", args.env));
            }
            return Err(failure);
        }
    };
    let rollback: Rollback = serde_json::from_value(raw.clone()).map_err(|error| {
        Failure::internal(anyhow!("the server's rollback answer is not what this shipgate expects: {error}"))
            .hint("are the server and this command the same shipgate version? `shipgate --version` tells")
    })?;
    if args.format == Format::Json {
        out.data(&format!("{raw}\n"))?;
    }
    let (env, version) = (printable(&args.env), printable(&rollback.version));
    match (rollback.mode.as_str(), &rollback.deployment) {
        ("warm", _) => {
            if args.format == Format::Human {
                let took = rollback.elapsed_ms.map(|ms| format!(" in {ms} ms")).unwrap_or_default();
                out.data(&format!(
                    "rolled back `{env}` to {version}{took} (warm: its instances were still running; traffic moved in one routing change)\n"
                ))?;
            }
            Ok(ExitStatus::Success)
        }
        ("cold", Some(deployment)) => {
            out.message(&format!(
                "{version} is not running any more: starting it again with deployment {} (no holds)\n",
                printable(&deployment.id)
            ));
            super::deploy::follow(&client, out, args.format, deployment)
        }
        (mode, _) => Err(Failure::internal(anyhow!("the server answered a rollback with mode `{}`", printable(mode)))
            .hint("are the server and this command the same shipgate version? `shipgate --version` tells")),
    }
}
