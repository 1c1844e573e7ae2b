//! The commands that talk to a shipgate server, without one: what they say when no server
//! answers, when the credentials file is not private, and in their `--help`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::Run;

/// `shipgate ARGS` in `dir` like `common::shipgate`, with a home of its own (so no real
/// credentials file is read) and the given variables.
fn shipgate_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    command.args(args).current_dir(dir).env("NO_COLOR", "1").env("HOME", dir).env_remove("XDG_CONFIG_HOME");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SHIPGATE_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A URL at which nothing listens: a port that was just free.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn every_command_says_no_server_answers_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let url = closed_url();
    let commands: [&[&str]; 10] = [
        &["plan", "production", "1.2.0"],
        &["deploy", "production", "1.2.0"],
        &["deploy", "resume", "d-1"],
        &["deploy", "abort", "d-1"],
        &["rollback", "production"],
        &["status"],
        &["status", "production", "--format", "json"],
        &["history", "production"],
        &["logs", "production", "-f"],
        &["deploy", "production", "1.2.0", "--wait", "--format", "json"],
    ];
    for args in commands {
        let mut with_server = args.to_vec();
        with_server.extend(["--server", &url]);
        let run = shipgate_env(dir.path(), &with_server, &[]);
        assert_eq!(run.code, 3, "{args:?}\n{}", run.transcript());
        assert!(run.stderr.starts_with(&format!("error: no shipgate server answers at {url}\n")), "{}", run.stderr);
        assert!(
            run.stderr.ends_with(
                "hint: start one with `shipgate server --data-dir DIR`, or point --server / SHIPGATE_SERVER at yours\n"
            ),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{args:?}");
    }

    // The same from `SHIPGATE_SERVER`, with a trailing slash.
    let run = shipgate_env(dir.path(), &["status"], &[("SHIPGATE_SERVER", &format!("{url}/"))]);
    assert_eq!(run.code, 3);
    let shown = run.stderr.replace(&url, "http://127.0.0.1:PORT");
    let shown: String =
        shown.lines().filter(|line| !line.starts_with("  caused by:")).map(|line| format!("{line}\n")).collect();
    insta::assert_snapshot!(shown, @r"
    error: no shipgate server answers at http://127.0.0.1:PORT
    hint: start one with `shipgate server --data-dir DIR`, or point --server / SHIPGATE_SERVER at yours
    ");
}

#[test]
fn a_server_url_that_is_not_http_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["127.0.0.1:7300", "ftp://host", "http://"] {
        let run = shipgate_env(dir.path(), &["status", "--server", url], &[]);
        assert_eq!(run.code, 2, "{url}: {}", run.transcript());
        assert!(run.stderr.contains(&format!("`{url}` is not a server URL")), "{}", run.stderr);
    }
}

#[test]
fn a_credentials_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = closed_url();
    let file = dir.path().join("creds.json");
    std::fs::write(&file, format!(r#"{{"servers": {{"{url}": {{"token": "secret"}}}}}}"#)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.to_str().unwrap();

    let run = shipgate_env(dir.path(), &["status", "--server", &url], &[("SHIPGATE_CREDENTIALS", path)]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert_eq!(
        run.stderr,
        format!(
            "error: `{path}` can be read by other users (mode 644); refusing to use the tokens in it\n\
             hint: `chmod 600 {path}`, and replace the tokens if others could have read them\n"
        )
    );

    // The default place under XDG_CONFIG_HOME is checked the same way.
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("shipgate")).unwrap();
    let default = config.join("shipgate/credentials.json");
    std::fs::copy(&file, &default).unwrap();
    std::fs::set_permissions(&default, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = shipgate_env(
        dir.path(),
        &["history", "production", "--server", &url],
        &[("XDG_CONFIG_HOME", config.to_str().unwrap())],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains(&format!("hint: `chmod 600 {}`", default.display())), "{}", run.stderr);

    // Once private, the file is fine (and nothing answers, so exit 3).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = shipgate_env(dir.path(), &["status", "--server", &url], &[("SHIPGATE_CREDENTIALS", path)]);
    assert_eq!(run.code, 3, "{}", run.transcript());

    // `SHIPGATE_TOKEN` wins: the file is not even read.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = shipgate_env(
        dir.path(),
        &["status", "--server", &url],
        &[("SHIPGATE_CREDENTIALS", path), ("SHIPGATE_TOKEN", "t")],
    );
    assert_eq!(run.code, 3, "{}", run.transcript());
}

#[test]
fn help_says_what_each_command_does_its_exit_codes_and_how_the_server_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["plan"], "every gate's verdict"),
        (&["deploy"], "`shipgate deploy resume ID` continues a paused deployment"),
        (&["deploy", "resume"], "Continue a paused deployment"),
        (&["deploy", "abort"], "Waits until the rollback is done"),
        (&["rollback"], "still warm"),
        (&["status"], "the deployment in progress"),
        (&["history"], "newest first"),
        (&["logs"], "prefixed with the instance id"),
    ];
    for (command, says) in cases {
        let mut args = command.to_vec();
        args.push("--help");
        let run = shipgate_env(dir.path(), &args, &[]);
        assert_eq!(run.code, 0, "{command:?}");
        for expected in [
            says,
            "Exit status:",
            "  3  no server answers, or the server failed",
            "--server <URL>",
            "$SHIPGATE_SERVER, else http://127.0.0.1:7300",
            "$SHIPGATE_TOKEN",
            "$XDG_CONFIG_HOME/shipgate/credentials.json",
            "chmod 600",
        ] {
            assert!(run.stdout.contains(expected), "`{command:?} --help` lacks {expected:?}:\n{}", run.stdout);
        }
    }
    let run = shipgate_env(dir.path(), &["deploy", "--help"], &[]);
    assert!(
        run.stdout.contains("Usage: shipgate deploy [OPTIONS] <ENV> <VERSION>\n       shipgate deploy <COMMAND>\n"),
        "both forms of deploy are shown:\n{}",
        run.stdout
    );
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn deploy_needs_both_an_environment_and_a_version_or_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipgate_env(dir.path(), &["deploy", "production"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<VERSION>"), "{}", run.stderr);
    let run = shipgate_env(dir.path(), &["deploy", "resume"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<ID>"), "{}", run.stderr);
}
