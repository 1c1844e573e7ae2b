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
    release_guarded(cluster, version, secrets, replicas, "");
}

/// Like [`release`], with `guard` (shell) run before the sample starts.
fn release_guarded(cluster: &Cluster, version: &str, secrets: &str, replicas: u32, guard: &str) {
    let project = cluster.path(&format!("project-{version}"));
    std::fs::create_dir_all(project.join("app")).unwrap();
    std::fs::copy(sample_bin(), project.join("app/shipgate-sample")).unwrap();
    let spec = format!(
        "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\ntrusted_keys = [\"{key}\"]\n\
         [run]\ncommand = [\"sh\", \"-c\", \"echo connecting to $DB_URL; cat $TLS_KEY_FILE 2>/dev/null; echo; {guard}exec ./shipgate-sample\"]\n\
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

/// Kills the agent with SIGKILL and starts it again with the same command line (its
/// instances keep running and are adopted from `state.json`).
fn kill_9_and_restart_agent(cluster: &mut Cluster) {
    let mut agent = cluster.agent.take().unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", agent.id())).unwrap();
    let mut args: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    let program = args.remove(0);
    let log = std::fs::OpenOptions::new().append(true).open(cluster.path("agent.log")).unwrap();
    let _ = std::fs::remove_file(cluster.path("agent/control.sock"));
    cluster.agent =
        Some(Command::new(program).args(args).env("NO_COLOR", "1").stdout(Stdio::null()).stderr(log).spawn().unwrap());
}

/// Waits until `check` holds for the agent's live instances of `version`.
fn wait_instances(cluster: &Cluster, version: &str, what: &str, check: impl Fn(&[(String, i32)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = instances(cluster, version);
        if check(&live) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {live:?}\n{}", cluster.log("agent.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The agent's state directory (instance logs aside, which hold what the app printed) never
/// holds a value: `state.json` keeps each instance's environment sealed, the rest readable.
fn assert_agent_state_sealed(cluster: &Cluster) {
    let files: Vec<_> = all_text(&cluster.path("agent"))
        .into_iter()
        .filter(|(path, _)| !path.starts_with(cluster.path("agent/logs")))
        .collect();
    let state = files.iter().find(|(path, _)| path.ends_with("state.json")).expect("agent/state.json");
    let state: Value = serde_json::from_str(&state.1).unwrap();
    let saved = &state["instances"][0];
    assert!(saved["sealed"].as_str().unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{state:#}");
    assert!(saved["spec"].get("env").is_none_or(|env| env == &json!({})), "{state:#}");
    assert_eq!(saved["spec"]["version"], "v1", "the rest stays readable: {state:#}");
    for (path, text) in &files {
        for value in [DB_VALUE, TLS_VALUE, "Zq8vT3xKpL9mW2rN", "7Hc4Rk2Vb9"] {
            assert!(!text.contains(value), "{} holds a secret value", path.display());
        }
    }
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
    let mut cluster = Cluster::start(None, 0);
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

    // Encrypted at rest on the agent's side too: its state directory (instance logs aside, which
    // hold what the app printed) never holds a value; `state.json` keeps them sealed with the
    // agent's own 0600 key.
    assert_agent_state_sealed(&cluster);
    let agent_key = cluster.path("agent/secrets.key");
    assert_eq!(std::fs::metadata(&agent_key).unwrap().permissions().mode() & 0o777, 0o600);

    // `kill -9` of the agent: the instance is adopted from the sealed state, and when it then
    // dies the agent restarts it with the same variable and file.
    let (instance_id, old_pid) = running[0].clone();
    kill_9_and_restart_agent(&mut cluster);
    wait_instances(&cluster, "v1", "the instance was not adopted", |live| live == [(instance_id.clone(), old_pid)]);
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(old_pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_instances(&cluster, "v1", "the instance was not restarted", |live| {
        live.len() == 1 && live[0].1 != old_pid && environ(live[0].1).iter().any(|item| item.starts_with("DB_URL="))
    });
    let restarted = environ(instances(&cluster, "v1")[0].1);
    assert!(restarted.contains(&format!("DB_URL={DB_VALUE}")), "{restarted:?}");
    let file = restarted.iter().find_map(|item| item.strip_prefix("TLS_KEY_FILE=")).expect("TLS_KEY_FILE");
    assert_eq!(std::fs::read_to_string(file).unwrap(), TLS_VALUE);
    assert_agent_state_sealed(&cluster);

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

    // A value the server holds for the environment, written into `[run] env` as a literal
    // (nothing a credential pattern would catch): the deployment is refused (SG0605).
    const GREETING: &str = "hello there general kenobi";
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "GREETING"], GREETING);
    assert_eq!(code, 0, "{stderr}");
    release(&cluster, "v4", "DB_URL = {}\nTLS_KEY = { file = true }", 1);
    let project = cluster.path("project-v4");
    let spec = std::fs::read_to_string(project.join("shipgate.toml")).unwrap();
    std::fs::write(
        project.join("shipgate.toml"),
        spec.replace("SAMPLE_VERSION = \"v4\"", &format!("SAMPLE_VERSION = \"v5\", WELCOME = \"{GREETING}\"")),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(&project)
        .args(["release", "create", "--version", "v5", "--commit", "0123456789abcdef", "--no-tests", "--sign"])
        .arg(cluster.path("signing.key"))
        .arg("--data-dir")
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (status, body) = cluster.deploy_to("staging", "v5", json!([]));
    answers.push(body.to_string());
    assert_eq!(status, 409, "{body:#}");
    let text = body.to_string();
    assert!(
        text.contains("SG0605")
            && text.contains("holds the value of a secret of `staging`")
            && text.contains("[secret:GREETING]"),
        "{body:#}"
    );
    assert!(!text.contains(GREETING), "{body:#}");
    let (code, _, stderr) = cluster.cli(&["deploy", "staging", "v5"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("SG0605"), "{stderr}");
    assert_eq!(instances(&cluster, "v5").len(), 0);

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
    let mut cluster = Cluster::start(None, 0);
    release(&cluster, "v1", "DB_URL = { command = \"printf 'from-the-vault-%s' ${ENV}\" }", 1);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "a command source needs no stored value: {body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let (_, pid) = instances(&cluster, "v1")[0].clone();
    assert!(environ(pid).contains(&"DB_URL=from-the-vault-staging".to_owned()));
    let (_, logs) = http(cluster.api, "GET", "/api/v1/environments/staging/logs", Some(&cluster.token), None).unwrap();
    assert!(logs.contains("[secret:DB_URL]") && !logs.contains("from-the-vault-staging"), "{logs}");

    // A restarted server has not run the command, yet still knows its last value: kept
    // encrypted in the store (never in the clear, never listed as a set secret).
    cluster.kill_server();
    cluster.start_server();
    let (status, logs) =
        http(cluster.api, "GET", "/api/v1/environments/staging/logs", Some(&cluster.token), None).unwrap();
    assert_eq!(status, 200);
    assert!(logs.contains("connecting to [secret:DB_URL]") && !logs.contains("from-the-vault-staging"), "{logs}");
    let (code, stdout, stderr) = cluster.cli(&["logs", "staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("[secret:DB_URL]") && !stdout.contains("from-the-vault-staging"), "{stdout}");
    for (path, text) in all_text(&cluster.path("data")) {
        assert!(!text.contains("from-the-vault-staging"), "{} holds the value", path.display());
    }
    let (_, listed) = cluster.call("GET", "/api/v1/environments/staging/secrets", None);
    assert_eq!(listed["secrets"], json!([]), "a command's value is not a set secret: {listed:#}");

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

#[test]
fn a_failed_rotation_stops_and_leaves_the_old_instances_serving() {
    let cluster = Cluster::start(None, 0);
    // A value containing `broken` makes the new instance hang before it serves.
    release_guarded(&cluster, "v1", "DB_URL = {}", 2, "case $DB_URL in *broken*) exec sleep 60;; esac; ");
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], DB_VALUE);
    assert_eq!(code, 0, "{stderr}");
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let mut before = instances(&cluster, "v1");
    before.sort();
    assert_eq!(before.len(), 2);

    let load = start_load(cluster.listen, 2);
    let (code, _, stderr) =
        cli_with_input(&cluster, &["secrets", "rotate", "staging", "DB_URL"], "postgres://broken:Xx81@db/app\n");
    let (ok, failed) = load.finish();
    assert_eq!(code, 1, "a new instance that never becomes healthy is a refusal: {stderr}");
    assert!(
        stderr.contains("the rolling restart of `staging` stopped after 0 of 2 instance(s)")
            && stderr.contains("did not become healthy within 5 s"),
        "{stderr}"
    );
    assert!(stderr.contains("the remaining instances keep running"), "{stderr}");
    assert!(failed.is_empty(), "{} failed requests during the failed rotation: {failed:?}", failed.len());
    assert!(ok > 10, "only {ok} requests");

    // The old instances run on, unchanged, with the old value; the new one is gone.
    let mut after = instances(&cluster, "v1");
    after.sort();
    assert_eq!(after, before);
    for (_, pid) in &after {
        assert!(environ(*pid).contains(&format!("DB_URL={DB_VALUE}")));
    }
    assert_eq!(cluster.answering(), "v1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, all) = agent_api(&cluster.path("agent"), "GET", "/v1/instances", "");
        if all.as_array().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the new instance was not stopped: {all:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let restarts = cluster.audit("secrets.restarted");
    let entry = &restarts.as_array().unwrap()[0];
    assert!(entry["details"]["failure"].as_str().unwrap_or_default().contains("did not become healthy"), "{entry:#}");
    assert!(!restarts.to_string().contains("broken:Xx81"));
}

/// A key of its own for the server: `shipgate server --secrets-key-file` in a fresh directory.
fn new_key_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("vault.key");
    shipgate_secrets::ServerKey::load_or_create(&path).unwrap();
    path
}

/// `shipgate server ARGS` in a fresh data directory, expected to fail at once.
fn server_refuses(cluster: &Cluster, args: &[&str]) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--agent-socket")
        .arg(cluster.path("no-agent/control.sock"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("SHIPGATE_CREDENTIALS", cluster.path("other-credentials.json"))
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn the_secrets_key_from_a_file_or_a_command() {
    let mut cluster = Cluster::start(None, 0);
    let key = new_key_file(cluster.dir.path());
    let key_arg = key.to_str().unwrap().to_owned();

    // Set under the key from a file; after a restart with the same file the value decrypts
    // (the deployment injects it).
    cluster.kill_server();
    cluster.server_args = vec!["--secrets-key-file".into(), key_arg.clone()];
    cluster.start_server();
    release(&cluster, "v1", "DB_URL = {}", 1);
    let (code, _, stderr) = cli_with_input(&cluster, &["secrets", "set", "staging", "DB_URL"], DB_VALUE);
    assert_eq!(code, 0, "{stderr}");
    cluster.kill_server();
    cluster.start_server();
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");
    assert!(environ(instances(&cluster, "v1")[0].1).contains(&format!("DB_URL={DB_VALUE}")));

    // The same key printed by a command works the same.
    cluster.kill_server();
    cluster.server_args = vec!["--secrets-key-command".into(), format!("cat {key_arg}")];
    cluster.start_server();
    release(&cluster, "v2", "DB_URL = {}", 1);
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");
    assert!(environ(instances(&cluster, "v2")[0].1).contains(&format!("DB_URL={DB_VALUE}")));

    // Under another key (the data directory's) the value does not decrypt: the start fails
    // naming the secret and the option to use.
    cluster.kill_server();
    cluster.server_args = Vec::new();
    cluster.start_server();
    release(&cluster, "v3", "DB_URL = {}", 1);
    let (status, body) = cluster.deploy_to("staging", "v3", json!([]));
    assert_eq!(status, 201, "{body:#}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("cannot decrypt the secret `DB_URL`") && reason.contains("--secrets-key-file"), "{reason}");
    assert_eq!(cluster.answering(), "v2");

    // A key file others can read is refused, as a usage error, with what to do.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = server_refuses(&cluster, &["--secrets-key-file", &key_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error: cannot load the secrets key")
            && stderr.contains(&format!("caused by: the secrets key `{key_arg}` is readable by others (mode 644)"))
            && stderr.contains(&format!("hint: `chmod 600 {key_arg}`")),
        "{stderr}"
    );

    // A failing key command: its standard error and exit status, as a usage error.
    let (code, stderr) = server_refuses(&cluster, &["--secrets-key-command", "echo 'the vault is locked' >&2; exit 3"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error: cannot load the secrets key")
            && stderr.contains("the vault is locked")
            && stderr.contains("exit status: 3"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run `echo 'the vault is locked' >&2; exit 3` by hand"), "{stderr}");
}

#[test]
fn secret_files_are_refused_on_a_disk_backed_directory() {
    let cluster = Cluster::start(None, 0);
    // A second agent whose `XDG_RUNTIME_DIR` is on a disk (the test's own folder, unless that
    // is a tmpfs too).
    let runtime = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let fs_type = Command::new("stat").args(["-f", "-c", "%T"]).arg(runtime.path()).output().unwrap();
    let fs_type = String::from_utf8_lossy(&fs_type.stdout).trim().to_owned();
    if fs_type == "tmpfs" || fs_type == "ramfs" {
        assert!(std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"), "no disk-backed directory to test with");
        eprintln!("SKIPPED: {} is a {fs_type}", runtime.path().display());
        return;
    }
    let state = cluster.path("agent-2");
    let log = std::fs::File::create(cluster.path("agent-2.log")).unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["agent", "--stop-instances-on-exit", "--port-range", &common::cluster::port_range(), "--state-dir"])
        .arg(&state)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let listen = format!("127.0.0.1:{}", common::load::free_port());
    let (status, body) = agent_api(
        &state,
        "PUT",
        "/v1/services/web",
        &format!(r#"{{"listen":"{listen}","versions":[{{"name":"v1","weight":1}}]}}"#),
    );
    assert_eq!(status, 200, "{body:#}");
    let instance = json!({
        "service": "web", "version": "v1", "artifact_dir": cluster.dir.path(), "command": [sample_bin()],
        "secret_files": {"TLS_KEY": TLS_VALUE}
    });
    let (status, body) = agent_api(&state, "POST", "/v1/instances", &instance.to_string());
    let (_, listed) = agent_api(&state, "GET", "/v1/instances", "");
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(status, 500, "{body:#}");
    assert_eq!(listed, json!([]), "nothing was started: {listed:#}");
    let error = body["error"].as_str().unwrap_or_default();
    let dir = runtime.path().display().to_string();
    assert!(
        error.contains(&format!("refusing to write secret files to `{dir}` (`$XDG_RUNTIME_DIR`)"))
            && error.contains("not a tmpfs")
            && error.contains("set to a tmpfs"),
        "{body:#}"
    );
    assert!(all_text(runtime.path()).is_empty(), "nothing was written under `{dir}`");
}
