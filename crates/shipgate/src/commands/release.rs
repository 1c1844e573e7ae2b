//! `shipgate release create|list|show`: immutable, content-addressed releases.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use shipgate_ledger::{LedgerError, NewEntry};
use shipgate_policy::{JunitSummary, TestEvidence};
use shipgate_store::{ReleaseRow, StoreError};

use super::audit::{StoreArgs, data_dir, failure, open_existing_store, open_ledger, store_failure};
use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: ReleaseCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Record an immutable release: the artifact copied into content-addressed storage.
    ///
    /// The artifact (a file, a directory or a `.tar.gz`; default `[artifact] path` from
    /// shipgate.toml) is digested with sha256 and copied to `DATA_DIR/artifacts/sha256/<hex>`;
    /// instances always run from that copy. The release also keeps the shipgate.toml it was
    /// created with, the source commit (from git when not given), who created it and when, and
    /// lands in the audit ledger in the same transaction. A version label is immutable: creating
    /// it again with the same digest is a no-op; with another digest it is refused (exit 1).
    #[command(disable_version_flag = true)]
    Create(Box<CreateArgs>),
    /// List releases, oldest first.
    List,
    /// Show one release.
    #[command(disable_version_flag = true)]
    Show {
        /// The version label.
        version: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The version label, e.g. `1.4.2` (no `latest`: labels must not move).
    #[arg(long)]
    pub version: String,
    /// The artifact. Default: `[artifact] path` from shipgate.toml, relative to it.
    #[arg(long, value_name = "PATH")]
    pub artifact: Option<PathBuf>,
    /// The source commit. Default: `git rev-parse HEAD` in shipgate.toml's folder.
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// The shipgate.toml stored with the release.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, default_value = shipgate_spec::FILE_NAME)]
    pub file: PathBuf,
    /// Accept this exit status of a test run done elsewhere (CI) instead of running
    /// `[pipeline] test`; pair it with `--junit`.
    #[arg(long, value_name = "CODE", conflicts_with = "no_tests", allow_negative_numbers = true)]
    pub test_exit: Option<i32>,
    /// A JUnit XML report to summarise into the evidence (repeatable). Default: the files
    /// matching `[pipeline] junit` after the tests ran.
    #[arg(long, value_name = "FILE")]
    pub junit: Vec<PathBuf>,
    /// Record no test evidence (production's gates will refuse the release).
    #[arg(long)]
    pub no_tests: bool,
    #[command(flatten)]
    pub signing: SignArgs,
    /// Attach a signature made elsewhere (CI) with the `minisign` tool instead of signing
    /// here: a `.minisig` over the artifact's digest text, e.g. `echo "sha256:$(sha256sum
    /// app.tar.gz | cut -d' ' -f1)" > digest.txt; minisign -S -s ci.key -m digest.txt`. It must
    /// verify with a key in `[artifact] trusted_keys`, else the release is refused.
    #[arg(long, value_name = "FILE", conflicts_with = "sign")]
    pub signature: Option<PathBuf>,
    /// A scanner's SARIF 2.1.0 log about this release (repeatable): its results are kept with
    /// the release, and the gates judge them (SG0110: an `error` result refuses production).
    /// `shipgate pipeline run` passes its scanners' logs.
    #[arg(long, value_name = "FILE")]
    pub sarif: Vec<PathBuf>,
    /// The release's change log entry (Markdown, e.g. from `shipgate changelog`), kept with
    /// it; the post-deployment checklist looks for it. `shipgate pipeline run` writes one.
    #[arg(long, value_name = "FILE")]
    pub changelog: Option<PathBuf>,
    /// This release holds a risky change (like `[app] risky = true`, for this release only):
    /// recorded in its evidence; the gates (SG0306) then require a flag that starts off.
    #[arg(long)]
    pub risky: bool,
}

