//! The one test suite every `Store` implementation must pass: each test below runs
//! against SQLite and against PostgreSQL (skipped loudly when no server answers, a
//! failure under `SHIPGATE_REQUIRE_ALL=1`).

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::{Arc, Barrier};
use std::thread;

use shipgate_store::testing::TestStore;
use shipgate_store::{
    EntryQuery, EntryRow, LedgerHead, ReleaseRow, SCHEMA_VERSION, Store, StoreError, TextMatch, Transaction,
};

/// Runs each named test function against every backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&shipgate_store::testing::sqlite()); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(store) = shipgate_store::testing::postgres() { super::$name(&store); }
            })*
        }
    };
}

suite!(
    a_new_store_is_at_the_current_schema_version,
    reopening_applies_nothing_twice,
    a_newer_schema_is_refused,
    a_transaction_commits_everything_or_nothing,
    a_panicking_transaction_leaves_no_trace,
    concurrent_appends_are_gap_free,
    a_failing_transaction_does_not_sink_the_others,
    a_read_sees_one_snapshot,
    queries_filter_and_keep_the_newest,
    entries_and_leaf_hashes_stream_in_order,
    checkpoints_are_listed_by_size,
    values_round_trip_exactly,
    releases_round_trip_and_labels_are_immutable,
);

/// A caller's own error type, as the control plane will have: the store's errors
/// convert into it.
#[derive(Debug)]
enum CallerError {
    Store(StoreError),
    Refused(String),
}

impl From<StoreError> for CallerError {
    fn from(error: StoreError) -> Self {
        CallerError::Store(error)
    }
}

fn row(seq: u64) -> EntryRow {
    EntryRow {
        seq,
        time: format!("2026-01-01T00:00:{:02}.000000Z", seq % 60),
        actor: "alice".into(),
        action: "deploy.started".into(),
        subject: "hello".into(),
        env: Some("staging".into()),
        body: format!("{{\"seq\":{seq}}}"),
        leaf_hash: vec![u8::try_from(seq % 256).unwrap(); 32],
    }
}

/// What a ledger append does to the store: lock the head, insert the next entry, move
/// the head.
fn append(tx: &mut dyn Transaction, make: impl FnOnce(u64) -> EntryRow) -> Result<u64, StoreError> {
    let head = tx.lock_ledger_head()?;
    let seq = head.size + 1;
    tx.insert_ledger_entry(&make(seq))?;
    tx.set_ledger_head(&LedgerHead { size: seq, state: seq.to_be_bytes().to_vec() })?;
    Ok(seq)
}

fn append_rows(store: &dyn Store, count: u64) {
    for _ in 0..count {
        store.transact(|tx| append(tx, row)).unwrap();
    }
}

fn all_seqs(store: &dyn Store) -> Vec<u64> {
    store
        .read(|reader| {
            let mut seqs = Vec::new();
            reader.ledger_entries(0, &mut |entry| {
                seqs.push(entry.seq);
                ControlFlow::Continue(())
            })?;
            Ok::<_, StoreError>(seqs)
        })
        .unwrap()
}

fn head(store: &dyn Store) -> LedgerHead {
    store.read(|reader| reader.ledger_head()).unwrap()
}

fn a_new_store_is_at_the_current_schema_version(test: &TestStore) {
    let version = test.raw().scalar("SELECT MAX(version) FROM shipgate_schema");
    assert_eq!(version, i64::from(SCHEMA_VERSION));
    assert_eq!(head(&*test.store()), LedgerHead { size: 0, state: Vec::new() });
}

fn reopening_applies_nothing_twice(test: &TestStore) {
    append_rows(&*test.store(), 3);
    let again = test.reopen().unwrap();
    assert_eq!(head(&*again).size, 3);
    let applied = test.raw().scalar("SELECT COUNT(*) FROM shipgate_schema");
    assert_eq!(applied, i64::from(SCHEMA_VERSION));
}

