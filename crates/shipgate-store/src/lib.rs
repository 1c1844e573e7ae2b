//! shipgate's own database, behind one trait.
//!
//! [`Store`] has two implementations that pass the same test suite: SQLite in WAL mode
//! (the embedded default, one file with mode 0600) and PostgreSQL (for teams and for
//! several server replicas). [`open`] picks one from a [`Location`], applies the
//! versioned schema migrations and refuses a database whose schema is newer than this
//! build knows.
//!
//! Every change happens inside [`Store::transact`]: the closure's writes commit together
//! or not at all, so a state change and the ledger entry that records it land together.
//! On SQLite, transactions of concurrent callers are committed in groups (one `COMMIT`
//! and one `fsync` for many callers), each caller inside its own savepoint so one
//! caller's failure does not sink the others; see [`sqlite`](crate::sqlite) for how.
//! Reads go through [`Store::read`], which sees one consistent snapshot.
//!
//! The API is synchronous; an async server calls it from `spawn_blocking`.
//!
//! The store knows tables and rows, not what they mean: hashing, signing and checking
//! the audit ledger is `shipgate-ledger`'s job.

#![forbid(unsafe_code)]

mod location;
mod migrations;
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

pub use location::{Location, SQLITE_FILE_NAME};
pub use migrations::{MIGRATIONS, Migration, SCHEMA_VERSION};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use database `{location}`: {reason}")]
    BadLocation { location: String, reason: &'static str },

    #[error("cannot create `{path}`")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open the SQLite database `{path}`")]
    OpenSqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot connect to PostgreSQL at `{location}`")]
    ConnectPostgres {
        location: String,
        #[source]
        source: ::postgres::Error,
    },

    #[error("the database schema is version {found}, but this shipgate knows versions up to {supported} only")]
    SchemaTooNew { found: u32, supported: u32 },

    #[error("cannot apply schema migration {version} ({name})")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: Box<StoreError>,
    },

    #[error("SQLite failed")]
    Sqlite(#[from] rusqlite::Error),

    #[error("PostgreSQL failed")]
    Postgres(#[from] ::postgres::Error),

    /// The transaction was committed in a group with others, and that group's `COMMIT`
    /// failed: none of the group's changes were made.
    #[error("the group commit this transaction belonged to failed: {message}")]
    GroupCommitFailed { message: String },

    /// The transaction's closure returned an error; its changes were rolled back.
    #[error("the transaction was rolled back")]
    Aborted,

    /// A deployment was to start in an environment that has one in flight already.
    #[error("environment `{environment}` already has deployment {running} in flight")]
    Conflict { environment: String, running: u64 },

    /// A row the write refers to does not exist (`what` is e.g. "deployment 7").
    #[error("there is no {what}")]
    NotFound { what: String },

    /// A stored value cannot be what shipgate wrote (a negative size, …).
    #[error("the database holds a malformed value: {0}")]
    Corrupt(String),

    /// A thread panicked while it held the database connection.
    #[error("the database connection is unusable after a panic in another thread")]
    Poisoned,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which implementation a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// One stored ledger entry. `body` is the exact text that was hashed; the other text
/// columns are copies of fields of `body`, kept for filtering. The store does not
/// interpret any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub env: Option<String>,
    pub body: String,
    pub leaf_hash: Vec<u8>,
}

/// The ledger's head: how many entries it has, and an opaque state blob (the ledger
/// keeps its Merkle frontier there) that changes in the same transaction as the entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerHead {
    pub size: u64,
    pub state: Vec<u8>,
}

/// One stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub id: i64,
    pub tree_size: u64,
    pub note: String,
    pub created: String,
}

/// The columns of `releases`, in the order of [`ReleaseRow`]'s fields; shared by both backends.
/// A macro so that `concat!` makes `&'static str` statements (PostgreSQL caches them by text).
macro_rules! release_columns {
    () => {
        "version, digest, kind, source_commit, creator, created, spec, evidence"
    };
}
pub(crate) use release_columns;

