//! The SQL of the [`Reader`] and [`Transaction`] traits for SQLite, over one connection.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::{
    CheckpointRow, DeploymentRow, EntryQuery, EntryRow, EnvironmentRow, EventRow, LedgerHead, Reader, RecordRow,
    ReleaseRow, Result, StoreError, TokenRow, Transaction, to_i64, to_u32, to_u64,
};

const ENTRY_COLUMNS: &str = "seq, time, actor, action, subject, env, body, leaf_hash";

/// A connection seen through the store's traits. Whether it is inside a snapshot or a
/// transaction (and a savepoint) is decided by whoever made it.
pub(crate) struct SqliteConn<'c>(pub(crate) &'c Connection);

fn entry_row(row: &rusqlite::Row<'_>) -> Result<EntryRow> {
    Ok(EntryRow {
        seq: to_u64(row.get(0)?, "an entry's seq")?,
        time: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        subject: row.get(4)?,
        env: row.get(5)?,
        body: row.get(6)?,
        leaf_hash: row.get(7)?,
    })
}

impl Reader for SqliteConn<'_> {
    fn ledger_head(&mut self) -> Result<LedgerHead> {
        let head = self
            .0
            .prepare_cached("SELECT size, state FROM ledger_head WHERE id = 1")?
            .query_row([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))
            .optional()?;
        let (size, state) = head.ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
        Ok(LedgerHead { size: to_u64(size, "the ledger size")?, state })
    }

    fn ledger_entry(&mut self, seq: u64) -> Result<Option<EntryRow>> {
        let mut statement =
            self.0.prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq = ?1"))?;
        let mut rows = statement.query([to_i64(seq, "seq")?])?;
        match rows.next()? {
            Some(row) => Ok(Some(entry_row(row)?)),
            None => Ok(None),
        }
    }

    fn ledger_entries(&mut self, after: u64, visit: &mut dyn FnMut(EntryRow) -> ControlFlow<()>) -> Result<()> {
        let mut statement = self
            .0
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq > ?1 ORDER BY seq"))?;
        let mut rows = statement.query([to_i64(after, "seq")?])?;
        while let Some(row) = rows.next()? {
            if visit(entry_row(row)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn ledger_query(&mut self, query: &EntryQuery) -> Result<Vec<EntryRow>> {
        let filter =
            crate::query_filter(query, |n| format!("?{n}"), |p| format!("substr(action, 1, length({p})) = {p}"));
        let limit = match query.limit {
            Some(limit) => to_i64(limit, "limit")?,
            None => -1,
        };
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries{} ORDER BY seq DESC LIMIT {limit}", filter.sql);
        let mut statement = self.0.prepare(&sql)?;
        let mut rows = statement.query(params_from_iter(filter.args))?;
        let mut entries = Vec::new();
        while let Some(row) = rows.next()? {
            entries.push(entry_row(row)?);
        }
        entries.reverse();
        Ok(entries)
    }

    fn ledger_leaf_hashes(&mut self, upto: u64, visit: &mut dyn FnMut(u64, &[u8]) -> ControlFlow<()>) -> Result<()> {
        let mut statement =
            self.0.prepare_cached("SELECT seq, leaf_hash FROM ledger_entries WHERE seq <= ?1 ORDER BY seq")?;
        let mut rows = statement.query([to_i64(upto, "seq")?])?;
        while let Some(row) = rows.next()? {
            let seq = to_u64(row.get(0)?, "an entry's seq")?;
            let hash = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if visit(seq, hash).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn ledger_checkpoints(&mut self) -> Result<Vec<CheckpointRow>> {
        let mut statement = self
            .0
            .prepare_cached("SELECT id, tree_size, note, created FROM ledger_checkpoints ORDER BY tree_size, id")?;
        let mut rows = statement.query([])?;
        let mut checkpoints = Vec::new();
        while let Some(row) = rows.next()? {
            checkpoints.push(CheckpointRow {
                id: row.get(0)?,
                tree_size: to_u64(row.get(1)?, "a checkpoint's tree size")?,
                note: row.get(2)?,
                created: row.get(3)?,
            });
        }
        Ok(checkpoints)
    }

    fn release(&mut self, version: &str) -> Result<Option<ReleaseRow>> {
        Ok(self
            .0
            .prepare_cached(concat!("SELECT ", crate::release_columns!(), " FROM releases WHERE version = ?1"))?
            .query_row(params![version], release_row)
            .optional()?)
    }

    fn releases(&mut self) -> Result<Vec<ReleaseRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::release_columns!(),
            " FROM releases ORDER BY created, version"
        ))?;
        let rows = statement.query_map([], release_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn deployment(&mut self, id: u64) -> Result<Option<DeploymentRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::deployment_columns!(),
            " FROM deployments WHERE id = ?1"
        ))?;
        let mut rows = statement.query([to_i64(id, "deployment id")?])?;
        rows.next()?.map(deployment_row).transpose()
    }

    fn deployments(&mut self, environment: &str, limit: u64) -> Result<Vec<DeploymentRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::deployment_columns!(),
            " FROM deployments WHERE environment = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        collect(statement.query(params![environment, to_i64(limit, "limit")?])?, deployment_row)
    }

    fn unfinished_deployments(&mut self) -> Result<Vec<DeploymentRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::deployment_columns!(),
            " FROM deployments WHERE finished IS NULL ORDER BY id"
        ))?;
        collect(statement.query([])?, deployment_row)
    }

    fn deployment_events(&mut self, deployment: u64, after: u64) -> Result<Vec<EventRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::event_columns!(),
            " FROM deployment_events WHERE deployment = ?1 AND seq > ?2 ORDER BY seq"
        ))?;
        collect(statement.query([to_i64(deployment, "deployment id")?, to_i64(after, "seq")?])?, event_row)
    }

    fn environment(&mut self, name: &str) -> Result<Option<EnvironmentRow>> {
        Ok(self
            .0
            .prepare_cached(concat!("SELECT ", crate::environment_columns!(), " FROM environments WHERE name = ?1"))?
            .query_row(params![name], environment_row)
            .optional()?)
    }

    fn environments(&mut self) -> Result<Vec<EnvironmentRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::environment_columns!(),
            " FROM environments ORDER BY name"
        ))?;
        let rows = statement.query_map([], environment_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .0
            .prepare_cached(concat!("SELECT ", crate::token_columns!(), " FROM api_tokens WHERE hash = ?1"))?
            .query_row(params![hash], token_row)
            .optional()?)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::token_columns!(),
            " FROM api_tokens ORDER BY created, id"
        ))?;
        let rows = statement.query_map([], token_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn record(&mut self, kind: &str, scope: &str, name: &str) -> Result<Option<RecordRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::record_columns!(),
            " FROM records WHERE kind = ?1 AND scope = ?2 AND name = ?3 ORDER BY version DESC LIMIT 1"
        ))?;
        Ok(collect(statement.query(params![kind, scope, name])?, record_row)?.pop())
    }

    fn records(&mut self, kind: &str, scope: &str) -> Result<Vec<RecordRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::record_columns!(),
            " FROM records r WHERE kind = ?1 AND scope = ?2 AND version = \
             (SELECT MAX(version) FROM records o WHERE o.kind = r.kind AND o.scope = r.scope AND o.name = r.name) \
             ORDER BY name"
        ))?;
        collect(statement.query(params![kind, scope])?, record_row)
    }

    fn record_history(&mut self, kind: &str, scope: &str, name: &str) -> Result<Vec<RecordRow>> {
        let mut statement = self.0.prepare_cached(concat!(
            "SELECT ",
            crate::record_columns!(),
            " FROM records WHERE kind = ?1 AND scope = ?2 AND name = ?3 ORDER BY version"
        ))?;
        collect(statement.query(params![kind, scope, name])?, record_row)
    }
}