fn a_newer_schema_is_refused(test: &TestStore) {
    let newer = SCHEMA_VERSION + 1;
    test.raw().execute(&format!(
        "INSERT INTO shipgate_schema (version, name, applied_at) VALUES ({newer}, 'from the future', 'later')"
    ));
    match test.reopen() {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (newer, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

fn a_transaction_commits_everything_or_nothing(test: &TestStore) {
    let store = test.store();
    let refused: Result<(), CallerError> = store.transact(|tx| {
        append(tx, row)?;
        tx.insert_ledger_checkpoint(1, "note", "now")?;
        Err(CallerError::Refused("the state change failed".to_owned()))
    });
    assert!(matches!(refused, Err(CallerError::Refused(reason)) if reason == "the state change failed"));
    assert_eq!(head(&*store).size, 0);
    assert!(all_seqs(&*store).is_empty());
    assert!(store.read(|reader| reader.ledger_checkpoints()).unwrap().is_empty());

    let seq = store
        .transact(|tx| {
            let seq = append(tx, row)?;
            tx.insert_ledger_checkpoint(seq, "note", "now")?;
            Ok::<_, StoreError>(seq)
        })
        .unwrap();
    assert_eq!(seq, 1);
    assert_eq!(all_seqs(&*store), [1]);
    assert_eq!(store.read(|reader| reader.ledger_checkpoints()).unwrap().len(), 1);
}

fn a_panicking_transaction_leaves_no_trace(test: &TestStore) {
    let store = test.store();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), StoreError> = store.transact(|tx| {
            append(tx, row)?;
            panic!("a bug in the caller");
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(head(&*store).size, 0);
    append_rows(&*store, 2);
    assert_eq!(all_seqs(&*store), [1, 2]);
}

fn concurrent_appends_are_gap_free(test: &TestStore) {
    const THREADS: usize = 8;
    const EACH: u64 = 100;
    let store = test.store();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                (0..EACH).map(|_| store.transact(|tx| append(tx, row)).unwrap()).collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut returned: Vec<u64> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    returned.sort_unstable();
    let total = THREADS as u64 * EACH;
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(returned, expected, "every caller got a distinct seq");
    assert_eq!(all_seqs(&*store), expected, "no gaps, no duplicates");
    assert_eq!(head(&*store).size, total);
}

fn a_failing_transaction_does_not_sink_the_others(test: &TestStore) {
    const THREADS: usize = 6;
    const EACH: usize = 60;
    let store = test.store();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut committed = 0;
                for attempt in 0..EACH {
                    let fail = (thread + attempt) % 3 == 0;
                    let result: Result<u64, CallerError> = store.transact(|tx| {
                        let seq = append(tx, row)?;
                        if fail {
                            Err(CallerError::Refused(format!("caller {thread} gives up at {seq}")))
                        } else {
                            Ok(seq)
                        }
                    });
                    if let Err(CallerError::Store(error)) = &result {
                        panic!("the store failed: {error}");
                    }
                    assert_eq!(result.is_err(), fail);
                    committed += usize::from(result.is_ok());
                }
                committed
            })
        })
        .collect();
    let committed: usize = handles.into_iter().map(|handle| handle.join().unwrap()).sum();
    assert_eq!(committed, THREADS * EACH * 2 / 3);
    let expected: Vec<u64> = (1..=committed as u64).collect();
    assert_eq!(all_seqs(&*store), expected, "the failures left neither entries nor gaps");
}

fn a_read_sees_one_snapshot(test: &TestStore) {
    let store = test.store();
    append_rows(&*store, 2);
    let (before, after) = store
        .read(|reader| {
            let before = reader.ledger_head()?;
            // A writer commits while the read is open: it must neither block nor show.
            let writer = Arc::clone(&store);
            thread::spawn(move || append_rows(&*writer, 3)).join().unwrap();
            let mut seqs = Vec::new();
            reader.ledger_entries(0, &mut |entry| {
                seqs.push(entry.seq);
                ControlFlow::Continue(())
            })?;
            Ok::<_, StoreError>((before, (reader.ledger_head()?, seqs)))
        })
        .unwrap();
    assert_eq!(before.size, 2);
    assert_eq!(after.0.size, 2);
    assert_eq!(after.1, [1, 2]);
    assert_eq!(head(&*store).size, 5);
}

fn queries_filter_and_keep_the_newest(test: &TestStore) {
    let store = test.store();
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("alice", "deploy.started", Some("staging")),
        ("bob", "deploy.finished", Some("staging")),
        ("alice", "deploy.started", Some("production")),
        ("carol", "approval.granted", Some("production")),
        ("alice", "ledger.key-rotated", None),
        ("bob", "deployments", Some("production")),
    ];
    for (index, (actor, action, env)) in cases.iter().enumerate() {
        store
            .transact(|tx| {
                append(tx, |seq| EntryRow {
                    time: format!("2026-01-0{}T00:00:00.000000Z", index + 1),
                    actor: (*actor).into(),
                    action: (*action).into(),
                    env: env.map(str::to_owned),
                    ..row(seq)
                })
            })
            .unwrap();
    }
    let seqs = |query: EntryQuery| -> Vec<u64> {
        store.read(|reader| reader.ledger_query(&query)).unwrap().iter().map(|entry| entry.seq).collect()
    };
    let prefix = |text: &str| Some(TextMatch::Prefix(text.into()));
    assert_eq!(seqs(EntryQuery::default()), [1, 2, 3, 4, 5, 6]);
    assert_eq!(seqs(EntryQuery { limit: Some(2), ..EntryQuery::default() }), [5, 6], "newest, oldest first");
    assert_eq!(seqs(EntryQuery { actor: Some("alice".into()), ..EntryQuery::default() }), [1, 3, 5]);
    assert_eq!(seqs(EntryQuery { env: Some("production".into()), ..EntryQuery::default() }), [3, 4, 6]);
    assert_eq!(
        seqs(EntryQuery { action: Some(TextMatch::Exact("deploy.started".into())), ..EntryQuery::default() }),
        [1, 3]
    );
    assert_eq!(seqs(EntryQuery { action: prefix("deploy."), ..EntryQuery::default() }), [1, 2, 3]);
    assert_eq!(seqs(EntryQuery { action: prefix("deploy"), ..EntryQuery::default() }), [1, 2, 3, 6]);
    assert_eq!(seqs(EntryQuery { action: prefix("%"), ..EntryQuery::default() }), Vec::<u64>::new(), "no wildcards");
    assert_eq!(seqs(EntryQuery { since: Some("2026-01-04".into()), ..EntryQuery::default() }), [4, 5, 6]);
    assert_eq!(
        seqs(EntryQuery {
            actor: Some("alice".into()),
            env: Some("production".into()),
            action: prefix("deploy."),
            since: Some("2026-01-02".into()),
            limit: Some(10),
        }),
        [3]
    );
}

