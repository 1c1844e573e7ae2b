//! `shipgate audit`: read, verify, prove and export the tamper-evident audit ledger.
//!
//! Entries are appended only by the engine (and by `shipgate audit rotate-key`, which
//! records itself); these commands never add one otherwise.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use shipgate_ledger::proof::{ConsistencyProof, InclusionProof};
use shipgate_ledger::{
    Anchor, Entry, KEY_FILE_NAME, Ledger, LedgerConfig, LedgerError, Proof, Verdict, VerifierKey, base64_hash,
};
use shipgate_store::{EntryQuery, Location, Store, StoreError, TextMatch};

use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

const AUDIT_AFTER_HELP: &str = "\
Exit status:
  0  success
  1  verification failed: the ledger, a checkpoint or a proof does not hold
  2  usage or configuration error (bad arguments, a missing or foreign key file, an unreadable file)
  3  internal error (a bug in shipgate, or the machine failed it)";

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Where shipgate keeps its state; shared by every command that opens the store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The data directory: the SQLite database and the ledger's signing key live here.
    /// Default: `$XDG_DATA_HOME/shipgate`, else `~/.local/share/shipgate`.
    #[arg(long, global = true, value_name = "DIR", env = env_vars::SHIPGATE_DATA_DIR)]
    pub data_dir: Option<PathBuf>,

    /// The database: `sqlite:///path/to/shipgate.db` or `postgres://user@host/db`.
    /// Default: `shipgate.db` in the data directory.
    #[arg(long, global = true, value_name = "URL", env = env_vars::SHIPGATE_DATABASE, hide_env_values = true)]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show ledger entries, oldest first.
    ///
    /// Shows the newest `--limit` entries that match every filter given.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Log(LogArgs),

    /// Check that nothing recorded was changed, removed or reordered.
    ///
    /// Recomputes every entry's hash and the Merkle tree, checks every stored checkpoint's
    /// signature and root, and, given checkpoints kept elsewhere (a file committed to git,
    /// a ticket), proves the ledger still extends them. Prints `ok: N entries, root …`, or
    /// the first failing entry and why, and exits 1.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Verify(VerifyArgs),

    /// Sign a checkpoint of the ledger as it is now and print it, for safekeeping elsewhere.
    ///
    /// Keep the output somewhere the ledger's host cannot rewrite; later, `shipgate audit
    /// verify --checkpoint FILE` proves the ledger still holds everything it covered.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Checkpoint,

    /// Print a proof, as JSON, that an entry is in the ledger (or that the ledger extends
    /// a checkpoint).
    ///
    /// The proof ends at a signed checkpoint; `shipgate audit verify-proof` checks it
    /// offline, with nothing but the ledger's public key.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Proof(ProofArgs),

    /// Check a proof from `shipgate audit proof` offline, without the database.
    #[command(name = "verify-proof", after_help = AUDIT_AFTER_HELP)]
    VerifyProof(VerifyProofArgs),

    /// Print entries as JSON lines, each with its leaf hash, for archiving or analysis.
    ///
    /// Each line is `{"entry":{…},"leaf_hash":"…"}` with the entry exactly as hashed.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Export(ExportArgs),

    /// Print the public key that verifies the ledger's checkpoints.
    ///
    /// The key is created (in the data directory, mode 0600) the first time it is needed.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Pubkey,

    /// Replace the ledger's signing key; the rotation is itself a ledger entry.
    ///
    /// The checkpoint at the rotation is signed by the old and the new key, so whoever
    /// trusts the old key can learn the new one from the ledger. Checkpoints signed
    /// before stay verifiable with the old public key.
    #[command(name = "rotate-key", after_help = AUDIT_AFTER_HELP)]
    RotateKey(RotateKeyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only entries about this environment.
    #[arg(long, value_name = "E")]
    pub env: Option<String>,

    /// Only entries by this actor.
    #[arg(long, value_name = "A")]
    pub actor: Option<String>,

    /// Only this action; a trailing `*` matches a prefix (`deploy.*`).
    #[arg(long, value_name = "X")]
    pub action: Option<String>,

    /// Only entries at or after TIME: an RFC 3339 time (`2026-05-01T09:00:00Z`), a date
    /// (`2026-05-01`, midnight UTC), or an age (`90m`, `24h`, `7d`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Show at most the newest N matching entries; 0 shows all.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u64,

    /// `human` (aligned columns) or `json` (an array of entries).
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    pub format: AuditFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A signed checkpoint kept elsewhere (from `shipgate audit checkpoint`); repeatable.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,

    /// A public key you trust (as `shipgate audit pubkey` printed it, or a file holding
    /// it); repeatable. The `--checkpoint` files must then be signed by one of these, and
    /// the ledger must be one that announced one of them.
    #[arg(long = "pubkey", value_name = "KEY")]
    pub pubkeys: Vec<String>,

    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    pub format: AuditFormat,
}