fn record_row(row: &rusqlite::Row<'_>) -> Result<RecordRow> {
    Ok(RecordRow {
        kind: row.get(0)?,
        scope: row.get(1)?,
        name: row.get(2)?,
        version: to_u64(row.get(3)?, "a record's version")?,
        value: row.get(4)?,
        actor: row.get(5)?,
        created: row.get(6)?,
    })
}

/// Every row of `rows`, converted by `convert`.
fn collect<T>(mut rows: rusqlite::Rows<'_>, convert: fn(&rusqlite::Row<'_>) -> Result<T>) -> Result<Vec<T>> {
    let mut collected = Vec::new();
    while let Some(row) = rows.next()? {
        collected.push(convert(row)?);
    }
    Ok(collected)
}

fn deployment_row(row: &rusqlite::Row<'_>) -> Result<DeploymentRow> {
    Ok(DeploymentRow {
        id: to_u64(row.get(0)?, "a deployment's id")?,
        environment: row.get(1)?,
        version: row.get(2)?,
        from_version: row.get(3)?,
        kind: row.get(4)?,
        plan: row.get(5)?,
        plan_digest: row.get(6)?,
        status: row.get(7)?,
        reason: row.get(8)?,
        actor: row.get(9)?,
        created: row.get(10)?,
        finished: row.get(11)?,
        next_step: to_u32(row.get(12)?, "a deployment's next step")?,
    })
}

