//! `shipgate audit`, run as a user would: the entries are recorded through the ledger
//! library (only the engine appends), then the binary reads, verifies, proves and exports
//! them, and checks proofs without the database.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Run, shipgate};
use serde_json::{Value, json};
use shipgate_ledger::{KEY_FILE_NAME, Ledger, LedgerConfig, NewEntry, base64_hash, merkle};
use shipgate_store::Location;
use shipgate_store::testing::Raw;

/// A data directory with a ledger of `ledger.init` and `count` entries.
struct Data {
    root: tempfile::TempDir,
}

impl Data {
    fn with_entries(count: usize) -> Data {
        let root = tempfile::tempdir().unwrap();
        let data = Data { root };
        data.record(count);
        data
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn location(&self) -> Location {
        Location::sqlite_in(&self.dir())
    }

    fn record(&self, count: usize) {
        std::fs::create_dir_all(self.dir()).unwrap();
        let store = shipgate_store::open(&self.location()).unwrap();
        let config = LedgerConfig { checkpoint_every: 5, ..LedgerConfig::default() };
        let ledger = Ledger::open(store, self.dir().join(KEY_FILE_NAME), config).unwrap();
        for n in 1..=count {
            let entry = NewEntry::new(if n % 2 == 0 { "alice" } else { "bob" }, "deploy.finished", "hello")
                .env(if n % 3 == 0 { "production" } else { "staging" })
                .details(json!({"version": format!("1.0.{n}")}));
            ledger.record(entry).unwrap();
        }
    }

    /// `shipgate audit ARGS --data-dir DIR`, run in a folder of its own.
    fn audit(&self, args: &[&str]) -> Run {
        let mut all = vec!["audit"];
        all.extend_from_slice(args);
        let data_dir = self.dir();
        all.extend_from_slice(&["--data-dir", data_dir.to_str().unwrap()]);
        shipgate(self.root.path(), &all)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn ok(run: &Run) -> &str {
    assert_eq!(run.code, 0, "{}", run.transcript());
    &run.stdout
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn verify_reports_ok_with_the_root() {
    let data = Data::with_entries(12);
    let run = data.audit(&["verify"]);
    let stdout = ok(&run);
    assert!(stdout.starts_with("ok: 13 entries, root "), "{stdout}");
    assert!(run.stderr.contains("entries 11..=13 are not yet covered"), "{}", run.stderr);

    let json: Value = serde_json::from_str(ok(&data.audit(&["verify", "--format", "json"]))).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["entries"], 13);
    assert_eq!(json["stored_checkpoints"], 2);
    assert_eq!(stdout.trim_end(), format!("ok: 13 entries, root {}", json["root"].as_str().unwrap()));
}

#[test]
fn verify_of_a_tampered_ledger_exits_1_and_names_the_entry() {
    let data = Data::with_entries(12);
    Raw::connect(&data.location())
        .execute(r#"UPDATE ledger_entries SET body = replace(body, '"1.0.4"', '"1.0.5"') WHERE seq = 5"#);
    let run = data.audit(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("error: the audit ledger failed verification: entry 5 was changed"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);

    let run = data.audit(&["verify", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["problem"]["code"], "leaf-hash-mismatch");
    assert_eq!(json["problem"]["seq"], 5);
}

#[test]
fn verify_against_a_kept_checkpoint_finds_truncation() {
    let data = Data::with_entries(12);
    let kept = data.write("kept.txt", ok(&data.audit(&["checkpoint"])));
    let pubkey = ok(&data.audit(&["pubkey"])).trim().to_owned();
    ok(&data.audit(&["verify", "--checkpoint", path(&kept), "--pubkey", &pubkey]));

    // Cut the last entries and everything that remembered them; keep the head consistent.
    let mut raw = Raw::connect(&data.location());
    raw.execute("DELETE FROM ledger_entries WHERE seq > 10; DELETE FROM ledger_checkpoints WHERE tree_size > 10");
    let mut frontier = merkle::Frontier::new();
    for seq in 1..=10 {
        let body = raw.entry_text(seq, "body");
        frontier.push(merkle::leaf_hash(body.as_bytes()));
    }
    raw.set_head(10, &frontier.to_bytes());
    ok(&data.audit(&["verify"]));

    let run = data.audit(&["verify", "--checkpoint", path(&kept), "--pubkey", &pubkey]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("covers 13 entries but the ledger has only 10"), "{}", run.stderr);
}

#[test]
fn proofs_verify_offline_without_the_database() {
    let data = Data::with_entries(20);
    let pubkey = ok(&data.audit(&["pubkey"])).trim().to_owned();
    let proof = data.write("proof.json", ok(&data.audit(&["proof", "7"])));
    let old = data.write("old.txt", ok(&data.audit(&["checkpoint"])));
    data.record(5);
    let consistency = data.write("consistency.json", ok(&data.audit(&["proof", "--since-checkpoint", path(&old)])));

    // The database and key are gone: only the files and the public key remain.
    std::fs::remove_dir_all(data.dir()).unwrap();
    let offline = tempfile::tempdir().unwrap();
    let verify_proof =
        |file: &Path, key: &str| shipgate(offline.path(), &["audit", "verify-proof", path(file), "--pubkey", key]);

    let run = verify_proof(&proof, &pubkey);
    assert!(ok(&run).starts_with("ok: entry 7 is in the ledger `shipgate/ledger/"), "{}", run.stdout);
    let run = verify_proof(&consistency, &pubkey);
    assert!(ok(&run).starts_with("ok: the ledger of 21 entries is a prefix of the ledger `"), "{}", run.stdout);
    assert!(run.stdout.contains(" of 26 entries, root "), "{}", run.stdout);

    // The key may also come from a file.
    let key_file = offline.path().join("ledger.pub");
    std::fs::write(&key_file, format!("{pubkey}\n")).unwrap();
    ok(&verify_proof(&proof, path(&key_file)));

    // An altered entry, a stranger's key, a file that is no proof.
    let altered = std::fs::read_to_string(&proof).unwrap().replace("\"1.0.6\"", "\"6.6.6\"");
    let altered = data.write("altered.json", &altered);
    let run = verify_proof(&altered, &pubkey);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("entry 7 is not in the signed tree"), "{}", run.stderr);

    let stranger = shipgate_ledger::SigningKey::generate("shipgate/ledger/stranger").unwrap().verifier().to_string();
    let run = verify_proof(&proof, &stranger);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("not a trusted key"), "{}", run.stderr);

    let run = verify_proof(&data.write("garbage.json", "{\"hello\": 1}"), &pubkey);
    assert_eq!(run.code, 2, "{}", run.transcript());
    let run = verify_proof(&proof, "not-a-key");
    assert_eq!(run.code, 2, "{}", run.transcript());
}

#[test]
fn log_filters_and_prints_json() {
    let data = Data::with_entries(9);
    let human = data.audit(&["log", "--env", "production"]);
    let lines: Vec<&str> = ok(&human).lines().collect();
    assert_eq!(lines.len(), 3, "{}", human.stdout);
    assert!(lines.iter().all(|line| line.contains("env=production")), "{}", human.stdout);

    let json: Value = serde_json::from_str(ok(&data.audit(&["log", "--actor", "alice", "--format", "json"]))).unwrap();
    let seqs: Vec<u64> = json.as_array().unwrap().iter().map(|entry| entry["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 5, 7, 9]);

    let json: Value =
        serde_json::from_str(ok(&data.audit(&["log", "--action", "ledger.*", "--format", "json"]))).unwrap();
    assert_eq!(json[0]["action"], "ledger.init");

    let limited = data.audit(&["log", "--limit", "2", "--since", "1h"]);
    let seqs: Vec<&str> = ok(&limited).lines().map(|line| line.split_whitespace().next().unwrap()).collect();
    assert_eq!(seqs, ["9", "10"]);

    let run = data.audit(&["log", "--since", "yesterday-ish"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    let run = data.audit(&["log", "--since", "2999-01-01"]);
    assert_eq!((ok(&run), run.stderr.as_str()), ("", "no entries match\n"));
}

#[test]
fn export_streams_entries_with_their_leaf_hashes() {
    let data = Data::with_entries(6);
    let run = data.audit(&["export", "--since", "3"]);
    let lines: Vec<Value> = ok(&run).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for (line, seq) in lines.iter().zip(4..) {
        assert_eq!(line["entry"]["seq"], seq);
        // Hashing the entry again, canonically, gives its leaf hash.
        let entry: shipgate_ledger::Entry = serde_json::from_value(line["entry"].clone()).unwrap();
        assert_eq!(line["leaf_hash"], base64_hash(&entry.leaf_hash().unwrap()));
    }
}

#[test]
fn rotating_the_key_is_recorded_and_the_ledger_still_verifies() {
    let data = Data::with_entries(3);
    let old = ok(&data.audit(&["pubkey"])).to_owned();
    let run = data.audit(&["rotate-key", "--actor", "alice", "--reason", "yearly"]);
    let new = ok(&run).to_owned();
    assert_ne!(new, old);
    assert_eq!(ok(&data.audit(&["pubkey"])), new);
    ok(&data.audit(&["verify"]));
    let json: Value = serde_json::from_str(ok(&data.audit(&["log", "--format", "json"]))).unwrap();
    let last = json.as_array().unwrap().last().unwrap();
    assert_eq!((last["action"].as_str(), last["actor"].as_str()), (Some("ledger.key-rotated"), Some("alice")));
}

#[test]
fn mistakes_are_usage_errors_with_hints() {
    let empty = tempfile::tempdir().unwrap();
    let nowhere = empty.path().join("nowhere");
    let run = shipgate(empty.path(), &["audit", "verify", "--data-dir", path(&nowhere)]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("there is no shipgate database at"), "{}", run.stderr);
    assert!(!nowhere.exists(), "a read-only command creates nothing");

    let run = shipgate(empty.path(), &["audit", "log", "--database", "mysql://root:hunter2@db/x"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    let data = Data::with_entries(1);
    let run = data.audit(&["proof", "99"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("there is no entry 99"), "{}", run.stderr);

    std::fs::remove_file(data.dir().join(KEY_FILE_NAME)).unwrap();
    let run = data.audit(&["checkpoint"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("rotate-key --key-lost"), "{}", run.stderr);
    ok(&data.audit(&["rotate-key", "--key-lost", "--actor", "alice"]));
    ok(&data.audit(&["verify"]));
}
