//! Approvals end to end over the real API and CLI: a deployment waits in `awaiting_approval`
//! until two distinct approvers approved it (each counted once however often they vote), its
//! author is refused, a rejection ends it, and every vote is in the audit ledger.

#![allow(clippy::unwrap_used)]

mod common;

use common::cluster::Cluster;
use serde_json::{Value, json};

/// `staging` needing two approvals from approvers (or the `admin` token by name), with a short
/// wait after the last one.
fn environments(cluster: &Cluster) -> String {
    format!(
        "[environments.staging]\nlisten = \"{}\"\n\
         approvals = {{ required = 2, from = [\"role:approver\", \"user:admin\"], wait = \"1s\" }}\n",
        cluster.listen
    )
}

fn status_of(cluster: &Cluster, id: u64) -> Value {
    cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1
}

fn vote(cluster: &Cluster, token: &str, id: u64, verb: &str, comment: Option<&str>) -> (u16, Value) {
    cluster.call_as(token, "POST", &format!("/api/v1/deployments/{id}/{verb}"), Some(json!({"comment": comment})))
}

#[test]
fn two_distinct_approvers_are_needed_and_the_author_is_refused() {
    let cluster = Cluster::start(None, 0);
    cluster.release_with("v1", "", &environments(&cluster), &[]);
    let alice = cluster.token("alice", "approver");
    let carol = cluster.token("carol", "approver");
    let ci = cluster.token("ci", "deployer");

    // The admin token (named `admin`) starts the deployment: it is the author.
    let id = cluster.deploy("v1");
    assert_eq!(status_of(&cluster, id)["status"], "awaiting_approval");

    // The author is named in `from`, yet may not approve their own deployment.
    let (status, body) = vote(&cluster, &cluster.token, id, "approve", None);
    assert_eq!((status, body["code"].as_str()), (403, Some("approval_refused")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("SG0705"), "{body}");
    // A deployer lacks the permission altogether.
    let (status, body) = vote(&cluster, &ci, id, "approve", None);
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("lacks the `approve` permission"), "{body}");

    // alice approves twice: she counts once.
    for _ in 0..2 {
        let (status, body) = vote(&cluster, &alice, id, "approve", Some("looked at the plan"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tally"]["approved_by"], json!(["alice"]), "{body}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(status_of(&cluster, id)["status"], "awaiting_approval", "one approver is not two");
    assert_eq!(cluster.live_instances("v1"), 0, "nothing starts before approval");

    // carol approves through the CLI: two distinct approvers, and after the wait it runs.
    let (code, stdout, stderr) = cluster.cli_as(&carol, &["approve", &id.to_string(), "--comment", "ship it"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 of 2 approval(s) (alice, carol)"), "{stdout}");
    let outcome = cluster.outcome(id);
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");
    assert_eq!(cluster.answering(), "v1");

    let events: Vec<String> =
        cluster.events(id).iter().filter_map(|event| event["message"].as_str().map(String::from)).collect();
    assert!(events.iter().any(|message| message.contains("starts in")), "the wait is announced: {events:?}");
    assert!(events.iter().any(|message| message == "approved by alice, carol"), "{events:?}");
    let approved = cluster.audit("deployment.approved");
    assert_eq!(approved.as_array().unwrap().len(), 3, "every vote is recorded: {approved:#}");
    assert_eq!(cluster.audit("deployment.approval-refused").as_array().unwrap().len(), 1);
    assert_eq!(cluster.audit("deployment.approvals-complete").as_array().unwrap().len(), 1);
}

#[test]
fn a_rejection_ends_the_deployment_and_needs_a_reason() {
    let cluster = Cluster::start(None, 0);
    cluster.release_with("v1", "", &environments(&cluster), &[]);
    let alice = cluster.token("alice", "approver");
    let id = cluster.deploy("v1");

    let (status, body) = vote(&cluster, &alice, id, "reject", None);
    assert_eq!((status, body["code"].as_str()), (400, Some("comment_required")), "{body}");
    let (code, _, stderr) =
        cluster.cli_as(&alice, &["reject", &id.to_string(), "--comment", "the migration locks orders"]);
    assert_eq!(code, 0, "{stderr}");
    let outcome = cluster.outcome(id);
    assert_eq!(outcome["status"], "rejected", "{outcome:#}");
    assert_eq!(outcome["reason"], "rejected by alice: the migration locks orders");
    assert_eq!(cluster.live_instances("v1"), 0);

    // A finished deployment takes no more votes, and the environment is free again.
    let (status, body) = vote(&cluster, &alice, id, "approve", None);
    assert_eq!((status, body["code"].as_str()), (409, Some("not_awaiting_approval")), "{body}");
    let second = cluster.deploy("v1");
    assert_eq!(status_of(&cluster, second)["status"], "awaiting_approval");
}