#[derive(Debug, Args)]
#[group(id = "what", required = true, args = ["seq", "since_checkpoint"])]
pub struct ProofArgs {
    /// The entry to prove, by sequence number.
    pub seq: Option<u64>,

    /// Instead, prove that the ledger extends the signed checkpoint in FILE (a
    /// consistency proof from it to the ledger as it is now).
    #[arg(long, value_name = "FILE")]
    pub since_checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// The proof, as `shipgate audit proof` printed it; `-` reads standard input.
    pub file: PathBuf,

    /// The ledger's public key, as `shipgate audit pubkey` printed it (or a file holding
    /// it); repeatable, for a ledger whose key was rotated.
    #[arg(long = "pubkey", value_name = "KEY", required = true)]
    pub pubkeys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only entries after this sequence number (`--since` the last one you have continues
    /// an earlier export).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub since: u64,

    /// The only format: one JSON object per line.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Why the key is replaced; recorded in the entry.
    #[arg(long)]
    pub reason: Option<String>,

    /// The current key file is gone for good: record that, and sign with the new key alone.
    #[arg(long)]
    pub key_lost: bool,

    /// Who is rotating it, as recorded in the entry. Default: the `USER` environment variable.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
}

pub fn run(args: AuditArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        AuditCommand::Log(log_args) => log(&args.store, &log_args, out),
        AuditCommand::Verify(verify_args) => verify(&args.store, &verify_args, out),
        AuditCommand::Checkpoint => {
            let ledger = open_ledger(&args.store)?;
            let checkpoint = ledger.checkpoint().map_err(failure)?;
            out.data(&checkpoint.note)?;
            Ok(ExitStatus::Success)
        }
        AuditCommand::Proof(proof_args) => proof(&args.store, &proof_args, out),
        AuditCommand::VerifyProof(verify_args) => verify_proof(&verify_args, out),
        AuditCommand::Export(export_args) => export(&args.store, &export_args, out),
        AuditCommand::Pubkey => {
            let ledger = open_ledger(&args.store)?;
            out.data(&format!("{}\n", ledger.public_key()))?;
            Ok(ExitStatus::Success)
        }
        AuditCommand::RotateKey(rotate_args) => rotate_key(&args.store, &rotate_args, out),
    }
}

/// The data directory: `--data-dir`, `SHIPGATE_DATA_DIR`, `$XDG_DATA_HOME/shipgate` or
/// `~/.local/share/shipgate`.
pub fn data_dir(args: &StoreArgs) -> Result<PathBuf, Failure> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(xdg) = non_empty(env_vars::XDG_DATA_HOME).filter(|path| path.is_absolute()) {
        return Ok(xdg.join("shipgate"));
    }
    if let Some(home) = non_empty(env_vars::HOME) {
        return Ok(home.join(".local/share/shipgate"));
    }
    Err(Failure::usage(anyhow!(
        "cannot tell where shipgate's data directory is: neither `XDG_DATA_HOME` nor `HOME` is set"
    ))
    .hint("pass `--data-dir DIR` or set `SHIPGATE_DATA_DIR`"))
}

