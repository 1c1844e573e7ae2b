//! `shipgate check [ENV]`, `shipgate drift [ENV]` (the gates' findings, judged by the server)
//! and `shipgate rules [RULE]` (the catalog, offline).

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::show::printable;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Like a compiler's diagnostics, to standard output.
    Human,
    /// `{"findings": [...], "deny": N, "warn": N, ...}` per environment, an array without ENV.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning accepts it); one run per environment.
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// One environment. Default: every environment the server knows.
    pub env: Option<String>,
    /// The release to judge. Default: the one the environment runs, else the newest.
    #[arg(long, value_name = "VERSION")]
    pub release: Option<String>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// One environment. Default: every environment the server knows that runs a release.
    pub env: Option<String>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// A rule's id (`SG0201`) or name (`staging-first`): print its documentation.
    pub rule: Option<String>,
}

/// The environments to look at: the one given, or all the server knows.
fn environments(client: &Client, env: &Option<String>) -> Result<Vec<String>, Failure> {
    if let Some(env) = env {
        return Ok(vec![env.clone()]);
    }
    let all: Vec<Value> = client.get("/environments", &[])?;
    Ok(all.iter().filter_map(|status| status["name"].as_str().map(str::to_owned)).collect())
}

pub fn check(args: &CheckArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let mut answers = Vec::new();
    for env in environments(&client, &args.env)? {
        let format = if args.format == CheckFormat::Sarif { "sarif" } else { "json" };
        let body = json!({"version": args.release, "format": format});
        answers.push((
            env.clone(),
            client.post::<Value>(&format!("/environments/{}/check", segment(&env)), &body, false)?,
        ));
    }
    report(&answers, args.format, out)
}

pub fn drift(args: &DriftArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let mut answers = Vec::new();
    let format = if args.format == CheckFormat::Sarif { "sarif" } else { "json" };
    for env in environments(&client, &args.env)? {
        match client.get::<Value>(&format!("/environments/{}/drift", segment(&env)), &[("format", format.to_owned())]) {
            Ok(answer) => answers.push((env, answer)),
            // Without ENV, environments that run nothing yet have nothing to drift from.
            Err(error) if args.env.is_none() && error.is("unknown_release") => {}
            Err(error) => return Err(error.into()),
        }
    }
    let status = report(&answers, args.format, out)?;
    // Drift of any severity is worth a non-zero exit: something changed outside shipgate.
    let any = answers.iter().any(|(_, answer)| {
        !findings_of(answer).is_empty()
            || answer["runs"][0]["results"].as_array().is_some_and(|results| !results.is_empty())
    });
    Ok(if any { ExitStatus::Refused } else { status })
}

fn findings_of(answer: &Value) -> Vec<Value> {
    answer["findings"].as_array().cloned().unwrap_or_default()
}

fn report(answers: &[(String, Value)], format: CheckFormat, out: &Output) -> Result<ExitStatus, Failure> {
    let deny = |answer: &Value| match format {
        CheckFormat::Sarif => answer["runs"][0]["results"]
            .as_array()
            .is_some_and(|results| results.iter().any(|result| result["level"] == "error")),
        _ => answer["deny"].as_u64().unwrap_or(0) > 0,
    };
    let refused = answers.iter().any(|(_, answer)| deny(answer));
    match format {
        CheckFormat::Json | CheckFormat::Sarif => {
            let value = match answers {
                [(_, one)] => one.clone(),
                many if format == CheckFormat::Sarif => {
                    // One SARIF log with a run per environment.
                    let runs: Vec<Value> =
                        many.iter().flat_map(|(_, log)| log["runs"].as_array().cloned().unwrap_or_default()).collect();
                    let mut log = many.first().map(|(_, log)| log.clone()).unwrap_or_else(|| json!({}));
                    log["runs"] = Value::Array(runs);
                    log
                }
                many => Value::Array(many.iter().map(|(_, answer)| answer.clone()).collect()),
            };
            out.data(&format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default()))?;
        }
        CheckFormat::Human => {
            let mut text = String::new();
            for (env, answer) in answers {
                let findings = findings_of(answer);
                let release =
                    answer["release"].as_str().map(|release| format!(", release {release}")).unwrap_or_default();
                if findings.is_empty() {
                    text.push_str(&format!("ok: {}{}: no finding\n", printable(env), printable(&release)));
                    continue;
                }
                for finding in &findings {
                    text.push_str(&human(finding));
                }
                text.push_str(&format!(
                    "{}{}: {} deny, {} warn\n\n",
                    printable(env),
                    printable(&release),
                    answer["deny"].as_u64().unwrap_or(0),
                    answer["warn"].as_u64().unwrap_or(0)
                ));
            }
            out.data(&text)?;
        }
    }
    Ok(if refused { ExitStatus::Refused } else { ExitStatus::Success })
}

/// One finding as a compiler would print it.
fn human(finding: &Value) -> String {
    let text = |value: &Value| printable(value.as_str().unwrap_or_default());
    let subject = &finding["subject"];
    let place = match (subject["file"].as_str(), subject["line"].as_u64()) {
        (Some(file), Some(line)) => format!("{}:{line}", printable(file)),
        (Some(file), None) => printable(file),
        _ => [
            subject["release"].as_str().map(|r| format!("release {r}")),
            subject["environment"].as_str().map(|e| format!("environment {e}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    };
    format!(
        "{}[{} {}]: {}\n  --> {place}\n   = hint: {}\n   = docs: {}\n",
        text(&finding["severity"]),
        text(&finding["rule"]),
        text(&finding["name"]),
        text(&finding["message"]),
        text(&finding["hint"]),
        text(&finding["docs"])
    )
}

pub fn rules(args: &RulesArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match &args.rule {
        None => {
            let mut text = String::new();
            for rule in shipgate_policy::catalog() {
                let state = if rule.implemented { "" } else { " (not checked yet)" };
                let lock = if rule.overridable { "" } else { ", not overridable" };
                text.push_str(&format!(
                    "{} {:<32} {:?}{lock}{state}\n    {}\n",
                    rule.id, rule.name, rule.severity, rule.summary
                ));
            }
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
        Some(wanted) => {
            let Some(rule) = shipgate_policy::rule(wanted) else {
                return Err(Failure::usage(anyhow::anyhow!("there is no rule `{wanted}`"))
                    .hint("`shipgate rules` lists every rule with its id and name"));
            };
            out.data(&format!(
                "{} {}\nseverity: {:?} in production{}\noverridable: {}\nchecked: {}\npractice: {}\n\n{}\n\n{}\n",
                rule.id,
                rule.name,
                rule.severity,
                rule.elsewhere.map(|severity| format!(", {severity:?} elsewhere")).unwrap_or_default(),
                if rule.overridable { "yes" } else { "no" },
                if rule.implemented { "yes" } else { "not yet (its facts come with a later part of shipgate)" },
                rule.practice,
                rule.summary,
                rule.docs,
            ))?;
            Ok(ExitStatus::Success)
        }
    }
}
