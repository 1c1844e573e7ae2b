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
.skip { position: absolute; left: -10000px; top: .5rem; }
.skip:focus { left: .5rem; z-index: 10; background: #fff; padding: .4rem .75rem; border: 2px solid var(--accent); border-radius: 4px; }
header nav a[aria-current=page] { font-weight: 700; text-decoration-thickness: 3px; }
main:focus { outline: none; }
code { overflow-wrap: anywhere; }
.hint { color: var(--muted); font-size: .9rem; margin: .25rem 0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
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
.verdict { border-width: 2px; }
.verdict.good { border-color: var(--good); }
.verdict.good strong { color: var(--good); }
.verdict.bad { border-color: var(--bad); }
.verdict.bad strong { color: var(--bad); }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .5rem 0; }
form.filters input[type=text] { min-width: 12rem; }
.pager { display: flex; gap: 1rem; flex-wrap: wrap; }
form.action { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0; }
label { display: block; font-weight: 600; }
input[type=text], input[type=password] { font: inherit; padding: .4rem; border: 1px solid var(--muted); border-radius: 4px; min-width: 16rem; max-width: 100%; }
button { font: inherit; padding: .4rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
button.plain { background: #fff; color: var(--accent); }
.weights { display: flex; gap: 1rem; flex-wrap: wrap; }
.weight { font-variant-numeric: tabular-nums; }
@media (max-width: 40rem) {
  input[type=text], input[type=password], form.filters input[type=text] { min-width: 0; width: 100%; }
  form.filters > div, form.action > div { width: 100%; }
  header .who { margin-left: 0; }
  main { padding: .75rem; }
  section { padding: .5rem .75rem; }
  /* Wide tables become one block per row, each cell labelled by its column. */
  table.stack thead { position: absolute; left: -10000px; }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: .35rem 0; }
  table.stack td { display: grid; grid-template-columns: 6.5rem 1fr; gap: .5rem; border: 0; padding: .1rem 0; }
  table.stack td::before { content: attr(data-label); font-weight: 600; }
}
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

/// The main navigation: (title, path). The link of the page shown is marked current.
const NAVIGATION: [(&str, &str); 3] =
    [("Environments", "/environments"), ("Releases", "/releases"), ("Ledger", "/ledger")];

fn page(title: &str, who: Option<&Who>, body: &str) -> String {
    let links: String = NAVIGATION
        .iter()
        .map(|(name, path)| {
            let current = if *name == title { r#" aria-current="page""# } else { "" };
            format!(r#"<a href="{path}"{current}>{name}</a>"#)
        })
        .collect();
    let header = match who {
        Some(who) => format!(
            r#"<header><strong>shipgate</strong><nav aria-label="Main">{links}</nav>
<span class="who">Signed in as {} ({})</span>
<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{}"><button class="plain" type="submit">Sign out</button></form></header>"#,
            text(&who.name),
            text(who.role),
            attr(&who.csrf)
        ),
        None => "<header><strong>shipgate</strong></header>".to_owned(),
    };
    format!(
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · shipgate</title><link rel="stylesheet" href="/console.css"></head>
<body><a class="skip" href="#main">Skip to content</a>{header}<main id="main" tabindex="-1">{body}</main><script src="/console.js" defer></script></body></html>"##,
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

pub fn environments(who: &Who, list: &Value, recent: &HashMap<String, Value>, note: Option<&str>) -> String {
    let mut body = format!("<h1>Environments</h1>{}", message(note));
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
        body.push_str(&rollback_form(who, env));
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
    page("Environments", Some(who), &body)
}

/// The Roll back button of an environment: for a token that may deploy there, when it has a
/// previous release and nothing in flight. It asks a reason and a confirmation.
fn rollback_form(who: &Who, env: &Value) -> String {
    let name = plain(&env["name"]);
    let (Some(active), Some(previous)) = (env["active"]["version"].as_str(), env["previous"]["version"].as_str())
    else {
        return String::new();
    };
    if !env["deployment"].is_null() || active == previous || !who.may(Permission::Deploy, &name) {
        return String::new();
    }
    format!(
        r#"<h3>Roll back</h3><form class="action" method="post" action="/environments/{0}/rollback" data-confirm="{1}">
<input type="hidden" name="csrf" value="{2}">
<div><label for="rollback-reason-{3}">Reason (required)</label><input type="text" id="rollback-reason-{3}" name="reason" required aria-describedby="rollback-help-{3}"></div>
<button type="submit" class="danger" id="rollback-button-{3}">Roll back to {4}</button></form>
<p class="hint" id="rollback-help-{3}">Traffic returns to {4} in one routing change while its instances still run; otherwise {4} starts again. The reason goes to the audit ledger.</p>"#,
        attr(&super::urlencode(&name)),
        attr(&format!("Roll back {name} from {active} to {previous}?")),
        attr(&who.csrf),
        attr(&name),
        text(previous),
    )
}

/// The ledger page: the verification's verdict when one just ran, the filter form, the
/// entries (newest first) or why the filter was refused, and the checkpoint download.
pub fn ledger(
    who: &Who,
    query: &crate::ledger_api::ListQuery,
    entries: &Result<Value, String>,
    verdict: Option<&Value>,
) -> String {
    let mut body = String::from("<h1>Audit ledger</h1>");
    if let Some(verdict) = verdict {
        body.push_str(&verification(verdict));
    }
    let field = |value: &Option<String>| attr(value.as_deref().unwrap_or("")).into_owned();
    let _ = write!(
        body,
        r#"<section aria-labelledby="integrity"><h2 id="integrity">Integrity</h2>
<p>Verify recomputes every entry's hash and the Merkle tree, and checks every stored checkpoint's signature, as <code>shipgate audit verify</code> does.</p>
<form class="action" method="post" action="/ledger/verify"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" id="verify-button">Verify the ledger</button></form>
<p><a href="/ledger/checkpoint" id="checkpoint-link" download>Download the current signed checkpoint</a></p>
<p class="hint">Keep it where this server cannot rewrite it; later, <code>shipgate audit verify --checkpoint FILE</code> proves the ledger still holds everything it covered.</p></section>
<section aria-labelledby="entries"><h2 id="entries">Entries</h2>
<form class="filters" method="get" action="/ledger" role="search" aria-label="Filter entries">
<div><label for="filter-action">Action</label><input type="text" id="filter-action" name="action" value="{action}" aria-describedby="filter-help"></div>
<div><label for="filter-actor">Actor</label><input type="text" id="filter-actor" name="actor" value="{actor}"></div>
<div><label for="filter-subject">Subject</label><input type="text" id="filter-subject" name="subject" value="{subject}" aria-describedby="filter-help"></div>
<div><button type="submit" id="filter-button">Filter</button></div></form>
<p class="hint" id="filter-help">Blank fields match everything. Action and subject match exactly (<code>deployment/12</code>), or by prefix with a trailing <code>*</code> (<code>deployment.*</code>, <code>token/*</code>). Newest first.</p>"#,
        csrf = attr(&who.csrf),
        action = field(&query.action),
        actor = field(&query.actor),
        subject = field(&query.subject),
    );
    match entries {
        Err(refused) => {
            let _ = write!(body, r#"<p class="message" role="alert">The filter was refused: {}</p>"#, text(refused));
        }
        Ok(answer) => body.push_str(&entries_table(query, answer)),
    }
    body.push_str("</section>");
    page("Ledger", Some(who), &body)
}

fn entries_table(query: &crate::ledger_api::ListQuery, answer: &Value) -> String {
    let list = answer["entries"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return r#"<p id="no-entries">No entry matches.</p>"#.to_owned();
    }
    let mut body = String::from(
        r#"<div class="table-wrap"><table id="ledger-entries" class="stack"><thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Subject</th><th scope="col">Environment</th><th scope="col">Details</th></tr></thead><tbody>"#,
    );
    for entry in &list {
        let details = match &entry["details"] {
            Value::Object(map) if map.is_empty() => String::new(),
            details => format!(
                r#"<details><summary>Show<span class="visually-hidden"> the details of entry {}</span></summary><pre>{}</pre></details>"#,
                text(&plain(&entry["seq"])),
                text(&serde_json::to_string_pretty(details).unwrap_or_default())
            ),
        };
        let _ = write!(
            body,
            r#"<tr><td data-label="Seq">{}</td><td data-label="Time">{}</td><td data-label="Actor">{}</td><td data-label="Action">{}</td><td data-label="Subject">{}</td><td data-label="Environment">{}</td><td data-label="Details">{details}</td></tr>"#,
            text(&plain(&entry["seq"])),
            text(&plain(&entry["time"])),
            text(&plain(&entry["actor"])),
            text(&plain(&entry["action"])),
            text(&plain(&entry["subject"])),
            text(&entry["env"].as_str().map_or_else(|| "—".to_owned(), str::to_owned)),
        );
    }
    body.push_str("</tbody></table></div>");
    if let Some(before) = answer["next_before"].as_u64() {
        let older = crate::ledger_api::ListQuery {
            action: query.action.clone(),
            actor: query.actor.clone(),
            subject: query.subject.clone(),
            env: query.env.clone(),
            limit: query.limit.clone(),
            before: Some(before.to_string()),
        };
        let _ = write!(
            body,
            r#"<p class="pager"><a href="/ledger?{}" id="older">Older entries</a></p>"#,
            attr(&super::ledger_query_string(&older))
        );
    }
    body
}

/// The verdict of a verification (the API's answer), stated plainly.
pub fn verification(verdict: &Value) -> String {
    if verdict["ok"] == true {
        let size = verdict["entries"].as_u64().unwrap_or(0);
        let signed = verdict["signed_entries"].as_u64().unwrap_or(0);
        let coverage = if signed >= size {
            "every entry is covered by a signed checkpoint".to_owned()
        } else {
            format!("entries {}–{size} are not yet covered by a signed checkpoint", signed + 1)
        };
        format!(
            r#"<section class="message verdict good" id="verification" role="status"><h2>Verification</h2>
<p><strong>ok</strong>: {size} {noun} verified, root <code>{root}</code>.</p>
<p>{checkpoints} stored checkpoint{plural} checked; {coverage}.</p></section>"#,
            noun = if size == 1 { "entry" } else { "entries" },
            root = text(&plain(&verdict["root"])),
            checkpoints = verdict["stored_checkpoints"].as_u64().unwrap_or(0),
            plural = if verdict["stored_checkpoints"] == 1 { "" } else { "s" },
        )
    } else {
        let problem = &verdict["problem"];
        let at = match (problem["seq"].as_u64(), problem["checkpoint"].as_str()) {
            (Some(seq), _) => format!("<p>First entry found wrong: {seq}.</p>"),
            (None, Some(checkpoint)) => format!("<p>Checkpoint involved: {}.</p>", text(checkpoint)),
            (None, None) => String::new(),
        };
        format!(
            r#"<section class="message verdict bad" id="verification" role="alert"><h2>Verification</h2>
<p><strong>failed</strong>: {}</p>{at}
<p>Treat the ledger as tampered with or damaged: keep this database as it is for investigation, and compare it with your backups, exports and the checkpoints you kept elsewhere.</p></section>"#,
            text(problem["message"].as_str().unwrap_or("the ledger did not verify")),
        )
    }
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

    /// Who sees the Roll back button on the environments page.
    #[test]
    fn the_rollback_button_follows_the_role_the_scope_and_the_environment() {
        let env = |previous: Value, deployment: Value| {
            json!({"name": "staging", "active": {"version": "v2"}, "previous": previous, "deployment": deployment,
                   "weights": [], "instances": []})
        };
        let warm = json!({"version": "v1", "warm_until": null});
        let cases = [
            (Role::Viewer, None, env(warm.clone(), Value::Null), false),
            (Role::Approver, None, env(warm.clone(), Value::Null), false),
            (Role::Deployer, None, env(warm.clone(), Value::Null), true),
            (Role::Admin, None, env(warm.clone(), Value::Null), true),
            (Role::Deployer, Some(vec!["production".to_owned()]), env(warm.clone(), Value::Null), false),
            (Role::Deployer, Some(vec!["staging".to_owned()]), env(warm.clone(), Value::Null), true),
            // Nothing to return to, or a deployment in flight (abort it on its page instead).
            (Role::Admin, None, env(Value::Null, Value::Null), false),
            (Role::Admin, None, env(json!({"version": "v2"}), Value::Null), false),
            (Role::Admin, None, env(warm.clone(), json!({"id": 3, "status": "running"})), false),
        ];
        for (role, environments, environment, expected) in cases {
            let html = super::environments(
                &who(role, environments.clone()),
                &json!([environment.clone()]),
                &HashMap::new(),
                None,
            );
            assert_eq!(
                html.contains(r#"action="/environments/staging/rollback""#),
                expected,
                "{role:?} {environments:?} {environment}:\n{html}"
            );
            if expected {
                assert!(html.contains(r#"<label for="rollback-reason-staging">"#), "{html}");
                assert!(html.contains("data-confirm=\"Roll back staging from v2 to v1?\""), "{html}");
            }
        }
    }

    #[test]
    fn a_verification_states_its_verdict() {
        let cases = [
            (
                json!({"ok": true, "entries": 12, "root": "abc=", "stored_checkpoints": 2, "signed_entries": 12}),
                &[
                    "<strong>ok</strong>: 12 entries verified",
                    "2 stored checkpoints checked; every entry is covered",
                    r#"role="status""#,
                ][..],
            ),
            (
                json!({"ok": true, "entries": 1, "root": "abc=", "stored_checkpoints": 1, "signed_entries": 0}),
                &["1 entry verified", "1 stored checkpoint checked; entries 1–1 are not yet covered"][..],
            ),
            (
                json!({"ok": false, "problem": {"code": "entry_hash", "seq": 7, "message": "entry 7 was <changed>"}}),
                &[
                    "<strong>failed</strong>: entry 7 was &lt;changed&gt;",
                    "First entry found wrong: 7.",
                    r#"role="alert""#,
                ][..],
            ),
        ];
        for (verdict, expected) in cases {
            let html = verification(&verdict);
            for part in expected {
                assert!(html.contains(part), "`{part}` missing:\n{html}");
            }
        }
    }

    #[test]
    fn the_ledger_page_labels_every_input_and_escapes_the_entries() {
        let query = crate::ledger_api::ListQuery { action: Some("\"><script>".to_owned()), ..Default::default() };
        let answer = json!({"entries": [{"seq": 3, "time": "t", "actor": "<b>eve</b>", "action": "token.created",
                                         "subject": "token/tok_1", "details": {"name": "<i>"}}], "next_before": 3});
        let html = ledger(&who(Role::Viewer, None), &query, &Ok(answer), None);
        for id in ["filter-action", "filter-actor", "filter-subject"] {
            assert!(
                html.contains(&format!(r#"<label for="{id}">"#)) && html.contains(&format!(r#"id="{id}""#)),
                "{id}"
            );
        }
        for raw in ["<script>", "<b>eve", "<i>"] {
            assert!(!html.contains(raw), "`{raw}` is not escaped:\n{html}");
        }
        assert!(html.contains(r#"href="/ledger?action=%22%3E%3Cscript%3E&amp;before=3""#), "{html}");
        assert!(html.contains(r#"<a href="/ledger" aria-current="page">Ledger</a>"#), "{html}");
        assert!(html.contains(r##"<a class="skip" href="#main">"##), "{html}");
        let refused = ledger(&who(Role::Viewer, None), &query, &Err("`limit` must be".to_owned()), None);
        assert!(refused.contains("The filter was refused: `limit` must be"), "{refused}");
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
