//! The one test suite every `Store` implementation must pass: each test below runs
//! against SQLite and against PostgreSQL (skipped loudly when no server answers, a
//! failure under `SHIPGATE_REQUIRE_ALL=1`).

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::{Arc, Barrier};
use std::thread;

use shipgate_store::testing::TestStore;
use shipgate_store::{
    DeploymentRow, EntryQuery, EntryRow, EnvironmentRow, EventRow, LedgerHead, RecordRow, ReleaseRow, SCHEMA_VERSION,
    Store, StoreError, TextMatch, TokenRow, Transaction,
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
    a_version_2_database_is_upgraded,
    deployments_round_trip_exactly,
    one_deployment_in_flight_per_environment,
    the_schema_refuses_a_second_deployment_in_flight,
    concurrent_deployments_get_distinct_ids_and_one_wins_per_environment,
    deployments_are_listed_newest_first_and_unfinished_oldest_first,
    updating_a_deployment_changes_only_its_mutable_fields,
    deployment_events_are_numbered_per_deployment,
    concurrent_event_appends_are_gap_free,
    an_environment_upsert_replaces_the_row,
    tokens_are_found_by_hash_and_revoked_once,
    records_keep_every_version_and_list_the_newest,
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
        evidence: (version == "1.0").then(|| r#"{"tests":{"exit_code":0}}"#.to_owned()),
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

fn a_version_2_database_is_upgraded(test: &TestStore) {
    let store = test.store();
    let release = ReleaseRow {
        version: "1.0".into(),
        digest: "sha256:aa".into(),
        kind: "file".into(),
        source_commit: None,
        creator: "alice".into(),
        created: "2026-11-30T12:00:00Z".into(),
        spec: String::new(),
        evidence: None,
    };
    store.transact(|tx| tx.insert_release(&release)).unwrap();
    drop(store);
    // Undo migrations 3 and later behind the store's back: the database is as version 2 left it.
    test.raw().execute(
        "DROP TABLE records; DROP TABLE api_tokens; DROP TABLE environments; DROP TABLE deployment_events; DROP TABLE deployments; \
         ALTER TABLE releases DROP COLUMN evidence; DELETE FROM shipgate_schema WHERE version >= 3",
    );
    let store = test.reopen().unwrap();
    assert_eq!(test.raw().scalar("SELECT MAX(version) FROM shipgate_schema"), i64::from(SCHEMA_VERSION));
    assert_eq!(store.read(|reader| reader.release("1.0")).unwrap(), Some(release));
    assert_eq!(insert_deployment(&*store, &deployment("staging", "1.0")).unwrap(), 1);
}

/// An unfinished deployment of `version` to `environment`.
fn deployment(environment: &str, version: &str) -> DeploymentRow {
    DeploymentRow {
        id: 0,
        environment: environment.into(),
        version: version.into(),
        from_version: Some("0.9".into()),
        kind: "deploy".into(),
        plan: "{\"steps\":[\"start\",\"switch\"]}".into(),
        plan_digest: "sha256:p1".into(),
        status: "running".into(),
        reason: None,
        actor: "alice".into(),
        created: "2026-12-01T10:00:00Z".into(),
        finished: None,
        next_step: 0,
    }
}

fn insert_deployment(store: &dyn Store, row: &DeploymentRow) -> Result<u64, StoreError> {
    store.transact(|tx| tx.insert_deployment(row))
}

fn read_deployment(store: &dyn Store, id: u64) -> Option<DeploymentRow> {
    store.read(|reader| reader.deployment(id)).unwrap()
}

/// Marks deployment `id` succeeded.
fn finish_deployment(store: &dyn Store, id: u64) {
    let row = read_deployment(store, id).unwrap();
    let done = DeploymentRow { status: "succeeded".into(), finished: Some("2026-12-01T10:10:00Z".into()), ..row };
    store.transact(|tx| tx.update_deployment(&done)).unwrap();
}

fn deployments_round_trip_exactly(test: &TestStore) {
    let store = test.store();
    let full = DeploymentRow {
        id: 77,
        environment: "prödüction \u{1F680}".into(),
        version: "2.0".into(),
        from_version: Some("1.9".into()),
        kind: "rollback".into(),
        plan: "{\"k\":\"a'b\\\"c\\\\d\\u0000\"}".into(),
        plan_digest: "sha256:ff".into(),
        status: "rolled_back".into(),
        reason: Some("error rate above 5%\nfor 2 minutes".into()),
        actor: "bob".into(),
        created: "2026-12-01T10:00:00.123456Z".into(),
        finished: Some("2026-12-01T10:30:00Z".into()),
        next_step: u32::MAX,
    };
    let bare = deployment("staging", "1.0");
    let ids =
        store.transact(|tx| Ok::<_, StoreError>((tx.insert_deployment(&full)?, tx.insert_deployment(&bare)?))).unwrap();
    assert_eq!(ids, (1, 2), "ids are assigned, the given one is ignored");
    assert_eq!(read_deployment(&*store, 1), Some(DeploymentRow { id: 1, ..full }));
    assert_eq!(read_deployment(&*store, 2), Some(DeploymentRow { id: 2, ..bare }));
    assert_eq!(read_deployment(&*store, 3), None);
    assert_eq!(read_deployment(&*store, 77), None);
}

fn one_deployment_in_flight_per_environment(test: &TestStore) {
    let store = test.store();
    let first = insert_deployment(&*store, &deployment("staging", "1.0")).unwrap();
    assert_eq!(first, 1);
    let refused = insert_deployment(&*store, &deployment("staging", "1.1")).unwrap_err();
    assert_eq!(refused.to_string(), "environment `staging` already has deployment 1 in flight");
    assert!(
        matches!(&refused, StoreError::Conflict { environment, running: 1 } if environment == "staging"),
        "{refused:?}"
    );
    let finished = DeploymentRow { finished: Some("2026-12-01T10:01:00Z".into()), ..deployment("staging", "1.1") };
    assert!(
        matches!(insert_deployment(&*store, &finished), Err(StoreError::Conflict { running: 1, .. })),
        "refused whatever the new row says"
    );
    // The check fails before any SQL does: the transaction goes on, and commits.
    let other = store
        .transact(|tx| {
            assert!(matches!(tx.insert_deployment(&deployment("staging", "1.1")), Err(StoreError::Conflict { .. })));
            tx.insert_deployment(&deployment("production", "1.0"))
        })
        .unwrap();
    assert_eq!(other, 2, "another environment is free, and the refused inserts took no id");
    assert_eq!(read_deployment(&*store, 3), None);

    finish_deployment(&*store, first);
    assert_eq!(insert_deployment(&*store, &deployment("staging", "1.1")).unwrap(), 3);
    let refused = insert_deployment(&*store, &deployment("staging", "1.2")).unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { running: 3, .. }), "{refused:?}");
}

