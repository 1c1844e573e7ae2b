//! Rehearsal: the pending migrations run on a copy of the real database first, measured.
//!
//! The source database is copied into a scratch database on the same server (`CREATE DATABASE
//! … TEMPLATE`, or `pg_dump | psql` when the source has other sessions, as production does).
//! Each pending migration then runs statement by statement inside its transaction, with the
//! applier's timeouts, and each statement's duration, the table locks it took (from `pg_locks`)
//! and the tables it rewrote (a changed `relfilenode`) are recorded. Then the down migrations run
//! in reverse, then the ups again, which proves the rollback path. The scratch database is
//! dropped at the end, whatever happened. The result is evidence keyed by the migration set's
//! digest: production refuses a release whose migration set has no passing rehearsal.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use serde::Serialize;

use crate::apply::{self, Timeouts, db_message};
use crate::layout::{Migration, MigrationSet};

#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("cannot connect to `{url}`: {message}")]
    Connect { url: String, message: String },
    #[error("cannot copy the database: {0}")]
    Copy(String),
    #[error("database error while {doing}: {message}")]
    Database { doing: &'static str, message: String },
    #[error(transparent)]
    History(#[from] apply::ApplyError),
    #[error("{0}")]
    Command(String),
}

/// Settings for one rehearsal.
#[derive(Debug, Clone, Copy)]
pub struct RehearsalOptions {
    pub timeouts: Timeouts,
    /// A statement taking at least this long is reported as slow.
    pub slow: Duration,
}

impl Default for RehearsalOptions {
    fn default() -> Self {
        RehearsalOptions { timeouts: Timeouts::default(), slow: Duration::from_millis(500) }
    }
}

/// A lock a statement took on a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Lock {
    pub table: String,
    pub mode: String,
}

impl Lock {
    /// Modes that block ordinary reads or writes of the table while held.
    pub fn blocks_traffic(&self) -> bool {
        matches!(self.mode.as_str(), "AccessExclusiveLock" | "ExclusiveLock" | "ShareLock" | "ShareRowExclusiveLock")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementReport {
    pub migration: String,
    /// The statement, shortened to one line.
    pub statement: String,
    pub duration_ms: u64,
    pub locks: Vec<Lock>,
    /// Tables PostgreSQL rewrote (copied) to run the statement.
    pub rewrites: Vec<String>,
    pub slow: bool,
}

impl StatementReport {
    /// Slow and holding a lock that blocks traffic: this would stall production.
    pub fn hazardous(&self) -> bool {
        self.slow && self.locks.iter().any(Lock::blocks_traffic)
    }
}

/// The outcome of one rehearsal: the evidence stored for the migration set.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// `MigrationSet::digest()` of what was rehearsed.
    pub digest: String,
    /// How the copy was made: `template` or `dump`.
    pub copy: &'static str,
    pub applied: Vec<String>,
    pub statements: Vec<StatementReport>,
    /// Migrations whose down ran and whose up then ran again.
    pub round_tripped: Vec<String>,
    /// Pending expand migrations with no down: their rollback path is untested.
    pub without_down: Vec<String>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    pub passed: bool,
}

/// `postgres://user@host/db?opts` → (`postgres://user@host`, `db`, `?opts`).
fn url_parts(url: &str) -> Option<(&str, &str, &str)> {
    let (base, rest) = url.rsplit_once('/')?;
    let (name, query) = rest.find('?').map_or((rest, ""), |at| rest.split_at(at));
    (!name.is_empty() && !base.ends_with('/')).then_some((base, name, query))
}

/// `postgres://user@host/db` → (`postgres://user@host/postgres`, `db`).
fn split_database(url: &str) -> Option<(String, String)> {
    let (base, name, query) = url_parts(url)?;
    Some((format!("{base}/postgres{query}"), name.to_owned()))
}

/// The same server and options, another database.
fn with_database(url: &str, name: &str) -> String {
    url_parts(url).map_or_else(|| url.to_owned(), |(base, _, query)| format!("{base}/{name}{query}"))
}

fn connect(url: &str) -> Result<Client, RehearseError> {
    Client::connect(url, NoTls)
        .map_err(|error| RehearseError::Connect { url: redact(url), message: db_message(&error) })
}

/// The URL without its password, for messages and evidence.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn database_error(doing: &'static str) -> impl Fn(postgres::Error) -> RehearseError {
    move |error| RehearseError::Database { doing, message: db_message(&error) }
}

