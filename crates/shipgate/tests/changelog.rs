//! `shipgate changelog` end to end: a git repository made in a temporary folder with
//! conventional and ordinary commits and breaking changes; the starting commit given with
//! `--since` or found through a real server (the commit of the release an environment runs).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::cluster::Cluster;
use common::shipgate;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Commits `message` (an empty commit: only the messages matter) and returns its hash.
fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository whose first commit is what "production" runs, with a release's worth of
/// commits after it.
fn repository() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let base = commit(dir.path(), "Initial import");
    commit(dir.path(), "feat(api): list releases by environment");
    commit(dir.path(), "fix: refuse an empty version label");
    commit(dir.path(), "Tidy up the README");
    commit(dir.path(), "feat(cli)!: `deploy` follows by default");
    commit(
        dir.path(),
        "perf(proxy): reuse upstream connections\n\nBREAKING CHANGE: `pool_size` is gone;\nthe pool sizes itself.",
    );
    commit(dir.path(), "docs: how to roll back");
    (dir, base)
}

const EXPECTED: &str = "\
## 2.0.0 (2026-05-01)

### Breaking changes

- **proxy:** reuse upstream connections (HASH)
  `pool_size` is gone; the pool sizes itself.
- **cli:** `deploy` follows by default (HASH)

### Features

- **api:** list releases by environment (HASH)

### Bug fixes

- refuse an empty version label (HASH)

### Documentation

- how to roll back (HASH)

### Other changes

- Tidy up the README (HASH)
";

