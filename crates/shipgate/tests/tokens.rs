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
