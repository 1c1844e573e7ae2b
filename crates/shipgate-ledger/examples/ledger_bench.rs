//! The ledger's benchmark: append rate with concurrent appenders (group commit on SQLite)
//! and the time to verify a ledger of a million entries.
//!
//! ```console
//! $ cargo run --release -p shipgate-ledger --example ledger_bench
//! $ cargo run --release -p shipgate-ledger --example ledger_bench -- --threads 1,8,32 --appends 20000 --verify-entries 1000000 --postgres
//! ```
//!
//! Every append is a full `Ledger::record`: redaction, canonical JSON, hashing, the
//! entry and head written in a transaction of its own, committed durably
//! (`synchronous = FULL`), with a signed checkpoint every 1,000 entries.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use shipgate_ledger::{KEY_FILE_NAME, Ledger, LedgerConfig, NewEntry, Verdict, verify_store};
use shipgate_store::{Location, Store};

struct Options {
    threads: Vec<usize>,
    appends: usize,
    verify_entries: usize,
    postgres: bool,
}

fn options() -> Options {
    let mut options =
        Options { threads: vec![1, 4, 8, 16, 32], appends: 20_000, verify_entries: 1_000_000, postgres: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => options.threads = value().split(',').map(|n| n.parse().unwrap()).collect(),
            "--appends" => options.appends = value().parse().unwrap(),
            "--verify-entries" => options.verify_entries = value().parse().unwrap(),
            "--postgres" => options.postgres = true,
            other => panic!("unknown option {other}; see the comment at the top of ledger_bench.rs"),
        }
    }
    options
}

/// A realistic entry: what the engine records when a deployment step ends.
fn entry(worker: usize, n: usize) -> NewEntry {
    NewEntry::new(format!("worker-{worker}"), "deploy.step.finished", "hello")
        .env("production")
        .details(json!({
            "deployment": format!("dep-{worker}-{n}"),
            "step": n % 12,
            "release": {"version": "1.4.2", "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            "weights": {"stable": 75, "canary": 25},
            "healthy": 3,
            "took_ms": 412,
        }))
}

fn main() {
    let options = options();
    println!("append: {} entries per run, each `Ledger::record` committed durably", options.appends);
    for &threads in &options.threads {
        let dir = tempfile::tempdir().unwrap();
        let store = shipgate_store::open(&Location::sqlite_in(dir.path())).unwrap();
        let rate = append_rate(store, dir.path(), threads, options.appends);
        println!("  sqlite      {threads:>3} threads: {rate:>9.0} entries/s");
    }
    if options.postgres {
        for &threads in &options.threads {
            let Some((location, (admin, name))) = shipgate_store::testing::postgres_database() else { break };
            let dir = tempfile::tempdir().unwrap();
            let store = shipgate_store::open(&location).unwrap();
            let rate = append_rate(Arc::clone(&store), dir.path(), threads, options.appends.min(5_000));
            drop(store);
            shipgate_store::testing::drop_postgres_database(&admin, &name);
            println!("  postgresql  {threads:>3} threads: {rate:>9.0} entries/s");
        }
    }

    if options.verify_entries > 0 {
        verify_large(options.verify_entries);
    }
}

fn append_rate(store: Arc<dyn Store>, dir: &std::path::Path, threads: usize, appends: usize) -> f64 {
    let ledger = Arc::new(Ledger::open(store, dir.join(KEY_FILE_NAME), LedgerConfig::default()).unwrap());
    let each = appends / threads;
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|worker| {
            let ledger = Arc::clone(&ledger);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for n in 0..each {
                    ledger.record(entry(worker, n)).unwrap();
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for handle in handles {
        handle.join().unwrap();
    }
    let elapsed = began.elapsed();
    let appended = (each * threads) as f64;
    match verify_store(&**ledger.store(), &[], &[]).unwrap() {
        Verdict::Verified(verified) => assert_eq!(verified.size as usize, each * threads + 1),
        Verdict::Failed(problem) => panic!("the benchmark's ledger does not verify: {problem}"),
    }
    appended / elapsed.as_secs_f64()
}

fn verify_large(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = shipgate_store::open(&Location::sqlite_in(dir.path())).unwrap();
    let ledger = Ledger::open(Arc::clone(&store), dir.path().join(KEY_FILE_NAME), LedgerConfig::default()).unwrap();
    let began = Instant::now();
    // Built in large transactions: the point here is the verification, not the appends.
    let mut left = count - 1;
    while left > 0 {
        let batch = left.min(20_000);
        store
            .transact(|tx| {
                for n in 0..batch {
                    ledger.append(tx, entry(0, n))?;
                }
                Ok::<_, shipgate_ledger::LedgerError>(())
            })
            .unwrap();
        left -= batch;
    }
    let built = began.elapsed();
    let bytes = std::fs::metadata(dir.path().join(shipgate_store::SQLITE_FILE_NAME)).map_or(0, |meta| meta.len());
    println!("verify: built a ledger of {count} entries in {} ({} MB on disk)", seconds(built), bytes / 1_000_000);

    let began = Instant::now();
    let verdict = verify_store(&*store, &[], &[]).unwrap();
    let took = began.elapsed();
    let Verdict::Verified(verified) = verdict else { panic!("{verdict:?}") };
    assert_eq!(verified.size as usize, count);
    println!(
        "  verify_store: {} for {count} entries and {} checkpoints ({:.0} entries/s)",
        seconds(took),
        verified.stored_checkpoints,
        count as f64 / took.as_secs_f64()
    );

    let began = Instant::now();
    let proof = ledger.inclusion_proof(count as u64 / 2).unwrap();
    println!(
        "  inclusion proof of entry {} in {} entries: {}",
        proof.entry.seq,
        proof.tree_size,
        seconds(began.elapsed())
    );
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}
