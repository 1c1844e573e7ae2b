//! Applying migrations to a real PostgreSQL (127.0.0.1:5432, or `SHIPGATE_TEST_POSTGRES`).
//! Without a reachable server these tests say so loudly and pass, unless
//! `SHIPGATE_REQUIRE_ALL=1`, which turns the skip into a failure.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use shipgate_migrate::apply::{self, ApplyError, Phases, Timeouts};
use shipgate_migrate::layout::{MigrationSet, from_files};

/// A database of its own for one test, dropped at the end.
struct TestDb {
    admin_url: String,
    name: String,
}

impl TestDb {
    fn create(test: &str) -> Option<TestDb> {
        let admin_url = std::env::var("SHIPGATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = match postgres::Client::connect(&admin_url, postgres::NoTls) {
            Ok(client) => client,
            Err(error) => {
                assert!(
                    std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
                    "PostgreSQL is required (SHIPGATE_REQUIRE_ALL=1) but not reachable at {admin_url}: {error}"
                );
                eprintln!("SKIPPED {test}: PostgreSQL not reachable at {admin_url}: {error}");
                return None;
            }
        };
        let name = format!("shipgate_test_{test}_{}", std::process::id());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        Some(TestDb { admin_url, name })
    }

    fn url(&self) -> String {
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn set(files: &[(&str, &str)]) -> MigrationSet {
    from_files(files.iter().map(|(path, sql)| ((*path).to_owned(), (*sql).to_owned())).collect()).unwrap()
}

const BASIC: &[(&str, &str)] = &[
    ("expand/0001_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);"),
    ("expand/0002_index.up.sql", "CREATE INDEX CONCURRENTLY users_email ON users (email);"),
    ("contract/0003_drop_email.up.sql", "ALTER TABLE users DROP COLUMN email;"),
];

#[test]
fn applies_in_order_once_and_phase_by_phase() {
    let Some(db) = TestDb::create("apply_order") else { return };
    let mut client = db.client();
    let migrations = set(BASIC);

    let expand = apply::apply(&mut client, &migrations, Phases::ExpandOnly, Timeouts::default()).unwrap();
    assert_eq!(expand.iter().map(|a| a.version).collect::<Vec<_>>(), vec![1, 2]);
    let index: i64 =
        client.query_one("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email'", &[]).unwrap().get(0);
    assert_eq!(index, 1, "the CONCURRENTLY index was built outside a transaction");
    let email: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(email, 1, "contract migrations wait for their own phase");

    let again = apply::apply(&mut client, &migrations, Phases::ExpandOnly, Timeouts::default()).unwrap();
    assert!(again.is_empty(), "applying twice is a no-op");

    let contract = apply::apply(&mut client, &migrations, Phases::ContractOnly, Timeouts::default()).unwrap();
    assert_eq!(contract.iter().map(|a| a.version).collect::<Vec<_>>(), vec![3]);
    let history = apply::applied_versions(&mut client).unwrap();
    assert_eq!(history.iter().map(|(v, _)| *v).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(history.iter().zip(&migrations.migrations).all(|((_, sum), m)| *sum == m.checksum()));
}

#[test]
fn an_edited_applied_migration_is_refused() {
    let Some(db) = TestDb::create("checksum") else { return };
    let mut client = db.client();
    apply::apply(&mut client, &set(&BASIC[..1]), Phases::All, Timeouts::default()).unwrap();
    let edited =
        set(&[("expand/0001_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text);")]);
    let error = apply::apply(&mut client, &edited, Phases::All, Timeouts::default()).unwrap_err();
    assert!(matches!(error, ApplyError::ChecksumMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("expand/0001_users.up.sql"));
}

#[test]
fn a_failing_migration_leaves_nothing_behind() {
    let Some(db) = TestDb::create("rollback") else { return };
    let mut client = db.client();
    let broken = set(&[("expand/0001_half.up.sql", "CREATE TABLE half (id int); INSERT INTO nowhere VALUES (1);")]);
    let error = apply::apply(&mut client, &broken, Phases::All, Timeouts::default()).unwrap_err();
    assert!(matches!(error, ApplyError::Migration { .. }), "{error:?}");
    let tables: i64 = client.query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'half'", &[]).unwrap().get(0);
    assert_eq!(tables, 0, "the first statement was rolled back with the second");
    assert!(apply::applied_versions(&mut client).unwrap().is_empty());
}

#[test]
fn a_busy_table_times_out_instead_of_queueing_everyone() {
    let Some(db) = TestDb::create("lock_timeout") else { return };
    let mut client = db.client();
    apply::apply(&mut client, &set(&BASIC[..1]), Phases::All, Timeouts::default()).unwrap();
    let mut holder = db.client();
    let mut transaction = holder.transaction().unwrap();
    transaction.batch_execute("LOCK TABLE users IN ACCESS SHARE MODE").unwrap();

    let alter = set(&[BASIC[0], ("expand/0002_name.up.sql", "ALTER TABLE users ADD COLUMN name text;")]);
    let timeouts = Timeouts { lock: Duration::from_millis(200), ..Timeouts::default() };
    let error = apply::apply(&mut client, &alter, Phases::All, timeouts).unwrap_err();
    assert!(error.to_string().contains("canceling statement due to lock timeout"), "{error}");
    transaction.rollback().unwrap();
    assert_eq!(
        apply::apply(&mut client, &alter, Phases::All, timeouts).unwrap().len(),
        1,
        "works once the table is free"
    );
}

#[test]
fn concurrent_appliers_serialize() {
    let Some(db) = TestDb::create("concurrent") else { return };
    let migrations = set(&[
        (
            "expand/0001_slow.up.sql",
            "CREATE TABLE runs (at timestamptz DEFAULT clock_timestamp()); SELECT pg_sleep(0.3); INSERT INTO runs DEFAULT VALUES;",
        ),
        ("expand/0002_more.up.sql", "INSERT INTO runs DEFAULT VALUES;"),
    ]);
    let url = db.url();
    let appliers: Vec<_> = (0..4)
        .map(|_| {
            let (url, migrations) = (url.clone(), migrations.clone());
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                apply::apply(&mut client, &migrations, Phases::All, Timeouts::default()).unwrap().len()
            })
        })
        .collect();
    let applied: usize = appliers.into_iter().map(|handle| handle.join().unwrap()).sum();
    assert_eq!(applied, 2, "each migration ran exactly once across all appliers");
    let rows: i64 = db.client().query_one("SELECT count(*) FROM runs", &[]).unwrap().get(0);
    assert_eq!(rows, 2);
}

#[test]
fn rehearsal_on_a_million_rows_flags_the_rewriting_alter() {
    use shipgate_migrate::rehearse::{RehearsalOptions, rehearse};
    let Some(db) = TestDb::create("rehearsal") else { return };
    let history =
        set(&[("expand/0001_big.up.sql", "CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, note text);")]);
    let mut client = db.client();
    apply::apply(&mut client, &history, Phases::All, Timeouts::default()).unwrap();
    client.batch_execute("INSERT INTO big SELECT i, i, 'row ' || i FROM generate_series(1, 1000000) i").unwrap();
    drop(client); // A template copy needs the source to be idle; the dump path is tested below.

    let migrations = set(&[
        ("expand/0001_big.up.sql", "CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, note text);"),
        ("expand/0002_widen.up.sql", "ALTER TABLE big ALTER COLUMN n TYPE bigint;"),
        ("expand/0002_widen.down.sql", "ALTER TABLE big ALTER COLUMN n TYPE int;"),
        ("expand/0003_cheap.up.sql", "ALTER TABLE big ADD COLUMN flag boolean;"),
        ("expand/0003_cheap.down.sql", "ALTER TABLE big DROP COLUMN flag;"),
    ]);
    let options = RehearsalOptions { slow: Duration::from_millis(50), ..RehearsalOptions::default() };
    let rehearsal = rehearse(&db.url(), &migrations, options).unwrap();
    assert!(rehearsal.passed, "{:?}", rehearsal.failure);
    assert_eq!(rehearsal.copy, "template");
    assert_eq!(rehearsal.digest, migrations.digest());
    assert_eq!(rehearsal.applied, vec!["expand/0002_widen.up.sql", "expand/0003_cheap.up.sql"]);
    assert_eq!(rehearsal.round_tripped, rehearsal.applied, "downs ran, then the ups again");

    let widen = &rehearsal.statements[0];
    assert_eq!(widen.rewrites, vec!["big"], "{widen:?}");
    assert!(widen.slow && widen.hazardous(), "{widen:?}");
    assert!(widen.locks.iter().any(|lock| lock.table == "big" && lock.mode == "AccessExclusiveLock"), "{widen:?}");
    let cheap = &rehearsal.statements[1];
    assert!(cheap.rewrites.is_empty(), "adding a nullable column is a catalog change only: {cheap:?}");

    // The source is untouched and no scratch database is left behind.
    let mut client = db.client();
    assert_eq!(apply::applied_versions(&mut client).unwrap().len(), 1);
    let mut admin = postgres::Client::connect(&db.admin_url, postgres::NoTls).unwrap();
    let leftovers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            // This rehearsal's own scratch name: other tests of this process rehearse at the same time.
            &[&format!("shipgate_rehearsal_{}_{}", &migrations.digest()[..12], std::process::id())],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0);
}

#[test]
fn rehearsal_copies_a_busy_database_with_a_dump_and_reports_failures() {
    use shipgate_migrate::rehearse::{RehearsalOptions, rehearse};
    let Some(db) = TestDb::create("rehearsal_dump") else { return };
    let history = set(&[("expand/0001_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);")]);
    let mut busy = db.client(); // stays connected, as production's sessions do
    apply::apply(&mut busy, &history, Phases::All, Timeouts::default()).unwrap();
    let migrations = set(&[
        ("expand/0001_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);"),
        ("expand/0002_bad.up.sql", "ALTER TABLE t ADD COLUMN x int;"),
        ("expand/0002_bad.down.sql", "ALTER TABLE t DROP COLUMN nope;"),
    ]);
    let rehearsal = rehearse(&db.url(), &migrations, RehearsalOptions::default()).unwrap();
    assert_eq!(rehearsal.copy, "dump");
    assert!(!rehearsal.passed);
    let failure = rehearsal.failure.unwrap();
    assert!(failure.contains("down `expand/0002_bad.down.sql` failed") && failure.contains("nope"), "{failure}");
    busy.batch_execute("SELECT 1").unwrap();
}

#[test]
fn another_frameworks_command_is_rehearsed_on_the_copy_only() {
    use shipgate_migrate::rehearse::rehearse_command;
    let Some(db) = TestDb::create("rehearse_command") else { return };
    let dir = tempfile_dir();
    // A stand-in for `alembic upgrade head`: it migrates whatever `$DATABASE_URL` names.
    let command =
        "psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 \"$DATABASE_URL\" -c 'CREATE TABLE from_framework (id int)'";
    let (rehearsal, run) = rehearse_command(&db.url(), command, &dir, "DATABASE_URL", "f".repeat(64)).unwrap();
    assert!(rehearsal.passed && run.success, "{:?} {}", rehearsal.failure, run.output_tail);
    let tables: i64 =
        db.client().query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'from_framework'", &[]).unwrap().get(0);
    assert_eq!(tables, 0, "the command ran against the scratch copy, not the source");

    let (failed, _) =
        rehearse_command(&db.url(), "echo broken migration >&2; exit 1", &dir, "DATABASE_URL", "e".repeat(64)).unwrap();
    assert!(!failed.passed);
    assert!(failed.failure.unwrap().contains("broken migration"));
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shipgate-migrate-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
