//! The PostgreSQL store, for teams and for several server replicas.
//!
//! Each transaction runs on a pooled connection at `READ COMMITTED`; ledger appends are
//! serialised by locking the one `ledger_head` row (`SELECT … FOR UPDATE`), which keeps
//! the sequence gap-free across connections and across server processes. PostgreSQL
//! groups the WAL flushes of concurrent commits itself, so there is no batching here.
//! Reads run in a `REPEATABLE READ, READ ONLY` transaction: one snapshot.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Statement};

use crate::migrations::{self, SCHEMA_TABLE, SCHEMA_VERSION};
use crate::{
    Abort, Backend, CheckpointRow, DeploymentRow, EntryQuery, EntryRow, EnvironmentRow, EventRow, LedgerHead, Location,
    Reader, RecordRow, ReleaseRow, Result, Store, StoreError, TokenRow, Transaction, to_i64, to_u32, to_u64,
};

/// How many idle connections are kept.
const MAX_IDLE: usize = 8;

/// Taken with `pg_advisory_xact_lock` while migrating, so that two processes starting
/// at once do not both apply a migration. ("shipgate" in ASCII.)
const MIGRATION_LOCK: i64 = 0x7368_6970_6761_7465;

/// Taken with `pg_advisory_xact_lock` by `insert_deployment`, so that deployment inserts
/// (from any connection or server) run one at a time: the next id stays gap-free and the
/// one-in-flight check sees every committed deployment. ("shipdepl" in ASCII.)
const DEPLOYMENT_LOCK: i64 = 0x7368_6970_6465_706c;

const ENTRY_COLUMNS: &str = "seq, time, actor, action, subject, env, body, leaf_hash";

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    location: Location,
    config: postgres::Config,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("location", &self.location).finish_non_exhaustive()
    }
}

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl PostgresStore {
    /// Connects to the database at `location` (a `postgres://` URL) and migrates it.
    pub fn open(location: &Location) -> Result<PostgresStore> {
        let Location::Postgres(url) = location else {
            return Err(StoreError::BadLocation {
                location: location.redacted(),
                reason: "it is not a PostgreSQL URL",
            });
        };
        let config: postgres::Config = url.parse().map_err(|_| StoreError::BadLocation {
            location: location.redacted(),
            reason: "it is not a valid PostgreSQL connection URL",
        })?;
        let store = PostgresStore { location: location.clone(), config, idle: Mutex::new(Vec::new()) };
        let mut conn = store.connect()?;
        migrate(&mut conn.client)?;
        store.give_back(conn);
        Ok(store)
    }

    fn connect(&self) -> Result<Conn> {
        let client = self
            .config
            .connect(NoTls)
            .map_err(|source| StoreError::ConnectPostgres { location: self.location.redacted(), source })?;
        Ok(Conn { client, statements: HashMap::new() })
    }

    fn take(&self) -> Result<Conn> {
        let idle = self.idle.lock().map_err(|_| StoreError::Poisoned)?.pop();
        match idle {
            Some(conn) if !conn.client.is_closed() => Ok(conn),
            _ => self.connect(),
        }
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn location(&self) -> &Location {
        &self.location
    }

    fn transact_dyn(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), Abort>) -> Result<()> {
        let mut conn = self.take()?;
        let outcome = {
            let Conn { client, statements } = &mut conn;
            let mut tx = client.transaction()?;
            let outcome = work(&mut PgTx { tx: &mut tx, statements });
            match outcome {
                Ok(()) => tx.commit().map_err(StoreError::from),
                Err(Abort) => tx.rollback().map_err(StoreError::from).and(Err(StoreError::Aborted)),
            }
        };
        // A panic in `work` unwinds past here: the connection is dropped with its
        // transaction, which PostgreSQL rolls back when the connection closes.
        self.give_back(conn);
        outcome
    }

    fn read_dyn(&self, work: &mut dyn FnMut(&mut dyn Reader) -> Result<(), Abort>) -> Result<()> {
        let mut conn = self.take()?;
        let outcome = {
            let Conn { client, statements } = &mut conn;
            let mut tx =
                client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
            let outcome = work(&mut PgTx { tx: &mut tx, statements });
            let ended = tx.commit().map_err(StoreError::from);
            match outcome {
                Ok(()) => ended,
                Err(Abort) => Err(StoreError::Aborted),
            }
        };
        self.give_back(conn);
        outcome
    }
}

fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(SCHEMA_TABLE)?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM shipgate_schema", &[])?.get(0);
    let current = u32::try_from(current).map_err(|_| StoreError::Corrupt(format!("schema version {current}")))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
    }
    for migration in migrations::pending(current) {
        let wrap = |source: StoreError| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source: Box::new(source),
        };
        tx.batch_execute(migration.postgres).map_err(|error| wrap(error.into()))?;
        let version = i32::try_from(migration.version).map_err(|_| wrap(StoreError::Corrupt("version".into())))?;
        tx.execute(
            "INSERT INTO shipgate_schema (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&version, &migration.name, &migrations::now()],
        )
        .map_err(|error| wrap(error.into()))?;
    }
    Ok(tx.commit()?)
}

/// A transaction (or snapshot) seen through the store's traits.
struct PgTx<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

impl PgTx<'_, '_> {
    /// The prepared statement for `sql`, prepared once per connection.
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

fn entry_row(row: &postgres::Row) -> Result<EntryRow> {
    Ok(EntryRow {
        seq: to_u64(row.try_get(0)?, "an entry's seq")?,
        time: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        subject: row.try_get(4)?,
        env: row.try_get(5)?,
        body: row.try_get(6)?,
        leaf_hash: row.try_get(7)?,
    })
}

fn head(row: Option<postgres::Row>) -> Result<LedgerHead> {
    let row = row.ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
    Ok(LedgerHead { size: to_u64(row.try_get(0)?, "the ledger size")?, state: row.try_get(1)? })
}

impl Reader for PgTx<'_, '_> {
    fn ledger_head(&mut self) -> Result<LedgerHead> {
        let statement = self.statement("SELECT size, state FROM ledger_head WHERE id = 1")?;
        head(self.tx.query_opt(&statement, &[])?)
    }

    fn ledger_entry(&mut self, seq: u64) -> Result<Option<EntryRow>> {
        const SQL: &str =
            "SELECT seq, time, actor, action, subject, env, body, leaf_hash FROM ledger_entries WHERE seq = $1";
        let statement = self.statement(SQL)?;
        match self.tx.query_opt(&statement, &[&to_i64(seq, "seq")?])? {
            Some(row) => Ok(Some(entry_row(&row)?)),
            None => Ok(None),
        }
    }

