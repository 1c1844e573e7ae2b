//! Applying migrations to PostgreSQL, the safe way.
//!
//! - A schema history table (`shipgate_schema_history`) records each applied migration with the
//!   checksum of its script; a script edited after it was applied is an error, not a silent skip.
//! - An advisory lock serializes appliers: two deployments never race on one database.
//! - Each migration runs in its own transaction with `lock_timeout` and `statement_timeout` set,
//!   so a migration waiting on a busy table gives up instead of queueing every query behind it.
//!   A migration with a statement PostgreSQL refuses inside a transaction (`CREATE INDEX
//!   CONCURRENTLY`, …) runs statement by statement instead, with the same timeouts.

use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::layout::{Migration, MigrationSet, Phase};

/// The advisory lock key: the same for every shipgate applier of any app.
const LOCK_KEY: i64 = 0x5348_4950_4741_5445; // "SHIPGATE"

const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS shipgate_schema_history (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    phase text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms bigint NOT NULL
)";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot connect to the database")]
    Connect(#[source] postgres::Error),
    #[error("migration `{path}` was changed after it was applied (checksum {applied} in the database, {current} now)")]
    ChecksumMismatch { path: String, applied: String, current: String },
    #[error("migration {version} is recorded as applied but no such migration exists here")]
    UnknownApplied { version: i64 },
    #[error("migration `{path}` failed: {message}")]
    Migration {
        path: String,
        message: String,
        #[source]
        source: postgres::Error,
    },
    #[error("database error while {doing}")]
    Database {
        doing: &'static str,
        #[source]
        source: postgres::Error,
    },
}

impl ApplyError {
    pub fn hint(&self) -> String {
        match self {
            ApplyError::Connect(_) => "check the URL, that PostgreSQL runs and that it accepts this user".to_owned(),
            ApplyError::ChecksumMismatch { .. } => {
                "never edit an applied migration: restore it and add a new migration with the change".to_owned()
            }
            ApplyError::UnknownApplied { .. } => {
                "the database is ahead of these files: check out the release that applied it".to_owned()
            }
            ApplyError::Migration { .. } => {
                "its transaction was rolled back; fix the migration and apply again (a lock timeout means the table was busy: retry at a quieter time)".to_owned()
            }
            ApplyError::Database { .. } => "check the database's logs".to_owned(),
        }
    }
}

/// The server's own words for a database error (`canceling statement due to lock timeout`).
pub fn db_message(error: &postgres::Error) -> String {
    error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

/// Timeouts set for every migration statement.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub lock: Duration,
    pub statement: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { lock: Duration::from_secs(5), statement: Duration::from_secs(15 * 60) }
    }
}

/// One migration that was applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub version: u64,
    pub path: String,
    pub duration_ms: u64,
}

/// Which migrations to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phases {
    ExpandOnly,
    ContractOnly,
    All,
}

impl Phases {
    fn includes(self, phase: Phase) -> bool {
        match self {
            Phases::ExpandOnly => phase == Phase::Expand,
            Phases::ContractOnly => phase == Phase::Contract,
            Phases::All => true,
        }
    }
}

pub fn connect(url: &str) -> Result<Client, ApplyError> {
    Client::connect(url, NoTls).map_err(ApplyError::Connect)
}

