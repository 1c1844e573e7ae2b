//! Approvals: a deployment to an environment that declares `approvals = { required = N, … }`
//! waits in `awaiting_approval` until N distinct approvers allowed by `from` approved the plan
//! it will run, then (after the optional `wait`) it starts. One rejection ends it.
//!
//! Votes are records (`kind = "approval"`, `scope` = the deployment's id, `name` = the voter), so
//! a voter who votes twice has one current vote and is counted once; each vote names the plan
//! digest it approved, and votes for another plan do not count (they expire when the plan
//! changes). Every vote is a ledger entry in the same transaction as its record.
//!
//! The tally is a pure function; the API handlers and the executor's wait are the edges.

use serde::{Deserialize, Serialize};
use shipgate_spec::{Approvals, Approver};
use shipgate_store::RecordRow;

use crate::auth::{Caller, Role};

/// The record kind of votes.
pub const RECORD_KIND: &str = "approval";

/// One voter's current decision on one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub decision: Decision,
    pub comment: Option<String>,
    /// The plan the voter saw.
    pub plan_digest: String,
    /// The voter's role when they voted.
    pub role: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// Where a deployment's approvals stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub required: u32,
    /// Distinct voters whose approval of the current plan counts, in the order they voted.
    pub approved_by: Vec<String>,
    /// When the last counted approval was given (RFC 3339); `None` until one counts.
    pub last_approval: Option<String>,
    /// The first rejection of the current plan: who, and their comment.
    pub rejected_by: Option<(String, Option<String>)>,
    /// Approvals of an earlier plan, which no longer count.
    pub expired: Vec<String>,
}

impl Tally {
    pub fn complete(&self) -> bool {
        self.rejected_by.is_none() && self.approved_by.len() >= self.required as usize
    }
}

/// Counts the current votes (`records`, newest version per voter) on a deployment whose plan has
/// digest `plan_digest`.
pub fn tally(rules: &Approvals, records: &[RecordRow], plan_digest: &str) -> Tally {
    let mut votes: Vec<(&RecordRow, Vote)> = records
        .iter()
        .filter_map(|row| Some((row, serde_json::from_str::<Vote>(row.value.as_deref()?).ok()?)))
        .collect();
    votes.sort_by(|(a, _), (b, _)| a.created.cmp(&b.created));
    let mut tally = Tally {
        required: rules.required,
        approved_by: Vec::new(),
        last_approval: None,
        rejected_by: None,
        expired: Vec::new(),
    };
    for (row, vote) in votes {
        if vote.plan_digest != plan_digest {
            tally.expired.push(row.name.clone());
            continue;
        }
        match vote.decision {
            Decision::Approve => {
                tally.approved_by.push(row.name.clone());
                tally.last_approval = Some(row.created.clone());
            }
            Decision::Reject => {
                tally.rejected_by.get_or_insert((row.name.clone(), vote.comment.clone()));
            }
        }
    }
    tally
}

/// Whether `caller` may vote on a deployment by `author` to an environment with these rules.
/// The author never approves a production deployment, and elsewhere only with
/// `self_approval = true`; `from`, when given, names the roles and users whose votes count.
pub fn may_vote(
    rules: &Approvals,
    production: bool,
    caller: &Caller,
    author: &str,
    decision: Decision,
) -> Result<(), String> {
    if decision == Decision::Approve && caller.name == author && (production || !rules.self_approval) {
        return Err(format!(
            "`{author}` started this deployment and cannot approve it (SG0705 self-approval): approval means someone else looked"
        ));
    }
    if rules.from.is_empty() || rules.from.iter().any(|approver| matches(approver, caller)) {
        return Ok(());
    }
    let allowed: Vec<String> = rules.from.iter().map(describe).collect();
    Err(format!(
        "votes on this environment come from {}; token `{}` (role `{}`) is none of them",
        allowed.join(", "),
        caller.name,
        caller.role.name()
    ))
}

fn matches(approver: &Approver, caller: &Caller) -> bool {
    match approver {
        Approver::User(name) => *name == caller.name,
        Approver::Role(role) => role_name(*role) == caller.role.name(),
    }
}

