//! `shipgate checklist DEPLOYMENT`: the post-deployment checklist recorded at its end.

use clap::Args;
use serde_json::Value;

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ChecklistArgs {
    /// The deployment's id, as `shipgate history ENV` shows it.
    pub deployment: String,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: &ChecklistArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let answer: Value = client.get(&format!("/deployments/{}/checklist", segment(&args.deployment)), &[])?;
    if args.format == Format::Json {
        out.data(&format!("{}\n", serde_json::to_string_pretty(&answer).unwrap_or_default()))?;
        return Ok(ExitStatus::Success);
    }
    let mut text = format!(
        "deployment {} of {} to {}: {}\n",
        answer["deployment"],
        printable(answer["version"].as_str().unwrap_or_default()),
        printable(answer["environment"].as_str().unwrap_or_default()),
        printable(answer["summary"].as_str().unwrap_or_default())
    );
    for item in answer["items"].as_array().into_iter().flatten() {
        let mark = match item["status"].as_str() {
            Some("pass") => "ok  ",
            Some("fail") => "FAIL",
            _ => "?   ",
        };
        text.push_str(&format!(
            "  {mark}  {}: {}\n",
            printable(item["item"].as_str().unwrap_or_default()),
            printable(item["evidence"].as_str().unwrap_or_default())
        ));
    }
    let findings = answer["findings"].as_array().map_or(0, Vec::len);
    if findings > 0 {
        text.push_str(&format!("  {findings} failed item(s): SG0305 findings (warn)\n"));
    }
    out.data(&text)?;
    Ok(ExitStatus::Success)
}
