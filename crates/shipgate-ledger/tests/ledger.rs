//! The ledger over real stores: every tampering case `verify` must catch, proofs checked
//! offline, redaction, concurrency and key rotation. Each test runs on SQLite and on
//! PostgreSQL (skipped loudly when no server answers, a failure under
//! `SHIPGATE_REQUIRE_ALL=1`).

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::json;
use shipgate_ledger::checkpoint::{Checkpoint, UnverifiedCheckpoint};
use shipgate_ledger::keys::{self, SigningKey};
use shipgate_ledger::merkle::{self, Frontier};
use shipgate_ledger::verify::EntryRange;
use shipgate_ledger::{
    Anchor, Clock, Ledger, LedgerConfig, LedgerError, NewEntry, Problem, ProblemCode, Proof, Verdict, Verified,
    VerifierKey, verify_store,
};
use shipgate_store::testing::{self, TestStore};
use shipgate_store::{Store, StoreError};

/// Runs each named test against SQLite and PostgreSQL. A test gets a way to make fresh
/// stores of its backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&shipgate_store::testing::sqlite); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if shipgate_store::testing::postgres_available() {
                    super::$name(&|| shipgate_store::testing::postgres().unwrap());
                }
            })*
        }
    };
}

suite!(
    an_intact_ledger_verifies,
    one_byte_changed_in_an_entry_is_found,
    a_field_changed_keeping_the_json_valid_is_found,
    a_filter_column_changed_is_found,
    a_deleted_entry_is_found,
    two_swapped_entries_are_found,
    truncation_is_found_against_an_external_checkpoint,
    a_replaced_store_is_found_against_an_external_checkpoint,
    a_replaced_store_with_the_same_origin_is_found_too,
    a_checkpoint_resigned_with_another_key_is_found,
    a_checkpoint_whose_root_does_not_match_is_found,
    an_altered_checkpoint_fails_its_signature,
    a_rewritten_head_is_found,
    concurrent_appenders_produce_a_gap_free_sequence,
    a_failed_transaction_leaves_no_entry,
    proofs_verify_offline,
    a_registered_secret_never_reaches_the_store,
    rotating_the_key_is_an_entry_and_old_checkpoints_still_verify,
    a_lost_key_can_be_replaced_and_the_ledger_still_verifies,
    a_foreign_or_missing_key_is_refused,
    checkpoints_are_written_every_n_entries,
);

type MakeStore<'a> = &'a dyn Fn() -> TestStore;

/// A store, a data directory for the key, and the ledger over them.
struct Setup {
    test: TestStore,
    dir: tempfile::TempDir,
    ledger: Ledger,
}

impl Setup {
    fn new(test: TestStore) -> Setup {
        Setup::with_config(test, config())
    }

    fn with_config(test: TestStore, config: LedgerConfig) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(test.store(), dir.path().join(keys::KEY_FILE_NAME), config).unwrap();
        Setup { test, dir, ledger }
    }

    /// A ledger whose key (and so whose origin) is `key`.
    fn with_key(test: TestStore, key: &SigningKey) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        keys::create_key_file(&dir.path().join(keys::KEY_FILE_NAME), key).unwrap();
        Setup::with_dir(test, dir)
    }

    fn with_dir(test: TestStore, dir: tempfile::TempDir) -> Setup {
        let ledger = Ledger::open(test.store(), dir.path().join(keys::KEY_FILE_NAME), config()).unwrap();
        Setup { test, dir, ledger }
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join(keys::KEY_FILE_NAME)
    }

    fn store(&self) -> Arc<dyn Store> {
        self.test.store()
    }

    fn verify(&self) -> Verdict {
        self.verify_with(&[], &[])
    }

    fn verify_with(&self, external: &[Anchor], trusted: &[VerifierKey]) -> Verdict {
        verify_store(&*self.store(), external, trusted).unwrap()
    }

    fn reopen(&self) -> Result<Ledger, LedgerError> {
        Ledger::open(self.store(), self.key_path(), config())
    }
}