fn describe(approver: &Approver) -> String {
    match approver {
        Approver::User(name) => format!("`user:{name}`"),
        Approver::Role(role) => format!("`role:{}`", role_name(*role)),
    }
}

fn role_name(role: shipgate_spec::Role) -> &'static str {
    match role {
        shipgate_spec::Role::Viewer => Role::Viewer.name(),
        shipgate_spec::Role::Deployer => Role::Deployer.name(),
        shipgate_spec::Role::Approver => Role::Approver.name(),
        shipgate_spec::Role::Admin => Role::Admin.name(),
    }
}

// ----- the API edge ---------------------------------------------------------------------------

/// `POST /api/v1/deployments/{id}/approve` and `…/reject`: the body.
#[derive(Debug, Default, Deserialize)]
pub struct VoteRequest {
    pub comment: Option<String>,
}

/// Records `caller`'s vote on deployment `id`, with its ledger entry, and answers the tally.
pub async fn vote(
    state: &crate::api::AppState,
    caller: &Caller,
    id: &str,
    decision: Decision,
    comment: Option<String>,
) -> Result<serde_json::Value, crate::api::ApiError> {
    use crate::api::ApiError;
    use axum::http::StatusCode;

    let row = crate::api::find_deployment(state, id).await?;
    if row.status != crate::record::status::AWAITING_APPROVAL {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_awaiting_approval",
            format!("deployment {} is {}, not awaiting approval", row.id, row.status),
        )
        .hint("only a deployment to an environment with `approvals` waits for votes; `shipgate status ENV` shows it"));
    }
    let comment = comment.filter(|text| !text.trim().is_empty());
    if decision == Decision::Reject && comment.is_none() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "comment_required", "a rejection needs a comment")
            .hint("say why, e.g. `shipgate reject 12 --comment \"the migration locks the orders table\"`"));
    }
    let version = row.version.clone();
    let release = crate::api::read(state, move |reader| reader.release(&version)).await?;
    let spec = release.and_then(|release| shipgate_spec::parse_str(&release.spec).ok()).ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "unknown_release", "the deployment's release is unreadable")
    })?;
    let Some(rules) = spec.environments.get(&row.environment).and_then(|env| env.approvals.clone()) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "no_approvals", "the environment declares no approvals"));
    };
    let production = shipgate_policy::is_production(&spec, &row.environment);
    let ledger = state.executor.recorder.ledger.clone();
    if let Err(message) = may_vote(&rules, production, caller, &row.actor, decision) {
        let entry = shipgate_ledger::NewEntry::new(
            caller.name.clone(),
            crate::record::actions::APPROVAL_REFUSED,
            format!("deployment/{}", row.id),
        )
        .env(row.environment.clone())
        .details(serde_json::json!({"decision": decision, "reason": message}));
        state.executor.recorder.blocking(move |_| Ok(ledger.record(entry)?)).await?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "approval_refused", message)
            .hint("ask someone the environment's `approvals.from` names, other than the deployment's author"));
    }
    let vote = Vote {
        decision,
        comment: comment.clone(),
        plan_digest: row.plan_digest.clone(),
        role: caller.role.name().into(),
    };
    let record = RecordRow {
        kind: RECORD_KIND.into(),
        scope: row.id.to_string(),
        name: caller.name.clone(),
        version: 0,
        value: Some(serde_json::to_string(&vote).map_err(ApiError::internal)?),
        actor: caller.name.clone(),
        created: crate::record::now(),
    };
    let action = match decision {
        Decision::Approve => crate::record::actions::APPROVED,
        Decision::Reject => crate::record::actions::REJECTED,
    };
    let entry = shipgate_ledger::NewEntry::new(caller.name.clone(), action, format!("deployment/{}", row.id))
        .env(row.environment.clone())
        .details(serde_json::json!({"version": row.version, "plan_digest": row.plan_digest, "comment": comment}));
    let scope = row.id.to_string();
    let records = state
        .executor
        .recorder
        .blocking(move |recorder| {
            recorder.store.transact(|tx| {
                tx.put_record(&record)?;
                recorder.ledger.append(tx, entry.clone())?;
                Ok::<_, crate::record::RecordError>(tx.records(RECORD_KIND, &scope)?)
            })
        })
        .await?;
    Ok(serde_json::json!({"deployment": row.id, "tally": tally(&rules, &records, &row.plan_digest)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(required: u32, from: Vec<Approver>, self_approval: bool) -> Approvals {
        Approvals { required, from, self_approval, wait: None }
    }

    fn vote(name: &str, decision: Decision, plan: &str, created: &str) -> RecordRow {
        let vote = Vote {
            decision,
            comment: Some(format!("{name} says so")),
            plan_digest: plan.into(),
            role: "approver".into(),
        };
        RecordRow {
            kind: RECORD_KIND.into(),
            scope: "7".into(),
            name: name.into(),
            version: 1,
            value: Some(serde_json::to_string(&vote).unwrap()),
            actor: name.into(),
            created: created.into(),
        }
    }

    fn caller(name: &str, role: Role) -> Caller {
        Caller { token_id: format!("tok_{name}"), name: name.into(), role, environments: None }
    }

    #[test]
    fn two_distinct_approvals_of_the_current_plan_complete_it() {
        let rules = rules(2, Vec::new(), false);
        let one = [vote("bob", Decision::Approve, "p1", "2026-12-01T10:00:00Z")];
        assert!(!tally(&rules, &one, "p1").complete());
        let two = [vote("carol", Decision::Approve, "p1", "2026-12-01T10:05:00Z"), one[0].clone()];
        let result = tally(&rules, &two, "p1");
        assert!(result.complete());
        assert_eq!(result.approved_by, ["bob", "carol"], "in the order they voted");
        assert_eq!(result.last_approval.as_deref(), Some("2026-12-01T10:05:00Z"));
    }

    #[test]
    fn approvals_of_another_plan_expire_and_a_rejection_wins() {
        let rules = rules(1, Vec::new(), false);
        let stale = [vote("bob", Decision::Approve, "old", "2026-12-01T10:00:00Z")];
        let result = tally(&rules, &stale, "new");
        assert!(!result.complete());
        assert_eq!(result.expired, ["bob"]);
        let rejected = [
            vote("bob", Decision::Approve, "new", "2026-12-01T10:00:00Z"),
            vote("carol", Decision::Reject, "new", "2026-12-01T10:01:00Z"),
        ];
        let result = tally(&rules, &rejected, "new");
        assert!(!result.complete(), "one rejection stops it whatever the approvals");
        assert_eq!(result.rejected_by, Some(("carol".into(), Some("carol says so".into()))));
    }

    #[test]
    fn the_author_never_approves_production_and_from_limits_who_votes() {
        let open = rules(1, Vec::new(), true);
        let alice = caller("alice", Role::Approver);
        assert!(may_vote(&open, true, &alice, "alice", Decision::Approve).unwrap_err().contains("SG0705"));
        assert!(may_vote(&open, false, &alice, "alice", Decision::Approve).is_ok(), "self_approval outside production");
        assert!(may_vote(&rules(1, Vec::new(), false), false, &alice, "alice", Decision::Approve).is_err());
        assert!(may_vote(&open, true, &alice, "alice", Decision::Reject).is_ok(), "the author may withdraw it");

        let strict = rules(1, vec![Approver::Role(shipgate_spec::Role::Approver), Approver::User("rm".into())], false);
        assert!(may_vote(&strict, true, &caller("bob", Role::Approver), "alice", Decision::Approve).is_ok());
        assert!(may_vote(&strict, true, &caller("rm", Role::Admin), "alice", Decision::Approve).is_ok());
        let refused = may_vote(&strict, true, &caller("eve", Role::Admin), "alice", Decision::Approve).unwrap_err();
        assert!(refused.contains("`role:approver`, `user:rm`") && refused.contains("`eve`"), "{refused}");
    }
}