/// How a release is signed; shared by `release create` and `pipeline run`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign the artifact's digest with this secret key (`shipgate keys generate`, or a
    /// minisign key). Its public key must be in `[artifact] trusted_keys`. Production refuses
    /// unsigned releases.
    #[arg(long, value_name = "KEY_FILE", env = env_vars::SHIPGATE_SIGNING_KEY)]
    pub sign: Option<PathBuf>,
    /// A file whose first line is the signing key's password (else SHIPGATE_KEY_PASSWORD).
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub password_file: Option<PathBuf>,
}

pub fn run(args: ReleaseArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        ReleaseCommand::Create(create_args) => create(&args.store, &create_args, out),
        ReleaseCommand::List => list(&args.store, out),
        ReleaseCommand::Show { version } => show(&args.store, &version, out),
    }
}

/// The release's test evidence: the `[pipeline] test` commands run now (in shipgate.toml's
/// folder, output passed through to standard error), or a result given with `--test-exit`, with
/// the JUnit XML reports summed. `None` with `--no-tests` or when no test command is declared.
fn test_evidence(
    args: &CreateArgs,
    spec: &shipgate_spec::Spec,
    folder: &Path,
    out: &Output,
) -> Result<Option<TestEvidence>, Failure> {
    if args.no_tests {
        return Ok(None);
    }
    let exit_code = match args.test_exit {
        Some(code) => code,
        None if spec.pipeline.test.is_empty() => return Ok(None),
        None => run_tests(&spec.pipeline.test, folder, out)?,
    };
    let reports = if args.junit.is_empty() {
        spec.pipeline.junit.as_deref().map(|pattern| find_reports(folder, pattern)).transpose()?.unwrap_or_default()
    } else {
        args.junit.clone()
    };
    let mut junit: Option<JunitSummary> = None;
    for report in &reports {
        let text = std::fs::read_to_string(report)
            .with_context(|| format!("cannot read the JUnit report `{}`", report.display()))
            .map_err(Failure::usage)?;
        let summary = shipgate_policy::parse_junit(&text)
            .with_context(|| format!("`{}` is not a JUnit XML report", report.display()))
            .map_err(|error| {
                Failure::usage(error).hint("pass the XML file the test runner wrote, e.g. with `--junit`")
            })?;
        junit = Some(junit.map_or(summary, |sum| sum + summary));
    }
    Ok(Some(TestEvidence { exit_code, junit, command: spec.pipeline.test.clone() }))
}

/// The evidence column: tests, migrations, the secret scan, the signature and the change log.
fn release_evidence(
    tests: Option<&TestEvidence>,
    migrations: Option<&serde_json::Value>,
    secrets: &serde_json::Value,
    signature: Option<&serde_json::Value>,
    changelog: Option<&str>,
    scanners: Option<&serde_json::Value>,
) -> Option<String> {
    let changelog = changelog.map(|markdown| serde_json::json!({"markdown": markdown}));
    Some(
        serde_json::json!({"tests": tests, "migrations": migrations, "secrets": secrets, "signature": signature,
                           "changelog": changelog, "scanners": scanners})
        .to_string(),
    )
}

/// The findings of the SARIF logs `--sarif` names, as the evidence keeps them; `None` without any.
fn scanner_evidence(args: &CreateArgs) -> Result<Option<serde_json::Value>, Failure> {
    if args.sarif.is_empty() {
        return Ok(None);
    }
    let mut findings = Vec::new();
    for path in &args.sarif {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the SARIF log `{}`", path.display()))
            .map_err(Failure::usage)?;
        let found = super::sarif::findings(&text).map_err(|why| {
            Failure::usage(anyhow!("`{}` is not a SARIF log: {why}", path.display()))
                .hint("pass the file a scanner wrote with its SARIF output format, e.g. `trivy fs --format sarif .`")
        })?;
        findings.extend(found);
    }
    Ok(Some(serde_json::json!({"logs": args.sarif.len(), "findings": findings})))
}

/// The change log entry `--changelog` names.
fn changelog_entry(args: &CreateArgs) -> Result<Option<String>, Failure> {
    let Some(path) = &args.changelog else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the change log entry `{}`", path.display()))
        .map_err(Failure::usage)?;
    Ok(Some(text))
}