fn config() -> LedgerConfig {
    LedgerConfig { checkpoint_every: 10, ..LedgerConfig::default() }
}

/// `count` entries after `ledger.init`: entry `n + 1` has version `1.0.n`.
fn fill(ledger: &Ledger, count: usize) {
    for n in 1..=count {
        let actor = if n % 2 == 0 { "alice" } else { "bob" };
        let env = if n % 3 == 0 { "production" } else { "staging" };
        let entry = NewEntry::new(actor, "deploy.finished", "hello")
            .env(env)
            .details(json!({"version": format!("1.0.{n}"), "replicas": 3, "healthy": true}));
        ledger.record(entry).unwrap();
    }
}

fn verified(verdict: Verdict) -> Verified {
    match verdict {
        Verdict::Verified(verified) => verified,
        Verdict::Failed(problem) => panic!("expected the ledger to verify, but: {problem:#?}"),
    }
}

fn failed(verdict: Verdict, code: ProblemCode) -> Problem {
    match verdict {
        Verdict::Failed(problem) => {
            assert_eq!(problem.code, code, "{problem:#?}");
            problem
        }
        Verdict::Verified(verified) => panic!("expected {code:?}, but the ledger verified: {verified:?}"),
    }
}

fn kept_elsewhere(note: &str) -> Anchor {
    Anchor { label: "checkpoint file `kept.txt`".into(), note: note.into(), external: true }
}

fn body(setup: &Setup, seq: u64) -> String {
    setup.test.raw().entry_text(seq, "body")
}

fn stored_checkpoints(setup: &Setup) -> Vec<shipgate_store::CheckpointRow> {
    setup.store().read(|reader| reader.ledger_checkpoints()).unwrap()
}

fn sql_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn an_intact_ledger_verifies(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let verified = verified(setup.verify());
    assert_eq!(verified.size, 25, "ledger.init and 24 entries");
    assert_eq!(verified.stored_checkpoints, 2, "at 10 and 20");
    assert_eq!(verified.signed_size, 20);
    assert_eq!(verified.origin.as_deref(), Some(setup.ledger.origin()));
    assert_eq!(verified.keys, [setup.ledger.public_key()]);

    let kept = setup.ledger.checkpoint().unwrap();
    let verified = verified_with(&setup, &kept.note);
    assert_eq!((verified.external_checkpoints, verified.signed_size), (1, 25));
}

fn verified_with(setup: &Setup, note: &str) -> Verified {
    verified(setup.verify_with(&[kept_elsewhere(note)], &[setup.ledger.public_key()]))
}

