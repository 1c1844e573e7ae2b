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
