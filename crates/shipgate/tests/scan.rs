//! `shipgate scan`, run as a user would: exit codes, output formats, baselines, allowlists,
//! and the promise that no output ever holds a whole secret.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::shipgate;

/// Expands a rule's test template piece by piece, remembering each random run so that the
/// test can look for it in the output. Built at run time: this file holds no credential.
fn expand_recording(template: &str, rng: &mut fastrand::Rng, runs: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |end| start + end + 1);
        let piece = shipgate_scan::rules::expand(&rest[start..end], &mut |bound| rng.usize(..bound));
        if piece.len() >= 8 {
            runs.push(piece.clone());
        }
        out.push_str(&piece);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.org", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs; install git to run these tests")
        .status;
    assert!(status.success(), "git {args:?}");
}

#[test]
fn no_output_format_ever_prints_a_whole_secret() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let mut rng = fastrand::Rng::with_seed(42);
    let mut runs = Vec::new();
    // One file per rule, holding every case the rule must find.
    for rule in shipgate_scan::rules::all() {
        let name = match rule.scope {
            shipgate_scan::Scope::EnvFiles => format!("{}/.env", rule.id),
            shipgate_scan::Scope::Any => format!("{}/config.txt", rule.id),
        };
        let text: Vec<String> =
            rule.matches.iter().map(|template| expand_recording(template, &mut rng, &mut runs)).collect();
        write(&repo.join(name), &format!("{}\n", text.join("\n")));
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "add fixtures"]);
    let tarball = dir.path().join("artifact.tar");
    let status = Command::new("tar").arg("-cf").arg(&tarball).arg("-C").arg(&repo).arg(".").status().unwrap();
    assert!(status.success());

    let repo_arg = repo.to_str().unwrap();
    let tar_arg = tarball.to_str().unwrap();
    let baseline = dir.path().join("baseline.json");
    let mut transcripts = Vec::new();
    for format in ["human", "json", "sarif"] {
        for source in [vec![repo_arg], vec![repo_arg, "--git"], vec!["--artifact", tar_arg]] {
            let mut args = vec!["scan", "--format", format];
            args.extend(source);
            let run = shipgate(dir.path(), &args);
            assert_eq!(run.code, 1, "{args:?} must fail on the fixtures:\n{}", run.stderr);
            transcripts.push((args.join(" "), run.transcript()));
        }
    }
    let run = shipgate(dir.path(), &["scan", repo_arg, "--write-baseline", baseline.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    transcripts.push(("baseline file".to_owned(), std::fs::read_to_string(&baseline).unwrap()));

    let rules = shipgate_scan::rules::all().count();
    let json = shipgate(dir.path(), &["scan", repo_arg, "--format", "json"]);
    let findings: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    assert!(findings.len() >= rules, "{} findings for {rules} rules", findings.len());
    for (what, transcript) in &transcripts {
        for run in &runs {
            assert!(!transcript.contains(run.as_str()), "`{what}` printed a secret's random part `{run}`");
        }
    }
}

fn fixture_tree(root: &Path) {
    let mut rng = fastrand::Rng::with_seed(9);
    let token = shipgate_scan::rules::expand("ghp_%{A:36}", &mut |bound| rng.usize(..bound));
    write(&root.join("src/settings.py"), &format!("DEBUG = False\nGITHUB_TOKEN = \"{token}\"\n"));
    write(&root.join("src/clean.py"), "print('hello')\n");
}

#[test]
fn human_output_names_file_line_rule_and_masked_secret() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let run = shipgate(dir.path(), &["scan"]);
    assert_eq!(run.code, 1);
    insta::with_settings!({ filters => vec![(r"in \d+\.\d+s", "in [TIME]")] }, {
        insta::assert_snapshot!(run.transcript());
    });
}

#[test]
fn exit_codes_follow_the_convention() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("clean/a.txt"), "nothing here\n");
    let clean = shipgate(dir.path(), &["scan", "clean"]);
    assert_eq!(clean.code, 0, "{}", clean.transcript());
    assert!(clean.stderr.starts_with("no secrets found (scanned 1 file"), "{}", clean.stderr);

    let missing = shipgate(dir.path(), &["scan", "no-such-folder"]);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(missing.stderr.contains("hint:"), "{}", missing.stderr);

    let not_a_repo = shipgate(dir.path(), &["scan", "clean", "--git"]);
    assert_eq!(not_a_repo.code, 2, "{}", not_a_repo.transcript());

    let no_baseline = shipgate(dir.path(), &["scan", "clean", "--baseline", "nope.json"]);
    assert_eq!(no_baseline.code, 2, "{}", no_baseline.transcript());

    let bad_flag = shipgate(dir.path(), &["scan", "--format", "xml"]);
    assert_eq!(bad_flag.code, 2);
}

const SPEC: &str = "[app]\nname = \"a\"\n[artifact]\npath = \"a\"\n[run]\ncommand = [\"./a\"]\n[environments.staging]\nlisten = \"127.0.0.1:8080\"\n";

#[test]
fn allowlists_come_from_shipgate_toml() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    write(&dir.path().join("shipgate.toml"), &format!("{SPEC}[scan]\nallow_paths = [\"src/settings.py\"]\n"));
    let run = shipgate(dir.path(), &["scan"]);
    assert_eq!(run.code, 0, "{}", run.transcript());

    write(&dir.path().join("shipgate.toml"), &format!("{SPEC}[scan]\nallow_regexes = [\"(unclosed\"]\n"));
    let run = shipgate(dir.path(), &["scan"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("(unclosed"), "{}", run.stderr);

    write(&dir.path().join("shipgate.toml"), &format!("{SPEC}[scan]\nallow_path = []\n"));
    let run = shipgate(dir.path(), &["scan"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("shipgate validate"), "{}", run.stderr);

    let explicit_missing = shipgate(dir.path(), &["scan", "--file", "other.toml"]);
    assert_eq!(explicit_missing.code, 2, "{}", explicit_missing.transcript());
}

#[test]
fn a_baseline_lets_only_new_secrets_fail() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let written = shipgate(dir.path(), &["scan", "--write-baseline", "baseline.json"]);
    assert_eq!(written.code, 0, "{}", written.transcript());
    let accepted = shipgate(dir.path(), &["scan", "--baseline", "baseline.json"]);
    assert_eq!(accepted.code, 0, "{}", accepted.transcript());
    assert!(accepted.stderr.contains("1 of 1 already in the baseline"), "{}", accepted.stderr);

    let mut rng = fastrand::Rng::with_seed(10);
    let key = shipgate_scan::rules::expand("sk_live_%{A:30}", &mut |bound| rng.usize(..bound));
    write(&dir.path().join("src/pay.py"), &format!("STRIPE = \"{key}\"\n"));
    let run = shipgate(dir.path(), &["scan", "--baseline", "baseline.json", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let findings: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["location"]["path"], "src/pay.py");
}

#[test]
fn sarif_output_is_a_valid_2_1_0_log() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let run = shipgate(dir.path(), &["scan", "--format", "sarif"]);
    assert_eq!(run.code, 1);
    let log: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "github-pat");
    assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "src/settings.py");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"][0]["id"], "github-pat");
    assert_eq!(result["partialFingerprints"]["shipgateSecret/v1"].as_str().map(str::len), Some(32));
}