fn one_byte_changed_in_an_entry_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    assert!(body(&setup, 7).contains(r#""version":"1.0.6""#));
    setup.test.raw().execute(r#"UPDATE ledger_entries SET body = replace(body, '"1.0.6"', '"1.0.7"') WHERE seq = 7"#);
    let problem = failed(setup.verify(), ProblemCode::LeafHashMismatch);
    assert_eq!(problem.seq, Some(7));
    assert!(problem.message.contains("entry 7 was changed"), "{}", problem.message);
}

/// The careful forger: a different value, still canonical JSON, the filter column and
/// the leaf hash updated to match. Only the signed checkpoint over it can tell.
fn a_field_changed_keeping_the_json_valid_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let original = body(&setup, 8);
    assert!(original.contains(r#""actor":"bob""#), "{original}");
    let forged = original.replace(r#""actor":"bob""#, r#""actor":"eve""#);
    assert!(shipgate_ledger::Entry::from_canonical(&forged).is_ok(), "the forgery is a well-formed entry");
    let mut raw = setup.test.raw();
    raw.set_entry(8, &forged, &merkle::leaf_hash(forged.as_bytes()));
    raw.execute("UPDATE ledger_entries SET actor = 'eve' WHERE seq = 8");

    let problem = failed(setup.verify(), ProblemCode::RootMismatch);
    assert_eq!(problem.entries, Some(EntryRange { first: 1, last: 10 }));
    assert!(problem.checkpoint.as_deref().is_some_and(|label| label.contains("size 10")), "{problem:?}");
}

fn a_filter_column_changed_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 12);
    setup.test.raw().execute("UPDATE ledger_entries SET actor = 'someone-else' WHERE seq = 5");
    let problem = failed(setup.verify(), ProblemCode::ColumnMismatch);
    assert_eq!(problem.seq, Some(5));
    assert!(problem.message.contains("`actor`"), "{}", problem.message);
}

fn a_deleted_entry_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    setup.test.raw().execute("DELETE FROM ledger_entries WHERE seq = 12");
    let problem = failed(setup.verify(), ProblemCode::MissingEntry);
    assert_eq!(problem.seq, Some(12));
    assert_eq!(problem.message, "entry 12 is missing: the next stored entry is 13");
}

fn two_swapped_entries_are_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let (fourteen, fifteen) = setup
        .store()
        .read(|reader| Ok::<_, StoreError>((reader.ledger_entry(14)?.unwrap(), reader.ledger_entry(15)?.unwrap())))
        .unwrap();
    let mut raw = setup.test.raw();
    raw.set_entry(14, &fifteen.body, &fifteen.leaf_hash);
    raw.set_entry(15, &fourteen.body, &fourteen.leaf_hash);
    let problem = failed(setup.verify(), ProblemCode::OutOfPlace);
    assert_eq!(problem.seq, Some(14));
    assert!(problem.message.contains("holds the content of entry 15"), "{}", problem.message);
}