    fn ledger_entries(&mut self, after: u64, visit: &mut dyn FnMut(EntryRow) -> ControlFlow<()>) -> Result<()> {
        const SQL: &str = "SELECT seq, time, actor, action, subject, env, body, leaf_hash FROM ledger_entries \
                           WHERE seq > $1 ORDER BY seq";
        let statement = self.statement(SQL)?;
        let after = to_i64(after, "seq")?;
        // Rows stream in as they arrive; a million entries are never all in memory.
        let mut rows = self.tx.query_raw(&statement, [&after as &(dyn ToSql + Sync)])?;
        while let Some(row) = rows.next()? {
            if visit(entry_row(&row)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn ledger_query(&mut self, query: &EntryQuery) -> Result<Vec<EntryRow>> {
        let filter =
            crate::query_filter(query, |n| format!("${n}::text"), |p| format!("left(action, char_length({p})) = {p}"));
        let limit = match query.limit {
            Some(limit) => to_i64(limit, "limit")?.to_string(),
            None => "ALL".to_owned(),
        };
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries{} ORDER BY seq DESC LIMIT {limit}", filter.sql);
        let args: Vec<&(dyn ToSql + Sync)> = filter.args.iter().map(|arg| arg as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&sql, &args)?;
        let mut entries = rows.iter().map(entry_row).collect::<Result<Vec<_>>>()?;
        entries.reverse();
        Ok(entries)
    }

    fn ledger_leaf_hashes(&mut self, upto: u64, visit: &mut dyn FnMut(u64, &[u8]) -> ControlFlow<()>) -> Result<()> {
        let statement = self.statement("SELECT seq, leaf_hash FROM ledger_entries WHERE seq <= $1 ORDER BY seq")?;
        let upto = to_i64(upto, "seq")?;
        let mut rows = self.tx.query_raw(&statement, [&upto as &(dyn ToSql + Sync)])?;
        while let Some(row) = rows.next()? {
            let seq = to_u64(row.try_get(0)?, "an entry's seq")?;
            let hash: &[u8] = row.try_get(1)?;
            if visit(seq, hash).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn ledger_checkpoints(&mut self) -> Result<Vec<CheckpointRow>> {
        let statement =
            self.statement("SELECT id, tree_size, note, created FROM ledger_checkpoints ORDER BY tree_size, id")?;
        self.tx
            .query(&statement, &[])?
            .iter()
            .map(|row| {
                Ok(CheckpointRow {
                    id: row.try_get(0)?,
                    tree_size: to_u64(row.try_get(1)?, "a checkpoint's tree size")?,
                    note: row.try_get(2)?,
                    created: row.try_get(3)?,
                })
            })
            .collect()
    }

    fn release(&mut self, version: &str) -> Result<Option<ReleaseRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::release_columns!(), " FROM releases WHERE version = $1"))?;
        self.tx.query_opt(&statement, &[&version])?.map(|row| pg_release_row(&row)).transpose()
    }

    fn releases(&mut self) -> Result<Vec<ReleaseRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::release_columns!(), " FROM releases ORDER BY created, version"))?;
        self.tx.query(&statement, &[])?.iter().map(pg_release_row).collect()
    }

