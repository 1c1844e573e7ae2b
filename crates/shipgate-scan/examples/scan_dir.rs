//! Scans a folder with the built-in rules and prints each finding's location and rule, then
//! the time taken: `cargo run --release -p shipgate-scan --example scan_dir -- PATH`.
//! A library-only way to profile the engine without building the `shipgate` binary.

use std::io::Write;
use std::time::Instant;

use shipgate_scan::{Config, DirOptions, Scanner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args_os().nth(1).ok_or("usage: scan_dir PATH")?;
    let started = Instant::now();
    let scanner = Scanner::new(&Config::default())?;
    let compiled = started.elapsed();
    let report = scanner.scan_dir(std::path::Path::new(&root), &DirOptions::default())?;
    let elapsed = started.elapsed();
    let mut stdout = std::io::stdout().lock();
    for finding in &report.findings {
        writeln!(stdout, "{}\t{}\t{}", finding.location, finding.rule, finding.redacted)?;
    }
    let megabytes = report.stats.bytes as f64 / 1e6;
    eprintln!(
        "{} findings, {} files, {} binary, {megabytes:.1} MB in {:.3}s (rules compiled in {:.3}s): {:.0} MB/s",
        report.findings.len(),
        report.stats.files,
        report.stats.binary,
        elapsed.as_secs_f64(),
        compiled.as_secs_f64(),
        megabytes / elapsed.as_secs_f64()
    );
    Ok(())
}