/// The last entries removed, with the checkpoints that covered them and the head
/// rewritten: internally the ledger is consistent again, and only a checkpoint kept
/// elsewhere shows what is missing.
fn truncation_is_found_against_an_external_checkpoint(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let kept = setup.ledger.checkpoint().unwrap();
    assert_eq!(kept.checkpoint.size, 25);

    let mut frontier = Frontier::new();
    setup
        .store()
        .read(|reader| {
            reader.ledger_leaf_hashes(20, &mut |_, hash| {
                frontier.push(hash.try_into().unwrap());
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    let mut raw = setup.test.raw();
    raw.execute("DELETE FROM ledger_entries WHERE seq > 20; DELETE FROM ledger_checkpoints WHERE tree_size > 20");
    raw.set_head(20, &frontier.to_bytes());

    assert_eq!(verified(setup.verify()).size, 20, "on its own the truncated ledger looks fine");
    for trusted in [vec![], vec![setup.ledger.public_key()]] {
        let problem = failed(setup.verify_with(&[kept_elsewhere(&kept.note)], &trusted), ProblemCode::Truncated);
        assert_eq!(problem.entries, Some(EntryRange { first: 21, last: 25 }));
        assert!(problem.message.contains("entries 21..=25 were removed"), "{}", problem.message);
    }
}

fn a_replaced_store_is_found_against_an_external_checkpoint(make: MakeStore<'_>) {
    let original = Setup::new(make());
    fill(&original.ledger, 12);
    let kept = original.ledger.checkpoint().unwrap();

    // Another, internally valid ledger where the original was.
    let forged = Setup::new(make());
    fill(&forged.ledger, 30);
    assert_eq!(verified(forged.verify()).size, 31);
    failed(forged.verify_with(&[kept_elsewhere(&kept.note)], &[]), ProblemCode::OriginMismatch);
    failed(
        forged.verify_with(&[kept_elsewhere(&kept.note)], &[original.ledger.public_key()]),
        ProblemCode::OriginMismatch,
    );
    // Even with no checkpoint at hand, the key the auditor trusts is not this ledger's.
    failed(forged.verify_with(&[], &[original.ledger.public_key()]), ProblemCode::UntrustedLedger);
}

/// The forger copies the origin and makes a key of the same name; they cannot make the
/// original key's signature.
fn a_replaced_store_with_the_same_origin_is_found_too(make: MakeStore<'_>) {
    let original = Setup::new(make());
    fill(&original.ledger, 12);
    let kept = original.ledger.checkpoint().unwrap();

    let forger_key = SigningKey::generate(original.ledger.origin()).unwrap();
    let forged = Setup::with_key(make(), &forger_key);
    assert_eq!(forged.ledger.origin(), original.ledger.origin());
    fill(&forged.ledger, 30);
    assert_eq!(verified(forged.verify()).size, 31);
    failed(forged.verify_with(&[kept_elsewhere(&kept.note)], &[]), ProblemCode::UnknownKey);
    let problem = failed(
        forged.verify_with(&[kept_elsewhere(&kept.note)], &[original.ledger.public_key()]),
        ProblemCode::RootMismatch,
    );
    assert_eq!(problem.entries, Some(EntryRange { first: 11, last: 13 }), "after its own checkpoint at 10");
}

fn a_checkpoint_resigned_with_another_key_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let first = stored_checkpoints(&setup).remove(0);
    let checkpoint = UnverifiedCheckpoint::parse(&first.note).unwrap().checkpoint;
    let stranger = SigningKey::generate(setup.ledger.origin()).unwrap();
    let resigned = checkpoint.sign(&[&stranger]).unwrap();
    setup.test.raw().execute(&format!(
        "UPDATE ledger_checkpoints SET note = {} WHERE id = {}",
        sql_text(&resigned),
        first.id
    ));
    let problem = failed(setup.verify(), ProblemCode::UnknownKey);
    assert_eq!(problem.checkpoint, Some(format!("stored checkpoint #{} (size 10)", first.id)));
    assert!(problem.message.contains(&stranger.verifier().short()), "{}", problem.message);

    // Kept elsewhere and re-signed there: the same.
    setup.test.raw().execute(&format!(
        "UPDATE ledger_checkpoints SET note = {} WHERE id = {}",
        sql_text(&first.note),
        first.id
    ));
    verified(setup.verify());
    let kept = setup.ledger.checkpoint().unwrap().checkpoint.sign(&[&stranger]).unwrap();
    let problem =
        failed(setup.verify_with(&[kept_elsewhere(&kept)], &[setup.ledger.public_key()]), ProblemCode::UnknownKey);
    assert_eq!(problem.checkpoint.as_deref(), Some("checkpoint file `kept.txt`"));
}

/// Signed by the ledger's real key, over a root that is not the ledger's: a fork.
fn a_checkpoint_whose_root_does_not_match_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let real_key = keys::read_key_file(&setup.key_path()).unwrap().unwrap();
    let fork =
        Checkpoint { origin: setup.ledger.origin().into(), size: 15, root: merkle::leaf_hash(b"another history") }
            .sign(&[&real_key])
            .unwrap();

    let problem = failed(setup.verify_with(&[kept_elsewhere(&fork)], &[]), ProblemCode::RootMismatch);
    assert_eq!(problem.entries, Some(EntryRange { first: 11, last: 15 }));

    setup.store().transact(|tx| tx.insert_ledger_checkpoint(15, &fork, "now")).unwrap();
    let problem = failed(setup.verify(), ProblemCode::RootMismatch);
    assert!(problem.checkpoint.as_deref().is_some_and(|label| label.starts_with("stored checkpoint")), "{problem:?}");
}

fn an_altered_checkpoint_fails_its_signature(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 24);
    let second = stored_checkpoints(&setup).remove(1);
    let root_line = second.note.lines().nth(2).unwrap().to_owned();
    let other_root = shipgate_ledger::base64_hash(&merkle::leaf_hash(b"x"));
    let altered = second.note.replace(&root_line, &other_root);
    setup.test.raw().execute(&format!(
        "UPDATE ledger_checkpoints SET note = {} WHERE id = {}",
        sql_text(&altered),
        second.id
    ));
    let problem = failed(setup.verify(), ProblemCode::BadSignature);
    assert!(problem.message.contains("was altered"), "{}", problem.message);
}

fn a_rewritten_head_is_found(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 5);
    setup.test.raw().execute("DELETE FROM ledger_entries WHERE seq = 6");
    let problem = failed(setup.verify(), ProblemCode::HeadMismatch);
    assert!(problem.message.contains("records 6 entries but only 5 are stored"), "{}", problem.message);
}

