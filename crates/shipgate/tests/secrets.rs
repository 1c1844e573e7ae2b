//! Secrets end to end: a real server, agent and sample instances. Values are set through the
//! CLI (standard input), stored encrypted (the SQLite file is read raw), injected as variables
//! and files, redacted from every log, event, API answer and ledger entry, rotated with a
//! rolling restart under load, and refused or reported clearly when missing or when their
//! command fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, http};
use common::load::{agent_api, sample_bin, start_load};
use serde_json::{Value, json};

/// Values no other text contains.
const DB_VALUE: &str = "postgres://app:Zq8vT3xKpL9mW2rN@db.internal/app";
const TLS_VALUE: &str = "-----tls-key-material-7Hc4Rk2Vb9-----";
const ROTATED_VALUE: &str = "postgres://app:Rotated5Ty7Uj3Nb@db.internal/app";

/// Creates release `version` of the sample whose shell wrapper prints `DB_URL` and the content
/// of `TLS_KEY_FILE` to its log (what a careless app might do), with `[secrets]` = `secrets`
/// and `replicas` instances in staging.
fn release(cluster: &Cluster, version: &str, secrets: &str, replicas: u32) {
    let project = cluster.path(&format!("project-{version}"));
    std::fs::create_dir_all(project.join("app")).unwrap();
    std::fs::copy(sample_bin(), project.join("app/shipgate-sample")).unwrap();
    let spec = format!(
        "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\ntrusted_keys = [\"{key}\"]\n\
         [run]\ncommand = [\"sh\", \"-c\", \"echo connecting to $DB_URL; cat $TLS_KEY_FILE 2>/dev/null; echo; exec ./shipgate-sample\"]\n\
         env = {{ SAMPLE_VERSION = \"{version}\" }}\ndrain = \"1s\"\nstop_grace = \"1s\"\n\
         [run.health]\nhttp = \"/healthz\"\ninterval = \"100ms\"\nhealthy = 1\nunhealthy = 2\nstartup = \"5s\"\n\
         [secrets]\n{secrets}\n\
         [environments.staging]\nlisten = \"{listen}\"\nreplicas = {replicas}\n",
        key = cluster.public_key,
        listen = cluster.listen,
    );
    std::fs::write(project.join("shipgate.toml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(&project)
        .args(["release", "create", "--version", version, "--commit", "0123456789abcdef", "--no-tests", "--sign"])
        .arg(cluster.path("signing.key"))
        .arg("--data-dir")
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "release create: {}", String::from_utf8_lossy(&output.stderr));
}

/// Runs the CLI with `stdin` as its standard input.
fn cli_with_input(cluster: &Cluster, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(args)
        .env("SHIPGATE_SERVER", format!("http://{}", cluster.api))
        .env("SHIPGATE_TOKEN", &cluster.token)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// The agent's view of the live instances of `version`: `(id, pid)`.
fn instances(cluster: &Cluster, version: &str) -> Vec<(String, i32)> {
    let (_, body) = agent_api(&cluster.path("agent"), "GET", "/v1/instances", "");
    body.as_array()
        .unwrap()
        .iter()
        .filter(|i| i["version"] == version && !["draining", "stopped"].contains(&i["state"].as_str().unwrap()))
        .filter_map(|i| Some((i["id"].as_str()?.to_owned(), i["workload"]["pid"].as_i64()? as i32)))
        .collect()
}

/// The environment of process `pid` (the shell execs the sample, so it is the sample's).
fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|byte| *byte == 0).map(|item| String::from_utf8_lossy(item).into_owned()).collect()
}

