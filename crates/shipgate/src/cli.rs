//! The command-line interface: every command, option and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  a gate or check refused, or a deployment failed and was rolled back
  2  usage or configuration error (bad arguments, invalid shipgate.toml)
  3  internal error (a bug in shipgate, or the machine failed it)

Documentation: README.md in the shipgate repository; `shipgate schema` prints the JSON Schema of shipgate.toml.";

/// Exit status and server lookup of the commands that talk to a shipgate server.
pub const CLIENT_AFTER_HELP: &str = "\
Server and token:
  The server is --server URL, else $SHIPGATE_SERVER, else http://127.0.0.1:7300.
  The API token is $SHIPGATE_TOKEN, else the entry for the server's URL in the credentials file:
  $SHIPGATE_CREDENTIALS, else $XDG_CONFIG_HOME/shipgate/credentials.json, else
  ~/.config/shipgate/credentials.json. `shipgate server` writes it at its first start; it must be
  readable by its owner only (chmod 600).

Exit status:
  0  success; for deploy and rollback: the deployment succeeded
  1  refused (a failing gate, another deployment in progress), or the deployment was rolled
     back, failed or was aborted
  2  usage error: bad arguments, an unknown environment, release or deployment, a refused token
  3  no server answers, or the server failed

Documentation: README.md in the shipgate repository; the API is in crates/shipgate-server/README.md.";