/// The secret key `--sign` names, read before anything is stored, checked against
/// `[artifact] trusted_keys` so that a release nobody would accept is never created.
pub(crate) fn signing_key(
    args: &SignArgs,
    spec: &shipgate_spec::Spec,
) -> Result<Option<shipgate_sign::SecretKey>, Failure> {
    let Some(path) = &args.sign else { return Ok(None) };
    let password = super::keys::password(args.password_file.as_deref())?;
    let key = shipgate_sign::read_secret_key_file(path, password.as_deref().map(String::as_str))
        .map_err(super::keys::sign_failure)?;
    let public = key.public_key();
    let trusted = shipgate_sign::PublicKey::parse_all(&spec.artifact.trusted_keys);
    if !trusted.contains(&public) {
        return Err(Failure::usage(anyhow!(
            "the signing key {} is not in shipgate.toml's `[artifact] trusted_keys`, so nothing would accept its signatures",
            public.key_id()
        ))
        .hint(format!("add it: `trusted_keys = [\"{}\"]`", public.to_base64())));
    }
    Ok(Some(key))
}

/// The signature of `digest` by `key`, as the evidence keeps it. The trusted comment names the
/// app, the release and the digest, so a signature cannot be passed off as another release's.
fn sign_release(
    key: &shipgate_sign::SecretKey,
    app: &str,
    version: &str,
    digest: &str,
) -> Result<serde_json::Value, Failure> {
    let trusted =
        format!("timestamp:{}\tapp:{app}\trelease:{version}\tdigest:{digest}", jiff::Timestamp::now().as_second());
    let signature = shipgate_sign::sign_digest(key, digest, &trusted, "signature from shipgate secret key")
        .map_err(super::keys::sign_failure)?;
    Ok(serde_json::json!({"key_id": key.key_id().to_string(), "minisig": signature.to_text()}))
}

/// A refusal (exit 1): the input is well-formed, but shipgate will not accept it.
fn refused(error: impl Into<anyhow::Error>) -> Failure {
    Failure { status: crate::exit::ExitStatus::Refused, error: error.into(), hint: None }
}

/// A signature made elsewhere (`--signature FILE`, e.g. by `minisign -S` in CI), as the evidence
/// keeps it, after checking that it verifies over `digest` with a trusted key: a release nobody
/// would accept is never created.
fn attached_signature(
    path: &std::path::Path,
    spec: &shipgate_spec::Spec,
    digest: &str,
) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the signature `{}`", path.display()))
        .map_err(Failure::usage)?;
    let trusted = shipgate_sign::PublicKey::parse_all(&spec.artifact.trusted_keys);
    if trusted.is_empty() {
        return Err(refused(anyhow!(
            "`{}` cannot be checked: shipgate.toml's `[artifact] trusted_keys` is empty",
            path.display()
        ))
        .hint("add the signer's public key (the second line of its `.pub` file) to `[artifact] trusted_keys`"));
    }
    match shipgate_sign::verify_digest_with_any(&trusted, digest, &text) {
        Ok((_, verified)) => Ok(serde_json::json!({"key_id": verified.key_id.to_string(), "minisig": text})),
        Err(error) => {
            let hint = format!(
                "sign the digest text with a trusted key: `echo {digest} > digest.txt; minisign -S -s KEY -m digest.txt`, \
                 then pass `--signature digest.txt.minisig`; or add the signer's public key to `[artifact] trusted_keys`"
            );
            Err(refused(anyhow::Error::new(error).context(format!(
                "the signature `{}` does not verify over {digest} with a trusted key",
                path.display()
            )))
            .hint(hint))
        }
    }
}