/// A release as stored: immutable once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub version: String,
    /// `sha256:<hex>` of the artifact.
    pub digest: String,
    /// `file`, `directory` or `archive`.
    pub kind: String,
    pub source_commit: Option<String>,
    pub creator: String,
    /// RFC 3339 UTC.
    pub created: String,
    /// The `shipgate.toml` the release was created with.
    pub spec: String,
    /// Evidence gathered at creation (test results), as JSON; `None` when there was none.
    pub evidence: Option<String>,
}

/// The columns of `deployments`, in the order of [`DeploymentRow`]'s fields.
macro_rules! deployment_columns {
    () => {
        "id, environment, version, from_version, kind, plan, plan_digest, status, reason, actor, created, finished, \
         next_step"
    };
}
pub(crate) use deployment_columns;

/// A deployment (or a rollback) of one release to one environment, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    /// Assigned by [`Transaction::insert_deployment`] (ignored on insert): 1, 2, 3… across
    /// all environments.
    pub id: u64,
    pub environment: String,
    pub version: String,
    pub from_version: Option<String>,
    /// `deploy` or `rollback`.
    pub kind: String,
    /// The engine's plan as JSON (opaque to the store).
    pub plan: String,
    pub plan_digest: String,
    /// `running`, `paused`, `succeeded`, `rolled_back`, `failed`, `aborted` (opaque to the store).
    pub status: String,
    pub reason: Option<String>,
    pub actor: String,
    /// RFC 3339 UTC.
    pub created: String,
    /// Set when the deployment reached a final status; `None` while it is in flight.
    pub finished: Option<String>,
    /// Steps `0..next_step` are done; the executor resumes at `next_step`.
    pub next_step: u32,
}

/// The columns of `deployment_events`, in the order of [`EventRow`]'s fields.
macro_rules! event_columns {
    () => {
        "deployment, seq, time, kind, step_index, message, data"
    };
}
pub(crate) use event_columns;

/// One event of a deployment's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub deployment: u64,
    /// 1, 2, 3… per deployment; assigned by [`Transaction::append_deployment_event`]
    /// (ignored on insert).
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub step_index: Option<u32>,
    pub message: String,
    /// JSON text (opaque).
    pub data: String,
}

/// The columns of `environments`, in the order of [`EnvironmentRow`]'s fields.
macro_rules! environment_columns {
    () => {
        "name, active_version, active_since, previous_version, warm_until"
    };
}
pub(crate) use environment_columns;

/// The `ON CONFLICT` action of an environment upsert: every column but the name is replaced.
macro_rules! environment_replace {
    () => {
        " ON CONFLICT (name) DO UPDATE SET active_version = excluded.active_version, \
         active_since = excluded.active_since, previous_version = excluded.previous_version, \
         warm_until = excluded.warm_until"
    };
}
pub(crate) use environment_replace;

/// What an environment runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRow {
    pub name: String,
    pub active_version: Option<String>,
    pub active_since: Option<String>,
    /// The release that ran before the active one, for rollback.
    pub previous_version: Option<String>,
    /// While this RFC 3339 time is in the future the previous release's instances still run.
    pub warm_until: Option<String>,
}

/// The columns of `api_tokens`, in the order of [`TokenRow`]'s fields.
macro_rules! token_columns {
    () => {
        "id, hash, name, role, created, expires, revoked, environments"
    };
}
pub(crate) use token_columns;

/// An API token: only a hash of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    /// Hex sha256 of the secret.
    pub hash: String,
    pub name: String,
    pub role: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    /// The environments the token may act on, as a JSON array (opaque to the store); `None`
    /// for every environment.
    pub environments: Option<String>,
}

/// The columns of `records`, in the order of [`RecordRow`]'s fields.
macro_rules! record_columns {
    () => {
        "kind, scope, name, version, value, actor, created"
    };
}
pub(crate) use record_columns;