/// Take a web service from source to production the safe way.
///
/// shipgate reads one file, `shipgate.toml`, that declares how the app is built, tested,
/// run and deployed to each environment, and refuses the unsafe ways of doing it.
#[derive(Debug, Parser)]
#[command(name = "shipgate", version, about, long_about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colour in messages; `NO_COLOR` turns it off under `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard error is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented shipgate.toml for the project in this folder.
    ///
    /// Looks for Cargo.toml, package.json, go.mod, pyproject.toml or requirements.txt to
    /// fill in the build and test commands and the artifact, declares a `staging` and a
    /// `production` environment with a health probe and a canary rollout, and lists every
    /// other option as a comment. The file validates as written.
    #[command(after_help = AFTER_HELP)]
    Init(InitArgs),

    /// Check shipgate.toml and report every problem at once.
    ///
    /// Each problem is shown with its file, line and column, the line itself with a caret
    /// under the fault, and a hint. Exits 0 when the file is valid and 2 when it is not.
    #[command(after_help = AFTER_HELP)]
    Validate(ValidateArgs),

    /// Print the JSON Schema of shipgate.toml, for editors.
    ///
    /// Point taplo or Even Better TOML at it (for example with a
    /// `#:schema ./shipgate.schema.json` comment at the top of shipgate.toml) to get
    /// completion and checking while you type.
    #[command(after_help = AFTER_HELP)]
    Schema,

    /// Database migrations: lint, rehearse on a copy, and apply them.
    ///
    /// Migrations live in `expand/` (run before the new code takes traffic; must keep the old
    /// code working) and `contract/` (drops and other destructive steps, run one release later)
    /// under the folder named by `[migrations] dir` in shipgate.toml.
    #[command(subcommand, after_help = AFTER_HELP)]
    Migrate(crate::commands::migrate::MigrateCommand),

    /// Find committed secrets: in the source tree, git history, env files and artifacts.
    ///
    /// Over 200 credential formats (cloud, source hosting, payment, messaging, databases,
    /// registries, CI, private keys, JWTs, connection strings) plus passwords and secrets
    /// assigned in code, gated by entropy. Findings show only a secret's first characters.
    /// Silence a line with a `shipgate:allow` comment, or use `[scan]` allowlists in
    /// shipgate.toml or a baseline. Exits 1 when secrets are found, 0 when none are.
    #[command(after_help = AFTER_HELP)]
    Scan(crate::commands::scan::ScanArgs),

    /// Run the data plane of this host: reverse proxy, process supervisor, health probes, metrics.
    ///
    /// Runs in the foreground, logs to standard error, and is controlled over a Unix socket
    /// (mode 0600) with a JSON API (see the shipgate-agent README). Instances keep running when
    /// the agent stops or is killed; the next agent on the same `--state-dir` re-adopts them.
    /// `--upgrade-from` replaces a running agent without refusing a single connection.
    #[command(after_help = AFTER_HELP)]
    Agent(crate::commands::agent::AgentArgs),

    /// Create and inspect immutable, content-addressed releases.
    ///
    /// A release binds a version label to the sha256 of its artifact, the commit it was built
    /// from and the shipgate.toml it was created with; the artifact is copied into shipgate's
    /// content-addressed storage and every release lands in the audit ledger.
    #[command(after_help = AFTER_HELP)]
    Release(crate::commands::release::ReleaseArgs),

    /// Read, verify, prove and export the tamper-evident audit ledger.
    ///
    /// Every action shipgate takes is an entry in an append-only ledger, hashed into a
    /// Merkle tree (RFC 6962) and fixed by checkpoints signed with the data directory's
    /// Ed25519 key. `verify` proves nothing recorded was changed, removed or reordered;
    /// checkpoints and proofs can be kept, and checked, elsewhere without the database.
    #[command(after_help = AFTER_HELP)]
    Audit(crate::commands::audit::AuditArgs),

    /// Run the control plane: store, deployment engine and HTTP API.
    #[command(after_help = AFTER_HELP)]
    Server(crate::commands::server::ServerArgs),

    /// Show the steps a deployment would take, and every gate's verdict.
    ///
    /// The server plans the deployment of release VERSION to ENV from the environment's current
    /// state and prints each step, each gate with `pass`, `fail` or `pending` and why, and the
    /// plan's digest (`deploy` executes exactly the plan with that digest). Exits 0 when the plan
    /// could run, 1 when a gate fails.
    #[command(after_help = CLIENT_AFTER_HELP, disable_version_flag = true)]
    Plan(crate::commands::plan::PlanArgs),

    /// Deploy a release to an environment and follow it live; or resume or abort a deployment.
    ///
    /// `shipgate deploy ENV VERSION` asks the server for the plan, shows it, and starts a
    /// deployment of exactly that plan (when the environment changed in between, the server
    /// refuses and nothing happens). It then follows the deployment's events: on a terminal a
    /// status line with the current step, traffic weights, healthy instances and the time taken;
    /// otherwise one line per event on standard error; with `--format json` each event as one JSON
    /// line on standard output. If the connection to the server breaks, it reconnects for up to a
    /// minute. Interrupting the command stops watching, not the deployment.
    ///
    /// Exits 0 only when the deployment succeeded (or there was nothing to do: the environment
    /// already runs that release); 1 when it was refused (a failing gate, another deployment in
    /// progress without `--wait`), rolled back, failed or aborted.
    ///
    /// `shipgate deploy resume ID` continues a paused deployment and follows it;
    /// `shipgate deploy abort ID` stops one and rolls it back.
    #[command(after_help = CLIENT_AFTER_HELP, disable_version_flag = true)]
    Deploy(crate::commands::deploy::DeployArgs),

    /// Return an environment to its previous release, or to `--to VERSION`.
    ///
    /// When the release to return to is still warm (its instances still run), traffic moves to it
    /// in one routing change and the time it took is printed. Otherwise it is started again by a
    /// deployment without holds, followed like `deploy` follows one. Exits 0 when the environment
    /// runs that release again; 1 when there is nothing to roll back to or the rollback failed.
    #[command(after_help = CLIENT_AFTER_HELP)]
    Rollback(crate::commands::rollback::RollbackArgs),

    /// Show what runs where: releases, traffic weights, instances, the deployment in flight.
    ///
    /// For each environment (or only ENV): the active release and since when, the previous one
    /// and until when it is kept warm, the traffic split between versions, every instance with
    /// its state, port and restarts, and the deployment in progress with its current step.
    #[command(after_help = CLIENT_AFTER_HELP)]
    Status(crate::commands::status::StatusArgs),

    /// List an environment's deployments and rollbacks, newest first.
    ///
    /// Each with its id, version, the version it replaced, status, who started it, when, how
    /// long it took and the reason it ended as it did.
    #[command(after_help = CLIENT_AFTER_HELP)]
    History(crate::commands::status::HistoryArgs),

    /// Print the output of an environment's instances, each line prefixed with the instance id.
    ///
    /// `--follow` keeps printing new lines until interrupted; `--tail N` starts with the last N
    /// lines of each instance.
    #[command(after_help = CLIENT_AFTER_HELP)]
    Logs(crate::commands::logs::LogsArgs),

    /// Run every gate rule that can run now, for a release in an environment.
    ///
    /// The server gathers the facts (the release and its evidence, every environment's history,
    /// what runs now) and judges them with the rule catalog (`shipgate rules`): artifact pinning,
    /// staging first, configuration through staging, test evidence, progressive strategy, health
    /// and smoke checks, parity, residency, drift. Human output looks like a compiler's; `json`
    /// is documented in crates/shipgate-policy; `sarif` is SARIF 2.1.0 for code scanning.
    /// Exits 1 when a deny finding remains, 0 otherwise.
    #[command(after_help = CLIENT_AFTER_HELP)]
    Check(crate::commands::check::CheckArgs),

    /// Compare what runs with what shipgate put there, and report the differences.
    ///
    /// Instances of versions no deployment owns, fewer healthy instances than `replicas`,
    /// traffic not all on the active release, and processes that are not shipgate's listening
    /// on the environment's address. The server also checks every `--drift-interval` and records
    /// changes in the audit ledger. Exits 1 when there is any drift, 0 otherwise.
    #[command(after_help = CLIENT_AFTER_HELP)]
    Drift(crate::commands::check::DriftArgs),

    /// List the gate rules, or print one rule's documentation.
    ///
    /// Each rule has a stable id (`SG0201`), a name (`staging-first`), a severity in production
    /// and elsewhere, and says whether an override can lift it. `[policy]` in shipgate.toml can
    /// change a severity, but never lower a deny rule in production.
    Rules(crate::commands::check::RulesArgs),

    /// Create, list and revoke API tokens (roles and environment scopes).
    Token(crate::commands::token::TokenArgs),

    /// Feature flags at run time: list, set a variant or a percentage rollout, kill, history.
    ///
    /// Flags are declared in shipgate.toml (`[flags.NAME]` with `variants`, `default` and
    /// optional JsonLogic `targeting`, as flagd declares them) and travel with each release.
    /// Apps evaluate them over OFREP (`POST /ofrep/v1/evaluate/flags/{key}`) at
    /// $SHIPGATE_FLAGS_URL with the read-only token in $SHIPGATE_FLAGS_TOKEN, both given to
    /// every instance. Each change here is recorded in the audit ledger.
    Flags(crate::commands::flags::FlagsArgs),

    /// Set, list, remove and rotate secrets: stored encrypted by the server, injected at start.
    ///
    /// Declare each name under `[secrets]` in shipgate.toml (`DATABASE_URL = {}`); set its value
    /// per environment here. Values are read from standard input or a prompt, never from the
    /// command line; encrypted at rest with the server's age key; given to instances as
    /// environment variables (or as files with `{ file = true }`: `NAME_FILE` holds the path);
    /// and replaced by `[secret:NAME]` in logs, events, API answers and the audit ledger.
    Secrets(crate::commands::secrets::SecretsArgs),

    /// Approve a deployment that awaits approval.
    ///
    /// Environments with `approvals = { required = N, from = [...] }` hold each deployment in
    /// `awaiting_approval` until N distinct approvers (tokens with the `approve` permission that
    /// `from` names) approved the plan it will run. The deployment's author never counts in
    /// production. A vote is for the plan shown: if the plan changes, earlier votes expire.
    /// With `wait = "15m"` the deployment starts that long after the last approval.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Approve(crate::commands::approve::VoteArgs),

    /// Print a deployment's post-deployment checklist, judged when it reached its end.
    ///
    /// Items: smoke tests passed, health checks responding, error rate within threshold,
    /// response times within the SLA, monitoring active, rollback plan tested, change log entry
    /// written, stakeholders notified; each with its evidence. A failed item is a finding of
    /// SG0305 (warn); `?` means shipgate has no evidence either way.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Checklist(crate::commands::checklist::ChecklistArgs),

    /// Reject a deployment that awaits approval (needs `--comment`); it ends as `rejected`.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Reject(crate::commands::approve::VoteArgs),

    /// Create signing keys for releases (minisign-compatible Ed25519).
    Keys(crate::commands::keys::KeysArgs),

    /// Canary analysis tools: `simulate` compares shipgate's judge with a fixed-interval rule.
    Analysis(crate::commands::analysis::AnalysisArgs),

    /// Print (or `--write`) the change log entry of the next release.
    ///
    /// Lists the commits of the git repository in the current folder since the commit that the
    /// release running in ENV (default `production`) was built from, as the server knows it, or
    /// since `--since COMMIT`; merges are left out. Conventional commits (`feat(api): …`,
    /// `fix!: …`, a `BREAKING CHANGE:` footer) are grouped: breaking changes first, then
    /// features, bug fixes, performance, refactoring, documentation, tests, build, CI, style,
    /// chores, reverts, and other changes; without any, the entry is one list. The title is
    /// `--version`, else the tag on HEAD, else `Unreleased`. `--write CHANGELOG.md` puts the
    /// entry at the top of the file below its title and replaces an entry of the same version,
    /// so running it twice changes nothing. Exits 1 when there is nothing to release, 2 outside
    /// a git repository or when the starting commit is not in this clone.
    #[command(after_help = CLIENT_AFTER_HELP, disable_version_flag = true)]
    Changelog(crate::commands::changelog::ChangelogArgs),

    /// Take the current commit from source to production: the stages of the deployment guide.
    ///
    /// `shipgate pipeline run [--to ENV] [--resume]` runs source (validate, lint), build, test,
    /// security scan, stage (each environment before the target, with a rollback rehearsal),
    /// approve and production, in that order, and stops at the first failure with the end of
    /// that stage's log. `shipgate pipeline run --help` describes each stage.
    Pipeline(crate::commands::pipeline::PipelineArgs),

    /// Watch shipgate work, in about 20 seconds, on this machine, without network.
    ///
    /// In a temporary folder it starts a server and an agent, commits v1 and v2 of the sample
    /// service (`shipgate-sample`, built next to `shipgate` by `cargo build`) to a git
    /// repository and takes each through `shipgate pipeline run` (validation, build, test,
    /// security scan, staging with a rollback rehearsal, a canary with analysis to production),
    /// then v3, which answers 8% of requests with errors, slowly: analysis catches it and rolls
    /// it back while a built-in load generator shows that users on the stable version saw no
    /// failed request. Then a deployment refused by a freeze window (SG0703) and one refused for
    /// an unsigned release (SG0701), v2's post-deployment checklist with what the team's chat
    /// heard from the `[notify]` webhook (a receiver inside the demo), and the ledger verified. Ends with a summary table (`--format json`: the summary as JSON;
    /// also in `summary.json`), and leaves the server running until Ctrl-C unless `--exit`.
    /// Exit 0 when every outcome was the intended one, 1 otherwise.
    Demo(crate::commands::demo::DemoArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing shipgate.toml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The file to check.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, default_value = shipgate_spec::FILE_NAME)]
    pub file: PathBuf,

    /// How to print problems: `human` (to standard error) or `json` (an array, to standard output).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
