//! `shipgate demo --exit` runs to completion, and its outcomes are checked where they are
//! recorded (the audit ledger in the data directory it keeps, and for the chat, what its
//! webhook receiver kept), not in what it prints.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;

fn shipgate(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(args)
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("SHIPGATE_SERVER")
        .env_remove("SHIPGATE_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// The ledger's entries of `action` in `environment` about `version`: a deployment's
/// `details.version`, or a refusal's subject `release/VERSION`.
fn entries<'a>(ledger: &'a [Value], action: &str, environment: &str, version: &str) -> Vec<&'a Value> {
    ledger
        .iter()
        .filter(|entry| entry["action"] == action && entry["env"] == environment)
        .filter(|entry| entry["details"]["version"] == version || entry["subject"] == format!("release/{version}"))
        .collect()
}

#[test]
fn the_demo_runs_to_completion_and_its_outcomes_are_in_the_ledger() {
    common::load::sample_bin();
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let (code, stdout, stderr) = shipgate(&["demo", "--exit", "--keep", "--format", "json", "--dir"], &kept);
    let server_log = std::fs::read_to_string(kept.join("server.log")).unwrap_or_default();
    assert_eq!(code, 0, "{stderr}\n{stdout}\n--- server.log ---\n{server_log}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["requests"]["failed_on_stable"], 0, "{summary:#}");
    assert!(summary["requests"]["ok"].as_u64().unwrap() > 0, "{summary:#}");

    // From the ledger in the data directory the demo kept: its own record of every outcome.
    let (code, log, stderr) =
        shipgate(&["audit", "log", "--format", "json", "--limit", "100000", "--data-dir"], &kept.join("data"));
    assert_eq!(code, 0, "{stderr}");
    let ledger: Vec<Value> = serde_json::from_str(&log).unwrap();
    let finished = |environment: &str, version: &str| -> Vec<String> {
        entries(&ledger, "deployment.finished", environment, version)
            .iter()
            .map(|entry| format!("{} {}", entry["details"]["status"], entry["details"]["message"]))
            .collect()
    };
    for version in ["v1", "v2"] {
        let outcomes = finished("production", version);
        assert!(outcomes.iter().any(|outcome| outcome.starts_with("\"succeeded\"")), "{version}: {outcomes:#?}");
    }
    let bad = finished("production", "v3");
    assert!(
        bad.iter().any(|outcome| outcome.starts_with("\"rolled_back\"") && outcome.contains("analysis failed")),
        "v3 was rolled back by analysis: {bad:#?}"
    );
    for (version, rule) in [("v4", "SG0703"), ("v5", "SG0701")] {
        let refused = entries(&ledger, "deployment.refused", "production", version);
        assert!(
            refused.iter().any(|entry| {
                entry["details"]["findings"].as_array().unwrap().iter().any(|finding| finding["rule"] == rule)
            }),
            "{version} refused by {rule}: {refused:#?}"
        );
    }

    // v1 and v2 came through `shipgate pipeline run`: built from a commit of the demo's git
    // repository, with the test stage's evidence.
    for version in ["v1", "v2"] {
        let created = ledger
            .iter()
            .find(|entry| entry["action"] == "release.created" && entry["subject"] == format!("web@{version}"));
        let details = &created.unwrap()["details"];
        let commit = details["source_commit"].as_str().unwrap();
        assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()), "{details:#}");
        assert_eq!(details["tests"]["command"], serde_json::json!(["./test.sh"]), "{details:#}");
    }
    // v2's post-deployment checklist in production passed every item, the rollback rehearsal
    // in staging and the change log entry included.
    let v2_in_production: Vec<&Value> = entries(&ledger, "deployment.finished", "production", "v2")
        .into_iter()
        .filter(|entry| entry["details"]["status"] == "succeeded")
        .collect();
    let subject = &v2_in_production[0]["subject"];
    let checklist = ledger
        .iter()
        .find(|entry| entry["action"] == "deployment.checklist" && entry["subject"] == *subject)
        .unwrap_or_else(|| panic!("no checklist for {subject}"));
    let items = checklist["details"]["data"]["checklist"].as_array().unwrap();
    assert_eq!(items.len(), 8, "{checklist:#}");
    assert!(items.iter().all(|item| item["status"] == "pass"), "{checklist:#}");
    assert_eq!(summary["checklist"]["findings"], serde_json::json!([]), "{summary:#}");
    let heard = summary["notifications"].as_array().unwrap();
    assert!(
        heard.iter().any(|message| message.as_str().unwrap().contains("v3 was rolled back in production")),
        "{heard:#?}"
    );

    let (code, verified, stderr) = shipgate(&["audit", "verify", "--format", "json", "--data-dir"], &kept.join("data"));
    assert_eq!(code, 0, "{stderr}");
    let verified: Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(verified["ok"], true);
    assert!(verified["entries"].as_u64().unwrap() >= 20, "{verified:#}");

    // Five releases, each to staging and then production.
    assert_eq!(summary["deployments"].as_array().unwrap().len(), 10, "{summary:#}");
}