pub(crate) fn location(args: &StoreArgs, data_dir: &Path) -> Result<Location, Failure> {
    match &args.database {
        Some(url) => Location::parse(url).map_err(|error| {
            Failure::usage(error).hint("use `sqlite:///path/to/shipgate.db` or `postgres://user@host:5432/database`")
        }),
        None => Ok(Location::sqlite_in(data_dir)),
    }
}

/// Opens the store, creating it on first use.
pub(crate) fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, Failure> {
    let dir = data_dir(args)?;
    let location = location(args, &dir)?;
    // The key lives in the data directory whatever the database.
    create_data_dir(&dir)?;
    shipgate_store::open(&location).map_err(store_failure)
}

/// Opens the store for reading only: a SQLite file that does not exist yet is a mistaken
/// path far more often than an empty ledger, so it is an error rather than created.
pub(crate) fn open_existing_store(args: &StoreArgs) -> Result<Arc<dyn Store>, Failure> {
    let dir = data_dir(args)?;
    let location = location(args, &dir)?;
    if let Location::Sqlite(path) = &location
        && !path.exists()
    {
        return Err(Failure::usage(anyhow!("there is no shipgate database at `{}`", path.display())).hint(
            "check `--data-dir` / `SHIPGATE_DATA_DIR` and `--database`; nothing has been recorded in this data directory yet",
        ));
    }
    shipgate_store::open(&location).map_err(store_failure)
}

fn create_data_dir(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory `{}`", dir.display()))
        .map_err(Failure::usage)
}

pub(crate) fn open_ledger(args: &StoreArgs) -> Result<Ledger, Failure> {
    let store = open_store(args)?;
    let key_path = data_dir(args)?.join(KEY_FILE_NAME);
    Ledger::open(store, key_path, LedgerConfig::default()).map_err(failure)
}

fn log(args: &StoreArgs, log_args: &LogArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let since = log_args.since.as_deref().map(parse_since).transpose()?;
    let action = log_args.action.as_ref().map(|action| match action.strip_suffix('*') {
        Some(prefix) => TextMatch::Prefix(prefix.to_owned()),
        None => TextMatch::Exact(action.clone()),
    });
    let query = EntryQuery {
        env: log_args.env.clone(),
        actor: log_args.actor.clone(),
        action,
        since,
        limit: (log_args.limit > 0).then_some(log_args.limit),
    };
    let store = open_existing_store(args)?;
    let entries = shipgate_ledger::query(&*store, &query).map_err(failure)?;
    match log_args.format {
        AuditFormat::Json => {
            let text = serde_json::to_string_pretty(&entries).map_err(Failure::internal)?;
            out.data(&format!("{text}\n"))?;
        }
        AuditFormat::Human if entries.is_empty() => out.message("no entries match\n"),
        AuditFormat::Human => out.data(&log_table(&entries))?,
    }
    Ok(ExitStatus::Success)
}

/// One line per entry: seq, time, actor, action, subject, `env=…`, details as JSON.
fn log_table(entries: &[Entry]) -> String {
    let width = |field: fn(&Entry) -> &str| entries.iter().map(|entry| field(entry).chars().count()).max().unwrap_or(0);
    let seq_width = entries.last().map_or(1, |entry| entry.seq.to_string().len());
    let (actor_width, action_width, subject_width) =
        (width(|entry| &entry.actor), width(|entry| &entry.action), width(|entry| &entry.subject));
    let mut text = String::new();
    for entry in entries {
        let env = entry.env.as_deref().map(|env| format!("  env={}", printable(env))).unwrap_or_default();
        let details = match &entry.details {
            serde_json::Value::Object(map) if map.is_empty() => String::new(),
            details => format!("  {details}"),
        };
        text.push_str(
            format!(
                "{:>seq_width$}  {}  {:actor_width$}  {:action_width$}  {:subject_width$}{env}{details}",
                entry.seq,
                entry.time,
                printable(&entry.actor),
                printable(&entry.action),
                printable(&entry.subject),
            )
            .trim_end(),
        );
        text.push('\n');
    }
    text
}