/// The secret scan of the release: the source at its commit (`git archive`, when shipgate.toml
/// is in a git repository and the commit exists there; else the folder as it is) and the
/// artifact. Only redacted findings are kept; the gates turn them into SG0601/SG0602.
fn secret_scan(
    spec: &shipgate_spec::Spec,
    folder: &Path,
    commit: Option<&str>,
    artifact: &Path,
    out: &Output,
) -> Result<serde_json::Value, Failure> {
    let config = shipgate_scan::Config {
        allow_paths: spec.scan.allow_paths.clone(),
        allow_regexes: spec.scan.allow_regexes.clone(),
        stopwords: spec.scan.stopwords.clone(),
    };
    let scanner = shipgate_scan::Scanner::new(&config)
        .map_err(|error| Failure::usage(anyhow!(error)).hint("check the `[scan]` allowlists in shipgate.toml"))?;
    let scan_failed = |error: shipgate_scan::Error| Failure::internal(anyhow!(error).context("the secret scan failed"));
    let (source, scanned) = match commit.filter(|commit| git_has_commit(folder, commit)) {
        Some(commit) => (scanner.scan_git_tree(folder, commit).map_err(scan_failed)?, format!("commit {commit}")),
        None => (
            scanner.scan_dir(folder, &shipgate_scan::DirOptions::default()).map_err(scan_failed)?,
            "the working tree".to_owned(),
        ),
    };
    let artifact_report = scanner.scan_artifact(artifact).map_err(scan_failed)?;
    let found = |report: &shipgate_scan::Report| -> Vec<serde_json::Value> {
        report
            .findings
            .iter()
            .map(|finding| {
                serde_json::json!({"rule": finding.rule, "path": finding.location.path, "line": finding.location.line,
                                   "container": finding.location.container, "redacted": finding.redacted})
            })
            .collect()
    };
    let (source, artifact_findings) = (found(&source), found(&artifact_report));
    if !source.is_empty() || !artifact_findings.is_empty() {
        out.message(&format!(
            "warning: the secret scan found {} secret(s) in {scanned} and {} in the artifact; `shipgate scan` shows them\n",
            source.len(),
            artifact_findings.len()
        ));
    }
    Ok(serde_json::json!({"scanned": scanned, "source": source, "artifact": artifact_findings}))
}

fn git_has_commit(folder: &Path, commit: &str) -> bool {
    std::process::Command::new("git")
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .current_dir(folder)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The release's migrations travel with it: the folder is stored content-addressed like the
/// artifact (the engine applies expand and contract from this copy), with the set's digest and
/// the rehearsal evidence `shipgate migrate rehearse` left for that digest, if any.
fn migrations_evidence(
    spec: &shipgate_spec::Spec,
    folder: &Path,
    artifacts_root: &Path,
) -> Result<Option<serde_json::Value>, Failure> {
    let Some(migrations) = &spec.migrations else { return Ok(None) };
    let dir = folder.join(&migrations.dir);
    let set_digest = match &migrations.command {
        Some(command) => shipgate_migrate::command::digest(&dir, command),
        None => shipgate_migrate::layout::load_dir(&dir)
            .map_err(|errors| {
                let first = errors.first().map(ToString::to_string).unwrap_or_default();
                Failure::usage(anyhow!("the migrations in `{}` do not load: {first}", dir.display()))
                    .hint("`shipgate migrate lint` shows every problem")
            })?
            .digest(),
    };
    let stored = shipgate_artifact::store(&dir, artifacts_root)
        .with_context(|| format!("cannot store the migrations `{}`", dir.display()))
        .map_err(Failure::usage)?;
    let rehearsal_path = folder.join(".shipgate/rehearsals").join(format!("{set_digest}.json"));
    let rehearsal = std::fs::read(&rehearsal_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map(
            |evidence| serde_json::json!({"passed": evidence["passed"].as_bool() == Some(true), "evidence": evidence}),
        );
    Ok(Some(serde_json::json!({"artifact": stored.digest, "set_digest": set_digest, "rehearsal": rehearsal})))
}

/// Runs each test command with `sh -c`; the first failing status, or 0.
fn run_tests(commands: &[String], folder: &Path, out: &Output) -> Result<i32, Failure> {
    for command in commands {
        out.message(&format!("running `{command}`\n"));
        let status = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(folder)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .status()
            .with_context(|| format!("cannot run the test command `{command}`"))
            .map_err(Failure::internal)?;
        if !status.success() {
            // A signal has no code: report it as the shell would (128 + signal), or 1.
            use std::os::unix::process::ExitStatusExt;
            return Ok(status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(1));
        }
    }
    Ok(0)
}

/// The files under `folder` whose path relative to it matches `pattern` (a glob).
pub(crate) fn find_reports(folder: &Path, pattern: &str) -> Result<Vec<PathBuf>, Failure> {
    let matcher = globset::Glob::new(pattern)
        .map_err(|error| Failure::usage(anyhow!("`[pipeline] junit = \"{pattern}\"` is not a valid glob: {error}")))?
        .compile_matcher();
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                if !matches!(name.to_str(), Some(".git" | "node_modules")) {
                    pending.push(path);
                }
            } else if path.strip_prefix(folder).is_ok_and(|relative| matcher.is_match(relative)) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Labels that name a moving target rather than one build.
const MUTABLE_LABELS: [&str; 6] = ["latest", "stable", "current", "main", "master", "head"];

pub(crate) fn check_version(version: &str) -> Result<(), Failure> {
    let valid = !version.is_empty()
        && version.len() <= 128
        && version.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if !valid {
        return Err(Failure::usage(anyhow!("`{version}` is not a valid version label"))
            .hint("use letters, digits, `.`, `-`, `_` and `+` (at most 128), e.g. `1.4.2` or `2026.11.30-1`"));
    }
    if MUTABLE_LABELS.contains(&version.to_ascii_lowercase().as_str()) {
        return Err(Failure::usage(anyhow!("`{version}` names a moving target, not one build"))
            .hint("use a label that will never mean anything else, e.g. a semantic version or the commit"));
    }
    Ok(())
}

pub(crate) fn git_head(folder: &Path) -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(folder).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|sha| !sha.is_empty())
}