fn event_row(row: &rusqlite::Row<'_>) -> Result<EventRow> {
    Ok(EventRow {
        deployment: to_u64(row.get(0)?, "an event's deployment")?,
        seq: to_u64(row.get(1)?, "an event's seq")?,
        time: row.get(2)?,
        kind: row.get(3)?,
        step_index: row.get::<_, Option<i64>>(4)?.map(|index| to_u32(index, "an event's step index")).transpose()?,
        message: row.get(5)?,
        data: row.get(6)?,
    })
}

fn environment_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EnvironmentRow> {
    Ok(EnvironmentRow {
        name: row.get(0)?,
        active_version: row.get(1)?,
        active_since: row.get(2)?,
        previous_version: row.get(3)?,
        warm_until: row.get(4)?,
    })
}

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: row.get(0)?,
        hash: row.get(1)?,
        name: row.get(2)?,
        role: row.get(3)?,
        created: row.get(4)?,
        expires: row.get(5)?,
        revoked: row.get(6)?,
        environments: row.get(7)?,
    })
}

fn release_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReleaseRow> {
    Ok(ReleaseRow {
        version: row.get(0)?,
        digest: row.get(1)?,
        kind: row.get(2)?,
        source_commit: row.get(3)?,
        creator: row.get(4)?,
        created: row.get(5)?,
        spec: row.get(6)?,
        evidence: row.get(7)?,
    })
}