/// Control characters escaped, so that no entry can drive the reader's terminal.
fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) { text.escape_debug().to_string() } else { text.to_owned() }
}

/// `--since`: an RFC 3339 time, a date, or an age such as `24h` or `7d`.
fn parse_since(text: &str) -> Result<String, Failure> {
    let bad = || {
        Failure::usage(anyhow!("`{text}` is not a time"))
            .hint("use an RFC 3339 time (`2026-05-01T09:00:00Z`), a date (`2026-05-01`) or an age (`90m`, `24h`, `7d`)")
    };
    let time = if let Ok(time) = text.parse::<jiff::Timestamp>() {
        time
    } else if let Ok(date) = text.parse::<jiff::civil::Date>() {
        date.to_zoned_datetime(jiff::tz::TimeZone::UTC).map_err(|_| bad())?.timestamp()
    } else {
        let age = match text.strip_suffix('d').and_then(|days| days.parse::<i64>().ok()) {
            Some(days) => jiff::SignedDuration::from_hours(days.checked_mul(24).ok_or_else(bad)?),
            None => text.parse::<jiff::SignedDuration>().map_err(|_| bad())?,
        };
        jiff::Timestamp::now().checked_sub(age.abs()).map_err(|_| bad())?
    };
    shipgate_ledger::entry::format_time(time).map_err(|_| bad())
}