/// Why a create did not happen, inside the store transaction.
#[derive(Debug)]
enum CreateError {
    Ledger(LedgerError),
    Taken(Box<ReleaseRow>),
}

impl From<StoreError> for CreateError {
    fn from(error: StoreError) -> Self {
        CreateError::Ledger(LedgerError::Store(error))
    }
}

fn create(store_args: &StoreArgs, args: &CreateArgs, out: &Output) -> Result<ExitStatus, Failure> {
    check_version(&args.version)?;
    let super::validate::LoadedSpec { text: spec_text, spec, folder } = super::validate::load_spec(&args.file)?;
    let artifact_path = match (&args.artifact, &spec.artifact.source) {
        (Some(path), _) => path.clone(),
        (None, shipgate_spec::ArtifactSource::Path(path)) => folder.join(path),
        (None, shipgate_spec::ArtifactSource::Image(_)) => {
            return Err(Failure::usage(anyhow!("container image artifacts are not supported yet"))
                .hint("pass `--artifact PATH` with a file, directory or .tar.gz"));
        }
    };
    let signing_key = signing_key(&args.signing, &spec)?;
    let changelog = changelog_entry(args)?;
    let scanners = scanner_evidence(args)?;
    let evidence = test_evidence(args, &spec, &folder, out)?;
    let artifacts_root = data_dir(store_args)?.join("artifacts");
    let migrations = migrations_evidence(&spec, &folder, &artifacts_root)?;
    let source_commit = args.commit.clone().or_else(|| git_head(&folder));
    let ledger = open_ledger(store_args)?;
    let artifact = shipgate_artifact::store(&artifact_path, &artifacts_root)
        .with_context(|| format!("cannot store the artifact `{}`", artifact_path.display()))
        .map_err(|error| {
            Failure::usage(error).hint("build it first (`[pipeline] build`), or pass `--artifact PATH`")
        })?;
    // The stored copy is what instances run, so that is what is scanned.
    let stored = shipgate_artifact::stored_path(&artifacts_root, &artifact.digest);
    let secrets = secret_scan(&spec, &folder, source_commit.as_deref(), &stored, out)?;
    let signature = match &args.signature {
        Some(path) => Some(attached_signature(path, &spec, &artifact.digest)?),
        None => signing_key
            .as_ref()
            .map(|key| sign_release(key, spec.app.name.as_str(), &args.version, &artifact.digest))
            .transpose()?,
    };
    let row = ReleaseRow {
        version: args.version.clone(),
        digest: artifact.digest.clone(),
        kind: artifact.kind.as_str().to_owned(),
        source_commit,
        creator: std::env::var(env_vars::USER).unwrap_or_else(|_| "unknown".to_owned()),
        created: jiff::Timestamp::now().to_string(),
        spec: spec_text,
        evidence: release_evidence(
            evidence.as_ref(),
            migrations.as_ref(),
            &secrets,
            signature.as_ref(),
            changelog.as_deref(),
            scanners.as_ref(),
        ),
    };
    let row = ReleaseRow { evidence: super::flags::mark_risky(row.evidence, args.risky), ..row };
    let outcome = ledger.store().transact(|tx| {
        if let Some(existing) = tx.release(&row.version)? {
            return Err(CreateError::Taken(Box::new(existing)));
        }
        tx.insert_release(&row)?;
        let mut entry =
            NewEntry::new(row.creator.clone(), "release.created", format!("{}@{}", spec.app.name, row.version));
        entry.details = serde_json::json!({
            "app": spec.app.name.as_str(), "version": row.version, "digest": row.digest,
            "kind": row.kind, "source_commit": row.source_commit, "tests": evidence,
            "signed_by": signature.as_ref().map(|signature| &signature["key_id"]),
        });
        ledger.append(tx, entry).map_err(CreateError::Ledger)?;
        Ok(())
    });
    match outcome {
        Ok(()) => {
            let signed = signature
                .as_ref()
                .map(|signature| format!(", signed by {}", signature["key_id"].as_str().unwrap_or("?")));
            out.data(&format!(
                "created release `{}` ({}, {}{})\n",
                row.version,
                row.digest,
                row.kind,
                signed.unwrap_or_default()
            ))?;
            Ok(ExitStatus::Success)
        }
        Err(CreateError::Taken(existing)) if existing.digest == row.digest => {
            out.data(&format!(
                "release `{}` already exists with the same artifact ({}): nothing to do\n",
                row.version, row.digest
            ))?;
            Ok(ExitStatus::Success)
        }
        Err(CreateError::Taken(existing)) => Err(Failure {
            status: ExitStatus::Refused,
            error: anyhow!(
                "release `{}` already exists with another artifact ({}, now {})",
                row.version,
                existing.digest,
                row.digest
            ),
            hint: Some("version labels are immutable: give this build a new version".to_owned()),
        }),
        Err(CreateError::Ledger(error)) => Err(failure(error)),
    }
}

