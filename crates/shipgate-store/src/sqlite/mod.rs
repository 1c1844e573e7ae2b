//! The SQLite store: one file in WAL mode, mode 0600, the embedded default.
//!
//! # Group commit
//!
//! SQLite has one writer, and a durable commit costs an `fsync` (about a millisecond on
//! an ordinary SSD). Committing every caller's transaction on its own would cap the
//! store at roughly a thousand transactions a second however many threads append. So
//! the one write connection commits callers in groups:
//!
//! 1. A caller takes the connection. If no database transaction is open it begins one
//!    (`BEGIN IMMEDIATE`); otherwise it joins the open one, the current *batch*.
//! 2. It runs its closure inside its own `SAVEPOINT`. If the closure fails (or panics),
//!    `ROLLBACK TO` undoes exactly its writes and it returns at once; the batch goes on.
//!    Otherwise `RELEASE` keeps its writes in the batch.
//! 3. The first successful member becomes the batch's leader. While other callers are
//!    queued for the connection it waits (releasing the connection) so that they can
//!    join, up to [`MAX_BATCH`] members or [`MAX_GATHER`]; then it runs `COMMIT`.
//! 4. Every member returns only after its batch's `COMMIT` has finished, with its
//!    outcome: when the commit failed, every member gets the error and none of the
//!    batch's writes exist.
//!
//! A caller alone never waits for others (nobody is queued), so single-threaded latency
//! is one plain commit; under load a batch grows to the number of waiting callers.
//! Members of a batch run one after another on the same connection, so each sees the
//! writes of those before it: seq numbers stay gap-free. `synchronous = FULL` makes
//! each commit durable before anyone is told it happened.
//!
//! Reads use separate connections, each in its own snapshot, so a long `audit verify`
//! never blocks writers.

mod queries;

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};

use self::queries::SqliteConn;
use crate::migrations::{self, SCHEMA_TABLE, SCHEMA_VERSION};
use crate::{Abort, Backend, Location, Reader, Result, Store, StoreError, Transaction};

/// The most callers committed together.
pub const MAX_BATCH: usize = 512;

/// The longest a leader waits for queued callers to join its batch.
pub const MAX_GATHER: Duration = Duration::from_millis(5);

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many idle read connections are kept.
const MAX_IDLE_READERS: usize = 4;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    location: Location,
    path: PathBuf,
    writer: GroupCommit,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it, mode 0600, in a directory created with mode 0700) the
    /// database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        create_private_file(path)?;
        let conn = connect(path)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            location: Location::Sqlite(path.to_owned()),
            path: path.to_owned(),
            writer: GroupCommit::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn reader(&self) -> Result<Connection> {
        let idle = self.readers.lock().map_err(|_| StoreError::Poisoned)?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = connect(&self.path)?;
                conn.execute_batch("PRAGMA query_only = ON")?;
                Ok(conn)
            }
        }
    }

    fn return_reader(&self, conn: Connection) {
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn location(&self) -> &Location {
        &self.location
    }

    fn transact_dyn(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), Abort>) -> Result<()> {
        self.writer.run(work)
    }

    fn read_dyn(&self, work: &mut dyn FnMut(&mut dyn Reader) -> Result<(), Abort>) -> Result<()> {
        let conn = self.reader()?;
        // In WAL mode the snapshot is taken by the first read inside `BEGIN` and kept to
        // `COMMIT`: every query below sees the same database.
        conn.execute_batch("BEGIN")?;
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&mut SqliteConn(&conn))));
        let ended = conn.execute_batch("COMMIT");
        match outcome {
            Err(panic) => resume_unwind(panic),
            Ok(Err(Abort)) => {
                if ended.is_ok() {
                    self.return_reader(conn);
                }
                Err(StoreError::Aborted)
            }
            Ok(Ok(())) => {
                ended?;
                self.return_reader(conn);
                Ok(())
            }
        }
    }
}