    fn deployment(&mut self, id: u64) -> Result<Option<DeploymentRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::deployment_columns!(), " FROM deployments WHERE id = $1"))?;
        self.tx.query_opt(&statement, &[&to_i64(id, "deployment id")?])?.map(|row| pg_deployment_row(&row)).transpose()
    }

    fn deployments(&mut self, environment: &str, limit: u64) -> Result<Vec<DeploymentRow>> {
        let statement = self.statement(concat!(
            "SELECT ",
            crate::deployment_columns!(),
            " FROM deployments WHERE environment = $1 ORDER BY id DESC LIMIT $2"
        ))?;
        self.tx.query(&statement, &[&environment, &to_i64(limit, "limit")?])?.iter().map(pg_deployment_row).collect()
    }

    fn unfinished_deployments(&mut self) -> Result<Vec<DeploymentRow>> {
        let statement = self.statement(concat!(
            "SELECT ",
            crate::deployment_columns!(),
            " FROM deployments WHERE finished IS NULL ORDER BY id"
        ))?;
        self.tx.query(&statement, &[])?.iter().map(pg_deployment_row).collect()
    }

    fn deployment_events(&mut self, deployment: u64, after: u64) -> Result<Vec<EventRow>> {
        let statement = self.statement(concat!(
            "SELECT ",
            crate::event_columns!(),
            " FROM deployment_events WHERE deployment = $1 AND seq > $2 ORDER BY seq"
        ))?;
        let args = [to_i64(deployment, "deployment id")?, to_i64(after, "seq")?];
        self.tx.query(&statement, &[&args[0], &args[1]])?.iter().map(pg_event_row).collect()
    }

    fn environment(&mut self, name: &str) -> Result<Option<EnvironmentRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::environment_columns!(), " FROM environments WHERE name = $1"))?;
        self.tx.query_opt(&statement, &[&name])?.map(|row| pg_environment_row(&row)).transpose()
    }

    fn environments(&mut self) -> Result<Vec<EnvironmentRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::environment_columns!(), " FROM environments ORDER BY name"))?;
        self.tx.query(&statement, &[])?.iter().map(pg_environment_row).collect()
    }

    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::token_columns!(), " FROM api_tokens WHERE hash = $1"))?;
        self.tx.query_opt(&statement, &[&hash])?.map(|row| pg_token_row(&row)).transpose()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>> {
        let statement =
            self.statement(concat!("SELECT ", crate::token_columns!(), " FROM api_tokens ORDER BY created, id"))?;
        self.tx.query(&statement, &[])?.iter().map(pg_token_row).collect()
    }

    fn record(&mut self, kind: &str, scope: &str, name: &str) -> Result<Option<RecordRow>> {
        let statement = self.statement(concat!(
            "SELECT ",
            crate::record_columns!(),
            " FROM records WHERE kind = $1 AND scope = $2 AND name = $3 ORDER BY version DESC LIMIT 1"
        ))?;
        self.tx.query_opt(&statement, &[&kind, &scope, &name])?.map(|row| pg_record_row(&row)).transpose()
    }

    fn records(&mut self, kind: &str, scope: &str) -> Result<Vec<RecordRow>> {
        // `ORDER BY name COLLATE "C"`: byte order, as on SQLite.
        let statement = self.statement(concat!(
            "SELECT DISTINCT ON (name COLLATE \"C\") ",
            crate::record_columns!(),
            " FROM records WHERE kind = $1 AND scope = $2 ORDER BY name COLLATE \"C\", version DESC"
        ))?;
        self.tx.query(&statement, &[&kind, &scope])?.iter().map(pg_record_row).collect()
    }

    fn record_history(&mut self, kind: &str, scope: &str, name: &str) -> Result<Vec<RecordRow>> {
        let statement = self.statement(concat!(
            "SELECT ",
            crate::record_columns!(),
            " FROM records WHERE kind = $1 AND scope = $2 AND name = $3 ORDER BY version"
        ))?;
        self.tx.query(&statement, &[&kind, &scope, &name])?.iter().map(pg_record_row).collect()
    }
}

fn pg_record_row(row: &postgres::Row) -> Result<RecordRow> {
    Ok(RecordRow {
        kind: row.try_get(0)?,
        scope: row.try_get(1)?,
        name: row.try_get(2)?,
        version: to_u64(row.try_get(3)?, "a record's version")?,
        value: row.try_get(4)?,
        actor: row.try_get(5)?,
        created: row.try_get(6)?,
    })
}

fn pg_deployment_row(row: &postgres::Row) -> Result<DeploymentRow> {
    Ok(DeploymentRow {
        id: to_u64(row.try_get(0)?, "a deployment's id")?,
        environment: row.try_get(1)?,
        version: row.try_get(2)?,
        from_version: row.try_get(3)?,
        kind: row.try_get(4)?,
        plan: row.try_get(5)?,
        plan_digest: row.try_get(6)?,
        status: row.try_get(7)?,
        reason: row.try_get(8)?,
        actor: row.try_get(9)?,
        created: row.try_get(10)?,
        finished: row.try_get(11)?,
        next_step: to_u32(row.try_get(12)?, "a deployment's next step")?,
    })
}

fn pg_event_row(row: &postgres::Row) -> Result<EventRow> {
    Ok(EventRow {
        deployment: to_u64(row.try_get(0)?, "an event's deployment")?,
        seq: to_u64(row.try_get(1)?, "an event's seq")?,
        time: row.try_get(2)?,
        kind: row.try_get(3)?,
        step_index: row
            .try_get::<_, Option<i64>>(4)?
            .map(|index| to_u32(index, "an event's step index"))
            .transpose()?,
        message: row.try_get(5)?,
        data: row.try_get(6)?,
    })
}

