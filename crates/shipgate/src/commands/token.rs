//! `shipgate token create|list|revoke`: API tokens with a role and environment scope.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret, once (only a hash is stored).
    ///
    /// Roles: `viewer` (read), `deployer` (read, deploy, roll back, resume, abort), `approver`
    /// (read, approve), `admin` (everything, including `--override` and tokens). `--env` limits
    /// the token to those environments. Give CI the least it needs: a deployer token for
    /// staging that expires.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Create(CreateTokenArgs),
    /// List tokens: id, name, role, environments, expiry, revocation (never secrets), and the
    /// least-privilege findings (SG0707): tokens broader than what the audit ledger shows they
    /// did in the last 90 days, and tokens that never expire.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    List {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Revoke a token by id: every later request with it is refused.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Revoke {
        /// The token's id (`tok_…`), as `token list` shows it.
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// What the token may do: viewer, deployer, approver, admin, or flags (evaluate feature
    /// flags over OFREP only; give it exactly one `--env`).
    #[arg(long)]
    pub role: String,
    /// An environment the token may act on (repeatable). Default: every environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environments: Vec<String>,
    /// How long the token is valid, e.g. `30d`. Default: it never expires.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Who holds the token: a person (`alice`) or a machine (`ci-staging`). Letters, digits,
    /// `-`, `_`, `.`, `@`; at most 64. The name is the identity: the ledger records it as the
    /// actor, and every token with one name is one person for approvals (the author's second
    /// token cannot approve the author's deployment; one person counts once).
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: TokenArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        TokenCommand::Create(create) => {
            let client = Client::new(&create.connect)?;
            let body = json!({"name": create.name, "role": create.role, "environments": create.environments,
                              "expires": create.expires});
            let answer: Value = client.post("/tokens", &body, false)?;
            out.message(&format!(
                "created token {} (role {}); its secret is shown once:\n",
                printable(answer["id"].as_str().unwrap_or_default()),
                printable(answer["role"].as_str().unwrap_or_default())
            ));
            out.data(&format!("{}\n", answer["token"].as_str().unwrap_or_default()))?;
            Ok(ExitStatus::Success)
        }
        TokenCommand::List { format, connect } => {
            let client = Client::new(&connect)?;
            let tokens: Vec<Value> = client.get("/tokens", &[])?;
            if format == Format::Json {
                out.data(&format!("{}\n", serde_json::to_string_pretty(&tokens).unwrap_or_default()))?;
                return Ok(ExitStatus::Success);
            }
            let mut text = String::new();
            for token in &tokens {
                let field = |key: &str| printable(token[key].as_str().unwrap_or("-"));
                let environments = token["environments"]
                    .as_array()
                    .map(|names| names.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| "every environment".to_owned());
                let state = if token["revoked"].is_string() { " (revoked)" } else { "" };
                text.push_str(&format!(
                    "{}  {}  {}  {}  expires {}{state}\n",
                    field("id"),
                    field("name"),
                    field("role"),
                    printable(&environments),
                    field("expires")
                ));
                for finding in token["findings"].as_array().into_iter().flatten() {
                    let part = |key: &str| printable(finding[key].as_str().unwrap_or_default());
                    text.push_str(&format!(
                        "    {} {}: {}\n      hint: {}\n",
                        part("severity"),
                        part("rule"),
                        part("message"),
                        part("hint")
                    ));
                }
            }
            out.data(&text)?;
            Ok(ExitStatus::Success)
        }
        TokenCommand::Revoke { id, connect } => {
            let client = Client::new(&connect)?;
            let _: Value = client.delete(&format!("/tokens/{}", segment(&id)))?;
            out.message(&format!("revoked {}\n", printable(&id)));
            Ok(ExitStatus::Success)
        }
    }
}