fn entries_and_leaf_hashes_stream_in_order(test: &TestStore) {
    let store = test.store();
    append_rows(&*store, 10);
    let (after_four, first_two, hashes) = store
        .read(|reader| {
            let mut after_four = Vec::new();
            reader.ledger_entries(4, &mut |entry| {
                after_four.push(entry.seq);
                ControlFlow::Continue(())
            })?;
            let mut first_two = Vec::new();
            reader.ledger_entries(0, &mut |entry| {
                first_two.push(entry.seq);
                if first_two.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })?;
            let mut hashes = Vec::new();
            reader.ledger_leaf_hashes(7, &mut |seq, hash| {
                hashes.push((seq, hash.to_vec()));
                ControlFlow::Continue(())
            })?;
            Ok::<_, StoreError>((after_four, first_two, hashes))
        })
        .unwrap();
    assert_eq!(after_four, [5, 6, 7, 8, 9, 10]);
    assert_eq!(first_two, [1, 2]);
    let expected: Vec<(u64, Vec<u8>)> = (1..=7).map(|seq| (seq, row(seq).leaf_hash)).collect();
    assert_eq!(hashes, expected);
    // The connection is still usable after a stream that was cut short.
    assert_eq!(head(&*store).size, 10);
}

fn checkpoints_are_listed_by_size(test: &TestStore) {
    let store = test.store();
    append_rows(&*store, 3);
    store
        .transact(|tx| {
            tx.insert_ledger_checkpoint(3, "third", "t3")?;
            tx.insert_ledger_checkpoint(1, "first", "t1")?;
            tx.insert_ledger_checkpoint(3, "third again", "t4")?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let listed: Vec<(u64, String)> = store
        .read(|reader| reader.ledger_checkpoints())
        .unwrap()
        .into_iter()
        .map(|checkpoint| (checkpoint.tree_size, checkpoint.note))
        .collect();
    assert_eq!(listed, [(1, "first".to_owned()), (3, "third".to_owned()), (3, "third again".to_owned())]);
}

fn values_round_trip_exactly(test: &TestStore) {
    let store = test.store();
    let odd = EntryRow {
        seq: 1,
        time: "2026-01-01T00:00:00.000000Z".into(),
        actor: "ünïcödé \u{1F680}".into(),
        action: "a'b\"c\\d".into(),
        subject: "line\nbreak".into(),
        env: None,
        body: "{\"k\":\"\\u0000 and \u{e9}\"}".into(),
        leaf_hash: (0..=255).collect(),
    };
    store.transact(|tx| tx.insert_ledger_entry(&odd)).unwrap();
    assert_eq!(store.read(|reader| reader.ledger_entry(1)).unwrap(), Some(odd));
    assert_eq!(store.read(|reader| reader.ledger_entry(2)).unwrap(), None);
}

fn releases_round_trip_and_labels_are_immutable(test: &TestStore) {
    let store = test.store();
    let release = |version: &str, digest: &str| ReleaseRow {
        version: version.into(),
        digest: digest.into(),
        kind: "file".into(),
        source_commit: Some("abc123".into()),
        creator: "alice".into(),
        created: format!("2026-11-30T12:00:0{}Z", version.len()),
        spec: "[app]\nname = \"hello\"\n".into(),
    };
    store.transact(|tx| tx.insert_release(&release("1.0", "sha256:aa"))).unwrap();
    store.transact(|tx| tx.insert_release(&release("1.0.1", "sha256:bb"))).unwrap();
    assert!(store.transact(|tx| tx.insert_release(&release("1.0", "sha256:cc"))).is_err(), "a label is written once");
    assert_eq!(store.read(|reader| reader.release("1.0")).unwrap(), Some(release("1.0", "sha256:aa")));
    assert_eq!(store.read(|reader| reader.release("2.0")).unwrap(), None);
    let versions: Vec<String> =
        store.read(|reader| reader.releases()).unwrap().into_iter().map(|r| r.version).collect();
    assert_eq!(versions, ["1.0", "1.0.1"]);
}

#[test]
fn the_sqlite_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/shipgate.db");
    let store = shipgate_store::open(&shipgate_store::Location::Sqlite(path.clone())).unwrap();
    append_rows(&*store, 1);
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn an_unreachable_postgres_is_a_clear_error() {
    let location = shipgate_store::Location::parse("postgres://postgres:hunter2@127.0.0.1:1/shipgate").unwrap();
    let error = shipgate_store::open(&location).unwrap_err();
    assert!(matches!(error, StoreError::ConnectPostgres { .. }), "{error:?}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