fn pg_environment_row(row: &postgres::Row) -> Result<EnvironmentRow> {
    Ok(EnvironmentRow {
        name: row.try_get(0)?,
        active_version: row.try_get(1)?,
        active_since: row.try_get(2)?,
        previous_version: row.try_get(3)?,
        warm_until: row.try_get(4)?,
    })
}

fn pg_token_row(row: &postgres::Row) -> Result<TokenRow> {
    Ok(TokenRow {
        id: row.try_get(0)?,
        hash: row.try_get(1)?,
        name: row.try_get(2)?,
        role: row.try_get(3)?,
        created: row.try_get(4)?,
        expires: row.try_get(5)?,
        revoked: row.try_get(6)?,
        environments: row.try_get(7)?,
    })
}

fn pg_release_row(row: &postgres::Row) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        version: row.try_get(0)?,
        digest: row.try_get(1)?,
        kind: row.try_get(2)?,
        source_commit: row.try_get(3)?,
        creator: row.try_get(4)?,
        created: row.try_get(5)?,
        spec: row.try_get(6)?,
        evidence: row.try_get(7)?,
    })
}

impl Transaction for PgTx<'_, '_> {
    fn lock_ledger_head(&mut self) -> Result<LedgerHead> {
        let statement = self.statement("SELECT size, state FROM ledger_head WHERE id = 1 FOR UPDATE")?;
        head(self.tx.query_opt(&statement, &[])?)
    }

    fn set_ledger_head(&mut self, head: &LedgerHead) -> Result<()> {
        let statement = self.statement("UPDATE ledger_head SET size = $1, state = $2 WHERE id = 1")?;
        let changed = self.tx.execute(&statement, &[&to_i64(head.size, "ledger size")?, &head.state])?;
        if changed == 1 { Ok(()) } else { Err(StoreError::Corrupt("the ledger head row is missing".into())) }
    }

    fn insert_ledger_entry(&mut self, row: &EntryRow) -> Result<()> {
        let statement = self.statement(
            "INSERT INTO ledger_entries (seq, time, actor, action, subject, env, body, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )?;
        self.tx.execute(
            &statement,
            &[
                &to_i64(row.seq, "seq")?,
                &row.time,
                &row.actor,
                &row.action,
                &row.subject,
                &row.env,
                &row.body,
                &row.leaf_hash,
            ],
        )?;
        Ok(())
    }

    fn insert_ledger_checkpoint(&mut self, tree_size: u64, note: &str, created: &str) -> Result<i64> {
        let statement = self
            .statement("INSERT INTO ledger_checkpoints (tree_size, note, created) VALUES ($1, $2, $3) RETURNING id")?;
        let row = self.tx.query_one(&statement, &[&to_i64(tree_size, "tree size")?, &note, &created])?;
        Ok(row.try_get(0)?)
    }

    fn insert_release(&mut self, row: &ReleaseRow) -> Result<()> {
        let statement = self.statement(concat!(
            "INSERT INTO releases (",
            crate::release_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))?;
        self.tx.execute(
            &statement,
            &[
                &row.version,
                &row.digest,
                &row.kind,
                &row.source_commit,
                &row.creator,
                &row.created,
                &row.spec,
                &row.evidence,
            ],
        )?;
        Ok(())
    }

    fn insert_deployment(&mut self, row: &DeploymentRow) -> Result<u64> {
        // Held to the end of the transaction. At READ COMMITTED each statement below takes a
        // fresh snapshot, so once the lock is ours they see every earlier insert, committed.
        let statement = self.statement("SELECT pg_advisory_xact_lock($1)")?;
        self.tx.execute(&statement, &[&DEPLOYMENT_LOCK])?;
        let statement = self.statement("SELECT id FROM deployments WHERE environment = $1 AND finished IS NULL")?;
        if let Some(running) = self.tx.query_opt(&statement, &[&row.environment])? {
            return Err(StoreError::Conflict {
                environment: row.environment.clone(),
                running: to_u64(running.try_get(0)?, "a deployment's id")?,
            });
        }
        let statement = self.statement("SELECT COALESCE(MAX(id), 0) + 1 FROM deployments")?;
        let id: i64 = self.tx.query_one(&statement, &[])?.try_get(0)?;
        let statement = self.statement(concat!(
            "INSERT INTO deployments (",
            crate::deployment_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))?;
        self.tx.execute(
            &statement,
            &[
                &id,
                &row.environment,
                &row.version,
                &row.from_version,
                &row.kind,
                &row.plan,
                &row.plan_digest,
                &row.status,
                &row.reason,
                &row.actor,
                &row.created,
                &row.finished,
                &i64::from(row.next_step),
            ],
        )?;
        to_u64(id, "a deployment's id")
    }

    fn update_deployment(&mut self, row: &DeploymentRow) -> Result<()> {
        let statement = self.statement(
            "UPDATE deployments SET status = $2, reason = $3, finished = $4, next_step = $5, plan = $6, \
             plan_digest = $7 WHERE id = $1",
        )?;
        let changed = self.tx.execute(
            &statement,
            &[
                &to_i64(row.id, "deployment id")?,
                &row.status,
                &row.reason,
                &row.finished,
                &i64::from(row.next_step),
                &row.plan,
                &row.plan_digest,
            ],
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound { what: format!("deployment {}", row.id) }) }
    }

