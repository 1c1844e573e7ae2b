//! The control plane end to end: a real agent, the real server, real `shipgate-sample`
//! instances, and a load generator that must see zero failed requests while deployments
//! succeed, fail and roll back. Every scenario runs on SQLite; the journey and the kill -9
//! test run on PostgreSQL too.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, http};
use common::load::{adopt_orphans, free_port, sample_bin, start_load};
use serde_json::{Value, json};

const CANARY: &str = "replicas = 3\nstrategy = { canary = [ { weight = 10, hold = \"0s\" }, { weight = 50, hold = \"0s\" }, { weight = 90, hold = \"0s\" } ] }\n";

fn postgres(test: &str) -> Option<common::TestDb> {
    common::TestDb::create(test)
}

/// A three-step canary that succeeds, then the idempotent no-op, the deployment lock, a cold
/// rollback, and the ledger that recorded all of it.
fn journey(database: Option<String>) {
    let cluster = Cluster::start(database, 0);
    cluster.release("v1", "", CANARY);
    cluster.release("v2", "", CANARY);
    let first = cluster.outcome(cluster.deploy("v1"));
    assert_eq!(first["status"], "succeeded", "{first:#}");
    assert_eq!(cluster.answering(), "v1");

    let load = start_load(cluster.listen, 2);
    let second = cluster.outcome(cluster.deploy("v2"));
    assert_eq!(second["status"], "succeeded", "{second:#}");
    let weights: Vec<f64> = cluster
        .events(second["id"].as_u64().unwrap())
        .iter()
        .filter(|event| event["kind"] == "progress" && event["data"]["weights"].is_array())
        .map(|event| event["data"]["weights"][1]["weight"].as_f64().unwrap())
        .collect();
    assert_eq!(weights, [10.0, 50.0, 90.0], "the canary went through its three steps");
    assert_eq!(cluster.answering(), "v2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.live_instances("v1") > 0 {
        assert!(Instant::now() < deadline, "v1 was not stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cluster.live_instances("v2"), 3);

    // The same release again changes nothing.
    let (status, body) =
        cluster.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v2"})));
    assert_eq!((status, body["no_op"].as_str().unwrap().contains("already runs `v2`")), (200, true), "{body}");

    // Cold rollback: v1 is not warm any more; it is deployed again, without holds.
    let (status, body) = cluster.call("POST", "/api/v1/environments/staging/rollback", Some(json!({"reason": "test"})));
    assert_eq!((status, body["mode"].as_str()), (200, Some("cold")), "{body}");
    let rollback = cluster.outcome(body["deployment"]["id"].as_u64().unwrap());
    assert_eq!(rollback["status"], "succeeded", "{rollback:#}");
    assert_eq!(rollback["kind"], "rollback");
    assert_eq!(rollback["reason"], "test", "the rollback keeps why it was asked for: {rollback:#}");
    assert_eq!(cluster.answering(), "v1");
    let (ok, failed) = load.finish();
    assert!(
        failed.is_empty() && ok > 0,
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );

    let (_, history) = cluster.call("GET", "/api/v1/environments/staging/deployments", None);
    let statuses: Vec<&str> = history.as_array().unwrap().iter().map(|row| row["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "succeeded"]);
    // Every step's start and end is in the ledger, which verifies.
    let mut verify = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    verify.args(["audit", "verify", "--data-dir"]).arg(cluster.path("data"));
    if let Some(database) = &cluster.database {
        verify.args(["--database", database]);
    }
    let verified = verify.output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

#[test]
fn journey_on_sqlite() {
    journey(None);
}

#[test]
fn journey_on_postgres() {
    let Some(db) = postgres("journey") else { return };
    journey(Some(db.url()));
}

/// A failing new version is rolled back automatically, and stable traffic never fails.
fn rolled_back(env: &str, environment: &str, expected_reason: &str) {
    let cluster = Cluster::start(None, 0);
    cluster.release("v1", "", CANARY);
    cluster.release("v2", env, environment);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let load = start_load(cluster.listen, 2);
    let outcome = cluster.outcome(cluster.deploy("v2"));
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(reason.contains(expected_reason), "reason: {reason}");
    assert_eq!(cluster.answering(), "v1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.live_instances("v2") > 0 {
        assert!(Instant::now() < deadline, "v2 instances were not stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, failed) = load.finish();
    assert!(
        failed.is_empty() && ok > 0,
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(cluster.status()["active"]["version"], "v1");
}

#[test]
fn a_version_that_never_becomes_healthy_is_rolled_back() {
    rolled_back(", SAMPLE_UNHEALTHY = \"1\"", CANARY, "became healthy within 3 s");
}

#[test]
fn a_crashlooping_version_is_rolled_back() {
    rolled_back(", SAMPLE_CRASH_AFTER = \"0\"", CANARY, "crash-looping");
}

#[test]
fn a_version_failing_its_smoke_checks_is_rolled_back() {
    let environment = format!("{CANARY}smoke = [{{ http = \"/\", contains = \"never-there\" }}]\n");
    rolled_back("", &environment, "does not contain `never-there`");
}

#[test]
fn a_warm_rollback_is_one_routing_change() {
    let cluster = Cluster::start(None, 0);
    let blue_green = "replicas = 2\nstrategy = { blue_green = { preview = \"0s\", scale_down_delay = \"5m\" } }\n";
    cluster.release("v1", "", blue_green);
    cluster.release("v2", "", blue_green);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    assert_eq!(cluster.outcome(cluster.deploy("v2"))["status"], "succeeded");
    assert_eq!(cluster.answering(), "v2");
    assert_eq!(cluster.live_instances("v1"), 2, "v1 is kept warm");
    let load = start_load(cluster.listen, 2);
    let (status, body) = cluster.call("POST", "/api/v1/environments/staging/rollback", Some(json!({"reason": "bad"})));
    assert_eq!((status, body["mode"].as_str()), (200, Some("warm")), "{body}");
    assert!(body["elapsed_ms"].as_u64().unwrap() < 100, "{body}");
    assert_eq!(cluster.answering(), "v1");
    let (ok, failed) = load.finish();
    assert!(failed.is_empty() && ok > 0, "{failed:?}");
    assert_eq!(cluster.status()["active"]["version"], "v1");
}

#[test]
fn one_deployment_per_environment_at_a_time_and_abort() {
    let cluster = Cluster::start(None, 0);
    let paused = "replicas = 1\nstrategy = { canary = [ { weight = 50, hold = \"0s\", pause = true } ] }\n";
    cluster.release("v1", "", paused);
    cluster.release("v2", "", paused);
    cluster.release("v3", "", paused);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let id = cluster.deploy("v2");
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1["status"] != "paused" {
        assert!(Instant::now() < deadline, "never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) =
        cluster.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v3"})));
    assert_eq!((status, body["code"].as_str()), (409, Some("deployment_in_progress")), "{body}");
    assert!(body["message"].as_str().unwrap().contains(&format!("deployment {id} of v2 started by admin")), "{body}");
    let (status, body) =
        cluster.call("POST", &format!("/api/v1/deployments/{id}/abort"), Some(json!({"reason": "enough"})));
    assert_eq!((status, body["status"].as_str()), (200, Some("aborted")), "{body}");
    assert_eq!(cluster.answering(), "v1");
    // The lock is free again; a paused deployment resumes on request.
    let id = cluster.deploy("v3");
    while cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1["status"] != "paused" {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = cluster.call("POST", &format!("/api/v1/deployments/{id}/resume"), None);
    assert_eq!(status, 200);
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
    assert_eq!(cluster.answering(), "v3");
}

/// kill -9 of the server while each step of a canary runs; the restarted server continues
/// from the interrupted step and the deployment succeeds with every step done exactly once.
fn killed_at_every_step(database: Option<String>) {
    let mut cluster = Cluster::start(database, 150);
    cluster.release("v1", "", CANARY);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let load = start_load(cluster.listen, 1);
    let mut previous = "v1".to_owned();
    for (round, version) in ["v2", "v3"].iter().enumerate() {
        cluster.release(version, "", CANARY);
        let id = cluster.deploy(version);
        let steps =
            cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1["steps"].as_array().unwrap().len();
        // Round 0 kills at even steps, round 1 at odd ones: together, every index.
        for index in (round..steps).step_by(2) {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, body) = cluster.call("GET", &format!("/api/v1/deployments/{id}"), None);
                let state = body["steps"][index]["state"].as_str().unwrap_or("").to_owned();
                if state == "running" || state == "done" || body["finished"].is_string() {
                    break;
                }
                assert!(Instant::now() < deadline, "step {index} never started: {body:#}");
                std::thread::sleep(Duration::from_millis(5));
            }
            cluster.kill_server();
            cluster.start_server();
        }
        let outcome = cluster.outcome(id);
        assert_eq!(outcome["status"], "succeeded", "{outcome:#}\n{}", cluster.log("server.log"));
        let events = cluster.events(id);
        for index in 0..steps {
            let done =
                events.iter().filter(|event| event["kind"] == "step_done" && event["step_index"] == index).count();
            assert_eq!(done, 1, "step {index} done {done} times");
        }
        assert_eq!(cluster.answering(), *version);
        let deadline = Instant::now() + Duration::from_secs(10);
        while cluster.live_instances(&previous) > 0 || cluster.live_instances(version) != 3 {
            assert!(Instant::now() < deadline, "instances left over: {:#}", cluster.status());
            std::thread::sleep(Duration::from_millis(50));
        }
        previous = (*version).to_owned();
    }
    let (ok, failed) = load.finish();
    assert!(failed.is_empty() && ok > 0, "{failed:?}");
}

#[test]
fn kill_9_at_every_step_resumes_on_sqlite() {
    killed_at_every_step(None);
}

#[test]
fn kill_9_at_every_step_resumes_on_postgres() {
    let Some(db) = postgres("kill9") else { return };
    killed_at_every_step(Some(db.url()));
}

#[test]
fn the_api_refuses_requests_without_a_valid_token() {
    let cluster = Cluster::start(None, 0);
    let (status, body) = http(cluster.api, "GET", "/api/v1/environments", None, None).unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, _) = http(cluster.api, "GET", "/api/v1/environments", Some("sgt_wrong"), None).unwrap();
    assert_eq!(status, 401);
    let (status, body) = http(cluster.api, "GET", "/api/v1/openapi.json", None, None).unwrap();
    assert_eq!(status, 200);
    let document: Value = serde_json::from_str(&body).unwrap();
    assert!(document["paths"]["/api/v1/environments/{env}/deployments"].is_object());
    let credentials = std::fs::read_to_string(cluster.path("credentials.json")).unwrap();
    assert!(credentials.contains(&cluster.token), "the credentials file holds the token");
}

#[test]
fn a_deploy_refuses_a_plan_that_changed_since_it_was_shown() {
    let cluster = Cluster::start(None, 0);
    cluster.release("v1", "", CANARY);
    let (status, plan) = cluster.call("POST", "/api/v1/environments/staging/plan", Some(json!({"version": "v1"})));
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["steps"][0]["description"], "check the gates");
    let (status, body) = cluster.call(
        "POST",
        "/api/v1/environments/staging/deployments",
        Some(json!({"version": "v1", "plan_digest": "0000"})),
    );
    assert_eq!((status, body["code"].as_str()), (409, Some("plan_changed")), "{body}");
    let (status, body) = cluster.call(
        "POST",
        "/api/v1/environments/staging/deployments",
        Some(json!({"version": "v1", "plan_digest": plan["digest"]})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["plan_digest"], plan["digest"]);
    let (status, body) = cluster.call("POST", "/api/v1/environments/nowhere/plan", Some(json!({"version": "v1"})));
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_environment")), "{body}");
    let (status, body) = cluster.call("POST", "/api/v1/environments/staging/plan", Some(json!({"version": "v9"})));
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_release")), "{body}");
}

#[test]
fn instances_no_deployment_owns_are_stopped_and_recorded() {
    let cluster = Cluster::start(None, 0);
    cluster.release("v1", "", "replicas = 1\n");
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let stray = json!({"id": "stray", "service": "web-staging", "version": "handmade",
                       "artifact_dir": cluster.path("."), "command": [sample_bin()]});
    let (status, body) = common::load::agent_api(&cluster.path("agent"), "POST", "/v1/instances", &stray.to_string());
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while cluster.live_instances("handmade") > 0 {
        assert!(Instant::now() < deadline, "the stray instance still runs");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(cluster.live_instances("v1"), 1, "owned instances stay");
    let entries = cluster.audit("instance.orphan-stopped");
    assert_eq!(entries[0]["subject"], "instance/stray", "{entries:#}");
}

#[test]
fn the_server_starts_a_detached_agent_that_outlives_it() {
    adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["server", "--listen", &api.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("SHIPGATE_CREDENTIALS", dir.path().join("credentials.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http(api, "GET", "/api/v1/health", None, None).map(|(status, _)| status) != Ok(200) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = dir.path().join("data/agent");
    let (status, info) = common::load::agent_api(&state, "GET", "/v1/agent", "");
    assert_eq!(status, 200);
    let agent_pid = info["pid"].as_i64().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    // The agent runs on in its own process group, and answers.
    let (status, _) = common::load::agent_api(&state, "GET", "/v1/services", "");
    assert_eq!(status, 200, "the agent died with the server");
    let pid = rustix::process::Pid::from_raw(agent_pid as i32).unwrap();
    assert_ne!(rustix::process::getpgid(Some(pid)).unwrap(), rustix::process::getpgrp(), "own process group");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{agent_pid}/stat")).is_ok_and(|stat| !stat.contains(") Z")) {
        assert!(Instant::now() < deadline, "the agent did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_api_is_served_over_tls_and_never_as_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let open = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["server", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(open.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert!(stderr.contains("refusing to serve the API over plain HTTP") && stderr.contains("--tls-cert"), "{stderr}");

    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let mut cluster = Cluster::start(None, 0);
    cluster.kill_server();
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["server", "--listen", &api.to_string(), "--data-dir"])
        .arg(cluster.path("data"))
        .arg("--agent-socket")
        .arg(cluster.path("agent/control.sock"))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/health", api.port());
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let output =
            Command::new("curl").args(["-sS", "--cacert"]).arg(dir.path().join("cert.pem")).arg(&url).output().unwrap();
        if output.status.success() {
            break String::from_utf8_lossy(&output.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "{}", String::from_utf8_lossy(&output.stderr));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn the_cli_deploys_reports_and_rolls_back_through_the_api() {
    let cluster = Cluster::start(None, 0);
    let blue_green = "replicas = 2\nstrategy = { blue_green = { preview = \"0s\", scale_down_delay = \"5m\" } }\n";
    cluster.release("v1", "", blue_green);
    cluster.release("v2", "", blue_green);
    cluster.release("bad", ", SAMPLE_UNHEALTHY = \"1\"", blue_green);

    let (code, _, stderr) = cluster.cli(&["plan", "staging", "v1"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cluster.cli(&["deploy", "staging", "v1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("succeeded"), "{stderr}");
    let (code, stdout, stderr) = cluster.cli(&["deploy", "staging", "v2", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let kinds: Vec<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds.last().map(String::as_str), Some("succeeded"), "{stdout}");
    let (code, stdout, stderr) = cluster.cli(&["deploy", "staging", "v2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(format!("{stdout}{stderr}").contains("already runs"), "the no-op says so: {stdout}{stderr}");

    let (code, _, stderr) = cluster.cli(&["deploy", "staging", "bad"]);
    assert_eq!(code, 1, "a rolled-back deployment exits 1: {stderr}");
    assert!(stderr.contains("rolled_back") || stderr.contains("rolled back"), "{stderr}");

    let (code, stdout, stderr) = cluster.cli(&["status", "staging", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["active"]["version"], "v2", "{status:#}");

    let (code, stdout, stderr) = cluster.cli(&["history", "staging", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let history: Value = serde_json::from_str(&stdout).unwrap();
    let statuses: Vec<&str> = history.as_array().unwrap().iter().map(|row| row["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rolled_back", "succeeded", "succeeded"]);

    let (code, stdout, stderr) = cluster.cli(&["rollback", "staging", "--reason", "test"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(format!("{stdout}{stderr}").contains("warm"), "{stdout}{stderr}");
    assert_eq!(cluster.answering(), "v1");

    let (code, stdout, stderr) = cluster.cli(&["logs", "staging", "--tail", "5"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().all(|line| line.starts_with("web-staging-d")), "{stdout}");
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let cluster = Cluster::start(None, 0);
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["server", "--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir"])
        .arg(cluster.path("data"))
        .arg("--agent-socket")
        .arg(cluster.path("agent/control.sock"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another shipgate server already runs"), "{stderr}");
}

/// Staging then production: production requires staging, uses a canary with health and smoke
/// checks, and releases carry test evidence. The canary's hold is zero-length, so its analysis
/// has no data and is inconclusive: go on rather than pause.
fn two_environments(staging: SocketAddr, production: SocketAddr) -> String {
    format!(
        "[environments.staging]\nlisten = \"{staging}\"\nsmoke = [{{ http = \"/healthz\" }}]\n\
         [environments.production]\nlisten = \"{production}\"\nrequires = [\"staging\"]\n\
         strategy = {{ canary = [ {{ weight = 50, hold = \"0s\" }} ] }}\nsmoke = [{{ http = \"/healthz\" }}]\n\
         analysis = {{ error_rate_max = 0.05, on_inconclusive = \"promote\" }}\n"
    )
}

#[test]
fn production_accepts_only_what_passed_staging_and_its_tests() {
    let cluster = Cluster::start(None, 0);
    let production = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let environments = two_environments(cluster.listen, production);
    let junit = cluster.path("junit.xml");
    std::fs::write(&junit, r#"<testsuite name="t" tests="3" failures="0" errors="0" skipped="0"></testsuite>"#)
        .unwrap();
    let junit = junit.to_str().unwrap();
    cluster.release_with("v1", "", &environments, &["--test-exit", "0", "--junit", junit]);

    // Never deployed to staging: refused, with the finding and a ledger entry.
    let (status, body) = cluster.deploy_to("production", "v1", json!([]));
    assert_eq!((status, body["code"].as_str()), (409, Some("gates_refused")), "{body:#}");
    let rules: Vec<&str> = body["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"SG0201"), "{body:#}");
    assert!(body["message"].as_str().unwrap().contains("staging-first"), "{body:#}");

    // After staging, accepted.
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let (status, body) = cluster.deploy_to("production", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    // Failing tests: refused for production even after staging; an override lifts it, recorded.
    cluster.release_with("v2", "", &environments, &["--test-exit", "1", "--junit", junit]);
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "staging only warns: {body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    let (status, body) = cluster.deploy_to("production", "v2", json!([]));
    assert_eq!((status, body["code"].as_str()), (409, Some("gates_refused")), "{body:#}");
    assert!(body["message"].as_str().unwrap().contains("SG0107"), "{body:#}");
    let (status, body) =
        cluster.deploy_to("production", "v2", json!([{"rule": "SG0107", "reason": "flaky test, fixed in v3"}]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    let entries = cluster.audit("deployment.*");
    let entries = entries.as_array().unwrap();
    let refused = entries.iter().filter(|entry| entry["action"] == "deployment.refused").count();
    assert_eq!(refused, 2, "both refusals are in the ledger");
    let overridden = entries
        .iter()
        .find(|entry| {
            entry["action"] == "deployment.created" && entry["details"]["data"]["overrides"][0]["rule"] == "SG0107"
        })
        .unwrap_or_else(|| panic!("no override in the ledger: {entries:#?}"));
    assert_eq!(overridden["actor"], "admin");
    assert_eq!(overridden["details"]["data"]["overrides"][0]["reason"], "flaky test, fixed in v3");

    // A non-overridable rule stays: an unknown environment cannot be lifted either.
    let (_, check) = cluster.call("POST", "/api/v1/environments/production/check", Some(json!({"version": "v2"})));
    assert_eq!(check["release"], "v2");
    let (status, sarif) = cluster.call(
        "POST",
        "/api/v1/environments/production/check",
        Some(json!({"version": "v2", "format": "sarif"})),
    );
    assert_eq!(status, 200);
    assert_eq!(sarif["version"], "2.1.0");

    // The same through the CLI: compiler-like output, exit 1 on a deny; SARIF; the catalog.
    let (code, stdout, stderr) = cluster.cli(&["check", "production", "--release", "v2"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("deny[SG0107 tests-failed]"), "{stdout}");
    assert!(stdout.contains("= hint:"), "{stdout}");
    let (code, stdout, _) = cluster.cli(&["check", "production", "--release", "v1", "--format", "sarif"]);
    assert_eq!(code, 0, "v1 passed staging and its tests: {stdout}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["version"], "2.1.0");
    let (code, stdout, _) = cluster.cli(&["plan", "production", "v2"]);
    assert_eq!(code, 1, "plan shows the failing gate: {stdout}");
    assert!(stdout.contains("SG0107"), "{stdout}");
    let (code, stdout, _) = cluster.cli(&["rules", "staging-first"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("SG0201 staging-first"), "{stdout}");
    let (code, _, stderr) = cluster.cli(&["rules", "SG9999"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn drift_is_found_when_an_instance_dies_or_a_stranger_takes_the_port() {
    let cluster = Cluster::start(None, 0);
    cluster.release("v1", "", "replicas = 2\n");
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let (_, drift) = cluster.call("GET", "/api/v1/environments/staging/drift", None);
    assert_eq!(drift["findings"].as_array().unwrap().len(), 0, "{drift:#}");

    // Kill one instance: until the agent has it healthy again, there are fewer than `replicas`.
    let (_, instances) = common::load::agent_api(&cluster.path("agent"), "GET", "/v1/instances", "");
    let pid = instances[0]["workload"]["pid"].as_i64().unwrap();
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, drift) = cluster.call("GET", "/api/v1/environments/staging/drift", None);
        if drift["findings"].as_array().unwrap().iter().any(|finding| finding["rule"] == "SG0404") {
            break;
        }
        assert!(Instant::now() < deadline, "no replica drift after killing an instance: {drift:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server's own periodic check (every 300 ms in these tests) records drift in the ledger:
    // an instance of a version no deployment owns runs until the reconciler stops it (1 s grace).
    let stray = json!({"id": "stray", "service": "web-staging", "version": "handmade",
                       "artifact_dir": cluster.path("."), "command": [sample_bin()]});
    let (status, body) = common::load::agent_api(&cluster.path("agent"), "POST", "/v1/instances", &stray.to_string());
    assert_eq!(status, 201, "{body}");
    let recorded = || cluster.audit("drift.*");
    let deadline = Instant::now() + Duration::from_secs(10);
    let detected = |entries: &Value| {
        entries.as_array().is_some_and(|entries| {
            entries.iter().any(|entry| {
                entry["action"] == "drift.detected"
                    && entry["details"]["findings"].as_array().is_some_and(|f| f.iter().any(|f| f["rule"] == "SG0403"))
            })
        })
    };
    while !detected(&recorded()) {
        assert!(Instant::now() < deadline, "no drift.detected entry: {:#}\n{}", recorded(), cluster.log("server.log"));
        std::thread::sleep(Duration::from_millis(100));
    }

    // A foreign process on another environment's port, before shipgate ever deployed there.
    let other = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let environments =
        format!("[environments.staging]\nlisten = \"{}\"\n[environments.qa]\nlisten = \"{other}\"\n", cluster.listen);
    cluster.release_with("v2", "", &environments, &[]);
    let stranger = std::net::TcpListener::bind(other).unwrap();
    let (_, drift) = cluster.call("GET", "/api/v1/environments/qa/drift", None);
    let foreign = drift["findings"].as_array().unwrap().iter().find(|finding| finding["rule"] == "SG0406").cloned();
    let (code, stdout, stderr) = cluster.cli(&["drift", "qa", "--format", "sarif"]);
    drop(stranger);
    assert_eq!(code, 1, "{stderr}");
    let sarif: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["runs"][0]["results"].as_array().unwrap().iter().any(|result| result["ruleId"] == "SG0406"),
        "{sarif:#}"
    );
    let foreign = foreign.unwrap_or_else(|| panic!("no foreign-listener finding: {drift:#}"));
    assert!(foreign["message"].as_str().unwrap().contains(&std::process::id().to_string()), "{foreign:#}");
}

/// Writes migration files into release `version`'s project folder before it is created.
fn migration_files(cluster: &Cluster, version: &str, files: &[(&str, &str)]) {
    for (path, sql) in files {
        let path = cluster.path(&format!("project-{version}/migrations/{path}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, sql).unwrap();
    }
}

fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql").args(["--quiet", "--no-psqlrc", "-tA", url, "-c", sql]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn expand_runs_before_traffic_and_contract_one_release_later() {
    let Some(app_db) = common::TestDb::create("appmigrations") else { return };
    let url = app_db.url();
    let cluster = Cluster::start_with(None, 0, vec![("DATABASE_URL".into(), url.clone())]);
    let environments = format!(
        "[secrets]\nDATABASE_URL = {{}}\n[migrations]\ndatabase = \"DATABASE_URL\"\n\
         [environments.staging]\nlisten = \"{}\"\nstrategy = {{ canary = [ {{ weight = 50, hold = \"0s\" }} ] }}\n",
        cluster.listen
    );
    let v1 = [("expand/0001_items.up.sql", "CREATE TABLE items (id int PRIMARY KEY, legacy text);")];
    let contract = ("contract/0002_drop_legacy.up.sql", "ALTER TABLE items DROP COLUMN legacy;");
    let columns = || {
        psql(
            &url,
            "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'items'",
        )
    };

    migration_files(&cluster, "v1", &v1);
    cluster.release_with("v1", "", &environments, &[]);
    // The instances get the URL from the secrets store (the migrations from the server's
    // environment): without it the gates refuse (SG0603).
    let (status, body) =
        cluster.call("PUT", "/api/v1/environments/staging/secrets/DATABASE_URL", Some(json!({"value": url})));
    assert_eq!(status, 200, "{body}");
    let first = cluster.outcome(cluster.deploy("v1"));
    assert_eq!(first["status"], "succeeded", "{first:#}");
    let steps = first["steps"].as_array().unwrap();
    let position = |name: &str| steps.iter().position(|step| step["step"]["step"] == name).unwrap();
    assert!(position("migrate_expand") < position("start_instances"), "expand runs before any new instance");
    assert!(steps[position("migrate_expand")]["detail"].as_str().unwrap().contains("0001_items"), "{first:#}");
    assert_eq!(columns(), "id,legacy");

    // v2 ships a contract migration: not applied while v1 may still run.
    migration_files(&cluster, "v2", &[v1[0], contract]);
    cluster.release_with("v2", "", &environments, &[]);
    assert_eq!(cluster.outcome(cluster.deploy("v2"))["status"], "succeeded");
    assert_eq!(columns(), "id,legacy", "the contract migration waits for the next release");

    // v3: v2's contract migration runs once v2 (which no longer needed the column) is replaced.
    migration_files(&cluster, "v3", &[v1[0], contract]);
    cluster.release_with("v3", "", &environments, &[]);
    let third = cluster.outcome(cluster.deploy("v3"));
    assert_eq!(third["status"], "succeeded", "{third:#}");
    assert_eq!(columns(), "id");

    // v4 expands, then never becomes healthy: shipgate pauses instead of rolling back past the
    // applied expand, and says why; abort then returns traffic to v3.
    migration_files(
        &cluster,
        "v4",
        &[v1[0], contract, ("expand/0003_add_note.up.sql", "ALTER TABLE items ADD COLUMN note text;")],
    );
    cluster.release_with("v4", ", SAMPLE_UNHEALTHY = \"1\"", &environments, &[]);
    let id = cluster.deploy("v4");
    let paused = cluster.until_paused(id);
    assert!(paused["reason"].as_str().unwrap().contains("expand migrations were applied"), "{paused:#}");
    assert_eq!(columns(), "id,note");
    assert_eq!(cluster.answering(), "v3", "traffic stayed on the stable release");
    let (status, body) =
        cluster.call("POST", &format!("/api/v1/deployments/{id}/abort"), Some(json!({"reason": "bad build"})));
    assert_eq!((status, body["status"].as_str()), (200, Some("aborted")), "{body:#}");
    assert_eq!(cluster.answering(), "v3");
}

#[test]
fn a_release_with_a_committed_secret_is_refused_everywhere() {
    let cluster = Cluster::start(None, 0);
    // A token in the GitHub format, made up now: the repository itself holds no credential.
    let token: String = (0..36).map(|_| fastrand::alphanumeric()).collect();
    let project = cluster.path("project-leaky");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("settings.py"), format!("GITHUB_TOKEN = \"ghp_{token}\"\n")).unwrap();
    cluster.release("leaky", "", "");
    let (status, body) = cluster.deploy_to("staging", "leaky", json!([]));
    assert_eq!((status, body["code"].as_str()), (409, Some("gates_refused")), "{body:#}");
    let finding = body["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "SG0601").cloned().unwrap();
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("settings.py:1"), "{message}");
    assert!(!body.to_string().contains(&token), "the secret itself never appears");
}

#[test]
fn a_freeze_refuses_production_naming_the_window_and_its_end_until_an_override_with_a_reason() {
    let cluster = Cluster::start(None, 0);
    let production = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // Frozen from today to tomorrow (UTC), so the test does not depend on when it runs; the
    // exact boundaries (Friday 16:00 in Berlin, both DST days) are unit-tested in shipgate-policy.
    let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
    let tomorrow = today.tomorrow().unwrap();
    let ends = tomorrow.tomorrow().unwrap().strftime("%a %Y-%m-%d 00:00").to_string();
    let environments = format!(
        "[windows]\ntimezone = \"UTC\"\nfreeze = [ {{ from = \"{today}\", to = \"{tomorrow}\", reason = \"year-end freeze\" }} ]\n{}",
        two_environments(cluster.listen, production)
    );
    let junit = cluster.path("junit.xml");
    std::fs::write(&junit, r#"<testsuite tests="1" failures="0" errors="0" skipped="0"/>"#).unwrap();
    cluster.release_with("v1", "", &environments, &["--test-exit", "0", "--junit", junit.to_str().unwrap()]);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "staging is not frozen: {body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    // Refused, naming the window and when it ends.
    let (status, body) = cluster.deploy_to("production", "v1", json!([]));
    assert_eq!((status, body["code"].as_str()), (409, Some("gates_refused")), "{body:#}");
    let (code, _, stderr) = cluster.cli(&["deploy", "production", "v1"]);
    assert_eq!(code, 1, "{stderr}");
    let expected = format!("`production` is frozen now: year-end freeze until {ends} (UTC)");
    assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");

    // Only a token with the `override` permission may lift it.
    let ci =
        cluster.token_with(json!({"name": "ci", "role": "deployer", "environments": ["production"], "expires": "1d"}));
    let (status, body) = cluster.call_as(
        ci["token"].as_str().unwrap(),
        "POST",
        "/api/v1/environments/production/deployments",
        Some(json!({"version": "v1", "overrides": [{"rule": "freeze", "reason": "in a hurry"}]})),
    );
    assert_eq!(status, 403, "{body:#}");
    assert!(body["message"].as_str().unwrap().contains("`override`"), "{body:#}");

    // `--override freeze --reason …`, as the issue writes it, by an admin: recorded with who and why.
    let reason = "security fix, approved by the CTO";
    let (code, stdout, stderr) =
        cluster.cli(&["deploy", "production", "v1", "--override", "freeze", "--reason", reason]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let created = cluster.audit("deployment.created");
    let entry = created
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["env"] == "production")
        .unwrap_or_else(|| panic!("no production deployment in the ledger: {created:#}"));
    assert_eq!(entry["actor"], "admin", "{entry:#}");
    let text = entry.to_string();
    assert!(text.contains("SG0703") && text.contains(reason), "the override and its reason: {entry:#}");
    let (status, body) = cluster.deploy_to("production", "v1", json!([{"rule": "freeze", "reason": " "}]));
    assert_eq!(status, 200, "a no-op needs no override: {body:#}");
}

#[test]
fn a_freeze_that_begins_while_a_deployment_awaits_approval_stops_it_before_traffic() {
    let cluster = Cluster::start(None, 0);
    let production = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // A window that starts at the next minute (at least 5 s away) and lasts two minutes, in UTC.
    let utc = jiff::tz::TimeZone::UTC;
    let now = utc.to_datetime(jiff::Timestamp::now());
    let minute = jiff::SignedDuration::from_mins(1);
    let mut start = now.with().second(0).subsec_nanosecond(0).build().unwrap().checked_add(minute).unwrap();
    if start.duration_since(now) < jiff::SignedDuration::from_secs(5) {
        start = start.checked_add(minute).unwrap();
    }
    let end = start.checked_add(jiff::SignedDuration::from_mins(2)).unwrap();
    let environments = format!(
        "[windows]\ntimezone = \"UTC\"\nfreeze = [ {{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], after = \"{}\", before = \"{}\", reason = \"release-train cut\" }} ]\n{}\
         approvals = {{ required = 1, from = [\"role:approver\"] }}\n",
        start.strftime("%H:%M"),
        end.strftime("%H:%M"),
        two_environments(cluster.listen, production)
    );
    let junit = cluster.path("junit.xml");
    std::fs::write(&junit, r#"<testsuite tests="1" failures="0" errors="0" skipped="0"/>"#).unwrap();
    cluster.release_with("v1", "", &environments, &["--test-exit", "0", "--junit", junit.to_str().unwrap()]);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    // Accepted before the freeze; it waits for its approval.
    let (status, body) = cluster.deploy_to("production", "v1", json!([]));
    assert_eq!(status, 201, "not frozen yet: {body:#}");
    let id = body["id"].as_u64().unwrap();
    assert_eq!(body["status"], "awaiting_approval", "{body:#}");

    // The freeze begins; then the approval arrives.
    let begins = utc.to_timestamp(start).unwrap();
    while jiff::Timestamp::now() < begins + jiff::SignedDuration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let approver = cluster.token("alice", "approver");
    let (status, body) =
        cluster.call_as(&approver, "POST", &format!("/api/v1/deployments/{id}/approve"), Some(json!({})));
    assert_eq!(status, 200, "{body:#}");
    let outcome = cluster.outcome(id);
    assert_ne!(outcome["status"], "succeeded", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("release-train cut"), "the window is named: {outcome:#}");
    let events = cluster.events(id);
    assert!(
        !events.iter().any(|event| event["message"].as_str().is_some_and(|message| message.contains("% of traffic"))),
        "no traffic moved: {events:#?}"
    );
    let (_, status) = cluster.call("GET", "/api/v1/environments/production", None);
    assert!(status["active"].is_null(), "production runs nothing: {status:#}");
}

#[test]
fn each_role_and_scope_is_allowed_and_refused_over_the_api() {
    let cluster = Cluster::start(None, 0);
    cluster.release("v1", "", "replicas = 1\n");
    cluster.release("v2", "", "replicas = 1\n");
    let token = |role: &str, envs: &[&str]| {
        let (code, stdout, stderr) = cluster.cli(
            &[
                &["token", "create", "--role", role, "--name", &format!("{role}-token"), "--expires", "1d"][..],
                &envs.iter().flat_map(|env| ["--env", *env]).collect::<Vec<_>>()[..],
            ]
            .concat(),
        );
        assert_eq!(code, 0, "{stderr}");
        stdout.trim().to_owned()
    };
    let as_token = |secret: &str, method: &str, path: &str, body: Option<Value>| {
        let (status, text) = http(cluster.api, method, path, Some(secret), body.as_ref()).unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
    };
    let viewer = token("viewer", &[]);
    let deployer = token("deployer", &["staging"]);
    let qa_deployer = token("deployer", &["qa"]);
    let approver = token("approver", &[]);

    // Reads are open to every role; deploying needs `deploy` on that environment.
    assert_eq!(as_token(&viewer, "GET", "/api/v1/environments/staging", None).0, 200);
    let deploy = json!({"version": "v1"});
    let (status, body) = as_token(&viewer, "POST", "/api/v1/environments/staging/deployments", Some(deploy.clone()));
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("lacks the `deploy` permission"), "{body}");
    assert_eq!(as_token(&approver, "POST", "/api/v1/environments/staging/deployments", Some(deploy.clone())).0, 403);
    let (status, body) =
        as_token(&qa_deployer, "POST", "/api/v1/environments/staging/deployments", Some(deploy.clone()));
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("may act on `qa` only"), "{body}");
    let (status, body) = as_token(&deployer, "POST", "/api/v1/environments/staging/deployments", Some(deploy));
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_u64().unwrap();
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
    assert_eq!(as_token(&qa_deployer, "POST", &format!("/api/v1/deployments/{id}/abort"), None).0, 403);

    // Overrides need the `override` permission, which only admins hold.
    let (status, body) = as_token(
        &deployer,
        "POST",
        "/api/v1/environments/staging/deployments",
        Some(json!({"version": "v2", "overrides": [{"rule": "SG0106", "reason": "x"}]})),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("`override`"), "{body}");

    // Tokens are managed by admins; a revoked token is refused.
    assert_eq!(as_token(&deployer, "GET", "/api/v1/tokens", None).0, 403);
    let (code, stdout, _) = cluster.cli(&["token", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let tokens: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!stdout.contains("sgt_"), "list never shows secrets");
    let viewer_id = tokens.as_array().unwrap().iter().find(|t| t["name"] == "viewer-token").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _, stderr) = cluster.cli(&["token", "revoke", &viewer_id]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(as_token(&viewer, "GET", "/api/v1/environments/staging", None).0, 401);
    let (code, _, stderr) = cluster.cli(&["token", "create", "--role", "superuser", "--name", "root"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_bad_canary_is_judged_by_analysis_and_rolled_back_before_its_hold_ends() {
    let cluster = Cluster::start(None, 0);
    let canary = "replicas = 2\nstrategy = { canary = [ { weight = 50, hold = \"90s\" } ] }\nanalysis = { error_rate_max = 0.5 }\n";
    cluster.release("v1", ", SAMPLE_ERROR_RATE = \"0.01\"", canary);
    cluster.release("v2", ", SAMPLE_ERROR_RATE = \"0.05\"", canary);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let load = start_load(cluster.listen, 4);
    let started = Instant::now();
    let outcome = cluster.outcome(cluster.deploy("v2"));
    let took = started.elapsed();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(reason.contains("analysis failed"), "{reason}");
    assert!(took < Duration::from_secs(60), "decided in {took:?}, long before the 90 s hold ended");
    let id = outcome["id"].as_u64().unwrap();
    let evidence = cluster
        .events(id)
        .into_iter()
        .rev()
        .find(|event| event["data"]["analysis"].is_object())
        .map(|event| event["data"]["analysis"].clone())
        .unwrap();
    assert_eq!(evidence["verdict"], "fail", "{evidence:#}");
    assert_eq!(cluster.answering_ignoring_errors(), "v1");
    let (ok, failed) = load.finish();
    // The sample answers 500 on purpose (1% and 5%); anything else (refused connections, 502,
    // 503) would be shipgate failing a request.
    let unexpected: Vec<&String> = failed.iter().filter(|failure| failure.as_str() != "status 500").collect();
    assert!(unexpected.is_empty() && ok > 0, "{unexpected:?}");
}

#[test]
fn data_residency_refuses_an_environment_outside_the_allowed_regions() {
    let cluster = Cluster::start(None, 0);
    let spec = |region: &str| {
        format!(
            "[environments.staging]\nlisten = \"{}\"\nregion = \"{region}\"\n[app.data_classes]\npersonal = [\"eu-*\"]\n",
            cluster.listen
        )
    };
    cluster.release_with("v1", "", &spec("us-east-1"), &[]);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!((status, body["code"].as_str()), (409, Some("gates_refused")), "{body:#}");
    assert!(body["message"].as_str().unwrap().contains("SG0402"), "{body:#}");
    cluster.release_with("v2", "", &spec("eu-west-1"), &[]);
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body:#}");
}

#[test]
fn a_canary_without_traffic_is_never_failed_for_lack_of_data_and_pauses_inconclusive() {
    let cluster = Cluster::start(None, 0);
    let canary = "replicas = 1\nstrategy = { canary = [ { weight = 50, hold = \"3s\" } ] }\nanalysis = { error_rate_max = 0.5 }\n";
    cluster.release("v1", "", canary);
    cluster.release("v2", "", canary);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let id = cluster.deploy("v2");
    let paused = cluster.until_paused(id);
    let events = cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1;
    let hold = events["steps"].as_array().unwrap().iter().find(|step| step["step"]["step"] == "hold").unwrap().clone();
    assert!(hold["detail"].as_str().unwrap_or("").contains("inconclusive"), "{paused:#}");
    let (code, stdout, stderr) = cluster.cli(&["status", "staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("inconclusive"), "status shows the analysis: {stdout}");
    let (status, body) = cluster.call("POST", &format!("/api/v1/deployments/{id}/resume"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
}

#[test]
fn a_canary_with_doubled_p99_latency_is_rolled_back_within_30_seconds() {
    let cluster = Cluster::start(None, 0);
    let canary = "replicas = 2\nstrategy = { canary = [ { weight = 50, hold = \"90s\" } ] }\nanalysis = { error_rate_max = 0.5 }\n";
    cluster.release("v1", ", SAMPLE_LATENCY_MS = \"2,20\"", canary);
    cluster.release("v2", ", SAMPLE_LATENCY_MS = \"2,40\"", canary);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let load = start_load(cluster.listen, 4);
    let started = Instant::now();
    let outcome = cluster.outcome(cluster.deploy("v2"));
    let took = started.elapsed();
    let (_, failed) = load.finish();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    assert!(outcome["reason"].as_str().unwrap().contains("analysis failed"), "{outcome:#}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn the_bake_compares_with_the_previous_release_and_rolls_back_to_it() {
    let cluster = Cluster::start(None, 0);
    let canary = "replicas = 2\nstrategy = { canary = [ { weight = 50, hold = \"0s\" } ] }\nbake = \"90s\"\n\
                  analysis = { error_rate_max = 0.5, on_inconclusive = \"promote\" }\n";
    cluster.release("v1", ", SAMPLE_ERROR_RATE = \"0.01\"", &canary.replace("bake = \"90s\"\n", ""));
    cluster.release("v2", ", SAMPLE_ERROR_RATE = \"0.10\"", canary);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    // v1's figures before the deployment: the baseline the bake compares with.
    let load = start_load(cluster.listen, 4);
    std::thread::sleep(Duration::from_secs(3));
    let outcome = cluster.outcome(cluster.deploy("v2"));
    let (ok, failed) = load.finish();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let failed_step =
        outcome["steps"].as_array().unwrap().iter().find(|step| step["state"] == "failed").unwrap().clone();
    assert_eq!(failed_step["step"]["step"], "bake", "{outcome:#}");
    assert!(outcome["reason"].as_str().unwrap().contains("analysis failed"), "{outcome:#}");
    assert_eq!(cluster.answering_ignoring_errors(), "v1");
    let unexpected: Vec<&String> = failed.iter().filter(|failure| failure.as_str() != "status 500").collect();
    assert!(unexpected.is_empty() && ok > 0, "{unexpected:?}");
}

/// A real Prometheus scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus(target: SocketAddr) -> Option<Prometheus> {
    let binary = std::env::var("SHIPGATE_TEST_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    if Command::new(&binary).arg("--version").output().is_err() {
        assert!(
            std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
            "Prometheus is required (SHIPGATE_REQUIRE_ALL=1) but `{binary}` does not run; scripts/setup installs it"
        );
        eprintln!("SKIPPED: Prometheus (`{binary}`) is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(SocketAddr::from(([127, 0, 0, 1], port)), "GET", "/-/ready", None, None).map(|(status, _)| status)
        != Ok(200)
    {
        assert!(Instant::now() < deadline, "Prometheus did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Prometheus { child, url, _dir: dir })
}

#[test]
fn the_prometheus_provider_judges_a_bad_canary_from_the_agents_real_metrics() {
    let cluster = Cluster::start(None, 0);
    let Some(prometheus) = prometheus(cluster.agent_metrics) else { return };
    // Only the Prometheus metric judges here: no built-in comparison or limit.
    let query = "sum(rate(shipgate_responses_total{version=\\\"{{version}}\\\",class=\\\"5xx\\\"}[5s])) / sum(rate(shipgate_requests_total{version=\\\"{{version}}\\\"}[5s]))";
    let environment = format!(
        "replicas = 2\nstrategy = {{ canary = [ {{ weight = 50, hold = \"90s\" }} ] }}\n\
         [environments.staging.analysis]\ncompare = \"none\"\nprometheus_url = \"{}\"\n\
         [[environments.staging.analysis.metrics]]\nname = \"error-ratio\"\nprometheus = \"{query}\"\nmax = 0.1\ninterval = \"1s\"\n",
        prometheus.url
    );
    cluster.release("v1", "", &environment);
    cluster.release("v2", ", SAMPLE_ERROR_RATE = \"0.3\"", &environment);
    let first = cluster.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v1"}))).1;
    let id = first["id"].as_u64().unwrap();
    // A first release has nothing to compare with: it is promoted once healthy, without a hold.
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
    let load = start_load(cluster.listen, 4);
    let started = Instant::now();
    let outcome = cluster.outcome(cluster.deploy("v2"));
    let (ok, _) = load.finish();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(reason.contains("error-ratio"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(60), "decided long before the hold ended");
    assert!(ok > 0);
}

#[test]
fn a_canary_identical_to_stable_is_not_rolled_back() {
    let cluster = Cluster::start(None, 0);
    let canary = "replicas = 2\nstrategy = { canary = [ { weight = 50, hold = \"15s\" } ] }\n\
                  analysis = { error_rate_max = 0.5, on_inconclusive = \"promote\" }\n";
    cluster.release("v1", ", SAMPLE_ERROR_RATE = \"0.01\", SAMPLE_LATENCY_MS = \"2,20\"", canary);
    cluster.release("v2", ", SAMPLE_ERROR_RATE = \"0.01\", SAMPLE_LATENCY_MS = \"2,20\"", canary);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    let load = start_load(cluster.listen, 4);
    let outcome = cluster.outcome(cluster.deploy("v2"));
    let (ok, failed) = load.finish();
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");
    let hold = outcome["steps"].as_array().unwrap().iter().find(|step| step["step"]["step"] == "hold").unwrap().clone();
    assert!(hold["detail"].as_str().unwrap().starts_with("analysis"), "{hold:#}");
    let unexpected: Vec<&String> = failed.iter().filter(|failure| failure.as_str() != "status 500").collect();
    assert!(unexpected.is_empty() && ok > 0, "{unexpected:?}");
}