/// Every file under `dir`, recursively, as text.
fn all_text(dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[test]
fn secrets_are_encrypted_injected_redacted_and_refused_when_missing() {
    let cluster = Cluster::start(None, 0);
    let mut answers = Vec::new();
    release(&cluster, "v1", "DB_URL = {}\nTLS_KEY = { file = true }", 1);

    // A declared secret without a value refuses the deployment before any instance starts.
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    answers.push(body.to_string());
    assert_eq!(status, 409, "{body:#}");
    let text = body.to_string();
    assert!(text.contains("SG0603") && text.contains("shipgate secrets set staging DB_URL"), "{body:#}");
    assert!(instances(&cluster, "v1").is_empty());
    let (code, _, stderr) = cluster.cli(&["deploy", "staging", "v1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("DB_URL"), "{stderr}");

    // Set through standard input (one trailing newline dropped); never from argv.
    let (code, _, stderr) =
        cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], &format!("{DB_VALUE}\n"));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "TLS_KEY"], TLS_VALUE);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], "");
    assert_eq!(code, 2, "an empty value is a usage error: {stderr}");
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "bad-name"], "value-123");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a secret name"), "{stderr}");

    // `list` shows names, versions and who set them, never values.
    let (code, stdout, stderr) = cluster.cli(&["secrets", "list", "staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("DB_URL  v1  set by admin") && stdout.contains("TLS_KEY  v1"), "{stdout}");
    let (status, listed) = cluster.call("GET", "/api/v1/environments/staging/secrets", None);
    assert_eq!(status, 200);
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 2, "{listed:#}");
    answers.push(listed.to_string());

    // Stored encrypted: the raw database file (and its WAL) never holds the plaintext.
    for (path, text) in all_text(&cluster.path("data")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("shipgate.db") {
            assert!(
                !text.contains(DB_VALUE) && !text.contains("Zq8vT3xKpL9mW2rN"),
                "{} holds the value",
                path.display()
            );
            assert!(!text.contains(TLS_VALUE), "{} holds the value", path.display());
        }
    }
    let key = cluster.path("data/secrets.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    // Deployed: the variable and the file reach the instance.
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    answers.push(body.to_string());
    let id = body["id"].as_u64().unwrap();
    let outcome = cluster.outcome(id);
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}\n{}", cluster.log("server.log"));
    let running = instances(&cluster, "v1");
    assert_eq!(running.len(), 1);
    let env = environ(running[0].1);
    assert!(env.contains(&format!("DB_URL={DB_VALUE}")), "{env:?}");
    assert!(!env.iter().any(|item| item.starts_with("TLS_KEY=")), "a file secret is not a variable: {env:?}");
    let file = env.iter().find_map(|item| item.strip_prefix("TLS_KEY_FILE=")).expect("TLS_KEY_FILE").to_owned();
    assert!(file.starts_with("/dev/shm/") || file.starts_with(&std::env::var("XDG_RUNTIME_DIR").unwrap_or("/".into())));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), TLS_VALUE);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o400);
    let dir = PathBuf::from(&file).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);

    // The instance printed both values to its log; every view of it shows placeholders.
    let instance_log = cluster.path(&format!("agent/logs/{}.log", running[0].0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&instance_log).unwrap_or_default().contains(DB_VALUE) {
        assert!(Instant::now() < deadline, "the instance did not print its value");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, logs) =
        http(cluster.api, "GET", "/api/v1/environments/staging/logs", Some(&cluster.token), None).unwrap();
    assert_eq!(status, 200);
    assert!(logs.contains("connecting to [secret:DB_URL]") && logs.contains("[secret:TLS_KEY]"), "{logs}");
    answers.push(logs);
    let (code, stdout, stderr) = cluster.cli(&["logs", "staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("[secret:DB_URL]"), "{stdout}");
    answers.push(stdout);

    // A literal credential in `[run] env` is refused by the gates (SG0605).
    let github = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bD1fH3jL5");
    release(&cluster, "v2", "DB_URL = {}\nTLS_KEY = { file = true }", 1);
    let project = cluster.path("project-v2");
    let spec = std::fs::read_to_string(project.join("shipgate.toml")).unwrap();
    std::fs::write(
        project.join("shipgate.toml"),
        spec.replace("SAMPLE_VERSION = \"v2\"", &format!("SAMPLE_VERSION = \"v3\", API_TOKEN = \"{github}\"")),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(&project)
        .args(["release", "create", "--version", "v3", "--commit", "0123456789abcdef", "--no-tests", "--data-dir"])
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (status, body) = cluster.call("POST", "/api/v1/environments/staging/check", Some(json!({"version": "v3"})));
    answers.push(body.to_string());
    assert!(status == 200, "{status} {body:#}");
    assert!(body.to_string().contains("SG0605"), "{body:#}");
    assert!(!body.to_string().contains(&github), "the finding never holds the value");

    // `rm` removes it: the next deployment is refused again.
    let (code, _, stderr) = cluster.cli(&["secrets", "rm", "staging", "TLS_KEY"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cluster.cli(&["secrets", "rm", "staging", "TLS_KEY"]);
    assert_eq!(code, 2, "{stderr}");
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    answers.push(body.to_string());
    assert_eq!(status, 409, "{body:#}");
    assert!(body.to_string().contains("secrets set staging TLS_KEY"), "{body:#}");

    // Events, the ledger and the server's log never hold a value.
    let (_, deployment) = cluster.call("GET", &format!("/api/v1/deployments/{id}"), None);
    answers.push(deployment.to_string());
    let events: Vec<String> = cluster.events(id).iter().map(Value::to_string).collect();
    answers.extend(events);
    let (_, status_body) = cluster.call("GET", "/api/v1/environments/staging", None);
    answers.push(status_body.to_string());
    let ledger = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["audit", "log", "--format", "json", "--data-dir"])
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    let ledger = String::from_utf8_lossy(&ledger.stdout).into_owned();
    assert!(ledger.contains("secret.set") && ledger.contains("secret.removed"), "{ledger}");
    let sets = cluster.audit("secret.set");
    let first = &sets.as_array().unwrap()[0];
    assert_eq!(first["details"]["name"], "DB_URL", "{first:#}");
    let mut places = vec![("ledger".to_owned(), ledger), ("server.log".to_owned(), cluster.log("server.log"))];
    places.push(("agent.log".to_owned(), cluster.log("agent.log")));
    places.extend(answers.into_iter().enumerate().map(|(index, answer)| (format!("API answer {index}"), answer)));
    for (place, text) in &places {
        for value in [DB_VALUE, TLS_VALUE, "Zq8vT3xKpL9mW2rN", "7Hc4Rk2Vb9"] {
            assert!(!text.contains(value), "{place} shows a secret value:\n{text}");
        }
    }

    // The file secret's directory goes when the instance stops.
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "TLS_KEY"], TLS_VALUE);
    assert_eq!(code, 0, "{stderr}");
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(Instant::now() < deadline, "`{}` outlived its instance", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rotation_restarts_instances_one_at_a_time_without_a_failed_request() {
    let cluster = Cluster::start(None, 0);
    release(&cluster, "v1", "DB_URL = {}", 3);
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], DB_VALUE);
    assert_eq!(code, 0, "{stderr}");
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let before = instances(&cluster, "v1");
    assert_eq!(before.len(), 3);

    // Never more than one instance is replaced at a time: watched from beside the rotation.
    let watcher = {
        let state = cluster.path("agent");
        std::thread::spawn(move || {
            let (mut most, mut fewest) = (0, usize::MAX);
            let deadline = Instant::now() + Duration::from_secs(40);
            while Instant::now() < deadline && !state.join("stop-watching").exists() {
                let (_, body) = agent_api(&state, "GET", "/v1/instances", "");
                let live = body
                    .as_array()
                    .map(|all| all.iter().filter(|i| i["state"] == "healthy" || i["state"] == "starting").count())
                    .unwrap_or(0);
                most = most.max(live);
                fewest = fewest.min(live);
                std::thread::sleep(Duration::from_millis(20));
            }
            (most, fewest)
        })
    };
    let load = start_load(cluster.listen, 3);
    let (code, stdout, stderr) =
        cli_with_input(&cluster, &["secrets", "rotate", "staging", "DB_URL"], &format!("{ROTATED_VALUE}\n"));
    let (ok, failed) = load.finish();
    std::fs::write(cluster.path("agent/stop-watching"), "").unwrap();
    let (most, fewest) = watcher.join().unwrap();
    assert_eq!(code, 0, "{stderr}\n{}", cluster.log("server.log"));
    assert!(stderr.contains("restarted 3 instance(s)"), "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(failed.is_empty(), "{} failed requests during the rotation: {failed:?}", failed.len());
    assert!(ok > 50, "only {ok} requests");
    assert!(most <= 4, "at most one extra instance at a time, saw {most}");
    assert!(fewest >= 3, "capacity never dropped below 3, saw {fewest}");

    let after = instances(&cluster, "v1");
    assert_eq!(after.len(), 3);
    for (id, pid) in &after {
        assert!(!before.iter().any(|(old, _)| old == id), "{id} was not replaced");
        assert!(environ(*pid).contains(&format!("DB_URL={ROTATED_VALUE}")), "{id} runs without the new value");
    }
    let (code, stdout, _) = cluster.cli(&["secrets", "list", "staging", "--format", "json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed["secrets"][0]["version"], 2, "{listed:#}");

    // `--all`: every instance that uses a secret restarts with the values stored now.
    let (code, _, stderr) = cluster.cli(&["secrets", "rotate", "--all", "staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("restarted 3 instance(s)"), "{stderr}");
    let restarts = cluster.audit("secrets.restarted");
    assert_eq!(restarts.as_array().unwrap().len(), 2, "{restarts:#}");
    // Neither name nor old value in the ledger or the log.
    let ledger = cluster.audit("*").to_string();
    let log = cluster.log("server.log");
    for value in [DB_VALUE, ROTATED_VALUE] {
        assert!(!ledger.contains(value) && !log.contains(value));
    }
    let (code, _, stderr) = cluster.cli(&["secrets", "rotate", "staging"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn command_sources_run_at_start_with_clear_errors() {
    let cluster = Cluster::start(None, 0);
    release(&cluster, "v1", "DB_URL = { command = \"printf 'from-the-vault-%s' ${ENV}\" }", 1);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "a command source needs no stored value: {body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let (_, pid) = instances(&cluster, "v1")[0].clone();
    assert!(environ(pid).contains(&"DB_URL=from-the-vault-staging".to_owned()));
    let (_, logs) = http(cluster.api, "GET", "/api/v1/environments/staging/logs", Some(&cluster.token), None).unwrap();
    assert!(logs.contains("[secret:DB_URL]") && !logs.contains("from-the-vault-staging"), "{logs}");

    // A failing command: the deployment fails naming the secret, the command and its stderr.
    release(&cluster, "v2", "DB_URL = { command = \"echo 'not signed in to the vault' >&2; exit 4\" }", 1);
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("`DB_URL`")
            && reason.contains("exit status: 4")
            && reason.contains("not signed in to the vault"),
        "{reason}"
    );
    assert_eq!(cluster.answering(), "v1", "the running release keeps serving");

    // A hanging command is killed at its timeout.
    release(&cluster, "v3", "DB_URL = { command = \"sleep 30\", timeout = \"500ms\" }", 1);
    let started = Instant::now();
    let (status, body) = cluster.deploy_to("staging", "v3", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert!(started.elapsed() < Duration::from_secs(20));
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    assert!(reason.contains("`DB_URL`") && reason.contains("did not finish within 0.5 s"), "{reason}");
}

#[test]
fn secret_age_is_a_warning_and_manage_secrets_needs_an_admin() {
    let cluster = Cluster::start(None, 0);
    release(&cluster, "v1", "DB_URL = { max_age = \"1s\" }", 1);
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], DB_VALUE);
    assert_eq!(code, 0, "{stderr}");
    std::thread::sleep(Duration::from_millis(2100));
    let (status, body) = cluster.call("POST", "/api/v1/environments/staging/check", Some(json!({"version": "v1"})));
    assert_eq!(status, 200, "{body:#}");
    let text = body.to_string();
    assert!(text.contains("SG0604") && text.contains("shipgate secrets rotate staging DB_URL"), "{body:#}");

    // A deployer may list names but not set values.
    let (status, created) = cluster.call("POST", "/api/v1/tokens", Some(json!({"name": "ci", "role": "deployer"})));
    assert_eq!(status, 201, "{created:#}");
    let token = created["token"].as_str().unwrap();
    let (status, _) = http(cluster.api, "GET", "/api/v1/environments/staging/secrets", Some(token), None).unwrap();
    assert_eq!(status, 200);
    let (status, body) = http(
        cluster.api,
        "PUT",
        "/api/v1/environments/staging/secrets/DB_URL",
        Some(token),
        Some(&json!({"value": "attacker-db-url"})),
    )
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("manage-secrets"), "{body}");
}
