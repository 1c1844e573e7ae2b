//! The console's HTML, built from the API's JSON answers. Every value passes through
//! `html-escape` before it reaches the page.

use std::collections::HashMap;
use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde_json::Value;

use super::Session;
use crate::auth::{Caller, Permission};
use crate::record::{kinds, status};

pub const CSS: &str = r#"
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --accent: #0b57d0; --bad: #a50e0e; --good: #146c2e; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: #fff; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header nav a { margin-right: 1rem; }
header .who { margin-left: auto; color: var(--muted); }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td code { word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; max-width: 40rem; }
.table-wrap { overflow-x: auto; }
section { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
ol.timeline { list-style: none; padding: 0; }
ol.timeline li { padding: .35rem 0 .35rem .75rem; border-left: 4px solid var(--line); margin-bottom: .25rem; }
ol.timeline li.done { border-color: var(--good); }
ol.timeline li.running { border-color: var(--accent); }
ol.timeline li.failed { border-color: var(--bad); }
.state { font-weight: 600; }
.message { padding: .5rem .75rem; border: 1px solid var(--accent); border-radius: 6px; }
form.action { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0; }
label { display: block; font-weight: 600; }
input[type=text], input[type=password] { font: inherit; padding: .4rem; border: 1px solid var(--muted); border-radius: 4px; min-width: 16rem; max-width: 100%; }
button { font: inherit; padding: .4rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
button.plain { background: #fff; color: var(--accent); }
.weights { display: flex; gap: 1rem; flex-wrap: wrap; }
.weight { font-variant-numeric: tabular-nums; }
@media (max-width: 40rem) { input[type=text], input[type=password] { min-width: 0; width: 100%; } header .who { margin-left: 0; } }
"#;

/// Confirms every action form, and on the deployment page re-renders the live part on every
/// event of the deployment's stream.
pub const JS: &str = r#"
document.addEventListener('submit', (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
const live = document.getElementById('live');
if (live && live.dataset.stream) {
  const source = new EventSource(live.dataset.stream);
  let pending = false;
  let last = live.dataset.rendered;
  const refresh = async () => {
    if (pending) return;
    pending = true;
    try {
      const answer = await fetch(live.dataset.fragment, { credentials: 'same-origin' });
      const html = answer.ok ? await answer.text() : last;
      // Only a change replaces the part: a replay of old events keeps buttons and typed reasons.
      if (html !== last) { last = html; live.innerHTML = html; }
    } finally { pending = false; }
  };
  for (const kind of JSON.parse(live.dataset.kinds)) source.addEventListener(kind, refresh);
  source.onerror = () => { refresh(); };
}
"#;

/// Who is signed in, and what the pages may offer them.
pub struct Who {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
    caller: Caller,
}

impl Who {
    pub fn of(session: &Session) -> Who {
        Who {
            name: session.caller.name.clone(),
            role: session.caller.role.name(),
            csrf: session.csrf.clone(),
            caller: session.caller.clone(),
        }
    }

    fn may(&self, permission: Permission, environment: &str) -> bool {
        self.caller.may(permission, Some(environment)).is_ok()
    }
}

fn page(title: &str, who: Option<&Who>, body: &str) -> String {
    let header = match who {
        Some(who) => format!(
            r#"<header><strong>shipgate</strong><nav aria-label="Main"><a href="/environments">Environments</a><a href="/releases">Releases</a></nav>
<span class="who">Signed in as {} ({})</span>
<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{}"><button class="plain" type="submit">Sign out</button></form></header>"#,
            text(&who.name),
            text(who.role),
            attr(&who.csrf)
        ),
        None => "<header><strong>shipgate</strong></header>".to_owned(),
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · shipgate</title><link rel="stylesheet" href="/console.css"></head>
<body>{header}<main>{body}</main><script src="/console.js" defer></script></body></html>"#,
        text(title)
    )
}

fn message(message: Option<&str>) -> String {
    message.map(|message| format!(r#"<p class="message" role="status">{}</p>"#, text(message))).unwrap_or_default()
}

pub fn sign_in(csrf: &str, note: Option<&str>) -> String {
    let body = format!(
        r#"<h1>Sign in</h1>{}
<form method="post" action="/sign-in"><input type="hidden" name="csrf" value="{}">
<label for="token">API token</label>
<p id="token-help">The token the server printed at its first start, or one an admin made with <code>shipgate token create</code>.</p>
<input id="token" name="token" type="password" autocomplete="off" required aria-describedby="token-help">
<p><button type="submit">Sign in</button></p></form>"#,
        message(note),
        attr(csrf)
    );
    page("Sign in", None, &body)
}

pub fn error(who: &Who, answer: &Value) -> String {
    let body = format!(
        r#"<h1>Error</h1><p class="message" role="alert">{}</p><p>{}</p>"#,
        text(answer["message"].as_str().unwrap_or("the request failed")),
        text(answer["hint"].as_str().unwrap_or(""))
    );
    page("Error", Some(who), &body)
}

fn weights(weights: &Value) -> String {
    let items: Vec<String> = weights
        .as_array()
        .into_iter()
        .flatten()
        .map(|weight| {
            format!(
                r#"<span class="weight" data-version="{}">{}: {}%</span>"#,
                attr(&plain(&weight["version"])),
                text(&plain(&weight["version"])),
                text(&weight["weight"].as_f64().map(|weight| weight.to_string()).unwrap_or_default())
            )
        })
        .collect();
    if items.is_empty() {
        "<p>No traffic routed.</p>".to_owned()
    } else {
        format!(r#"<div class="weights" id="weights" aria-label="Traffic weights">{}</div>"#, items.join(""))
    }
}

/// A JSON value as text: strings unquoted, null empty.
fn plain(value: &Value) -> String {
    match value {
        Value::String(string) => string.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn environments(who: &Who, list: &Value, recent: &HashMap<String, Value>) -> String {
    let mut body = String::from("<h1>Environments</h1>");
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        body.push_str("<p>No environment yet: create a release with <code>shipgate release create</code>.</p>");
    }
    for env in &list {
        let name = plain(&env["name"]);
        let active = &env["active"];
        let _ = write!(
            body,
            r#"<section aria-labelledby="env-{0}"><h2 id="env-{0}">{1}</h2><p>Active release: <strong>{2}</strong></p>{3}"#,
            attr(&name),
            text(&name),
            text(&if active.is_null() { "none".to_owned() } else { plain(&active["version"]) }),
            weights(&env["weights"])
        );
        let deployment = &env["deployment"];
        if !deployment.is_null() {
            let _ = write!(
                body,
                r#"<p>In flight: <a href="/deployments/{0}">deployment {0}</a> of {1}, {2}</p>"#,
                text(&plain(&deployment["id"])),
                text(&plain(&deployment["version"])),
                text(&plain(&deployment["status"]))
            );
        }
        body.push_str(
            r#"<h3>Instances</h3><div class="table-wrap"><table><thead><tr><th scope="col">Instance</th><th scope="col">Version</th><th scope="col">State</th><th scope="col">Health</th></tr></thead><tbody>"#,
        );
        for instance in env["instances"].as_array().into_iter().flatten() {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&plain(&instance["id"])),
                text(&plain(&instance["version"])),
                text(&plain(&instance["state"])),
                if instance["live"] == true { "healthy" } else { "not live" }
            );
        }
        body.push_str("</tbody></table></div><h3>Recent deployments</h3><ul>");
        for deployment in recent.get(&name).and_then(Value::as_array).into_iter().flatten() {
            let _ = write!(
                body,
                r#"<li><a href="/deployments/{0}">Deployment {0}</a>: {1}, {2}</li>"#,
                text(&plain(&deployment["id"])),
                text(&plain(&deployment["version"])),
                text(&plain(&deployment["status"]))
            );
        }
        body.push_str("</ul></section>");
    }
    let _ = who;
    page("Environments", Some(who), &body)
}

/// A release's signature status in words: verified with which key, invalid and why, or unsigned.
fn signature(release: &Value) -> String {
    let check = &release["signature"]["check"];
    match check["status"].as_str() {
        Some("verified") => format!("verified (key {})", plain(&check["key_id"])),
        Some("invalid") => format!("invalid: {}", plain(&check["reason"])),
        _ => "unsigned".to_owned(),
    }
}

pub fn releases(who: &Who, list: &Value) -> String {
    let mut body = String::from(
        r#"<h1>Releases</h1><div class="table-wrap"><table><thead><tr><th scope="col">Version</th><th scope="col">Digest</th><th scope="col">Signature</th><th scope="col">Created</th><th scope="col">Evidence</th></tr></thead><tbody>"#,
    );
    // Newest first.
    for release in list.as_array().into_iter().flatten().rev() {
        let evidence = match &release["evidence"] {
            Value::Null => "none".to_owned(),
            evidence => serde_json::to_string_pretty(evidence).unwrap_or_default(),
        };
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} by {}</td><td><details><summary>Show</summary><pre>{}</pre></details></td></tr>"#,
            text(&plain(&release["version"])),
            text(&plain(&release["digest"])),
            text(&signature(release)),
            text(&plain(&release["created"])),
            text(&plain(&release["creator"])),
            text(&evidence)
        );
    }
    body.push_str("</tbody></table></div>");
    page("Releases", Some(who), &body)
}

pub fn deployment(who: &Who, deployment: &Value, environment: &Value, note: Option<&str>) -> String {
    let id = plain(&deployment["id"]);
    let kinds: Vec<&str> = vec![
        kinds::CREATED,
        kinds::STEP_STARTED,
        kinds::STEP_DONE,
        kinds::STEP_FAILED,
        kinds::PROGRESS,
        kinds::PAUSED,
        kinds::RESUMED,
        kinds::ROLLING_BACK,
        kinds::APPROVED,
        kinds::CHECKLIST,
        status::SUCCEEDED,
        status::ROLLED_BACK,
        status::FAILED,
        status::ABORTED,
        status::REJECTED,
    ];
    let live = deployment_live(who, deployment, environment);
    let body = format!(
        r#"<h1>Deployment {0}</h1>{1}
<div id="live" aria-live="polite" data-stream="/deployments/{0}/events" data-fragment="/deployments/{0}/live" data-kinds="{2}" data-rendered="{4}">{3}</div>"#,
        text(&id),
        message(note),
        attr(&serde_json::json!(kinds).to_string()),
        live,
        attr(&live)
    );
    page(&format!("Deployment {id}"), Some(who), &body)
}

/// The part of the deployment page that changes: status, weights, timeline and buttons.
pub fn deployment_live(who: &Who, deployment: &Value, environment: &Value) -> String {
    let id = plain(&deployment["id"]);
    let env = plain(&deployment["environment"]);
    let state = plain(&deployment["status"]);
    let mut body = format!(
        r#"<section><p>Release <strong>{}</strong> to <strong>{}</strong> (from {}), started by {}.</p>
<p>Status: <strong class="state" id="status">{}</strong>{}</p><h2>Traffic</h2>{}</section>"#,
        text(&plain(&deployment["version"])),
        text(&env),
        text(&if deployment["from_version"].is_null() {
            "nothing".to_owned()
        } else {
            plain(&deployment["from_version"])
        }),
        text(&plain(&deployment["actor"])),
        text(&state),
        deployment["reason"].as_str().map(|reason| format!(" — {}", text(reason))).unwrap_or_default(),
        weights(&environment["weights"])
    );
    body.push_str(r#"<section><h2>Steps</h2><ol class="timeline" id="timeline">"#);
    for step in deployment["steps"].as_array().into_iter().flatten() {
        let step_state = plain(&step["state"]);
        let _ = write!(
            body,
            r#"<li class="{}"><span class="state">{}</span> {}{}</li>"#,
            attr(&step_state),
            text(&step_state),
            text(&plain(&step["description"])),
            step["detail"].as_str().map(|detail| format!("<br><small>{}</small>", text(detail))).unwrap_or_default()
        );
    }
    body.push_str("</ol></section>");
    let mut actions = String::new();
    if state == status::AWAITING_APPROVAL && who.may(Permission::Approve, &env) {
        actions.push_str(&action_form(
            who,
            &id,
            "approve",
            "Approve",
            "Comment (optional)",
            "",
            "Approve this deployment?",
        ));
        actions.push_str(&action_form(
            who,
            &id,
            "reject",
            "Reject",
            "Reason (required)",
            "danger",
            "Reject this deployment? It ends it.",
        ));
    }
    if state == status::PAUSED && who.may(Permission::Deploy, &env) {
        actions.push_str(&action_form(
            who,
            &id,
            "resume",
            "Resume",
            "",
            "",
            "Resume this deployment? Its next steps run.",
        ));
    }
    if !status::is_final(&state) && who.may(Permission::Deploy, &env) {
        actions.push_str(&action_form(
            who,
            &id,
            "abort",
            "Abort",
            "Reason (optional)",
            "danger",
            "Abort this deployment? Traffic returns to the previous release.",
        ));
    }
    if !actions.is_empty() {
        let _ = write!(body, r#"<section id="actions"><h2>Actions</h2>{actions}</section>"#);
    }
    body
}

fn action_form(who: &Who, id: &str, action: &str, label: &str, reason: &str, class: &str, confirm: &str) -> String {
    // The API asks a reason for a rejection; resume takes none.
    let required = if action == "reject" { " required" } else { "" };
    let reason_field = if reason.is_empty() {
        String::new()
    } else {
        format!(
            r#"<div><label for="{0}-reason">{1}</label><input type="text" id="{0}-reason" name="reason"{required}></div>"#,
            attr(action),
            text(reason)
        )
    };
    format!(
        r#"<form class="action" method="post" action="/deployments/{0}/{1}" data-confirm="{2}">
<input type="hidden" name="csrf" value="{3}">{4}
<button type="submit" class="{5}" id="{1}-button">{6}</button></form>"#,
        attr(id),
        attr(action),
        attr(confirm),
        attr(&who.csrf),
        reason_field,
        attr(class),
        text(label),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::Role;

    fn who(role: Role, environments: Option<Vec<String>>) -> Who {
        Who {
            name: "<b>someone</b>".to_owned(),
            role: role.name(),
            csrf: "c5rf".to_owned(),
            caller: Caller { token_id: "tok_1".to_owned(), name: "someone".to_owned(), role, environments },
        }
    }

    /// Which buttons each role sees on a deployment in each status.
    #[test]
    fn the_buttons_follow_the_role_and_the_status() {
        let staging_only = Some(vec!["staging".to_owned()]);
        let cases = [
            (Role::Viewer, None, "awaiting_approval", &[][..]),
            (Role::Viewer, None, "running", &[][..]),
            (Role::Approver, None, "awaiting_approval", &["approve", "reject"][..]),
            (Role::Approver, None, "running", &[][..]),
            (Role::Deployer, None, "awaiting_approval", &["abort"][..]),
            (Role::Deployer, None, "running", &["abort"][..]),
            (Role::Deployer, None, "succeeded", &[][..]),
            (Role::Deployer, None, "paused", &["resume", "abort"][..]),
            (Role::Approver, None, "paused", &[][..]),
            (Role::Admin, None, "awaiting_approval", &["approve", "reject", "abort"][..]),
            (Role::Admin, staging_only.clone(), "running", &["abort"][..]),
            (Role::Admin, Some(vec!["production".to_owned()]), "running", &[][..]),
        ];
        for (role, environments, state, expected) in cases {
            let deployment = json!({"id": 7, "environment": "staging", "version": "v2", "status": state, "steps": []});
            let html = deployment_live(&who(role, environments.clone()), &deployment, &json!({"weights": []}));
            for action in ["approve", "reject", "resume", "abort"] {
                assert_eq!(
                    html.contains(&format!("action=\"/deployments/7/{action}\"")),
                    expected.contains(&action),
                    "{role:?} {environments:?} on a {state} deployment, {action}:\n{html}"
                );
            }
        }
    }

    #[test]
    fn values_from_the_api_are_escaped() {
        let deployment = json!({"id": 1, "environment": "staging", "version": "<script>alert(1)</script>",
                                "status": "running", "reason": "a \"quoted\" <reason>", "steps": [
                                    {"state": "done", "description": "<img src=x>", "detail": "<i>"}]});
        let html = deployment_live(
            &who(Role::Viewer, None),
            &deployment,
            &json!({"weights": [
            {"version": "\"><script>", "weight": 10.0}]}),
        );
        for raw in ["<script>", "<img", "<i>", "<reason>"] {
            assert!(!html.contains(raw), "`{raw}` is not escaped:\n{html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(page("t", Some(&who(Role::Viewer, None)), "").contains("&lt;b&gt;someone&lt;/b&gt;"));
    }
}