fn concurrent_appenders_produce_a_gap_free_sequence(make: MakeStore<'_>) {
    const THREADS: usize = 8;
    const EACH: u64 = 40;
    let setup = Setup::new(make());
    let ledger = Arc::new(setup.ledger);
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let ledger = Arc::clone(&ledger);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|n| {
                        let entry = NewEntry::new(format!("worker-{thread}"), "test.append", format!("item-{n}"));
                        ledger.record(entry).unwrap().entry.seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    seqs.sort_unstable();
    let total = THREADS as u64 * EACH;
    assert_eq!(seqs, (2..=total + 1).collect::<Vec<u64>>(), "each append got its own seq, after ledger.init");
    let store = ledger.store();
    let verified = verified(verify_store(&**store, &[], &[]).unwrap());
    assert_eq!(verified.size, total + 1);
    assert_eq!(verified.stored_checkpoints as u64, (total + 1) / 10);
}

fn a_failed_transaction_leaves_no_entry(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 8);
    let result: Result<(), LedgerError> = setup.store().transact(|tx| {
        // Entry 10 would also write a checkpoint: all of it must go.
        setup.ledger.append(tx, NewEntry::new("alice", "deploy.started", "hello"))?;
        Err(LedgerError::Corrupt("the state change it records failed".into()))
    });
    assert!(result.is_err());
    assert_eq!(verified(setup.verify()).size, 9);
    assert!(stored_checkpoints(&setup).is_empty());
    assert_eq!(setup.ledger.record(NewEntry::new("alice", "deploy.started", "hello")).unwrap().entry.seq, 10);
    assert_eq!(stored_checkpoints(&setup).len(), 1);
}

fn proofs_verify_offline(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 32);
    let old = setup.ledger.checkpoint().unwrap();
    fill(&setup.ledger, 7);
    let key = setup.ledger.public_key();
    let stranger = SigningKey::generate(setup.ledger.origin()).unwrap().verifier();

    for seq in [1, 2, 17, 33, 40] {
        let proof = setup.ledger.inclusion_proof(seq).unwrap();
        assert_eq!(proof.tree_size, 40);
        // Through the text form, as a file would carry it.
        let text = Proof::Inclusion(proof.clone()).to_json().unwrap();
        let holds = Proof::parse(&text).unwrap().verify(std::slice::from_ref(&key)).unwrap();
        assert_eq!(holds.entry_seq, Some(seq));
        assert_eq!(holds.signed_by, std::slice::from_ref(&key));
        assert!(Proof::parse(&text).unwrap().verify(std::slice::from_ref(&stranger)).is_err(), "wrong key");

        let mut altered = proof.clone();
        altered.entry.actor = "mallory".into();
        assert!(matches!(
            Proof::Inclusion(altered).verify(std::slice::from_ref(&key)),
            Err(LedgerError::ProofRejected(_))
        ));
        let mut moved = proof.clone();
        moved.leaf_index = (moved.leaf_index + 1) % 40;
        assert!(Proof::Inclusion(moved).verify(std::slice::from_ref(&key)).is_err());
    }
    assert!(matches!(setup.ledger.inclusion_proof(41), Err(LedgerError::NoSuchEntry { seq: 41, size: 40 })));

    let consistency = setup.ledger.consistency_proof(&old.note, "old.txt").unwrap();
    assert_eq!((consistency.old_size, consistency.tree_size), (33, 40));
    let text = Proof::Consistency(consistency).to_json().unwrap();
    let holds = Proof::parse(&text).unwrap().verify(std::slice::from_ref(&key)).unwrap();
    assert_eq!(holds.old_size, Some(33));
    assert!(Proof::parse(&text).unwrap().verify(&[stranger]).is_err());
}