/// One version of a small named document that has no table of its own: an encrypted
/// secret, an environment's setting of a feature flag, an approval. Records are
/// addressed by `(kind, scope, name)`; every write adds a version, so the history of a
/// name is kept whole. The store does not interpret `kind`, `scope` or `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// What the record is, e.g. `secret`, `flag`, `approval`.
    pub kind: String,
    /// What it belongs to, e.g. an environment's name or a deployment's id.
    pub scope: String,
    pub name: String,
    /// 1, 2, 3… per `(kind, scope, name)`, assigned by [`Transaction::put_record`].
    pub version: u64,
    /// `None` when this version removes the name (a tombstone).
    pub value: Option<String>,
    pub actor: String,
    /// RFC 3339 UTC.
    pub created: String,
}

/// How a text column is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Exact(String),
    Prefix(String),
}

/// A filter over ledger entries; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryQuery {
    pub env: Option<String>,
    pub actor: Option<String>,
    pub action: Option<TextMatch>,
    /// Entries whose `time` is at or after this RFC 3339 UTC time, in the ledger's
    /// fixed-width format (so that text order is time order).
    pub since: Option<String>,
    /// At most this many of the newest matching entries; `None` for all.
    pub limit: Option<u64>,
}

/// Read access, inside one consistent snapshot (or inside a write transaction, where
/// it also sees the transaction's own writes).
pub trait Reader {
    fn ledger_head(&mut self) -> Result<LedgerHead>;

    fn ledger_entry(&mut self, seq: u64) -> Result<Option<EntryRow>>;

    /// Every entry with `seq > after`, in `seq` order, until `visit` breaks.
    fn ledger_entries(&mut self, after: u64, visit: &mut dyn FnMut(EntryRow) -> ControlFlow<()>) -> Result<()>;

    /// The newest `query.limit` entries that match, oldest first.
    fn ledger_query(&mut self, query: &EntryQuery) -> Result<Vec<EntryRow>>;

    /// `(seq, leaf_hash)` of entries `1..=upto`, in `seq` order, until `visit` breaks.
    fn ledger_leaf_hashes(&mut self, upto: u64, visit: &mut dyn FnMut(u64, &[u8]) -> ControlFlow<()>) -> Result<()>;

    /// Every stored checkpoint, by tree size and then by id.
    fn ledger_checkpoints(&mut self) -> Result<Vec<CheckpointRow>>;

    fn release(&mut self, version: &str) -> Result<Option<ReleaseRow>>;

    /// Every release, oldest first.
    fn releases(&mut self) -> Result<Vec<ReleaseRow>>;

    fn deployment(&mut self, id: u64) -> Result<Option<DeploymentRow>>;

    /// The newest (highest id) `limit` deployments of `environment`, newest first.
    fn deployments(&mut self, environment: &str, limit: u64) -> Result<Vec<DeploymentRow>>;

    /// Every deployment still in flight (`finished` is `None`), in every environment,
    /// oldest first.
    fn unfinished_deployments(&mut self) -> Result<Vec<DeploymentRow>>;

    /// The events of `deployment` with `seq > after`, in `seq` order.
    fn deployment_events(&mut self, deployment: u64, after: u64) -> Result<Vec<EventRow>>;

    fn environment(&mut self, name: &str) -> Result<Option<EnvironmentRow>>;

    /// Every environment with a row, by name (in byte order on both backends).
    fn environments(&mut self) -> Result<Vec<EnvironmentRow>>;

    /// The token whose secret hashes to `hash`, revoked and expired ones included: the
    /// caller decides what those mean.
    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRow>>;

    /// Every token, revoked ones included, by `created` and then `id`.
    fn tokens(&mut self) -> Result<Vec<TokenRow>>;

    /// The newest version of record `(kind, scope, name)`, a tombstone included.
    fn record(&mut self, kind: &str, scope: &str, name: &str) -> Result<Option<RecordRow>>;

    /// The newest version of every record of `kind` in `scope`, tombstones included, by name.
    fn records(&mut self, kind: &str, scope: &str) -> Result<Vec<RecordRow>>;

    /// Every version of record `(kind, scope, name)`, oldest first.
    fn record_history(&mut self, kind: &str, scope: &str, name: &str) -> Result<Vec<RecordRow>>;
}

