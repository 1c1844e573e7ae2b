//! Temporary stores for tests, in this crate and in others (feature `testing`).
//!
//! [`sqlite`] gives a store in a fresh temporary directory. [`postgres`] creates a fresh,
//! uniquely named database on the PostgreSQL server named by `SHIPGATE_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it afterwards. When
//! that server does not answer it prints a loud `SKIPPED` line and returns `None`, unless
//! `SHIPGATE_REQUIRE_ALL=1`, where it panics: CI must not skip.
//!
//! [`TestStore::raw`] runs SQL behind the store's back, for tests that tamper with it.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Backend, Location, Store, StoreError};

/// The maintenance database URL tests create their databases through.
pub const POSTGRES_URL_VAR: &str = "SHIPGATE_TEST_POSTGRES";

/// Set to `1` to turn every skipped test into a failure (CI does).
pub const REQUIRE_ALL_VAR: &str = "SHIPGATE_REQUIRE_ALL";

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A store that cleans up after itself: its directory or its database is removed when
/// this is dropped.
pub struct TestStore {
    store: Option<Arc<dyn Store>>,
    location: Location,
    dir: Option<tempfile::TempDir>,
    database: Option<(String, String)>,
}

impl TestStore {
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self.store.as_ref().unwrap())
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn backend(&self) -> Backend {
        match self.location {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    /// The temporary directory of a SQLite store.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.path().to_owned())
    }

    /// Opens the same database again, as a restarted process would.
    pub fn reopen(&self) -> Result<Arc<dyn Store>, StoreError> {
        crate::open(&self.location)
    }

    /// A connection that bypasses the store.
    pub fn raw(&self) -> Raw {
        Raw::connect(&self.location)
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        self.store = None;
        if let Some((admin_url, name)) = self.database.take()
            && let Ok(mut client) = postgres::Client::connect(&admin_url, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A store in a new temporary directory.
pub fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::sqlite_in(dir.path());
    let store = crate::open(&location).unwrap();
    TestStore { store: Some(store), location, dir: Some(dir), database: None }
}

/// A store in a new PostgreSQL database, or `None` (after a loud message) when no
/// server answers and `SHIPGATE_REQUIRE_ALL` is not `1`.
pub fn postgres() -> Option<TestStore> {
    let (location, database) = postgres_database()?;
    let store = crate::open(&location).unwrap();
    Some(TestStore { store: Some(store), location, dir: None, database: Some(database) })
}

/// Whether the PostgreSQL server answers; when it does not, says so loudly (or panics
/// under `SHIPGATE_REQUIRE_ALL=1`).
pub fn postgres_available() -> bool {
    let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    match postgres::Client::connect(&admin_url, postgres::NoTls) {
        Ok(_) => true,
        Err(error) => {
            skip(&format!("PostgreSQL not reachable at `{admin_url}` ({error})"));
            false
        }
    }
}

/// Creates an empty database without opening a store in it: `(location, (admin url,
/// database name))`. The caller drops it with [`drop_postgres_database`].
pub fn postgres_database() -> Option<(Location, (String, String))> {
    let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut client = match postgres::Client::connect(&admin_url, postgres::NoTls) {
        Ok(client) => client,
        Err(error) => {
            skip(&format!("PostgreSQL not reachable at `{admin_url}` ({error})"));
            return None;
        }
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.subsec_nanos());
    let name = format!("shipgate_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
    client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    // Tests check atomicity, isolation and locking, not the server's crash durability:
    // not waiting for each commit's WAL flush keeps the suite fast.
    client.batch_execute(&format!("ALTER DATABASE {name} SET synchronous_commit = off")).unwrap();
    let url = database_url(&admin_url, &name);
    Some((Location::Postgres(url), (admin_url, name)))
}

/// Drops a database made by [`postgres_database`].
pub fn drop_postgres_database(admin_url: &str, name: &str) {
    if let Ok(mut client) = postgres::Client::connect(admin_url, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Says loudly, past the test harness's output capture, that a test did not run; or
/// fails when `SHIPGATE_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var(REQUIRE_ALL_VAR).is_ok_and(|value| value == "1") {
        panic!("{reason}, and {REQUIRE_ALL_VAR}=1 forbids skipping");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Straight to the process's stderr: `eprintln!` would be captured and hidden.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {test}: {reason}; set {REQUIRE_ALL_VAR}=1 to make this a failure ***\n"
    );
}

/// SQL run behind a store's back, for tampering tests.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Raw {
    pub fn connect(location: &Location) -> Raw {
        match location {
            Location::Sqlite(path) => Raw::Sqlite(rusqlite::Connection::open(path).unwrap()),
            Location::Postgres(url) => Raw::Postgres(postgres::Client::connect(url, postgres::NoTls).unwrap()),
        }
    }

    /// Runs statements that return no rows.
    pub fn execute(&mut self, sql: &str) {
        match self {
            Raw::Sqlite(conn) => conn.execute_batch(sql).unwrap(),
            Raw::Postgres(client) => client.batch_execute(sql).unwrap(),
        }
    }

    /// Runs statements that return no rows, and gives back the database's error, if any,
    /// as text: for tests that check what the schema itself refuses.
    pub fn try_execute(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(conn) => conn.execute_batch(sql).map_err(|error| error.to_string()),
            Raw::Postgres(client) => client
                .batch_execute(sql)
                .map_err(|error| error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned())),
        }
    }

    /// Overwrites one entry's stored text and leaf hash (the filter columns are left
    /// alone).
    pub fn set_entry(&mut self, seq: u64, body: &str, leaf_hash: &[u8]) {
        let seq = i64::try_from(seq).unwrap();
        let changed = match self {
            Raw::Sqlite(conn) => conn
                .execute(
                    "UPDATE ledger_entries SET body = ?1, leaf_hash = ?2 WHERE seq = ?3",
                    rusqlite::params![body, leaf_hash, seq],
                )
                .unwrap() as u64,
            Raw::Postgres(client) => client
                .execute(
                    "UPDATE ledger_entries SET body = $1, leaf_hash = $2 WHERE seq = $3",
                    &[&body, &leaf_hash, &seq],
                )
                .unwrap(),
        };
        assert_eq!(changed, 1, "entry {seq} exists");
    }

    /// Overwrites the ledger head.
    pub fn set_head(&mut self, size: u64, state: &[u8]) {
        let size = i64::try_from(size).unwrap();
        match self {
            Raw::Sqlite(conn) => {
                conn.execute("UPDATE ledger_head SET size = ?1, state = ?2", rusqlite::params![size, state]).unwrap();
            }
            Raw::Postgres(client) => {
                client.execute("UPDATE ledger_head SET size = $1, state = $2", &[&size, &state]).unwrap();
            }
        }
    }

    /// The first column of the first row of `sql`, an integer.
    pub fn scalar(&mut self, sql: &str) -> i64 {
        match self {
            Raw::Sqlite(conn) => conn.query_row(sql, [], |row| row.get(0)).unwrap(),
            Raw::Postgres(client) => {
                let row = client.query_one(sql, &[]).unwrap();
                row.try_get::<_, i64>(0).or_else(|_| row.try_get::<_, i32>(0).map(i64::from)).unwrap()
            }
        }
    }

    /// One text column of one entry.
    pub fn entry_text(&mut self, seq: u64, column: &str) -> String {
        let seq = i64::try_from(seq).unwrap();
        let sql = format!("SELECT {column} FROM ledger_entries WHERE seq = ");
        match self {
            Raw::Sqlite(conn) => conn.query_row(&format!("{sql}?1"), [seq], |row| row.get(0)).unwrap(),
            Raw::Postgres(client) => client.query_one(&format!("{sql}$1"), &[&seq]).unwrap().get(0),
        }
    }
}