/// Creates the database file with mode 0600 (and its directory with 0700) unless it
/// exists, so that SQLite, which gives its `-wal` and `-shm` files the database file's
/// mode, never makes anything readable by others.
fn create_private_file(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| StoreError::CreateFile { path: parent.to_owned(), source })?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::CreateFile { path: path.to_owned(), source }),
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let open = |path: &Path| -> rusqlite::Result<Connection> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidParameterName(format!("journal_mode is `{mode}`, not `wal`")));
        }
        // FULL: a commit is on disk before the caller hears of it (NORMAL would lose the
        // last commits on power failure, which an audit ledger must not).
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        Ok(conn)
    };
    open(path).map_err(|source| StoreError::OpenSqlite { path: path.to_owned(), source })
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA_TABLE)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let applied = (|| -> Result<()> {
        let current: u32 =
            conn.query_row("SELECT COALESCE(MAX(version), 0) FROM shipgate_schema", [], |row| row.get(0))?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
        }
        for migration in migrations::pending(current) {
            let wrap = |source: StoreError| StoreError::Migration {
                version: migration.version,
                name: migration.name,
                source: Box::new(source),
            };
            conn.execute_batch(migration.sqlite).map_err(|error| wrap(error.into()))?;
            conn.execute(
                "INSERT INTO shipgate_schema (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![migration.version, migration.name, migrations::now()],
            )
            .map_err(|error| wrap(error.into()))?;
        }
        Ok(())
    })();
    match applied {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// The write connection and the batch being gathered on it.
struct GroupCommit {
    state: Mutex<Writer>,
    /// Signalled when a member joins the open batch (its leader may be waiting).
    joined: Condvar,
    /// Callers waiting to take `state`: the leader waits for them to join.
    arriving: AtomicUsize,
}

struct Writer {
    conn: Connection,
    /// The open database transaction, if any.
    batch: Option<Batch>,
}

struct Batch {
    /// Members whose savepoint was released into the batch.
    members: usize,
    has_leader: bool,
    /// Where the leader posts the batch's fate; members wait on it without the
    /// connection, so waking them does not contend with the next batch.
    outcome: Arc<Outcome>,
}

#[derive(Default)]
struct Outcome {
    /// `None` until the batch's `COMMIT` finished; then its error, if any.
    result: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl Outcome {
    fn post(&self, result: Result<(), String>) {
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<()> {
        let mut result = self.result.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            match &*result {
                Some(Ok(())) => return Ok(()),
                Some(Err(message)) => return Err(StoreError::GroupCommitFailed { message: message.clone() }),
                None => result = self.done.wait(result).map_err(|_| StoreError::Poisoned)?,
            }
        }
    }
}

impl GroupCommit {
    fn new(conn: Connection) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(Writer { conn, batch: None }),
            joined: Condvar::new(),
            arriving: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Writer>> {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let writer = self.state.lock().map_err(|_| StoreError::Poisoned);
        self.arriving.fetch_sub(1, Ordering::SeqCst);
        writer
    }

    fn run(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), Abort>) -> Result<()> {
        let mut writer = self.lock()?;
        if writer.batch.is_none() {
            writer.conn.execute_batch("BEGIN IMMEDIATE")?;
            writer.batch = Some(Batch { members: 0, has_leader: false, outcome: Arc::default() });
        }

        if let Err(error) = writer.conn.execute_batch("SAVEPOINT member") {
            self.close_if_abandoned(&mut writer);
            return Err(error.into());
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&mut SqliteConn(&writer.conn))));
        let kept = match &outcome {
            Ok(Ok(())) => writer.conn.execute_batch("RELEASE member").map_err(StoreError::from),
            _ => Err(StoreError::Aborted),
        };
        if let Err(error) = kept {
            // Undo exactly this member's writes; the batch goes on without them.
            let _ = writer.conn.execute_batch("ROLLBACK TO member; RELEASE member");
            self.close_if_abandoned(&mut writer);
            drop(writer);
            if let Err(panic) = outcome {
                resume_unwind(panic);
            }
            return Err(error);
        }

        let Some(batch) = writer.batch.as_mut() else {
            return Err(StoreError::Corrupt("the batch vanished while its member ran".into()));
        };
        batch.members += 1;
        if batch.has_leader {
            let outcome = Arc::clone(&batch.outcome);
            drop(writer);
            self.joined.notify_all();
            return outcome.wait();
        }
        batch.has_leader = true;
        self.lead(writer)
    }

    /// Lets queued callers join, then commits the batch and tells its members.
    fn lead(&self, mut writer: MutexGuard<'_, Writer>) -> Result<()> {
        let deadline = Instant::now() + MAX_GATHER;
        loop {
            let members = writer.batch.as_ref().map_or(0, |batch| batch.members);
            let now = Instant::now();
            if self.arriving.load(Ordering::SeqCst) == 0 || members >= MAX_BATCH || now >= deadline {
                break;
            }
            writer = self.joined.wait_timeout(writer, deadline - now).map_err(|_| StoreError::Poisoned)?.0;
        }
        let Some(batch) = writer.batch.take() else {
            return Err(StoreError::Corrupt("the batch vanished before its commit".into()));
        };
        let committed = writer.conn.execute_batch("COMMIT");
        if committed.is_err() {
            let _ = writer.conn.execute_batch("ROLLBACK");
        }
        // Free the connection for the next batch before waking this one's members.
        drop(writer);
        batch.outcome.post(committed.as_ref().map(|_| ()).map_err(ToString::to_string));
        Ok(committed?)
    }

    /// After a member failed: when the batch has no member to commit and nobody is
    /// coming to join it, end the empty transaction so the write lock is not held.
    fn close_if_abandoned(&self, writer: &mut Writer) {
        let abandoned = writer.batch.as_ref().is_some_and(|batch| batch.members == 0 && !batch.has_leader);
        if abandoned && self.arriving.load(Ordering::SeqCst) == 0 {
            let _ = writer.conn.execute_batch("ROLLBACK");
            writer.batch = None;
        }
    }
}