fn a_registered_secret_never_reaches_the_store(make: MakeStore<'_>) {
    const SECRET: &str = "s3cr3t-db-p4ssw0rd";
    let setup = Setup::new(make());
    setup.ledger.redactor().register(SECRET).unwrap();
    let appended = setup
        .ledger
        .record(
            NewEntry::new("ci", "secret.used", format!("db/{SECRET}"))
                .env("production")
                .details(json!({"url": format!("postgres://app:{SECRET}@db/app"), "note": "rotated"})),
        )
        .unwrap();
    assert_eq!(appended.entry.subject, "db/[REDACTED]");
    assert_eq!(appended.entry.details["url"], "postgres://app:[REDACTED]@db/app");

    let rows = setup
        .store()
        .read(|reader| {
            let mut rows = Vec::new();
            reader.ledger_entries(0, &mut |row| {
                rows.push(row);
                ControlFlow::Continue(())
            })?;
            Ok::<_, StoreError>(rows)
        })
        .unwrap();
    for row in &rows {
        let text = format!("{row:?}");
        assert!(!text.contains(SECRET), "{text}");
    }
    if let Some(dir) = setup.test.dir() {
        for file in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()), "on disk");
        }
    }
    verified(setup.verify());

    // A secret that only appears once encoded (it spans JSON syntax) is refused, not stored.
    setup.ledger.redactor().register(r#"one","b":"two"#).unwrap();
    let sneaky = NewEntry::new("ci", "x", "y").details(json!({"a": "one", "b": "two"}));
    assert!(matches!(setup.ledger.record(sneaky), Err(LedgerError::SecretInEntry)));
}

fn rotating_the_key_is_an_entry_and_old_checkpoints_still_verify(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 14);
    let old_key = setup.ledger.public_key();
    let old_secret = keys::read_key_file(&setup.key_path()).unwrap().unwrap();
    let kept = setup.ledger.checkpoint().unwrap();

    let new_key = setup.ledger.rotate_key("alice", Some("yearly rotation")).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(setup.ledger.public_key(), new_key);
    assert_eq!(keys::read_key_file(&setup.key_path()).unwrap().unwrap().verifier(), new_key);
    assert!(!setup.key_path().with_file_name(keys::NEXT_KEY_FILE_NAME).exists());
    fill(&setup.ledger, 10);

    assert_eq!(verified(setup.verify()).keys, [old_key.clone(), new_key.clone()]);
    // The checkpoint at the rotation is signed by both keys.
    let rotation = stored_checkpoints(&setup).into_iter().find(|stored| stored.tree_size == 16).unwrap();
    assert_eq!(UnverifiedCheckpoint::parse(&rotation.note).unwrap().signers.len(), 2);
    // What was kept with the old key still checks out, with the old key.
    verified(setup.verify_with(&[kept_elsewhere(&kept.note)], std::slice::from_ref(&old_key)));
    // A proof made now verifies with the new key.
    let proof = Proof::Inclusion(setup.ledger.inclusion_proof(3).unwrap());
    proof.verify(std::slice::from_ref(&new_key)).unwrap();
    assert!(proof.verify(&[old_key]).is_err());
    // Reopening finds the new key in place.
    assert_eq!(setup.reopen().unwrap().public_key(), new_key);

    // The retired key cannot vouch for the ledger after its rotation.
    let late = Checkpoint { origin: setup.ledger.origin().into(), size: 20, root: merkle::leaf_hash(b"whatever") }
        .sign(&[&old_secret])
        .unwrap();
    setup.store().transact(|tx| tx.insert_ledger_checkpoint(20, &late, "now")).unwrap();
    failed(setup.verify(), ProblemCode::RetiredKey);
}

