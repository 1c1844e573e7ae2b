//! The SQL of the [`Reader`] and [`Transaction`] traits for SQLite, over one connection.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::{
    CheckpointRow, EntryQuery, EntryRow, LedgerHead, Reader, ReleaseRow, Result, StoreError, Transaction, to_i64,
    to_u64,
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
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                row.version,
                row.digest,
                row.kind,
                row.source_commit,
                row.creator,
                row.created,
                row.spec
            ])?;
        Ok(())
    }
}