    fn append_deployment_event(&mut self, event: &EventRow) -> Result<u64> {
        let deployment = to_i64(event.deployment, "deployment id")?;
        // Locking the deployment's row serialises appends to its timeline across
        // connections; the next statement's fresh snapshot sees the previous appender's events.
        let statement = self.statement("SELECT id FROM deployments WHERE id = $1 FOR UPDATE")?;
        if self.tx.query_opt(&statement, &[&deployment])?.is_none() {
            return Err(StoreError::NotFound { what: format!("deployment {}", event.deployment) });
        }
        let statement = self.statement(concat!(
            "INSERT INTO deployment_events (",
            crate::event_columns!(),
            ") SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM deployment_events WHERE deployment = $1 \
             RETURNING seq"
        ))?;
        let row = self.tx.query_one(
            &statement,
            &[&deployment, &event.time, &event.kind, &event.step_index.map(i64::from), &event.message, &event.data],
        )?;
        to_u64(row.try_get(0)?, "an event's seq")
    }

    fn upsert_environment(&mut self, row: &EnvironmentRow) -> Result<()> {
        let statement = self.statement(concat!(
            "INSERT INTO environments (",
            crate::environment_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)",
            crate::environment_replace!()
        ))?;
        self.tx.execute(
            &statement,
            &[&row.name, &row.active_version, &row.active_since, &row.previous_version, &row.warm_until],
        )?;
        Ok(())
    }

    fn insert_token(&mut self, row: &TokenRow) -> Result<()> {
        let statement = self.statement(concat!(
            "INSERT INTO api_tokens (",
            crate::token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))?;
        self.tx.execute(
            &statement,
            &[&row.id, &row.hash, &row.name, &row.role, &row.created, &row.expires, &row.revoked, &row.environments],
        )?;
        Ok(())
    }

    fn revoke_token(&mut self, id: &str, time: &str) -> Result<bool> {
        let statement = self.statement("UPDATE api_tokens SET revoked = $2 WHERE id = $1 AND revoked IS NULL")?;
        Ok(self.tx.execute(&statement, &[&id, &time])? == 1)
    }

    fn put_record(&mut self, row: &RecordRow) -> Result<u64> {
        let statement = self.statement(concat!(
            "INSERT INTO records (",
            crate::record_columns!(),
            ") SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, $6 FROM records \
             WHERE kind = $1 AND scope = $2 AND name = $3 RETURNING version"
        ))?;
        let inserted =
            self.tx.query_one(&statement, &[&row.kind, &row.scope, &row.name, &row.value, &row.actor, &row.created])?;
        to_u64(inserted.try_get(0)?, "a record's version")
    }
}