fn the_schema_refuses_a_second_deployment_in_flight(test: &TestStore) {
    let mut raw = test.raw();
    let insert = |id: u32, finished: &str| {
        format!(
            "INSERT INTO deployments (id, environment, version, kind, plan, plan_digest, status, actor, created, \
             finished, next_step) VALUES ({id}, 'staging', '1.0', 'deploy', '{{}}', 'd', 'running', 'alice', 't', \
             {finished}, 0)"
        )
    };
    raw.try_execute(&insert(1, "NULL")).unwrap();
    raw.try_execute(&insert(2, "'t2'")).unwrap();
    let error = raw.try_execute(&insert(3, "NULL")).unwrap_err();
    assert!(
        error.contains("deployments_one_in_flight")
            || error.contains("UNIQUE constraint failed: deployments.environment"),
        "{error}"
    );
    // Putting a finished deployment back in flight is refused too.
    let store = test.store();
    let revived = DeploymentRow { id: 2, finished: None, ..deployment("staging", "1.0") };
    assert!(store.transact(|tx| tx.update_deployment(&revived)).is_err());
}

fn concurrent_deployments_get_distinct_ids_and_one_wins_per_environment(test: &TestStore) {
    const THREADS: usize = 8;
    let store = test.store();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let shared = insert_deployment(&*store, &deployment("shared", &format!("1.{thread}")));
                let own = insert_deployment(&*store, &deployment(&format!("own-{thread}"), "1.0")).unwrap();
                (shared, own)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|handle| handle.join().unwrap()).collect();
    let winners: Vec<u64> = results.iter().filter_map(|(shared, _)| shared.as_ref().ok().copied()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (shared, _) in &results {
        match shared {
            Ok(_) => {}
            Err(StoreError::Conflict { environment, running }) => {
                assert_eq!((environment.as_str(), *running), ("shared", winners[0]));
            }
            Err(error) => panic!("expected a conflict, got {error:?}"),
        }
    }
    let mut ids: Vec<u64> = results.iter().map(|(_, own)| *own).chain(winners).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=THREADS as u64 + 1).collect::<Vec<_>>(), "distinct, gap-free ids");
}