impl Transaction for SqliteConn<'_> {
    fn lock_ledger_head(&mut self) -> Result<LedgerHead> {
        // The transaction began with `BEGIN IMMEDIATE`: it already holds the write lock.
        self.ledger_head()
    }

    fn set_ledger_head(&mut self, head: &LedgerHead) -> Result<()> {
        let changed = self
            .0
            .prepare_cached("UPDATE ledger_head SET size = ?1, state = ?2 WHERE id = 1")?
            .execute(params![to_i64(head.size, "ledger size")?, head.state])?;
        if changed == 1 { Ok(()) } else { Err(StoreError::Corrupt("the ledger head row is missing".into())) }
    }

    fn insert_ledger_entry(&mut self, row: &EntryRow) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO ledger_entries (seq, time, actor, action, subject, env, body, leaf_hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                to_i64(row.seq, "seq")?,
                row.time,
                row.actor,
                row.action,
                row.subject,
                row.env,
                row.body,
                row.leaf_hash
            ])?;
        Ok(())
    }

    fn insert_ledger_checkpoint(&mut self, tree_size: u64, note: &str, created: &str) -> Result<i64> {
        self.0
            .prepare_cached("INSERT INTO ledger_checkpoints (tree_size, note, created) VALUES (?1, ?2, ?3)")?
            .execute(params![to_i64(tree_size, "tree size")?, note, created])?;
        Ok(self.0.last_insert_rowid())
    }

    fn insert_release(&mut self, row: &ReleaseRow) -> Result<()> {
        self.0
            .prepare_cached(concat!(
                "INSERT INTO releases (",
                crate::release_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                row.version,
                row.digest,
                row.kind,
                row.source_commit,
                row.creator,
                row.created,
                row.spec,
                row.evidence
            ])?;
        Ok(())
    }

    fn insert_deployment(&mut self, row: &DeploymentRow) -> Result<u64> {
        // The transaction began with `BEGIN IMMEDIATE`: nobody else writes until it ends,
        // so the check and the next id hold until the insert.
        let running: Option<i64> = self
            .0
            .prepare_cached("SELECT id FROM deployments WHERE environment = ?1 AND finished IS NULL")?
            .query_row(params![row.environment], |found| found.get(0))
            .optional()?;
        if let Some(running) = running {
            return Err(StoreError::Conflict {
                environment: row.environment.clone(),
                running: to_u64(running, "a deployment's id")?,
            });
        }
        let id: i64 = self
            .0
            .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM deployments")?
            .query_row([], |found| found.get(0))?;
        self.0
            .prepare_cached(concat!(
                "INSERT INTO deployments (",
                crate::deployment_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                id,
                row.environment,
                row.version,
                row.from_version,
                row.kind,
                row.plan,
                row.plan_digest,
                row.status,
                row.reason,
                row.actor,
                row.created,
                row.finished,
                row.next_step
            ])?;
        to_u64(id, "a deployment's id")
    }

    fn update_deployment(&mut self, row: &DeploymentRow) -> Result<()> {
        let changed = self
            .0
            .prepare_cached(
                "UPDATE deployments SET status = ?2, reason = ?3, finished = ?4, next_step = ?5, plan = ?6, \
                 plan_digest = ?7 WHERE id = ?1",
            )?
            .execute(params![
                to_i64(row.id, "deployment id")?,
                row.status,
                row.reason,
                row.finished,
                row.next_step,
                row.plan,
                row.plan_digest
            ])?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound { what: format!("deployment {}", row.id) }) }
    }

    fn append_deployment_event(&mut self, event: &EventRow) -> Result<u64> {
        // The write lock is held already (see `insert_deployment`).
        let deployment = to_i64(event.deployment, "deployment id")?;
        let seq: Option<i64> = self
            .0
            .prepare_cached(
                "SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_events WHERE deployment = ?1) \
                 FROM deployments WHERE id = ?1",
            )?
            .query_row([deployment], |found| found.get(0))
            .optional()?;
        let Some(seq) = seq else {
            return Err(StoreError::NotFound { what: format!("deployment {}", event.deployment) });
        };
        self.0
            .prepare_cached(concat!(
                "INSERT INTO deployment_events (",
                crate::event_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![deployment, seq, event.time, event.kind, event.step_index, event.message, event.data])?;
        to_u64(seq, "an event's seq")
    }

    fn upsert_environment(&mut self, row: &EnvironmentRow) -> Result<()> {
        self.0
            .prepare_cached(concat!(
                "INSERT INTO environments (",
                crate::environment_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5)",
                crate::environment_replace!()
            ))?
            .execute(params![row.name, row.active_version, row.active_since, row.previous_version, row.warm_until])?;
        Ok(())
    }

    fn insert_token(&mut self, row: &TokenRow) -> Result<()> {
        self.0
            .prepare_cached(concat!(
                "INSERT INTO api_tokens (",
                crate::token_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                row.id,
                row.hash,
                row.name,
                row.role,
                row.created,
                row.expires,
                row.revoked,
                row.environments
            ])?;
        Ok(())
    }

    fn revoke_token(&mut self, id: &str, time: &str) -> Result<bool> {
        let changed = self
            .0
            .prepare_cached("UPDATE api_tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL")?
            .execute(params![id, time])?;
        Ok(changed == 1)
    }

    fn put_record(&mut self, row: &RecordRow) -> Result<u64> {
        let version: i64 = self
            .0
            .prepare_cached(concat!(
                "INSERT INTO records (",
                crate::record_columns!(),
                ") SELECT ?1, ?2, ?3, COALESCE(MAX(version), 0) + 1, ?4, ?5, ?6 FROM records \
                 WHERE kind = ?1 AND scope = ?2 AND name = ?3 RETURNING version"
            ))?
            .query_row(params![row.kind, row.scope, row.name, row.value, row.actor, row.created], |r| r.get(0))?;
        to_u64(version, "a record's version")
    }
}