/// Write access inside [`Store::transact`].
pub trait Transaction: Reader {
    /// The head, locked until the transaction ends so that appends are serialised
    /// (PostgreSQL: `SELECT … FOR UPDATE`; SQLite holds the write lock already).
    /// Take it as late as the transaction allows: it blocks other appenders.
    fn lock_ledger_head(&mut self) -> Result<LedgerHead>;

    fn set_ledger_head(&mut self, head: &LedgerHead) -> Result<()>;

    fn insert_ledger_entry(&mut self, row: &EntryRow) -> Result<()>;

    /// Stores a signed checkpoint and returns its id.
    fn insert_ledger_checkpoint(&mut self, tree_size: u64, note: &str, created: &str) -> Result<i64>;

    /// Stores a new release; a version that exists already is an error (labels are immutable).
    fn insert_release(&mut self, row: &ReleaseRow) -> Result<()>;

    /// Stores a new deployment with the next id (the highest so far plus one; `row.id` is
    /// ignored) and returns that id. Fails with [`StoreError::Conflict`] while the
    /// environment has a deployment in flight (`finished` is `None`), whatever `row`'s own
    /// `finished`. Inserts are serialised (SQLite: the write lock; PostgreSQL: an advisory
    /// lock), and a partial unique index refuses a second unfinished deployment of one
    /// environment however it is written.
    fn insert_deployment(&mut self, row: &DeploymentRow) -> Result<u64>;

    /// Overwrites the mutable fields of deployment `row.id`: `status`, `reason`,
    /// `finished`, `next_step`, `plan` and `plan_digest` (the others are ignored).
    /// Fails with [`StoreError::NotFound`] when there is no such deployment.
    fn update_deployment(&mut self, row: &DeploymentRow) -> Result<()>;

    /// Appends an event to `event.deployment`'s timeline with the next seq (the highest
    /// so far plus one, from 1; `event.seq` is ignored) and returns that seq. Appends to
    /// one deployment are serialised (PostgreSQL locks the deployment's row). Fails with
    /// [`StoreError::NotFound`] when there is no such deployment.
    fn append_deployment_event(&mut self, event: &EventRow) -> Result<u64>;

    /// Stores `row`, replacing every column of the environment's existing row, if any.
    fn upsert_environment(&mut self, row: &EnvironmentRow) -> Result<()>;

    /// Stores a new token; an id or a hash that exists already is an error.
    fn insert_token(&mut self, row: &TokenRow) -> Result<()>;

    /// Marks token `id` revoked at `time`. Returns `false` when there is no such token or
    /// it was revoked already (its revocation time is kept).
    fn revoke_token(&mut self, id: &str, time: &str) -> Result<bool>;

    /// Stores `row` as the next version of `(row.kind, row.scope, row.name)` (the newest
    /// so far plus one, from 1; `row.version` is ignored) and returns that version.
    /// Two writers of one name never get the same version: the primary key refuses the
    /// second, and its transaction fails.
    fn put_record(&mut self, row: &RecordRow) -> Result<u64>;
}

/// Returned by the closure given to [`Store::transact_dyn`] or [`Store::read_dyn`] to
/// say it failed; the caller keeps the real error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort;

/// shipgate's database. Obtain one with [`open`]; share it as `Arc<dyn Store>`.
///
/// Implementations provide the object-safe `*_dyn` methods; callers use the typed
/// [`transact`](Store::transact) and [`read`](Store::read) on `dyn Store`.
pub trait Store: Send + Sync + fmt::Debug {
    fn backend(&self) -> Backend;

    fn location(&self) -> &Location;

    /// Runs `work` in a transaction. Returns `Ok` once its writes are durably committed,
    /// [`StoreError::Aborted`] when `work` returned [`Abort`] (its writes were rolled
    /// back), or the error that kept the transaction from committing. `work` runs at
    /// most once. Do not call `transact` again from inside `work`: use the transaction
    /// handle it is given.
    fn transact_dyn(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), Abort>) -> Result<()>;

    /// Runs `work` against one consistent read-only snapshot.
    fn read_dyn(&self, work: &mut dyn FnMut(&mut dyn Reader) -> Result<(), Abort>) -> Result<()>;
}