/// Versions and checksums already recorded in the database (creates the history table).
pub fn applied_versions(client: &mut Client) -> Result<Vec<(i64, String)>, ApplyError> {
    client
        .batch_execute(HISTORY_TABLE)
        .map_err(|source| ApplyError::Database { doing: "creating the schema history table", source })?;
    let rows = client
        .query("SELECT version, checksum FROM shipgate_schema_history ORDER BY version", &[])
        .map_err(|source| ApplyError::Database { doing: "reading the schema history", source })?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Checks the recorded history against the files: every recorded migration must exist here
/// with the same checksum.
fn check_history(set: &MigrationSet, applied: &[(i64, String)]) -> Result<(), ApplyError> {
    for (version, checksum) in applied {
        let migration = set.migrations.iter().find(|migration| i64::try_from(migration.version).ok() == Some(*version));
        match migration {
            None => return Err(ApplyError::UnknownApplied { version: *version }),
            Some(migration) if migration.checksum() != *checksum => {
                return Err(ApplyError::ChecksumMismatch {
                    path: migration.up_path.clone(),
                    applied: checksum.clone(),
                    current: migration.checksum(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Applies the pending migrations of `phases`, in version order, under the advisory lock.
pub fn apply(
    client: &mut Client,
    set: &MigrationSet,
    phases: Phases,
    timeouts: Timeouts,
) -> Result<Vec<Applied>, ApplyError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .map_err(|source| ApplyError::Database { doing: "taking the migration lock", source })?;
    let result = apply_locked(client, set, phases, timeouts);
    // The lock is released with the session too; unlocking here keeps a pooled session clean.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    result
}

fn apply_locked(
    client: &mut Client,
    set: &MigrationSet,
    phases: Phases,
    timeouts: Timeouts,
) -> Result<Vec<Applied>, ApplyError> {
    // Read the history only once the lock is held: another applier may just have finished.
    let applied = applied_versions(client)?;
    check_history(set, &applied)?;
    let mut done = Vec::new();
    for migration in set.in_deployment_order() {
        let already = applied.iter().any(|(version, _)| i64::try_from(migration.version).ok() == Some(*version));
        if already || !phases.includes(migration.phase) {
            continue;
        }
        let started = Instant::now();
        run_migration(client, migration, timeouts).map_err(|source| ApplyError::Migration {
            path: migration.up_path.clone(),
            message: db_message(&source),
            source,
        })?;
        done.push(Applied {
            version: migration.version,
            path: migration.up_path.clone(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    Ok(done)
}

/// `SET <scope> lock_timeout …; SET <scope> statement_timeout …;` with `scope` `LOCAL` (the
/// transaction) or `SESSION`; shared with the rehearsal so both run under the same limits.
pub(crate) fn timeout_settings(timeouts: Timeouts, scope: &str) -> String {
    format!(
        "SET {scope} lock_timeout = '{}ms'; SET {scope} statement_timeout = '{}ms';",
        timeouts.lock.as_millis(),
        timeouts.statement.as_millis()
    )
}

/// Records `migration` as applied, in the caller's transaction.
pub(crate) fn record(
    client: &mut impl postgres::GenericClient,
    migration: &Migration,
    started: Instant,
) -> Result<(), postgres::Error> {
    let version = i64::try_from(migration.version).unwrap_or(i64::MAX);
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    client.execute(
        "INSERT INTO shipgate_schema_history (version, name, phase, checksum, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        &[&version, &migration.name, &migration.phase.folder(), &migration.checksum(), &duration_ms],
    )?;
    Ok(())
}

fn run_migration(client: &mut Client, migration: &Migration, timeouts: Timeouts) -> Result<(), postgres::Error> {
    let started = Instant::now();
    if needs_no_transaction(&migration.up) {
        client.batch_execute(&timeout_settings(timeouts, "SESSION"))?;
        for statement in statements(&migration.up) {
            client.batch_execute(statement)?;
        }
        client.batch_execute("RESET lock_timeout; RESET statement_timeout;")?;
        return record(client, migration, started);
    }
    let mut transaction = client.transaction()?;
    transaction.batch_execute(&timeout_settings(timeouts, "LOCAL"))?;
    transaction.batch_execute(&migration.up)?;
    record(&mut transaction, migration, started)?;
    transaction.commit()
}

/// Whether the script holds a statement PostgreSQL refuses inside a transaction block.
pub fn needs_no_transaction(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    ["CONCURRENTLY", "ALTER TYPE", "VACUUM", "ALTER SYSTEM"].iter().any(|needle| {
        // `ALTER TYPE … ADD VALUE` is the enum case; plain `ALTER TYPE` otherwise works in a
        // transaction, so look for the pair.
        if *needle == "ALTER TYPE" {
            upper.contains("ALTER TYPE") && upper.contains("ADD VALUE")
        } else {
            upper.contains(needle)
        }
    })
}

/// The script's statements, as text, using squawk's parser for the boundaries.
pub fn statements(sql: &str) -> Vec<&str> {
    use squawk_syntax::ast::AstNode;
    let file = squawk_syntax::SourceFile::parse(sql).tree();
    file.stmts()
        .filter_map(|statement| {
            let range = statement.syntax().text_range();
            sql.get(usize::from(range.start())..usize::from(range.end()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_the_parser_not_on_semicolons() {
        let sql = "CREATE INDEX CONCURRENTLY i ON t (a);\nINSERT INTO t VALUES ('a;b');\n-- done\n";
        assert_eq!(statements(sql), vec!["CREATE INDEX CONCURRENTLY i ON t (a);", "INSERT INTO t VALUES ('a;b');"]);
    }

    #[test]
    fn transaction_need_is_detected() {
        assert!(needs_no_transaction("create index concurrently i on t (a);"));
        assert!(needs_no_transaction("ALTER TYPE mood ADD VALUE 'meh';"));
        assert!(!needs_no_transaction("ALTER TYPE mood RENAME TO feeling;"));
        assert!(!needs_no_transaction("CREATE TABLE t (a int);"));
    }
}