fn a_lost_key_can_be_replaced_and_the_ledger_still_verifies(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 12);
    let old_key = setup.ledger.public_key();
    std::fs::remove_file(setup.key_path()).unwrap();
    assert!(matches!(setup.reopen(), Err(LedgerError::KeyMissing { .. })));

    let ledger =
        Ledger::rotate_lost_key(setup.store(), setup.key_path(), config(), "alice", Some("laptop stolen")).unwrap();
    assert_ne!(ledger.public_key(), old_key);
    fill(&ledger, 5);
    let verified = verified(setup.verify());
    assert_eq!(verified.size, 19);
    assert_eq!(verified.keys, [old_key, ledger.public_key()]);
    let rotation = shipgate_ledger::query(
        &*setup.store(),
        &shipgate_store::EntryQuery {
            action: Some(shipgate_store::TextMatch::Exact("ledger.key-rotated".into())),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rotation[0].details["previous_key_available"], false);
    assert_eq!(rotation[0].details["reason"], "laptop stolen");
    assert!(matches!(
        Ledger::rotate_lost_key(setup.store(), setup.key_path(), config(), "alice", None),
        Err(LedgerError::Rotation(_))
    ));
}

fn a_foreign_or_missing_key_is_refused(make: MakeStore<'_>) {
    let setup = Setup::new(make());
    fill(&setup.ledger, 2);
    std::fs::remove_file(setup.key_path()).unwrap();
    keys::create_key_file(&setup.key_path(), &SigningKey::generate(setup.ledger.origin()).unwrap()).unwrap();
    assert!(matches!(setup.reopen(), Err(LedgerError::KeyMismatch { .. })));
}

fn checkpoints_are_written_every_n_entries(make: MakeStore<'_>) {
    let setup = Setup::with_config(make(), LedgerConfig { checkpoint_every: 4, ..LedgerConfig::default() });
    fill(&setup.ledger, 12);
    let sizes: Vec<u64> = stored_checkpoints(&setup).iter().map(|stored| stored.tree_size).collect();
    assert_eq!(sizes, [4, 8, 12]);
    let every_time = Setup::with_config(make(), LedgerConfig { checkpoint_every: 0, ..LedgerConfig::default() });
    fill(&every_time.ledger, 12);
    assert!(stored_checkpoints(&every_time).is_empty(), "0 turns them off");
}

/// The same entries, recorded with the same key at the same times, give the same root,
/// the same stored text and the same signed checkpoints on both databases.
#[test]
fn the_same_entries_give_the_same_root_on_sqlite_and_postgres() {
    let Some(postgres) = testing::postgres() else { return };
    let key = SigningKey::generate("shipgate/ledger/parity").unwrap();
    let record = |test: TestStore| -> (Setup, Verified) {
        let start: jiff::Timestamp = "2026-05-01T09:00:00Z".parse().unwrap();
        let tick = AtomicI64::new(0);
        let clock = Clock::new(move || start + jiff::SignedDuration::from_millis(tick.fetch_add(1, Ordering::SeqCst)));
        let dir = tempfile::tempdir().unwrap();
        keys::create_key_file(&dir.path().join(keys::KEY_FILE_NAME), &key).unwrap();
        let config = LedgerConfig { checkpoint_every: 7, clock };
        let ledger = Ledger::open(test.store(), dir.path().join(keys::KEY_FILE_NAME), config).unwrap();
        for n in 0..50 {
            let details = json!({"n": n, "float": f64::from(n) / 3.0, "text": "ünïcödé \u{1F680} \"quoted\"", "nested": {"b": [1, 2], "a": null}});
            ledger.record(NewEntry::new("alice", "test.parity", format!("subject-{n}")).details(details)).unwrap();
        }
        let setup = Setup { test, dir, ledger };
        let verified = verified(setup.verify());
        (setup, verified)
    };
    let (sqlite, on_sqlite) = record(testing::sqlite());
    let (postgres, on_postgres) = record(postgres);
    assert_eq!(on_sqlite.root, on_postgres.root);
    assert_eq!(on_sqlite.size, 51);
    let notes = |setup: &Setup| stored_checkpoints(setup).into_iter().map(|stored| stored.note).collect::<Vec<_>>();
    assert_eq!(notes(&sqlite), notes(&postgres), "Ed25519 signatures are deterministic too");
    for seq in [1, 2, 26, 51] {
        assert_eq!(body(&sqlite, seq), body(&postgres, seq));
    }
}