/// Copies `source` into a new database `scratch` on the same server.
fn copy_database(
    admin: &mut Client,
    source_url: &str,
    source: &str,
    scratch: &str,
) -> Result<&'static str, RehearseError> {
    let template = admin.batch_execute(&format!("CREATE DATABASE \"{scratch}\" TEMPLATE \"{source}\""));
    if template.is_ok() {
        return Ok("template");
    }
    // A template copy needs the source to have no other sessions; production always has some.
    admin
        .batch_execute(&format!("CREATE DATABASE \"{scratch}\""))
        .map_err(database_error("creating the scratch database"))?;
    let dump = Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--dbname", source_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            RehearseError::Copy(format!("cannot run `pg_dump` ({error}); install the PostgreSQL client tools"))
        })?;
    let restore = Command::new("psql")
        .args(["--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--dbname", &with_database(source_url, scratch)])
        .stdin(dump.stdout.ok_or_else(|| RehearseError::Copy("pg_dump gave no output".to_owned()))?)
        .output()
        .map_err(|error| RehearseError::Copy(format!("cannot run `psql` ({error})")))?;
    if !restore.status.success() {
        return Err(RehearseError::Copy(String::from_utf8_lossy(&restore.stderr).trim().to_owned()));
    }
    Ok("dump")
}