fn deployments_are_listed_newest_first_and_unfinished_oldest_first(test: &TestStore) {
    let store = test.store();
    let s1 = insert_deployment(&*store, &deployment("staging", "1.0")).unwrap();
    finish_deployment(&*store, s1);
    let p2 = insert_deployment(&*store, &deployment("production", "1.0")).unwrap();
    let s3 = insert_deployment(&*store, &deployment("staging", "1.1")).unwrap();
    finish_deployment(&*store, s3);
    let s4 = insert_deployment(&*store, &deployment("staging", "1.2")).unwrap();
    assert_eq!((s1, p2, s3, s4), (1, 2, 3, 4));

    let listed = |environment: &str, limit: u64| -> Vec<u64> {
        store.read(|reader| reader.deployments(environment, limit)).unwrap().iter().map(|row| row.id).collect()
    };
    let cases: &[(&str, u64, &[u64])] = &[
        ("staging", 10, &[4, 3, 1]),
        ("staging", 2, &[4, 3]),
        ("staging", 0, &[]),
        ("production", 10, &[2]),
        ("nowhere", 10, &[]),
    ];
    for (environment, limit, expected) in cases {
        assert_eq!(listed(environment, *limit), *expected, "{environment} limit {limit}");
    }
    let newest = store.read(|reader| reader.deployments("staging", 1)).unwrap();
    assert_eq!(newest, [DeploymentRow { id: 4, ..deployment("staging", "1.2") }], "whole rows");

    let unfinished = || -> Vec<u64> {
        store.read(|reader| reader.unfinished_deployments()).unwrap().iter().map(|row| row.id).collect()
    };
    assert_eq!(unfinished(), [2, 4]);
    finish_deployment(&*store, s4);
    assert_eq!(unfinished(), [2]);
    finish_deployment(&*store, p2);
    assert_eq!(unfinished(), Vec::<u64>::new());
}