/// A rotation that committed but crashed before moving the new key into place is
/// finished by the next open.
#[test]
fn an_interrupted_rotation_is_finished_at_open() {
    let setup = Setup::new(testing::sqlite());
    fill(&setup.ledger, 3);
    let old = std::fs::read(setup.key_path()).unwrap();
    let new_key = setup.ledger.rotate_key("alice", None).unwrap();
    // Put the world back as it was between the commit and the rename.
    let next = setup.key_path().with_file_name(keys::NEXT_KEY_FILE_NAME);
    std::fs::rename(setup.key_path(), &next).unwrap();
    keys::create_key_file(&setup.key_path(), &SigningKey::parse(std::str::from_utf8(&old).unwrap()).unwrap()).unwrap();

    let reopened = setup.reopen().unwrap();
    assert_eq!(reopened.public_key(), new_key);
    assert!(!next.exists());
}

/// Appends keep going, from several threads and from a second "process", while the key
/// is rotated: every checkpoint is signed by the key the ledger announced at its size.
#[test]
fn rotation_under_concurrent_appends_keeps_every_checkpoint_valid() {
    let setup = Setup::with_config(testing::sqlite(), LedgerConfig { checkpoint_every: 3, ..LedgerConfig::default() });
    let other_process =
        Ledger::open(setup.store(), setup.key_path(), LedgerConfig { checkpoint_every: 3, ..LedgerConfig::default() })
            .unwrap();
    let ledger = Arc::new(setup.ledger);
    let start = Arc::new(Barrier::new(5));
    let appenders: Vec<_> = (0..4)
        .map(|thread| {
            let ledger = Arc::clone(&ledger);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for n in 0..40 {
                    ledger.record(NewEntry::new(format!("worker-{thread}"), "test.append", format!("{n}"))).unwrap();
                }
            })
        })
        .collect();
    start.wait();
    let new_key = ledger.rotate_key("alice", None).unwrap();
    for handle in appenders {
        handle.join().unwrap();
    }
    // The other process still holds the old key; it must sign with the new one.
    fill(&other_process, 6);
    let note = other_process.checkpoint().unwrap().note;
    assert_eq!(
        UnverifiedCheckpoint::parse(&note).unwrap().verify(std::slice::from_ref(&new_key)).unwrap(),
        std::slice::from_ref(&new_key)
    );
    let verified = verified(verify_store(&**ledger.store(), &[], &[]).unwrap());
    assert_eq!(verified.size, 1 + 160 + 1 + 6);
    assert_eq!(verified.keys.last(), Some(&new_key));
}

#[test]
fn an_empty_ledger_is_initialised_once() {
    let test = testing::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(keys::KEY_FILE_NAME);
    let first = Ledger::open(test.store(), &path, config()).unwrap();
    let second = Ledger::open(test.store(), &path, config()).unwrap();
    assert_eq!(first.public_key(), second.public_key());
    assert!(first.origin().starts_with("shipgate/ledger/"), "{}", first.origin());
    let verified = verified(verify_store(&*test.store(), &[], &[]).unwrap());
    assert_eq!(verified.size, 1, "one ledger.init");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}