fn list(store_args: &StoreArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let store = open_existing_store(store_args)?;
    let releases = store.read(|reader| reader.releases()).map_err(store_failure)?;
    if releases.is_empty() {
        out.data("no releases yet; create one with `shipgate release create --version V`\n")?;
    }
    for release in releases {
        let commit = release.source_commit.as_deref().map_or("-", |sha| sha.get(..12).unwrap_or(sha));
        out.data(&format!(
            "{}  {}  {}  {}  {}\n",
            release.version, release.digest, commit, release.creator, release.created
        ))?;
    }
    Ok(ExitStatus::Success)
}

fn show(store_args: &StoreArgs, version: &str, out: &Output) -> Result<ExitStatus, Failure> {
    let store = open_existing_store(store_args)?;
    let Some(release) = store.read(|reader| reader.release(version)).map_err(store_failure)? else {
        return Err(
            Failure::usage(anyhow!("there is no release `{version}`")).hint("`shipgate release list` shows them")
        );
    };
    out.data(&format!(
        "version: {}\ndigest: {}\nkind: {}\nsource commit: {}\ncreated: {} by {}\n--- shipgate.toml\n{}",
        release.version,
        release.digest,
        release.kind,
        release.source_commit.as_deref().unwrap_or("-"),
        release.created,
        release.creator,
        release.spec
    ))?;
    Ok(ExitStatus::Success)
}
