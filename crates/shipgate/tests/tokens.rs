//! Least privilege (SG0707) over the real API: `token list` names tokens broader than what the
//! audit ledger shows they did.

#![allow(clippy::unwrap_used)]

mod common;

use common::cluster::Cluster;
use serde_json::{Value, json};

#[test]
fn token_list_flags_tokens_broader_than_their_use() {
    let cluster = Cluster::start(None, 0);
    let environments = format!("[environments.staging]\nlisten = \"{}\"\n", cluster.listen);
    cluster.release_with("v1", "", &environments, &[]);
    let ci_admin = cluster.token("ci-admin", "admin");
    let (code, _, stderr) =
        cluster.cli(&["token", "create", "--role", "deployer", "--env", "staging", "--expires", "30d", "--name", "ci"]);
    assert_eq!(code, 0, "{stderr}");

    // The admin token only ever deploys staging.
    let (status, body) =
        cluster.call_as(&ci_admin, "POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v1"})));
    assert_eq!(status, 201, "{body}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    let (code, stdout, stderr) = cluster.cli(&["token", "list", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let tokens: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let findings = |name: &str| -> Vec<String> {
        let token = tokens.iter().find(|token| token["name"] == name).unwrap();
        token["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        findings("ci-admin"),
        [
            "admin token `ci-admin` was only used to deploy (staging), yet it may also override gates and manage tokens",
            "token `ci-admin` (admin) never expires",
        ]
    );
    assert_eq!(findings("ci"), Vec::<String>::new(), "a scoped, expiring deployer token fits");

    let (code, stdout, _) = cluster.cli(&["token", "list"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("warn SG0707: admin token `ci-admin` was only used to deploy"), "{stdout}");
    assert!(
        stdout.contains("hint: give it a narrower token: `shipgate token create --role deployer --env staging"),
        "{stdout}"
    );
}

#[test]
fn an_expired_token_is_refused_with_when_it_expired() {
    let cluster = Cluster::start(None, 0);
    let body = cluster.token_with(json!({"name": "short-lived", "role": "viewer", "expires": "1s"}));
    let secret = body["token"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(cluster.call_as(&secret, "GET", "/api/v1/releases", None).0, 200, "valid before it expires");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, body) = cluster.call_as(&secret, "GET", "/api/v1/releases", None);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&id) && message.contains("short-lived") && message.contains("expired at"), "{message}");
    assert!(body["hint"].as_str().unwrap().contains("token create"), "{body}");

    // The CLI shows the same.
    let (code, _, stderr) = cluster.cli_as(&secret, &["status"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("expired at"), "{stderr}");
}

#[test]
fn a_ci_deployer_token_for_every_environment_is_flagged_by_its_id() {
    let cluster = Cluster::start(None, 0);
    let environments = format!("[environments.staging]\nlisten = \"{}\"\n", cluster.listen);
    cluster.release_with("v1", "", &environments, &[]);
    // Two tokens held by CI: one scoped to staging, one to every environment. CI deploys staging.
    let scoped =
        cluster.token_with(json!({"name": "ci", "role": "deployer", "environments": ["staging"], "expires": "30d"}));
    let broad = cluster.token_with(json!({"name": "ci", "role": "deployer", "expires": "30d"}));
    let (status, body) = cluster.call_as(
        broad["token"].as_str().unwrap(),
        "POST",
        "/api/v1/environments/staging/deployments",
        Some(json!({"version": "v1"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(cluster.outcome(body["id"].as_u64().unwrap())["status"], "succeeded");

    let (status, tokens) = cluster.call("GET", "/api/v1/tokens", None);
    assert_eq!(status, 200, "{tokens}");
    let findings = |id: &Value| -> Vec<String> {
        let token = tokens.as_array().unwrap().iter().find(|token| token["id"] == *id).unwrap();
        token["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        findings(&broad["id"]),
        ["deployer token `ci` may deploy to every environment but deployed only to staging"],
        "{tokens:#}"
    );
    assert_eq!(findings(&scoped["id"]), Vec::<String>::new(), "the scoped token of the same holder fits");
}