fn verify(args: &StoreArgs, verify_args: &VerifyArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let mut external = Vec::new();
    for path in &verify_args.checkpoints {
        external.push(Anchor {
            label: format!("checkpoint file `{}`", path.display()),
            note: read_input(path, "checkpoint")?,
            external: true,
        });
    }
    let trusted = verify_args.pubkeys.iter().map(|key| public_key(key)).collect::<Result<Vec<_>, _>>()?;
    let store = open_existing_store(args)?;
    let verdict = shipgate_ledger::verify_store(&*store, &external, &trusted).map_err(failure)?;
    match (verdict, verify_args.format) {
        (Verdict::Verified(verified), AuditFormat::Json) => {
            let report = json!({
                "ok": true,
                "entries": verified.size,
                "root": base64_hash(&verified.root),
                "origin": verified.origin,
                "stored_checkpoints": verified.stored_checkpoints,
                "external_checkpoints": verified.external_checkpoints,
                "signed_entries": verified.signed_size,
                "keys": verified.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            out.data(&format!("{report:#}\n"))?;
            Ok(ExitStatus::Success)
        }
        (Verdict::Verified(verified), AuditFormat::Human) => {
            out.data(&format!("ok: {}, root {}\n", entries(verified.size), base64_hash(&verified.root)))?;
            let mut note = format!(
                "checked {} stored and {} given checkpoint{}",
                verified.stored_checkpoints,
                verified.external_checkpoints,
                if verified.external_checkpoints == 1 { "" } else { "s" }
            );
            if verified.signed_size < verified.size {
                note.push_str(&format!(
                    "; entries {}..={} are not yet covered by a signed checkpoint (`shipgate audit checkpoint` signs one)",
                    verified.signed_size + 1,
                    verified.size
                ));
            }
            out.message(&format!("{note}\n"));
            Ok(ExitStatus::Success)
        }
        (Verdict::Failed(problem), AuditFormat::Json) => {
            out.data(&format!("{:#}\n", json!({"ok": false, "problem": problem})))?;
            Ok(ExitStatus::Refused)
        }
        (Verdict::Failed(problem), AuditFormat::Human) => Err(refused(anyhow!(
            "the audit ledger failed verification: {}",
            problem.message
        ))
        .hint(
            "treat the ledger as tampered with or damaged: keep this database as it is for investigation, and compare it with your backups, exports and the checkpoints you kept elsewhere",
        )),
    }
}

fn proof(args: &StoreArgs, proof_args: &ProofArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let ledger = open_ledger(args)?;
    let proof = match (&proof_args.seq, &proof_args.since_checkpoint) {
        (Some(seq), _) => Proof::Inclusion(ledger.inclusion_proof(*seq).map_err(failure)?),
        (None, Some(path)) => {
            let note = read_input(path, "checkpoint")?;
            let label = format!("checkpoint file `{}`", path.display());
            Proof::Consistency(ledger.consistency_proof(&note, &label).map_err(failure)?)
        }
        (None, None) => return Err(Failure::usage(anyhow!("say which entry to prove, or pass `--since-checkpoint`"))),
    };
    out.data(&proof.to_json().map_err(Failure::internal)?)?;
    Ok(ExitStatus::Success)
}

fn verify_proof(args: &VerifyProofArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let keys = args.pubkeys.iter().map(|key| public_key(key)).collect::<Result<Vec<_>, _>>()?;
    let text = read_input(&args.file, "proof")?;
    let proof = Proof::parse(&text).map_err(failure)?;
    let holds = proof.verify(&keys).map_err(failure)?;
    let signers: Vec<String> = holds.signed_by.iter().map(VerifierKey::short).collect();
    let checkpoint = &holds.checkpoint;
    let what = match &proof {
        Proof::Inclusion(InclusionProof { entry, .. }) => format!("entry {} is in", entry.seq),
        Proof::Consistency(ConsistencyProof { old_size, .. }) => {
            format!("the ledger of {} is a prefix of", entries(*old_size))
        }
    };
    out.data(&format!(
        "ok: {what} the ledger `{}` of {}, root {}, signed by `{}`\n",
        checkpoint.origin,
        entries(checkpoint.size),
        base64_hash(&checkpoint.root),
        signers.join("`, `")
    ))?;
    Ok(ExitStatus::Success)
}

fn export(args: &StoreArgs, export_args: &ExportArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let ExportFormat::Jsonl = export_args.format;
    let store = open_existing_store(args)?;
    // Written in chunks: one write per line would be slow for a million entries.
    let mut buffer = String::new();
    let mut written = Ok(());
    shipgate_ledger::export(&*store, export_args.since, &mut |row| {
        buffer.push_str(&shipgate_ledger::export_line(row));
        buffer.push('\n');
        if buffer.len() >= 64 * 1024 {
            written = out.data(&buffer);
            buffer.clear();
            if written.is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })
    .map_err(failure)?;
    written?;
    out.data(&buffer)?;
    Ok(ExitStatus::Success)
}

fn rotate_key(args: &StoreArgs, rotate_args: &RotateKeyArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let actor = match &rotate_args.actor {
        Some(actor) => actor.clone(),
        None => std::env::var(env_vars::USER).ok().filter(|user| !user.is_empty()).ok_or_else(|| {
            Failure::usage(anyhow!("cannot tell who is rotating the key: `USER` is not set"))
                .hint("pass `--actor NAME`")
        })?,
    };
    let reason = rotate_args.reason.as_deref();
    let key = if rotate_args.key_lost {
        let store = open_store(args)?;
        let key_path = data_dir(args)?.join(KEY_FILE_NAME);
        Ledger::rotate_lost_key(store, key_path, LedgerConfig::default(), &actor, reason).map_err(failure)?.public_key()
    } else {
        open_ledger(args)?.rotate_key(&actor, reason).map_err(failure)?
    };
    out.data(&format!("{key}\n"))?;
    out.message(
        "the ledger's signing key was replaced and the rotation recorded; checkpoints signed before remain verifiable with the old public key\n",
    );
    Ok(ExitStatus::Success)
}

/// A public key given on the command line, or the path of a file holding one.
fn public_key(text: &str) -> Result<VerifierKey, Failure> {
    let parsed = VerifierKey::parse(text);
    if parsed.is_ok() || !Path::new(text).is_file() {
        return parsed.map_err(failure);
    }
    let contents = read_input(Path::new(text), "public key")?;
    VerifierKey::parse(contents.trim()).map_err(failure)
}

/// Reads a small text file (or standard input for `-`).
fn read_input(path: &Path, what: &str) -> Result<String, Failure> {
    const LIMIT: u64 = 16 * 1024 * 1024;
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().lock().take(LIMIT).read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|file| file.take(LIMIT).read_to_string(&mut text))
    };
    read.with_context(|| format!("cannot read the {what} `{}`", path.display())).map_err(Failure::usage)?;
    Ok(text)
}

fn refused(error: anyhow::Error) -> Failure {
    Failure { status: ExitStatus::Refused, error, hint: None }
}

pub(crate) fn store_failure(error: StoreError) -> Failure {
    let hint = match &error {
        StoreError::SchemaTooNew { .. } => "this database was last used by a newer shipgate; upgrade shipgate",
        StoreError::ConnectPostgres { .. } => "check that PostgreSQL is running and that the `--database` URL is right",
        StoreError::BadLocation { .. } => "use `sqlite:///path/to/shipgate.db` or `postgres://user@host:5432/database`",
        StoreError::OpenSqlite { .. } | StoreError::CreateFile { .. } => {
            "check the path and its permissions, or pass `--data-dir DIR`"
        }
        _ => return Failure::internal(error),
    };
    Failure::usage(error).hint(hint)
}

/// Sorts ledger errors into exit statuses, with what to do next.
pub(crate) fn failure(error: LedgerError) -> Failure {
    match error {
        // Rows shipgate cannot have written (a negative seq, a missing head row): tampering.
        LedgerError::Store(error @ StoreError::Corrupt(_)) => {
            refused(error.into()).hint("run `shipgate audit verify` to find what was changed")
        }
        LedgerError::Store(error) => store_failure(error),
        LedgerError::KeyMissing { ref path, .. } => {
            let hint = format!(
                "restore `{}` from a backup; if the key is lost for good, run `shipgate audit rotate-key --key-lost`",
                path.display()
            );
            Failure::usage(error).hint(hint)
        }
        LedgerError::KeyMismatch { .. } => Failure::usage(error)
            .hint("this data directory's key belongs to another ledger: check `--data-dir` and `--database`"),
        LedgerError::KeyPermissions { ref path, .. } => {
            let hint = format!("make it private with `chmod 600 {}`", path.display());
            Failure::usage(error).hint(hint)
        }
        LedgerError::KeyMalformed { .. } | LedgerError::KeyFile { .. } => {
            Failure::usage(error).hint("restore the key file from a backup")
        }
        LedgerError::BadPublicKey { .. } => Failure::usage(error)
            .hint("pass the key exactly as `shipgate audit pubkey` printed it, or a file holding it"),
        LedgerError::MalformedProof(_) => {
            Failure::usage(error).hint("pass the file `shipgate audit proof` wrote, unchanged")
        }
        LedgerError::BadCheckpoint { .. } => {
            Failure::usage(error).hint("pass a file that `shipgate audit checkpoint` wrote, unchanged")
        }
        LedgerError::NoSuchEntry { .. } => Failure::usage(error).hint("`shipgate audit log` shows the entries"),
        LedgerError::Rotation(_) => Failure::usage(error),
        LedgerError::ProofRejected(_)
        | LedgerError::ProofRoot
        | LedgerError::ProofLength
        | LedgerError::LeafOutOfRange { .. }
        | LedgerError::SizesOutOfOrder { .. }
        | LedgerError::DoesNotExtend(_) => refused(error.into()),
        LedgerError::Corrupt(_) => refused(error.into()).hint("run `shipgate audit verify` to find what was changed"),
        other => Failure::internal(other),
    }
}

/// `1 entry`, `2 entries`.
fn entries(count: u64) -> String {
    format!("{count} {}", if count == 1 { "entry" } else { "entries" })
}
