//! `shipgate secrets set|list|rm|rotate`: secret values, stored encrypted by the server.
//!
//! A value is read from standard input when it is not a terminal (`… | shipgate secrets set`),
//! else from a prompt that does not echo, asked twice; never from the command line, where
//! `ps` and shell history would keep it.

use std::io::{IsTerminal, Read};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Store a new version of a secret for an environment.
    ///
    /// The value is read from standard input (one trailing line break is dropped), or, on a
    /// terminal, from a prompt that does not echo. It is encrypted by the server (age, X25519)
    /// and reaches instances started from now on; running instances keep their value until
    /// `shipgate secrets rotate`. The audit ledger records who set which name, never the value.
    /// Needs an admin token (the `manage-secrets` permission) for the environment.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Set {
        /// The environment, e.g. `production`.
        env: String,
        /// The secret's name as declared under `[secrets]`, e.g. `DATABASE_URL`.
        name: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List an environment's secrets: name, version, who set it and how long ago. Never values.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    List {
        env: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Remove a secret from an environment (its history stays, encrypted). Deployments of a
    /// release that declares it are refused until it is set again (rule SG0603).
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Rm {
        env: String,
        name: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Store a new value and restart, one at a time, the instances that use it.
    ///
    /// `rotate ENV NAME` reads the new value like `set`, stores it, then restarts the instances
    /// of the release running in ENV if it declares NAME: a new instance starts with the new
    /// value, must pass its health check, then an old one drains and stops; traffic is served
    /// throughout. If a new instance does not become healthy the restart stops (exit 1); the
    /// instances not yet replaced keep running.
    ///
    /// `rotate --all ENV` is for an incident: set every exposed secret first (`secrets set`,
    /// after issuing new credentials where they come from), then `rotate --all` restarts, the
    /// same way, every instance in ENV whose release declares any secret, so that every one runs
    /// with the current values (`command` sources are run again). It stores no value.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Rotate {
        env: String,
        /// The secret to rotate; omit with `--all`.
        name: Option<String>,
        /// Restart every instance in ENV that uses any secret, with the values stored now.
        #[arg(long, conflicts_with = "name")]
        all: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

pub fn run(args: SecretsArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        SecretsCommand::Set { env, name, connect } => {
            let client = Client::new(&connect)?;
            let value = read_value(&env, &name)?;
            let answer: Value = client.put(
                &format!("/environments/{}/secrets/{}", segment(&env), segment(&name)),
                &json!({"value": *value}),
            )?;
            out.message(&format!(
                "set `{}` in `{}` (version {}); instances started from now on get it\n",
                printable(&name),
                printable(&env),
                answer["version"]
            ));
            Ok(ExitStatus::Success)
        }
        SecretsCommand::List { env, format, connect } => {
            let client = Client::new(&connect)?;
            let answer: Value = client.get(&format!("/environments/{}/secrets", segment(&env)), &[])?;
            if format == Format::Json {
                out.data(&format!("{}\n", serde_json::to_string_pretty(&answer).unwrap_or_default()))?;
                return Ok(ExitStatus::Success);
            }
            let secrets = answer["secrets"].as_array().cloned().unwrap_or_default();
            if secrets.is_empty() {
                out.message(&format!("`{}` has no secrets\n", printable(&env)));
                return Ok(ExitStatus::Success);
            }
            let mut text = String::new();
            for secret in &secrets {
                let field = |key: &str| printable(secret[key].as_str().unwrap_or("-"));
                let age = secret["age_seconds"].as_u64().map_or_else(|| "-".to_owned(), age);
                text.push_str(&format!(
                    "{}  v{}  set by {}  {age} ago ({})\n",
                    field("name"),
                    secret["version"],
                    field("set_by"),
                    field("set_at")
                ));
            }
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
        SecretsCommand::Rm { env, name, connect } => {
            let client = Client::new(&connect)?;
            let _: Value = client.delete(&format!("/environments/{}/secrets/{}", segment(&env), segment(&name)))?;
            out.message(&format!(
                "removed `{}` from `{}`; running instances keep their value until they restart\n",
                printable(&name),
                printable(&env)
            ));
            Ok(ExitStatus::Success)
        }
        SecretsCommand::Rotate { env, name, all, connect } => {
            let body = match (name.as_deref(), all) {
                (Some(name), false) => {
                    let value = read_value(&env, name)?;
                    json!({"name": name, "value": *value})
                }
                (None, true) => json!({"all": true}),
                _ => {
                    return Err(Failure::usage(anyhow!("name the secret to rotate, or pass `--all`"))
                        .hint("`shipgate secrets rotate ENV NAME`, or `shipgate secrets rotate --all ENV`"));
                }
            };
            let client = Client::new(&connect)?;
            out.message("restarting instances one at a time; this waits for each to become healthy\n");
            let answer: Value = client.post(&format!("/environments/{}/secrets/rotate", segment(&env)), &body, true)?;
            if let Some(version) = answer["secret_version"].as_u64() {
                out.message(&format!(
                    "set `{}` in `{}` (version {version})\n",
                    printable(name.as_deref().unwrap_or_default()),
                    printable(&env)
                ));
            }
            if let Some(message) = answer["message"].as_str() {
                out.message(&format!("{}\n", printable(message)));
            }
            let restarted = answer["restarted"].as_array().cloned().unwrap_or_default();
            let mut text = String::new();
            for pair in &restarted {
                text.push_str(&format!(
                    "{} -> {}\n",
                    printable(pair["old"].as_str().unwrap_or("-")),
                    printable(pair["new"].as_str().unwrap_or("-"))
                ));
            }
            out.data(&text)?;
            out.message(&format!("restarted {} instance(s) in `{}`\n", restarted.len(), printable(&env)));
            Ok(ExitStatus::Success)
        }
    }
}

/// The value from standard input, or from a prompt without echo (asked twice) on a terminal.
fn read_value(env: &str, name: &str) -> Result<Zeroizing<String>, Failure> {
    let value = if std::io::stdin().is_terminal() {
        let prompt = format!("value of `{name}` in `{env}` (not shown): ");
        let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|error| {
            Failure::usage(anyhow!("cannot read the value from the terminal: {error}"))
                .hint(format!("pipe it instead: `… | shipgate secrets set {env} {name}`"))
        })?);
        let again = Zeroizing::new(
            rpassword::prompt_password("again: ")
                .map_err(|error| Failure::usage(anyhow!("cannot read the value from the terminal: {error}")))?,
        );
        if *first != *again {
            return Err(Failure::usage(anyhow!("the two values differ")).hint("run the command again"));
        }
        first
    } else {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut text).map_err(|error| {
            Failure::usage(anyhow!("cannot read the value from standard input: {error}"))
                .hint("the value must be UTF-8 text; encode binary values (base64) first")
        })?;
        Zeroizing::new(shipgate_secrets::name::trim_line_break(&text).to_owned())
    };
    if value.is_empty() {
        return Err(Failure::usage(anyhow!("the value of `{name}` is empty"))
            .hint(format!("pipe it in (`… | shipgate secrets set {env} {name}`) or type it at the prompt")));
    }
    Ok(value)
}

/// `45s`, `3m`, `5h`, `12d`: the largest whole unit.
fn age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_print_in_their_largest_unit() {
        for (seconds, text) in [(0, "0s"), (59, "59s"), (60, "1m"), (7_200, "2h"), (86_400 * 400, "400d")] {
            assert_eq!(super::age(seconds), text);
        }
    }
}
