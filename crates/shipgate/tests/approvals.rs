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

fn time(value: &Value) -> jiff::Timestamp {
    value.as_str().unwrap().parse().unwrap()
}

/// Approvals: two approvers needed, one of them `role:approver`, no wait.
fn two_approvers(cluster: &Cluster) -> String {
    format!(
        "[environments.staging]\nlisten = \"{}\"\napprovals = {{ required = 2, from = [\"role:approver\"] }}\n",
        cluster.listen
    )
}

#[test]
fn a_new_plan_supersedes_a_waiting_deployment_and_its_votes_do_not_carry_over() {
    let cluster = Cluster::start(None, 0);
    cluster.release_with("v1", "", &two_approvers(&cluster), &[]);
    cluster.release_with("v2", "", &two_approvers(&cluster), &[]);
    let alice = cluster.token("alice", "approver");
    let bob = cluster.token("bob", "approver");

    let first = cluster.deploy("v1");
    let (status, body) = vote(&cluster, &alice, first, "approve", Some("v1 looks right"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tally"]["approved_by"], json!(["alice"]));

    // Deploying v2 is a different plan: the waiting deployment of v1 is superseded.
    let (status, body) =
        cluster.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v2"})));
    assert_eq!(status, 201, "{body}");
    let second = body["id"].as_u64().unwrap();
    assert_ne!(second, first);
    let outcome = cluster.outcome(first);
    assert_eq!(outcome["status"], "aborted", "{outcome:#}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(reason.contains("superseded") && reason.contains("v2"), "{reason}");
    let created = &cluster.events_json(second)[0];
    assert_eq!(created["data"]["supersedes"], json!(first), "{created:#}");

    // alice's approval was for v1's plan: it does not count for v2, and v1 takes no more votes.
    let (status, body) = vote(&cluster, &bob, second, "approve", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tally"]["approved_by"], json!(["bob"]), "{body}");
    let (status, body) = vote(&cluster, &alice, first, "approve", None);
    assert_eq!((status, body["code"].as_str()), (409, Some("not_awaiting_approval")), "{body}");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(status_of(&cluster, second)["status"], "awaiting_approval", "bob alone is one of two");
    assert_eq!(cluster.live_instances("v2") + cluster.live_instances("v1"), 0);

    // The same plan again supersedes nothing: the environment is busy.
    let (status, body) =
        cluster.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": "v2"})));
    assert_eq!((status, body["code"].as_str()), (409, Some("deployment_in_progress")), "{body}");

    let (status, body) = vote(&cluster, &alice, second, "approve", Some("v2 looks right"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tally"]["approved_by"], json!(["bob", "alice"]), "{body}");
    assert_eq!(cluster.outcome(second)["status"], "succeeded");
    assert_eq!(cluster.answering(), "v2");
    let finished = cluster.audit("deployment.finished");
    let superseded = finished
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["subject"] == format!("deployment/{first}"))
        .unwrap_or_else(|| panic!("no ledger entry for the superseded deployment: {finished:#}"));
    assert!(superseded.to_string().contains("superseded"), "{superseded:#}");
}

#[test]
fn one_name_is_one_person_and_from_limits_who_votes() {
    let cluster = Cluster::start(None, 0);
    cluster.release_with("v1", "", &environments(&cluster), &[]);
    // The author's second token (same name, another role) is still the author.
    let admin_again = cluster.token("admin", "approver");
    let alice = cluster.token("alice", "approver");
    let alice_laptop = cluster.token("alice", "approver");
    let eve = cluster.token("eve", "admin");
    let id = cluster.deploy("v1");

    let (status, body) = vote(&cluster, &admin_again, id, "approve", None);
    assert_eq!((status, body["code"].as_str()), (403, Some("approval_refused")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("SG0705"), "{body}");

    // eve's role (admin) and name are not in `from`: refused, naming what `from` allows.
    let (status, body) = vote(&cluster, &eve, id, "approve", None);
    assert_eq!((status, body["code"].as_str()), (403, Some("approval_refused")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("`role:approver`, `user:admin`") && message.contains("`eve`"), "{message}");

    // alice's two tokens are one person: counted once.
    for token in [&alice, &alice_laptop] {
        let (status, body) = vote(&cluster, token, id, "approve", None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tally"]["approved_by"], json!(["alice"]), "{body}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(status_of(&cluster, id)["status"], "awaiting_approval");
    let refused = cluster.audit("deployment.approval-refused");
    assert_eq!(refused.as_array().unwrap().len(), 2, "{refused:#}");

    // A token's name is an identity: it must be given and sensible.
    let (status, body) =
        cluster.call("POST", "/api/v1/tokens", Some(json!({"name": "alice smith", "role": "approver"})));
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("not ` `"), "{body}");
    let (code, _, stderr) = cluster.cli(&["token", "create", "--role", "viewer"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--name"), "{stderr}");
}

#[test]
fn the_wait_delays_the_start_after_the_last_approval() {
    let cluster = Cluster::start(None, 0);
    let environment = format!(
        "[environments.staging]\nlisten = \"{}\"\napprovals = {{ required = 1, wait = \"2s\" }}\n",
        cluster.listen
    );
    cluster.release_with("v1", "", &environment, &[]);
    let alice = cluster.token("alice", "approver");
    let id = cluster.deploy("v1");
    let (status, body) = vote(&cluster, &alice, id, "approve", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.outcome(id)["status"], "succeeded");

    // From the server's own clock: the vote, then at least 2 s, then the first step and traffic.
    let approved = cluster.audit("deployment.approved");
    let voted = time(&approved[0]["time"]);
    let events = cluster.events(id);
    let first_step = events.iter().find(|event| event["kind"] == "step_started").unwrap();
    let started = time(&first_step["time"]);
    assert!(
        started.duration_since(voted) >= jiff::SignedDuration::from_secs(2),
        "the first step started {:?} after the approval",
        started.duration_since(voted)
    );
    let traffic = events
        .iter()
        .find(|event| event["message"].as_str().is_some_and(|message| message.contains("% of traffic")))
        .or_else(|| events.iter().find(|event| event["kind"] == "succeeded"))
        .unwrap();
    assert!(time(&traffic["time"]).duration_since(voted) >= jiff::SignedDuration::from_secs(2), "{traffic:#}");
}

#[test]
fn votes_expire_when_the_plan_changes_while_the_deployment_waits() {
    let mut cluster = Cluster::start(None, 0);
    cluster.release_with("v1", "", &two_approvers(&cluster), &[]);
    cluster.release_with("v2", "", &two_approvers(&cluster), &[]);
    let alice = cluster.token("alice", "approver");
    let bob = cluster.token("bob", "approver");
    let first = cluster.deploy("v1");
    for token in [&alice, &bob] {
        assert_eq!(vote(&cluster, token, first, "approve", None).0, 200);
    }
    assert_eq!(cluster.outcome(first)["status"], "succeeded");

    // alice approves v2's plan (from v1); then the environment's state changes underneath it
    // (here: a database restored from before v1), so the plan it would run is another one.
    let second = cluster.deploy("v2");
    assert_eq!(vote(&cluster, &alice, second, "approve", None).0, 200);
    let planned = status_of(&cluster, second)["plan_digest"].clone();
    cluster.kill_server();
    let sql = "UPDATE environments SET active_version = NULL, previous_version = NULL WHERE name = 'staging'";
    let output = std::process::Command::new("sqlite3").arg(cluster.path("data/shipgate.db")).arg(sql).output().unwrap();
    assert!(output.status.success(), "sqlite3: {}", String::from_utf8_lossy(&output.stderr));
    cluster.start_server();

    // The resumed executor makes the plan again: another digest, so alice's vote expired.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let expired = loop {
        let events = cluster.events_json(second);
        if let Some(event) = events.iter().find(|event| event["kind"] == "approvals_expired") {
            break event.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no approvals_expired event: {events:#?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(expired["data"]["expired"], json!(["alice"]), "{expired:#}");
    let now = status_of(&cluster, second);
    assert_ne!(now["plan_digest"], planned, "{now:#}");
    assert_eq!(now["status"], "awaiting_approval", "{now:#}");
    assert_eq!(cluster.audit("deployment.approvals-expired").as_array().map(Vec::len), Some(1));

    // bob's vote is for the new plan; alice's old one does not count until she votes again.
    let (status, body) = vote(&cluster, &bob, second, "approve", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tally"]["approved_by"], json!(["bob"]), "{body}");
    assert_eq!(body["tally"]["expired"], json!(["alice"]), "{body}");
    let (status, body) = vote(&cluster, &alice, second, "approve", Some("looked at the new plan"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.outcome(second)["status"], "succeeded");
    assert_eq!(cluster.answering(), "v2");
}