impl dyn Store + '_ {
    /// Runs `work` in a transaction: all of its writes are committed together, durably,
    /// or none is. The result is `work`'s error when `work` fails, and the store's
    /// error when the commit fails.
    ///
    /// ```no_run
    /// # fn demo(store: &dyn shipgate_store::Store, row: shipgate_store::EntryRow) -> Result<(), shipgate_store::StoreError> {
    /// store.transact(|tx| {
    ///     // …change state…
    ///     tx.insert_ledger_entry(&row)?;
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn transact<T, E>(&self, work: impl FnOnce(&mut dyn Transaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut work = Some(work);
        let mut outcome: Option<Result<T, E>> = None;
        let committed = self.transact_dyn(&mut |tx| {
            let Some(work) = work.take() else { return Err(Abort) };
            let result = work(tx);
            let failed = result.is_err();
            outcome = Some(result);
            if failed { Err(Abort) } else { Ok(()) }
        });
        finish(committed, outcome)
    }

    /// Runs `work` against one consistent read-only snapshot.
    pub fn read<T, E>(&self, work: impl FnOnce(&mut dyn Reader) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut work = Some(work);
        let mut outcome: Option<Result<T, E>> = None;
        let finished = self.read_dyn(&mut |reader| {
            let Some(work) = work.take() else { return Err(Abort) };
            let result = work(reader);
            let failed = result.is_err();
            outcome = Some(result);
            if failed { Err(Abort) } else { Ok(()) }
        });
        finish(finished, outcome)
    }
}

fn finish<T, E: From<StoreError>>(store: Result<()>, outcome: Option<Result<T, E>>) -> Result<T, E> {
    match (store, outcome) {
        (Ok(()), Some(result)) => result,
        // The closure failed: its own error says why.
        (Err(_), Some(Err(error))) => Err(error),
        // Begin or commit failed, whatever the closure returned.
        (Err(error), _) => Err(error.into()),
        (Ok(()), None) => {
            Err(StoreError::Corrupt("the transaction finished without running its closure".into()).into())
        }
    }
}

/// Opens the store at `location`, creating it when missing, and brings its schema up to
/// [`SCHEMA_VERSION`].
pub fn open(location: &Location) -> Result<Arc<dyn Store>> {
    Ok(match location {
        Location::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        Location::Postgres(_) => Arc::new(PostgresStore::open(location)?),
    })
}

/// Converts a row value to `u64`, refusing negatives.
fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is {value}")))
}

/// Converts a row value to `u32`, refusing what does not fit.
fn to_u32(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is {value}")))
}

/// Converts a `u64` to the `i64` both databases store, refusing what does not fit.
fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{what} {value} does not fit a 64-bit signed integer")))
}

/// The `WHERE` clause of an [`EntryQuery`] and its text arguments, in order.
pub(crate) struct QueryFilter<'q> {
    /// Empty, or ` WHERE …`.
    pub sql: String,
    pub args: Vec<&'q str>,
}

/// Builds the filter with the backend's placeholder (`?N` or `$N`) and its way of
/// testing an `action` prefix.
pub(crate) fn query_filter<'q>(
    query: &'q EntryQuery,
    placeholder: impl Fn(usize) -> String,
    action_prefix: impl Fn(&str) -> String,
) -> QueryFilter<'q> {
    let mut clauses = Vec::new();
    let mut args: Vec<&'q str> = Vec::new();
    let mut bind = |value: &'q str| {
        args.push(value);
        placeholder(args.len())
    };
    if let Some(env) = &query.env {
        clauses.push(format!("env = {}", bind(env)));
    }
    if let Some(actor) = &query.actor {
        clauses.push(format!("actor = {}", bind(actor)));
    }
    match &query.action {
        Some(TextMatch::Exact(action)) => clauses.push(format!("action = {}", bind(action))),
        Some(TextMatch::Prefix(prefix)) => clauses.push(action_prefix(&bind(prefix))),
        None => {}
    }
    if let Some(since) = &query.since {
        clauses.push(format!("time >= {}", bind(since)));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    QueryFilter { sql, args }
}
