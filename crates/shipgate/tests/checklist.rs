//! The post-deployment checklist over the real API and CLI: judged at the end of a deployment,
//! with evidence, and "rollback plan tested" only once the release's rollback path really ran.

#![allow(clippy::unwrap_used)]

mod common;

use common::cluster::Cluster;
use serde_json::{Value, json};

fn checklist(cluster: &Cluster, id: u64) -> Vec<(String, String)> {
    let (code, stdout, stderr) = cluster.cli(&["checklist", &id.to_string(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["item"].as_str().unwrap().to_owned(), item["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn status_of(items: &[(String, String)], name: &str) -> String {
    items.iter().find(|(item, _)| item == name).map(|(_, status)| status.clone()).unwrap()
}

#[test]
fn the_checklist_is_judged_at_the_end_with_its_evidence() {
    let cluster = Cluster::start(None, 0);
    let environments = format!(
        "[environments.staging]\nlisten = \"{}\"\nsmoke = [{{ http = \"/healthz\" }}]\n\
         strategy = {{ canary = [ {{ weight = 50, hold = \"1s\" }} ] }}\n\
         analysis = {{ error_rate_max = 0.05, on_inconclusive = \"promote\" }}\n",
        cluster.listen
    );
    cluster.release_with("v1", "", &environments, &[]);
    cluster.release_with("v2", "", &environments, &[]);
    let first = cluster.deploy("v1");
    assert_eq!(cluster.outcome(first)["status"], "succeeded");
    let items = checklist(&cluster, first);
    assert_eq!(status_of(&items, "smoke tests passed"), "pass", "{items:?}");
    assert_eq!(status_of(&items, "health checks responding"), "pass", "{items:?}");
    assert_eq!(status_of(&items, "response times within the SLA"), "fail", "no latency limit: {items:?}");
    assert_eq!(status_of(&items, "rollback plan tested"), "fail", "{items:?}");
    assert_eq!(status_of(&items, "stakeholders notified"), "fail", "no webhook: {items:?}");

    // v2, rolled back, then deployed again: its rollback path ran.
    assert_eq!(cluster.outcome(cluster.deploy("v2"))["status"], "succeeded");
    let (status, body) =
        cluster.call("POST", "/api/v1/environments/staging/rollback", Some(json!({"reason": "drill"})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.outcome(body["deployment"]["id"].as_u64().unwrap())["status"], "succeeded");
    let again = cluster.deploy("v2");
    assert_eq!(cluster.outcome(again)["status"], "succeeded");
    assert_eq!(status_of(&checklist(&cluster, again), "rollback plan tested"), "pass");

    let (code, stdout, _) = cluster.cli(&["checklist", &again.to_string()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("ok    rollback plan tested: rolled back from v2 in `staging`"), "{stdout}");
    assert_eq!(cluster.audit("deployment.checklist").as_array().unwrap().len(), 4, "one per finished deployment");
}