/// The output with the abbreviated hashes replaced by `HASH`.
fn without_hashes(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        match line.rfind(" (") {
            Some(at) if line.trim_end().ends_with(')') && line[at + 2..].trim_end().len() == 8 => {
                out.push_str(&line[..at]);
                out.push_str(" (HASH)\n");
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[test]
fn the_entry_groups_the_commits_since_a_commit() {
    let (repo, base) = repository();
    let run =
        shipgate(repo.path(), &["changelog", "--since", &base[..10], "--version", "2.0.0", "--date", "2026-05-01"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(without_hashes(&run.stdout), EXPECTED);
    assert!(run.stderr.contains("6 commits since"), "{}", run.stderr);
}

#[test]
fn write_puts_the_entry_at_the_top_once() {
    let (repo, base) = repository();
    let file = repo.path().join("CHANGELOG.md");
    std::fs::write(&file, "# Changelog\n\nEverything that changed.\n\n## 1.0.0 (2026-04-01)\n\n- First release\n")
        .unwrap();
    let args = ["changelog", "--since", &base, "--version", "2.0.0", "--date", "2026-05-01", "--write", "CHANGELOG.md"];
    let run = shipgate(repo.path(), &args);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "", "--write prints no entry");
    assert!(run.stderr.contains("updated `CHANGELOG.md` (entry `2.0.0`)"), "{}", run.stderr);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        without_hashes(&written),
        format!("# Changelog\n\nEverything that changed.\n\n{EXPECTED}\n## 1.0.0 (2026-04-01)\n\n- First release\n")
    );

    // The same release again: nothing changes.
    let again = shipgate(repo.path(), &args);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(again.stderr.contains("already up to date: `CHANGELOG.md`"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    // A later commit for the same release replaces its entry rather than adding one.
    commit(repo.path(), "fix(api): one more");
    let updated = shipgate(repo.path(), &args);
    assert_eq!(updated.code, 0, "{}", updated.transcript());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("## 2.0.0").count(), 1, "{text}");
    assert!(text.contains("- **api:** one more ("), "{text}");
}

#[test]
fn a_new_file_gets_a_title_and_the_title_defaults_to_the_tag_on_head() {
    let (repo, base) = repository();
    git(repo.path(), &["tag", "v2.0.0"]);
    let run = shipgate(repo.path(), &["changelog", "--since", &base, "--write", "docs/CHANGES.md"]);
    // The folder does not exist: a usage error, nothing written.
    assert_eq!(run.code, 2, "{}", run.transcript());
    let run = shipgate(repo.path(), &["changelog", "--since", &base, "--write", "CHANGES.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let text = std::fs::read_to_string(repo.path().join("CHANGES.md")).unwrap();
    assert!(text.starts_with("# Changelog\n\n## v2.0.0 ("), "{text}");
}

#[test]
fn a_repository_without_conventional_commits_gets_a_plain_list() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let base = commit(dir.path(), "Start");
    commit(dir.path(), "Add the health endpoint");
    commit(dir.path(), "Fix the port parsing");
    let run = shipgate(dir.path(), &["changelog", "--since", &base, "--version", "v3", "--date", "2026-05-01"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        without_hashes(&run.stdout),
        "## v3 (2026-05-01)\n\n- Fix the port parsing (HASH)\n- Add the health endpoint (HASH)\n"
    );
}

#[test]
fn errors_say_what_to_do() {
    // Not a git repository.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = shipgate(elsewhere.path(), &["changelog", "--since", "abc123"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("is not in a git repository"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: run `shipgate changelog` in the app's git repository"), "{}", run.stderr);

    // A commit this clone does not have.
    let (repo, _) = repository();
    let run = shipgate(repo.path(), &["changelog", "--since", "0123456789abcdef"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("commit `0123456789abcdef` is not in this repository"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: fetch it"), "{}", run.stderr);

    // Nothing since HEAD.
    let run = shipgate(repo.path(), &["changelog", "--since", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("error: no commits since `HEAD`: nothing to release"), "{}", run.stderr);

    // A repository without any commit.
    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q"]);
    let run = shipgate(empty.path(), &["changelog", "--since", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("the repository has no commits yet"), "{}", run.stderr);
}

/// Creates release `version` of the sample service, built (so says the release) from `commit`.
fn release_at(cluster: &Cluster, version: &str, environments: &str, commit: &str) {
    let project = cluster.path(&format!("project-{version}"));
    std::fs::create_dir_all(project.join("app")).unwrap();
    std::fs::copy(common::load::sample_bin(), project.join("app/shipgate-sample")).unwrap();
    let spec = format!(
        "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\n\
         [run]\ncommand = [\"./shipgate-sample\"]\nenv = {{ SAMPLE_VERSION = \"{version}\" }}\n\
         [run.health]\nhttp = \"/healthz\"\ninterval = \"100ms\"\nhealthy = 1\n{environments}"
    );
    std::fs::write(project.join("shipgate.toml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(&project)
        .args(["release", "create", "--version", version, "--commit", commit, "--data-dir"])
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "release create: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_starting_commit_is_the_source_of_the_release_the_environment_runs() {
    let cluster = Cluster::start(None, 0);
    let (repo, base) = repository();
    let environments = format!("[environments.staging]\nlisten = \"{}\"\n", cluster.listen);
    release_at(&cluster, "v1", &environments, &base);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");

    let run_in = |dir: &Path, args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .current_dir(dir)
            .args(args)
            .env("SHIPGATE_SERVER", format!("http://{}", cluster.api))
            .env("SHIPGATE_TOKEN", &cluster.token)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
    };
    let args = ["changelog", "staging", "--version", "2.0.0", "--date", "2026-05-01"];
    let (code, stdout, stderr) = run_in(repo.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(without_hashes(&stdout), EXPECTED);
    assert!(
        stderr.contains(&format!("6 commits since `{}` (release v1, which `staging` runs)", &base[..12])),
        "{stderr}"
    );

    // An environment that runs nothing yet: the whole history.
    let environments = format!("{environments}[environments.qa]\nlisten = \"127.0.0.1:1\"\n");
    release_at(&cluster, "v2", &environments, &base);
    let (code, stdout, stderr) = run_in(repo.path(), &["changelog", "qa", "--version", "2.0.0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("7 commits since the first commit (`qa` runs no release yet)"), "{stderr}");
    assert!(stdout.contains("- Initial import ("), "{stdout}");

    // An environment the server does not know.
    let (code, _, stderr) = run_in(repo.path(), &["changelog", "nowhere"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no release declares an environment `nowhere`"), "{stderr}");
}
