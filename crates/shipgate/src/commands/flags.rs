//! `shipgate flags list|show|set|kill|history`: feature flags of an environment at run time.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct FlagsArgs {
    #[command(subcommand)]
    pub command: FlagsCommand,
}

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// List the flags declared for ENV (by the release it runs) and what is set for each.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    List {
        env: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Show one flag: variants, default, targeting and its setting in ENV.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Show {
        env: String,
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Change a flag in ENV now, without a deployment (recorded in the audit ledger).
    ///
    /// `--variant V` serves V to everyone. `--rollout 10%` serves the flag's `true` variant (or
    /// `--variant V`) to 10% of targeting keys, chosen by flagd's `fractional` hash of the flag
    /// name and the targeting key, so a key keeps its bucket across restarts and raising the
    /// percentage only adds keys; everyone else gets the declared evaluation. `--reset` returns
    /// to the declared evaluation (and undoes a kill). Needs the `deploy` permission on ENV.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Set(SetArgs),
    /// The off switch: serve the flag's off variant (its `false` variant, else its default) to
    /// everyone in ENV, from the next evaluation on. Undo with `flags set … --reset`.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Kill {
        env: String,
        name: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Every change of a flag's setting in ENV, oldest first: who, when, what.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    History {
        env: String,
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["variant", "rollout", "reset"])))]
pub struct SetArgs {
    pub env: String,
    pub name: String,
    /// The variant to serve to everyone (or, with `--rollout`, to the rollout's share).
    #[arg(long, value_name = "VARIANT", conflicts_with = "reset")]
    pub variant: Option<String>,
    /// The share of targeting keys that get the variant, e.g. `10%` or `12.5%`.
    #[arg(long, value_name = "PERCENT", value_parser = parse_rollout, conflicts_with = "reset")]
    pub rollout: Option<String>,
    /// Back to the declared evaluation (clears a variant, a rollout or a kill).
    #[arg(long)]
    pub reset: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

fn parse_rollout(text: &str) -> Result<String, String> {
    shipgate_flags::parse_percent(text).map(|_| text.to_owned()).map_err(|error| error.to_string())
}

fn path(env: &str, name: &str) -> String {
    format!("/environments/{}/flags/{}", segment(env), segment(name))
}

pub fn run(args: FlagsArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        FlagsCommand::List { env, format, connect } => {
            let client = Client::new(&connect)?;
            let answer: Value = client.get(&format!("/environments/{}/flags", segment(&env)), &[])?;
            if format == Format::Json {
                return json_out(out, &answer);
            }
            let flags = answer["flags"].as_array().cloned().unwrap_or_default();
            if flags.is_empty() {
                out.message(&format!("no flags are declared for {}\n", printable(&env)));
                return Ok(ExitStatus::Success);
            }
            let mut text = String::new();
            for flag in &flags {
                text.push_str(&format!(
                    "{}  default {}  {}\n",
                    printable(flag["name"].as_str().unwrap_or_default()),
                    printable(flag["default"].as_str().unwrap_or_default()),
                    printable(flag["setting_text"].as_str().unwrap_or_default()),
                ));
            }
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
        FlagsCommand::Show { env, name, format, connect } => {
            let client = Client::new(&connect)?;
            let flag: Value = client.get(&path(&env, &name), &[])?;
            if format == Format::Json {
                return json_out(out, &flag);
            }
            let mut text = format!("flag {} in {}\n", printable(&name), printable(&env));
            if let Some(variants) = flag["variants"].as_object() {
                for (variant, value) in variants {
                    text.push_str(&format!("  variant {} = {}\n", printable(variant), printable(&value.to_string())));
                }
            }
            text.push_str(&format!("  default {}\n", printable(flag["default"].as_str().unwrap_or_default())));
            if !flag["targeting"].is_null() {
                text.push_str(&format!("  targeting {}\n", printable(&flag["targeting"].to_string())));
            }
            text.push_str(&format!("  now: {}\n", printable(flag["setting_text"].as_str().unwrap_or_default())));
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
        FlagsCommand::Set(set) => {
            let client = Client::new(&set.connect)?;
            let body = json!({"variant": set.variant, "rollout": set.rollout, "reset": set.reset});
            let answer: Value = client.put(&path(&set.env, &set.name), &body)?;
            out.message(&format!(
                "{} in {}: {} (version {})\n",
                printable(&set.name),
                printable(&set.env),
                printable(answer["setting_text"].as_str().unwrap_or_default()),
                answer["version"]
            ));
            Ok(ExitStatus::Success)
        }
        FlagsCommand::Kill { env, name, connect } => {
            let client = Client::new(&connect)?;
            let answer: Value = client.post(&format!("{}/kill", path(&env, &name)), &json!({}), false)?;
            out.message(&format!(
                "{} in {}: killed, from the next evaluation on (version {})\n",
                printable(&name),
                printable(&env),
                answer["version"]
            ));
            Ok(ExitStatus::Success)
        }
        FlagsCommand::History { env, name, format, connect } => {
            let client = Client::new(&connect)?;
            let answer: Value = client.get(&format!("{}/history", path(&env, &name)), &[])?;
            if format == Format::Json {
                return json_out(out, &answer);
            }
            let entries = answer["history"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                out.message(&format!("{} was never changed in {}\n", printable(&name), printable(&env)));
                return Ok(ExitStatus::Success);
            }
            let mut text = String::new();
            for entry in &entries {
                text.push_str(&format!(
                    "{}  {}  {}  {}\n",
                    entry["version"],
                    printable(entry["created"].as_str().unwrap_or_default()),
                    printable(entry["actor"].as_str().unwrap_or_default()),
                    printable(entry["setting_text"].as_str().unwrap_or_default()),
                ));
            }
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn json_out(out: &Output, value: &Value) -> Result<ExitStatus, Failure> {
    out.data(&format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()))?;
    Ok(ExitStatus::Success)
}

/// A release's evidence with `"risky": true` added when it was created with `--risky` (rule
/// SG0306 reads it).
pub fn mark_risky(evidence: Option<String>, risky: bool) -> Option<String> {
    if !risky {
        return evidence;
    }
    let mut value = evidence.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()).unwrap_or(json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert("risky".to_owned(), Value::Bool(true));
    }
    Some(value.to_string())
}

/// Compiles every flag's targeting rule the way the server will (`shipgate validate`, and every
/// command that loads the spec, such as `release create`): a rule that does not compile, or
/// uses an operator the engine lacks, is a diagnostic at the rule in the file, so it never
/// reaches a server, where it would answer `PARSE_ERROR`.
pub fn check_targeting(bytes: &[u8], spec: shipgate_spec::Spec) -> Result<shipgate_spec::Spec, shipgate_spec::Report> {
    let flags = spec
        .flags
        .iter()
        .map(|(name, flag)| {
            let flag = shipgate_flags::Flag {
                variants: flag.variants.clone(),
                default: flag.default.clone(),
                targeting: flag.targeting.clone(),
            };
            (name.clone(), flag)
        })
        .collect();
    let Err(errors) = shipgate_flags::FlagSet::new(flags) else { return Ok(spec) };
    let source = String::from_utf8_lossy(bytes).into_owned();
    let document = toml_edit::Document::parse(source.as_str()).ok();
    let mut diagnostics: Vec<shipgate_spec::Diagnostic> = errors
        .iter()
        .map(|error| {
            let name = match error {
                shipgate_flags::DefinitionError::Targeting { flag, .. }
                | shipgate_flags::DefinitionError::TargetingNotObject { flag }
                | shipgate_flags::DefinitionError::NoVariants { flag }
                | shipgate_flags::DefinitionError::UnknownDefault { flag, .. }
                | shipgate_flags::DefinitionError::BadVariant { flag, .. }
                | shipgate_flags::DefinitionError::MixedVariants { flag, .. } => flag.as_str(),
            };
            let span = document.as_ref().and_then(|document| targeting_span(document, name)).unwrap_or(0..0);
            shipgate_spec::Diagnostic::new(shipgate_spec::Code::InvalidValue, span, error.to_string()).with_hint(
                "write JsonLogic with flagd's operators (`fractional`, `sem_ver`, `starts_with`, `ends_with`), one operator per object, e.g. `{ if = [{ ends_with = [{ var = \"email\" }, \"@example.com\"] }, \"on\", null] }`",
            )
        })
        .collect();
    diagnostics.sort_by_key(|diagnostic| diagnostic.span.start);
    Err(shipgate_spec::Report { source, diagnostics })
}

/// The byte range of `[flags.NAME] targeting` (or of the flag, or of `[flags]`) in the file.
fn targeting_span(document: &toml_edit::Document<&str>, name: &str) -> Option<std::ops::Range<usize>> {
    let flags = document.as_table().get("flags")?;
    let Some(flag) = flags.as_table_like().and_then(|table| table.get(name)) else { return flags.span() };
    match flag.as_table_like().and_then(|table| table.get("targeting")) {
        Some(targeting) => targeting.span().or_else(|| flag.span()),
        None => flag.span(),
    }
}