/// Rehearses another framework's migration `command` on a copy of the database at `source_url`:
/// the command runs with the copy's URL in `$url_variable`. `digest` keys the evidence.
pub fn rehearse_command(
    source_url: &str,
    command: &str,
    workdir: &std::path::Path,
    url_variable: &str,
    digest: String,
) -> Result<(Rehearsal, crate::command::CommandRun), RehearseError> {
    let (admin_url, source) = split_database(source_url).ok_or_else(|| RehearseError::Connect {
        url: redact(source_url),
        message: "the URL names no database".to_owned(),
    })?;
    let mut admin = connect(&admin_url)?;
    let scratch = format!("shipgate_rehearsal_{}_{}", &digest[..12], std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"))
        .map_err(database_error("clearing an old scratch database"))?;
    let result = copy_database(&mut admin, source_url, &source, &scratch).and_then(|copy| {
        let run = crate::command::run(command, workdir, url_variable, &with_database(source_url, &scratch))
            .map_err(RehearseError::Command)?;
        let rehearsal = Rehearsal {
            digest,
            copy,
            applied: vec![format!("command: {command}")],
            statements: Vec::new(),
            round_tripped: Vec::new(),
            without_down: Vec::new(),
            failure: (!run.success).then(|| format!("`{command}` failed:\n{}", run.output_tail)),
            passed: run.success,
        };
        Ok((rehearsal, run))
    });
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"));
    result
}

/// Rehearses the pending migrations of `set` on a copy of the database at `source_url`.
pub fn rehearse(source_url: &str, set: &MigrationSet, options: RehearsalOptions) -> Result<Rehearsal, RehearseError> {
    let (admin_url, source) = split_database(source_url).ok_or_else(|| RehearseError::Connect {
        url: redact(source_url),
        message: "the URL names no database".to_owned(),
    })?;
    let mut admin = connect(&admin_url)?;
    let scratch = format!("shipgate_rehearsal_{}_{}", &set.digest()[..12], std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"))
        .map_err(database_error("clearing an old scratch database"))?;
    let result = copy_database(&mut admin, source_url, &source, &scratch)
        .and_then(|copy| run_on_copy(&with_database(source_url, &scratch), set, options, copy));
    // Dropped whatever happened; a leftover copy of production data is a liability.
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"));
    result
}

fn run_on_copy(
    url: &str,
    set: &MigrationSet,
    options: RehearsalOptions,
    copy: &'static str,
) -> Result<Rehearsal, RehearseError> {
    let mut client = connect(url)?;
    let history = apply::applied_versions(&mut client)?;
    let pending: Vec<&Migration> = set
        .in_deployment_order()
        .filter(|migration| !history.iter().any(|(version, _)| i64::try_from(migration.version).ok() == Some(*version)))
        .collect();
    let mut rehearsal = Rehearsal {
        digest: set.digest(),
        copy,
        applied: Vec::new(),
        statements: Vec::new(),
        round_tripped: Vec::new(),
        without_down: pending
            .iter()
            .filter(|m| m.down.is_none() && m.phase == crate::Phase::Expand)
            .map(|m| m.up_path.clone())
            .collect(),
        failure: None,
        passed: false,
    };
    if let Err(failure) = rehearse_steps(&mut client, &pending, options, &mut rehearsal) {
        rehearsal.failure = Some(failure);
        return Ok(rehearsal);
    }
    rehearsal.passed = true;
    Ok(rehearsal)
}

/// Expand migrations up (measured), down in reverse, up again; then contract migrations up
/// (measured). That is the order of real life: a rollback can only happen before the contract
/// step, which runs a release later. An `Err` is the reason the rehearsal failed.
fn rehearse_steps(
    client: &mut Client,
    pending: &[&Migration],
    options: RehearsalOptions,
    rehearsal: &mut Rehearsal,
) -> Result<(), String> {
    let (expand, contract): (Vec<&Migration>, Vec<&Migration>) =
        pending.iter().partition(|migration| migration.phase == crate::Phase::Expand);
    for migration in &expand {
        apply_measured(client, migration, options, rehearsal)?;
    }
    let reversible: Vec<&&Migration> = expand.iter().filter(|migration| migration.down.is_some()).collect();
    for migration in reversible.iter().rev() {
        let down = migration.down.as_deref().unwrap_or_default();
        let path = migration.down_path.clone().unwrap_or_default();
        run_script(client, down, options.timeouts).map_err(|error| format!("down `{path}` failed: {error}"))?;
        let version = i64::try_from(migration.version).unwrap_or(i64::MAX);
        client
            .execute("DELETE FROM shipgate_schema_history WHERE version = $1", &[&version])
            .map_err(|error| db_message(&error))?;
    }
    for migration in &reversible {
        run_script(client, &migration.up, options.timeouts)
            .map_err(|error| format!("`{}` failed when applied again after its down: {error}", migration.up_path))?;
        rehearsal.round_tripped.push(migration.up_path.clone());
    }
    for migration in &contract {
        apply_measured(client, migration, options, rehearsal)?;
    }
    Ok(())
}

fn apply_measured(
    client: &mut Client,
    migration: &Migration,
    options: RehearsalOptions,
    rehearsal: &mut Rehearsal,
) -> Result<(), String> {
    let reports =
        run_measured(client, migration, options).map_err(|error| format!("`{}` failed: {error}", migration.up_path))?;
    rehearsal.statements.extend(reports);
    rehearsal.applied.push(migration.up_path.clone());
    Ok(())
}

fn run_script(client: &mut Client, sql: &str, timeouts: Timeouts) -> Result<(), String> {
    client.batch_execute(&apply::timeout_settings(timeouts, "SESSION")).map_err(|error| db_message(&error))?;
    if apply::needs_no_transaction(sql) {
        for statement in apply::statements(sql) {
            client.batch_execute(statement).map_err(|error| db_message(&error))?;
        }
        return Ok(());
    }
    let mut transaction = client.transaction().map_err(|error| db_message(&error))?;
    transaction.batch_execute(sql).map_err(|error| db_message(&error))?;
    transaction.commit().map_err(|error| db_message(&error))
}

/// Table name → relfilenode, for user tables: a change means the table was rewritten.
fn relfilenodes(client: &mut impl postgres::GenericClient) -> Result<BTreeMap<String, u32>, postgres::Error> {
    let rows = client.query(
        "SELECT c.oid::regclass::text, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
        &[],
    )?;
    Ok(rows.iter().map(|row| (row.get::<_, String>(0), row.get::<_, postgres::types::Oid>(1))).collect())
}

/// Table locks this session holds now.
fn held_locks(client: &mut impl postgres::GenericClient) -> Result<BTreeSet<Lock>, postgres::Error> {
    let rows = client.query(
        "SELECT l.relation::regclass::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind IN ('r', 'm', 'p') \
         AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        &[],
    )?;
    Ok(rows.iter().map(|row| Lock { table: row.get(0), mode: row.get(1) }).collect())
}

fn one_line(statement: &str) -> String {
    let line: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 120 { format!("{}…", line.chars().take(119).collect::<String>()) } else { line }
}

/// Runs one migration statement by statement in a transaction, measuring each.
fn run_measured(
    client: &mut Client,
    migration: &Migration,
    options: RehearsalOptions,
) -> Result<Vec<StatementReport>, String> {
    let statements = apply::statements(&migration.up);
    if apply::needs_no_transaction(&migration.up) {
        // Locks end with each statement here, so only durations and rewrites can be observed.
        run_script(client, &migration.up, options.timeouts)?;
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let mut transaction = client.transaction().map_err(|error| db_message(&error))?;
    transaction
        .batch_execute(&apply::timeout_settings(options.timeouts, "LOCAL"))
        .map_err(|error| db_message(&error))?;
    let mut reports = Vec::new();
    let mut locks_before = held_locks(&mut transaction).map_err(|error| db_message(&error))?;
    for statement in statements {
        let files_before = relfilenodes(&mut transaction).map_err(|error| db_message(&error))?;
        let started = Instant::now();
        transaction.batch_execute(statement).map_err(|error| db_message(&error))?;
        let elapsed = started.elapsed();
        let files_after = relfilenodes(&mut transaction).map_err(|error| db_message(&error))?;
        let locks_after = held_locks(&mut transaction).map_err(|error| db_message(&error))?;
        let rewrites = files_before
            .iter()
            .filter(|(table, node)| files_after.get(*table).is_some_and(|after| after != *node))
            .map(|(table, _)| table.clone())
            .collect();
        reports.push(StatementReport {
            migration: migration.up_path.clone(),
            statement: one_line(statement),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            locks: locks_after.difference(&locks_before).cloned().collect(),
            rewrites,
            slow: elapsed >= options.slow,
        });
        locks_before = locks_after;
    }
    apply::record(&mut transaction, migration, started).map_err(|error| db_message(&error))?;
    transaction.commit().map_err(|error| db_message(&error))?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_and_redacted() {
        assert_eq!(
            split_database("postgres://app:secret@db:5432/shop?sslmode=disable"),
            Some(("postgres://app:secret@db:5432/postgres?sslmode=disable".to_owned(), "shop".to_owned()))
        );
        assert_eq!(with_database("postgres://u@h/shop", "copy"), "postgres://u@h/copy");
        assert_eq!(with_database("postgres://postgres/shop?x=1", "copy"), "postgres://postgres/copy?x=1");
        assert_eq!(redact("postgres://app:secret@db/shop"), "postgres://app:***@db/shop");
        assert_eq!(redact("postgres://app@db/shop"), "postgres://app@db/shop");
        assert_eq!(split_database("postgres://h/"), None);
    }
}
