//! `shipgate approve` and `shipgate reject`: votes on a deployment that awaits approval.

use clap::Args;
use serde_json::{Value, json};

use super::show::printable;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The deployment's id, as `shipgate status ENV` or `shipgate history ENV` shows it.
    pub deployment: String,
    /// Why: recorded with the vote in the audit ledger (required to reject).
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `approve` when `approve` is true, else `reject`.
pub fn run(args: &VoteArgs, approve: bool, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let verb = if approve { "approve" } else { "reject" };
    let path = format!("/deployments/{}/{verb}", segment(&args.deployment));
    let answer: Value = client.post(&path, &json!({"comment": args.comment}), false)?;
    let tally = &answer["tally"];
    let approved: Vec<&str> = tally["approved_by"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let text = if approve {
        format!(
            "approved deployment {}: {} of {} approval(s) ({})\n",
            printable(&args.deployment),
            approved.len(),
            tally["required"].as_u64().unwrap_or(0),
            printable(&approved.join(", "))
        )
    } else {
        format!("rejected deployment {}; it will not run\n", printable(&args.deployment))
    };
    out.data(&text)?;
    Ok(ExitStatus::Success)
}