fn updating_a_deployment_changes_only_its_mutable_fields(test: &TestStore) {
    let store = test.store();
    let original = deployment("staging", "1.0");
    let id = insert_deployment(&*store, &original).unwrap();
    let update = DeploymentRow {
        id,
        environment: "elsewhere".into(),
        version: "9.9".into(),
        from_version: None,
        kind: "rollback".into(),
        plan: "{\"steps\":[\"start\"]}".into(),
        plan_digest: "sha256:p2".into(),
        status: "failed".into(),
        reason: Some("health check failed".into()),
        actor: "mallory".into(),
        created: "later".into(),
        finished: Some("2026-12-01T10:05:00Z".into()),
        next_step: 1,
    };
    store.transact(|tx| tx.update_deployment(&update)).unwrap();
    let expected = DeploymentRow {
        id,
        plan: update.plan.clone(),
        plan_digest: update.plan_digest.clone(),
        status: update.status.clone(),
        reason: update.reason.clone(),
        finished: update.finished.clone(),
        next_step: update.next_step,
        ..original.clone()
    };
    assert_eq!(read_deployment(&*store, id), Some(expected.clone()));

    // Back to `None`: the value is cleared, not kept.
    let cleared = DeploymentRow { reason: None, finished: None, next_step: 2, ..expected.clone() };
    store.transact(|tx| tx.update_deployment(&cleared)).unwrap();
    assert_eq!(read_deployment(&*store, id), Some(cleared));

    match store.transact(|tx| tx.update_deployment(&DeploymentRow { id: 99, ..original })) {
        Err(StoreError::NotFound { what }) => assert_eq!(what, "deployment 99"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn deployment_events_are_numbered_per_deployment(test: &TestStore) {
    let store = test.store();
    let a = insert_deployment(&*store, &deployment("staging", "1.0")).unwrap();
    let b = insert_deployment(&*store, &deployment("production", "1.0")).unwrap();
    let event = |deployment: u64, kind: &str, step_index: Option<u32>| EventRow {
        deployment,
        seq: 42,
        time: "2026-12-01T10:00:01.5Z".into(),
        kind: kind.into(),
        step_index,
        message: format!("{kind}: ünïcödé\nsecond line"),
        data: "{\"k\":[1,null,\"'\"]}".into(),
    };
    let written = [
        event(a, "started", None),
        event(b, "started", None),
        event(a, "step.started", Some(0)),
        event(a, "step.finished", Some(u32::MAX)),
        event(b, "paused", Some(1)),
    ];
    let seqs: Vec<u64> =
        written.iter().map(|event| store.transact(|tx| tx.append_deployment_event(event)).unwrap()).collect();
    assert_eq!(seqs, [1, 1, 2, 3, 2]);
    // Appends in one transaction see each other.
    let more = store
        .transact(|tx| {
            Ok::<_, StoreError>((
                tx.append_deployment_event(&event(a, "note", None))?,
                tx.append_deployment_event(&event(a, "finished", None))?,
            ))
        })
        .unwrap();
    assert_eq!(more, (4, 5));

    let events =
        |deployment: u64, after: u64| store.read(|reader| reader.deployment_events(deployment, after)).unwrap();
    let expected_a: Vec<EventRow> = [
        (1, event(a, "started", None)),
        (2, event(a, "step.started", Some(0))),
        (3, event(a, "step.finished", Some(u32::MAX))),
        (4, event(a, "note", None)),
        (5, event(a, "finished", None)),
    ]
    .into_iter()
    .map(|(seq, event)| EventRow { seq, ..event })
    .collect();
    assert_eq!(events(a, 0), expected_a, "whole rows, in seq order");
    assert_eq!(events(a, 2), expected_a[2..]);
    assert_eq!(events(a, 5), []);
    let seqs_b: Vec<u64> = events(b, 0).iter().map(|event| event.seq).collect();
    assert_eq!(seqs_b, [1, 2]);
    assert_eq!(events(99, 0), []);

    match store.transact(|tx| tx.append_deployment_event(&event(99, "started", None))) {
        Err(StoreError::NotFound { what }) => assert_eq!(what, "deployment 99"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn concurrent_event_appends_are_gap_free(test: &TestStore) {
    const THREADS: usize = 6;
    const EACH: u64 = 20;
    let store = test.store();
    let id = insert_deployment(&*store, &deployment("staging", "1.0")).unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|n| {
                        let event = EventRow {
                            deployment: id,
                            seq: 0,
                            time: "2026-12-01T10:00:00Z".into(),
                            kind: "note".into(),
                            step_index: None,
                            message: format!("{thread}/{n}"),
                            data: "{}".into(),
                        };
                        store.transact(|tx| tx.append_deployment_event(&event)).unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut returned: Vec<u64> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    returned.sort_unstable();
    let expected: Vec<u64> = (1..=THREADS as u64 * EACH).collect();
    assert_eq!(returned, expected, "every append got a distinct seq");
    let stored: Vec<u64> =
        store.read(|reader| reader.deployment_events(id, 0)).unwrap().iter().map(|event| event.seq).collect();
    assert_eq!(stored, expected);
}

fn an_environment_upsert_replaces_the_row(test: &TestStore) {
    let store = test.store();
    let upsert = |row: &EnvironmentRow| store.transact(|tx| tx.upsert_environment(row)).unwrap();
    let read = |name: &str| store.read(|reader| reader.environment(name)).unwrap();
    let bare = |name: &str| EnvironmentRow {
        name: name.into(),
        active_version: None,
        active_since: None,
        previous_version: None,
        warm_until: None,
    };
    let full = EnvironmentRow {
        name: "staging".into(),
        active_version: Some("1.1".into()),
        active_since: Some("2026-12-01T10:00:00Z".into()),
        previous_version: Some("1.0".into()),
        warm_until: Some("2026-12-01T10:15:00Z".into()),
    };
    assert_eq!(read("staging"), None);
    upsert(&full);
    assert_eq!(read("staging"), Some(full.clone()));
    upsert(&bare("staging"));
    assert_eq!(read("staging"), Some(bare("staging")), "every column replaced, None included");
    upsert(&full);
    assert_eq!(read("staging"), Some(full.clone()));

    for name in ["production", "Preview", "a_b"] {
        upsert(&bare(name));
    }
    let all = store.read(|reader| reader.environments()).unwrap();
    let names: Vec<&str> = all.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["Preview", "a_b", "production", "staging"], "by name, in byte order");
    assert_eq!(all[3], full);
    assert_eq!(read("nowhere"), None);
}

fn tokens_are_found_by_hash_and_revoked_once(test: &TestStore) {
    let store = test.store();
    let token = |id: &str, hash: &str, created: &str| TokenRow {
        id: id.into(),
        hash: hash.into(),
        name: format!("{id}'s token"),
        role: "deployer".into(),
        created: created.into(),
        expires: Some("2027-01-01T00:00:00Z".into()),
        revoked: None,
        environments: Some(r#"["staging"]"#.into()),
    };
    let b = token("tok_b", &"ab".repeat(32), "2026-12-01T00:00:00Z");
    let a =
        TokenRow { expires: None, role: "admin".into(), ..token("tok_a", &"cd".repeat(32), "2026-12-01T00:00:00Z") };
    let zero = TokenRow {
        revoked: Some("2026-12-02T01:00:00Z".into()),
        ..token("tok_0", &"ef".repeat(32), "2026-12-02T00:00:00Z")
    };
    store
        .transact(|tx| {
            for row in [&b, &a, &zero] {
                tx.insert_token(row)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let by_hash = |hash: &str| store.read(|reader| reader.token_by_hash(hash)).unwrap();
    assert_eq!(by_hash(&a.hash), Some(a.clone()));
    assert_eq!(by_hash(&zero.hash), Some(zero.clone()), "revoked tokens are found too");
    assert_eq!(by_hash(&"00".repeat(32)), None);
    let ids = || -> Vec<String> { store.read(|reader| reader.tokens()).unwrap().into_iter().map(|t| t.id).collect() };
    assert_eq!(ids(), ["tok_a", "tok_b", "tok_0"], "by created, then id");

    let revoke = |id: &str, time: &str| store.transact(|tx| tx.revoke_token(id, time)).unwrap();
    assert!(revoke("tok_b", "2026-12-03T00:00:00Z"));
    assert!(!revoke("tok_b", "2026-12-04T00:00:00Z"), "revoked once");
    assert!(!revoke("tok_0", "2026-12-04T00:00:00Z"), "inserted revoked");
    assert!(!revoke("tok_missing", "2026-12-04T00:00:00Z"));
    assert_eq!(by_hash(&b.hash), Some(TokenRow { revoked: Some("2026-12-03T00:00:00Z".into()), ..b.clone() }));
    assert_eq!(by_hash(&zero.hash), Some(zero.clone()), "the first revocation time is kept");
    assert_eq!(by_hash(&a.hash), Some(a.clone()), "other tokens untouched");

    let same_id = TokenRow { hash: "11".repeat(32), ..a.clone() };
    assert!(store.transact(|tx| tx.insert_token(&same_id)).is_err(), "ids are unique");
    let same_hash = TokenRow { id: "tok_c".into(), ..a };
    assert!(store.transact(|tx| tx.insert_token(&same_hash)).is_err(), "hashes are unique");
    assert_eq!(ids().len(), 3);
}

fn records_keep_every_version_and_list_the_newest(test: &TestStore) {
    let store = test.store();
    let put = |scope: &str, name: &str, value: Option<&str>| {
        let row = RecordRow {
            kind: "secret".into(),
            scope: scope.into(),
            name: name.into(),
            version: 99,
            value: value.map(String::from),
            actor: "alice".into(),
            created: "2026-12-01T00:00:00Z".into(),
        };
        store.transact(|tx| tx.put_record(&row)).unwrap()
    };
    assert_eq!(put("prod", "DB_URL", Some("one")), 1, "versions start at 1, whatever the row says");
    assert_eq!(put("prod", "DB_URL", Some("two")), 2);
    assert_eq!(put("prod", "API_KEY", Some("k")), 1, "versions count per name");
    assert_eq!(put("staging", "DB_URL", Some("s")), 1, "and per scope");
    assert_eq!(put("prod", "API_KEY", None), 2, "a removal is a version too");

    let newest = store.read(|reader| reader.record("secret", "prod", "DB_URL")).unwrap().unwrap();
    assert_eq!((newest.version, newest.value.as_deref()), (2, Some("two")));
    assert_eq!(store.read(|reader| reader.record("flag", "prod", "DB_URL")).unwrap(), None, "kinds are apart");

    let listed = store.read(|reader| reader.records("secret", "prod")).unwrap();
    let summary: Vec<_> = listed.iter().map(|r| (r.name.as_str(), r.version, r.value.as_deref())).collect();
    assert_eq!(summary, [("API_KEY", 2, None), ("DB_URL", 2, Some("two"))], "newest of each, by name");

    let history = store.read(|reader| reader.record_history("secret", "prod", "DB_URL")).unwrap();
    let values: Vec<_> = history.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(values, [Some("one"), Some("two")], "oldest first");
}
