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
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
figure.chart { margin: 0; min-width: 0; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart .axes line { stroke: var(--muted); stroke-width: 1; }
svg.chart .axes line.grid { stroke: var(--line); stroke-dasharray: 4 4; }
svg.chart text { font: 15px system-ui, sans-serif; fill: var(--muted); }
svg.chart polyline.series { fill: none; stroke-width: 2.5; stroke-linejoin: round; }
.series.new { stroke: var(--accent); }
circle.series.new { fill: var(--accent); }
.series.reference { stroke: #5f5f5f; stroke-dasharray: 7 4; }
circle.series.reference { fill: #5f5f5f; }
ul.legend { list-style: none; padding: 0; margin: .25rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
.swatch { display: inline-block; width: 1.5rem; margin-right: .4rem; vertical-align: middle; border-top: 3px solid var(--accent); }
.swatch.reference { border-top: 3px dashed #5f5f5f; }
.status-pass, .status-pass strong { color: var(--good); }
.status-fail, .status-fail strong { color: var(--bad); }
ul.findings { padding-left: 1.25rem; }
ul.plain { list-style: none; padding: 0; margin: 0; }
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
/// event of the deployment's stream, keeping what the user typed, opened and focused there.
pub const JS: &str = r#"
document.addEventListener('submit', (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
const live = document.getElementById('live');
const keep = () => {
  const kept = { values: {}, open: [], focus: live.contains(document.activeElement) ? document.activeElement.id : '' };
  live.querySelectorAll('input[id]').forEach((input) => { if (input.type !== 'hidden') kept.values[input.id] = input.value; });
  live.querySelectorAll('details[id]').forEach((details) => { if (details.open) kept.open.push(details.id); });
  return kept;
};
const restore = (kept) => {
  for (const [id, value] of Object.entries(kept.values)) { const input = document.getElementById(id); if (input) input.value = value; }
  for (const id of kept.open) { const details = document.getElementById(id); if (details) details.open = true; }
  const focused = kept.focus && document.getElementById(kept.focus);
  if (focused) focused.focus();
};
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
      if (html !== last) { const kept = keep(); last = html; live.innerHTML = html; restore(kept); }
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

/// The environments page: per environment the active release, weights, the deployment in
/// flight, its open findings (see [`open_findings`]), instances and recent deployments.
pub fn environments(
    who: &Who,
    list: &Value,
    recent: &HashMap<String, Value>,
    findings: &HashMap<String, Result<Value, String>>,
    note: Option<&str>,
) -> String {
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
        if let Some(found) = findings.get(&name) {
            body.push_str(&open_findings(&name, found));
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

/// An environment's open findings. Here that means the drift rules' findings (SG0403–SG0406,
/// the API's `GET /environments/{env}/drift`): what runs there now differs from what shipgate
/// put there (an instance or a route changed by hand, a foreign listener, a version missing).
/// They stay open until the environment matches again; the gates of a deployment are judged
/// when it is planned and shown on its page instead. `Err` says why they are not known.
fn open_findings(env: &str, found: &Result<Value, String>) -> String {
    let items = match found {
        Err(why) => format!("<p>Not known: {}</p>", text(why)),
        Ok(answer) => {
            let list = answer["findings"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                "<p>None: what runs matches what shipgate put there.</p>".to_owned()
            } else {
                let items: String = list
                    .iter()
                    .map(|finding| {
                        format!(
                            "<li><strong>{} {}</strong> ({}): {}{}</li>",
                            text(&plain(&finding["rule"])),
                            text(&plain(&finding["name"])),
                            text(&plain(&finding["severity"])),
                            text(&plain(&finding["message"])),
                            finding["hint"]
                                .as_str()
                                .filter(|hint| !hint.is_empty())
                                .map(|hint| format!(r#" <span class="hint">Hint: {}</span>"#, text(hint)))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!(r#"<ul class="findings">{items}</ul>"#)
            }
        }
    };
    format!(r#"<div id="findings-{}"><h3>Open findings</h3>{items}</div>"#, attr(env))
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

/// Where `version` is deployed, from the environments' status: active, previous (warm or
/// not), or being deployed.
fn deployed_where(version: &str, environments: &Value) -> Vec<String> {
    let mut places = Vec::new();
    for env in environments.as_array().into_iter().flatten() {
        let name = plain(&env["name"]);
        if env["active"]["version"] == version {
            places.push(format!("active in {name}"));
        }
        if env["previous"]["version"] == version && env["active"]["version"] != version {
            match env["previous"]["warm_until"].as_str() {
                Some(until) => places.push(format!("previous in {name}, warm until {until}")),
                None => places.push(format!("previous in {name}")),
            }
        }
        if env["deployment"]["version"] == version {
            places.push(format!("being deployed to {name} (deployment {})", plain(&env["deployment"]["id"])));
        }
    }
    places
}

/// A release's evidence in words: tests, the secret scan, migrations and their rehearsal.
fn evidence_lines(evidence: &Value) -> Vec<(&'static str, String)> {
    if evidence.is_null() {
        return vec![("Evidence", "none recorded".to_owned())];
    }
    let tests = &evidence["tests"];
    let tests = if tests.is_null() {
        "no test evidence".to_owned()
    } else {
        let outcome = match tests["exit_code"].as_i64() {
            Some(0) => "passed".to_owned(),
            Some(code) => format!("failed (exit code {code})"),
            None => "unknown".to_owned(),
        };
        let junit = &tests["junit"];
        if junit.is_null() {
            outcome
        } else {
            let count = |key: &str| junit[key].as_u64().unwrap_or(0);
            format!(
                "{outcome}: {} tests, {} failures, {} errors, {} skipped",
                count("tests"),
                count("failures"),
                count("errors"),
                count("skipped")
            )
        }
    };
    let secrets = &evidence["secrets"];
    let secrets = if secrets.is_null() {
        "not scanned".to_owned()
    } else {
        let count = |key: &str| secrets[key].as_array().map_or(0, Vec::len);
        let (source, artifact) = (count("source"), count("artifact"));
        let scanned = secrets["scanned"].as_str().unwrap_or("the source");
        match source + artifact {
            0 => format!("no secret found in {scanned} or the artifact"),
            _ => format!("{source} secret(s) found in {scanned}, {artifact} in the artifact"),
        }
    };
    let migrations = &evidence["migrations"];
    let migrations = if migrations.is_null() {
        "none".to_owned()
    } else {
        match migrations["rehearsal"]["passed"].as_bool() {
            Some(true) => "rehearsal passed".to_owned(),
            Some(false) => "rehearsal failed".to_owned(),
            None => "not rehearsed".to_owned(),
        }
    };
    vec![("Tests", tests), ("Secret scan", secrets), ("Migrations", migrations)]
}

/// Every release, newest first: digest, signature, where it runs and its evidence in words,
/// with the change log entry when one was given.
pub fn releases(who: &Who, list: &Value, environments: &Value) -> String {
    let mut body = String::from(
        r#"<h1>Releases</h1><div class="table-wrap"><table class="stack" id="releases"><thead><tr><th scope="col">Version</th><th scope="col">Digest</th><th scope="col">Signature</th><th scope="col">Created</th><th scope="col">Deployed</th><th scope="col">Evidence</th></tr></thead><tbody>"#,
    );
    // Newest first.
    for release in list.as_array().into_iter().flatten().rev() {
        let version = plain(&release["version"]);
        let places = deployed_where(&version, environments);
        let deployed = if places.is_empty() {
            "nowhere".to_owned()
        } else {
            places.iter().map(|place| format!("<li>{}</li>", text(place))).collect::<Vec<_>>().concat()
        };
        let deployed = if places.is_empty() { deployed } else { format!(r#"<ul class="plain">{deployed}</ul>"#) };
        let mut evidence: String = evidence_lines(&release["evidence"])
            .into_iter()
            .map(|(what, line)| format!("<li>{what}: {}</li>", text(&line)))
            .collect();
        evidence = format!("<ul class=\"plain\">{evidence}</ul>");
        if let Some(markdown) = release["evidence"]["changelog"]["markdown"].as_str() {
            let _ = write!(
                evidence,
                r#"<details><summary>Change log<span class="visually-hidden"> of {}</span></summary><pre>{}</pre></details>"#,
                text(&version),
                text(markdown)
            );
        }
        let _ = write!(
            body,
            r#"<tr id="release-{}"><td data-label="Version">{}</td><td data-label="Digest"><code>{}</code></td><td data-label="Signature">{}</td><td data-label="Created">{} by {}</td><td data-label="Deployed" class="deployed">{deployed}</td><td data-label="Evidence">{evidence}</td></tr>"#,
            attr(&version),
            text(&version),
            text(&plain(&release["digest"])),
            text(&signature(release)),
            text(&plain(&release["created"])),
            text(&plain(&release["creator"])),
        );
    }
    body.push_str("</tbody></table></div>");
    page("Releases", Some(who), &body)
}

/// What the deployment page shows beyond the deployment and its environment's status.
#[derive(Default)]
pub struct Record {
    /// The deployment's events so far (the API's JSON list): analysis reports, overrides.
    pub events: Value,
    /// The post-deployment checklist once recorded (the API's answer).
    pub checklist: Option<Value>,
    /// The gates as they judge the release now (the API's plan), while the deployment awaits
    /// approval: what an approver is asked to accept.
    pub plan: Option<Value>,
}

pub fn deployment(who: &Who, deployment: &Value, environment: &Value, record: &Record, note: Option<&str>) -> String {
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
    let live = deployment_live(who, deployment, environment, record);
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

/// The part of the deployment page that changes: status, weights, timeline, buttons, the
/// analysis (charts, verdict, checks), the gates and the checklist.
pub fn deployment_live(who: &Who, deployment: &Value, environment: &Value, record: &Record) -> String {
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
    body.push_str(&analysis_section(deployment, &record.events));
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
    body.push_str(&gates_section(deployment, &record.events, record.plan.as_ref()));
    if let Some(checklist) = &record.checklist {
        body.push_str(&checklist_section(checklist));
    }
    body
}

/// A verdict or status word, marked for colour (the word itself carries the meaning).
fn verdict_word(word: &str) -> String {
    let class = match word {
        "pass" | "passed" => "status-pass",
        "fail" | "failed" => "status-fail",
        _ => "status-other",
    };
    format!(r#"<strong class="{class}">{}</strong>"#, text(word))
}

/// `events of trials (share)`, from a check's tally.
fn tally(tally: &Value) -> String {
    match (tally["events"].as_u64(), tally["trials"].as_u64()) {
        (Some(events), Some(trials)) if trials > 0 => {
            format!("{events} of {trials} ({:.2}%)", events as f64 * 100.0 / trials as f64)
        }
        (Some(_), Some(_)) => "no requests yet".to_owned(),
        _ => "—".to_owned(),
    }
}

/// The analysis: charts of the latest hold, the latest report's verdict and summary, and
/// every check's figures.
fn analysis_section(deployment: &Value, events: &Value) -> String {
    let mut body = String::from(
        r#"<section id="analysis" aria-labelledby="analysis-heading"><h2 id="analysis-heading">Analysis</h2>"#,
    );
    let Some(report) = super::charts::latest_analysis(events) else {
        body.push_str(
            r#"<p id="analysis-none">No analysis report yet. Reports come every two seconds during a <code>hold</code> or <code>bake</code> when the environment declares <code>analysis</code>.</p></section>"#,
        );
        return body;
    };
    let stable = deployment["from_version"].as_str().unwrap_or("the previous release");
    let charts = super::charts::analysis_charts(events, &plain(&deployment["version"]), stable);
    if !charts.is_empty() {
        body.push_str(r#"<div class="charts">"#);
        for chart in &charts {
            body.push_str(&super::charts::figure(chart));
        }
        body.push_str("</div>");
    }
    let _ = write!(
        body,
        r#"<p id="analysis-verdict">Verdict: {} — {}</p><p class="hint">{} look(s); false positive rate {}{}.</p>"#,
        verdict_word(&plain(&report["verdict"])),
        text(&plain(&report["summary"])),
        text(&plain(&report["looks"])),
        text(&plain(&report["false_positive_rate"])),
        report["decided_at"].as_str().map(|at| format!("; decided at {}", text(at))).unwrap_or_default()
    );
    for note in report["notes"].as_array().into_iter().flatten() {
        let _ = write!(body, r#"<p class="hint">Note: {}</p>"#, text(&plain(note)));
    }
    body.push_str(
        r#"<div class="table-wrap"><table class="stack" id="analysis-checks"><caption class="visually-hidden">Checks of the latest analysis report</caption><thead><tr><th scope="col">Check</th><th scope="col">Status</th><th scope="col">Fails if</th><th scope="col">New version</th><th scope="col">Compared with</th><th scope="col">Evidence</th></tr></thead><tbody>"#,
    );
    for check in report["checks"].as_array().into_iter().flatten() {
        let evidence = match (check["p_value"].as_f64(), check["value"].as_f64()) {
            (Some(p), _) => format!("p = {p:.3}"),
            (None, Some(value)) => format!("value {value}"),
            (None, None) => String::new(),
        };
        let detail = check["detail"].as_str().map(|detail| format!(" {}", text(detail))).unwrap_or_default();
        let _ = write!(
            body,
            r#"<tr><td data-label="Check"><code>{}</code></td><td data-label="Status">{}</td><td data-label="Fails if">{}</td><td data-label="New">{}</td><td data-label="Compared">{}</td><td data-label="Evidence">{}{detail}</td></tr>"#,
            text(&plain(&check["name"])),
            verdict_word(&plain(&check["status"])),
            text(&plain(&check["fails_if"])),
            text(&tally(&check["canary"])),
            text(&tally(&check["reference"])),
            text(&evidence),
        );
    }
    body.push_str("</tbody></table></div></section>");
    body
}

/// The gates: what the `check the gates` step recorded, the findings lifted by overrides when
/// the deployment was created, and, while it awaits approval, the gates as they judge now.
fn gates_section(deployment: &Value, events: &Value, plan: Option<&Value>) -> String {
    let mut body =
        String::from(r#"<section id="gates" aria-labelledby="gates-heading"><h2 id="gates-heading">Gates</h2>"#);
    let gate_steps: Vec<&Value> =
        deployment["steps"].as_array().into_iter().flatten().filter(|step| step["step"]["step"] == "gates").collect();
    if gate_steps.is_empty() {
        body.push_str(
            "<p>This deployment has no gates step (a rollback returns to a release the gates let through before).</p>",
        );
    }
    for step in gate_steps {
        let state = plain(&step["state"]);
        let word = match state.as_str() {
            "done" => "pass",
            "failed" => "fail",
            other => other,
        };
        let _ = write!(
            body,
            r#"<p id="gates-verdict">Check the gates: {}{}</p>"#,
            verdict_word(word),
            step["detail"].as_str().map(|detail| format!(" — {}", text(detail))).unwrap_or_default()
        );
    }
    body.push_str(r#"<p class="hint">The gates run again right before the new version's first traffic; a deny finding then fails the deployment.</p>"#);
    let created = events.as_array().into_iter().flatten().find(|event| event["kind"] == "created");
    let lifted: Vec<&Value> =
        created.and_then(|event| event["data"]["overrides"].as_array()).into_iter().flatten().collect();
    if !lifted.is_empty() {
        body.push_str("<h3>Findings lifted for this deployment</h3><ul class=\"findings\">");
        for lift in lifted {
            let _ = write!(
                body,
                "<li><strong>{} {}</strong>: {} — overridden: {}</li>",
                text(&plain(&lift["rule"])),
                text(&plain(&lift["name"])),
                text(&plain(&lift["message"])),
                text(&plain(&lift["reason"]))
            );
        }
        body.push_str("</ul>");
    }
    if let Some(plan) = plan {
        body.push_str(r#"<h3>As the gates judge it now</h3><ul class="findings" id="gates-now">"#);
        for gate in plan["gates"].as_array().into_iter().flatten() {
            let _ = write!(
                body,
                "<li>{} <strong>{}</strong>: {}{}</li>",
                verdict_word(&plain(&gate["verdict"])),
                text(&plain(&gate["name"])),
                text(&plain(&gate["detail"])),
                gate["hint"]
                    .as_str()
                    .map(|hint| format!(" <span class=\"hint\">Hint: {}</span>", text(hint)))
                    .unwrap_or_default()
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("</section>");
    body
}

/// The post-deployment checklist: each item with pass, fail or unknown and its evidence, and
/// the SG0305 findings its failures raise.
fn checklist_section(checklist: &Value) -> String {
    let mut body = format!(
        r#"<section id="checklist" aria-labelledby="checklist-heading"><h2 id="checklist-heading">Post-deployment checklist</h2><p>{}</p>
<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Item</th><th scope="col">Result</th><th scope="col">Evidence</th></tr></thead><tbody>"#,
        text(&plain(&checklist["summary"]))
    );
    for item in checklist["items"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            r#"<tr><td data-label="Item">{}</td><td data-label="Result">{}</td><td data-label="Evidence">{}</td></tr>"#,
            text(&plain(&item["item"])),
            verdict_word(&plain(&item["status"])),
            text(&plain(&item["evidence"]))
        );
    }
    body.push_str("</tbody></table></div>");
    let findings = checklist["findings"].as_array().cloned().unwrap_or_default();
    if findings.is_empty() {
        body.push_str("<p>No finding: nothing on the checklist failed.</p>");
    } else {
        body.push_str(r#"<h3>Findings</h3><ul class="findings">"#);
        for finding in &findings {
            let _ = write!(
                body,
                "<li><strong>{}</strong> ({}): {}</li>",
                text(&plain(&finding["rule"])),
                text(&plain(&finding["severity"])),
                text(&plain(&finding["message"]))
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("</section>");
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
            let html = deployment_live(
                &who(role, environments.clone()),
                &deployment,
                &json!({"weights": []}),
                &Record::default(),
            );
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
            &Record::default(),
        );
        for raw in ["<script>", "<img", "<i>", "<reason>"] {
            assert!(!html.contains(raw), "`{raw}` is not escaped:\n{html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(page("t", Some(&who(Role::Viewer, None)), "").contains("&lt;b&gt;someone&lt;/b&gt;"));
    }

    fn analysed(verdict: &str) -> Value {
        json!({"kind": "progress", "step_index": 4, "data": {"analysis": {
            "verdict": verdict, "summary": "fail: `errors_vs_stable`: <worse>", "looks": 7, "false_positive_rate": 0.05,
            "hold": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}, "window_end": "2026-01-01T00:00:06Z",
            "notes": ["a <note>"],
            "checks": [{"name": "errors_vs_stable", "status": "fail", "fails_if": "the error rate is higher",
                        "canary": {"events": 30, "trials": 100}, "reference": {"events": 1, "trials": 100}, "p_value": 0.001},
                       {"name": "metric:queue", "status": "pass", "fails_if": "the value rises above 5", "value": 2.0,
                        "detail": "<cmd>"}]}}})
    }

    /// The analysis, gates and checklist sections of the deployment page, from what the API
    /// answers; each case lists what must show and what must not.
    #[test]
    fn the_deployment_page_shows_the_analysis_the_gates_and_the_checklist() {
        let deployment = json!({"id": 7, "environment": "staging", "version": "v3", "from_version": "v1",
            "status": "running", "steps": [
                {"state": "done", "description": "check the gates", "step": {"step": "gates"},
                 "detail": "no gate refuses (1 warning(s), 1 finding(s) overridden)"},
                {"state": "running", "description": "hold", "step": {"step": "hold"}}]});
        let created = json!({"kind": "created", "data": {"overrides": [
            {"rule": "SG0101", "name": "mutable-artifact", "reason": "hotfix <now>", "message": "m"}]}});
        let checklist = json!({"summary": "post-deployment checklist: 1 passed, 1 failed, 0 unknown",
            "items": [{"item": "health", "status": "pass", "evidence": "1 of 1 healthy"},
                      {"item": "change log", "status": "fail", "evidence": "no <entry>"}],
            "findings": [{"rule": "SG0305", "severity": "warn", "message": "change log: no entry"}]});
        let plan = json!({"gates": [{"name": "SG0201 no-tests", "verdict": "warn", "detail": "no tests", "hint": "add some"}]});
        let cases: [(Record, &[&str], &[&str]); 4] = [
            (
                Record::default(),
                &[
                    r#"id="analysis-none""#,
                    r#"id="gates-verdict">Check the gates: <strong class="status-pass">pass</strong>"#,
                ][..],
                &["<svg", r#"id="checklist""#, "Findings lifted", r#"id="gates-now""#][..],
            ),
            (
                Record { events: json!([created.clone(), analysed("pending"), analysed("fail")]), ..Record::default() },
                &[
                    r#"<svg id="chart-errors""#,
                    r#"data-series="v3 (new)""#,
                    r#"data-series="v1 (stable)""#,
                    r#"Verdict: <strong class="status-fail">fail</strong> — fail: `errors_vs_stable`: &lt;worse&gt;"#,
                    "30 of 100 (30.00%)",
                    "1 of 100 (1.00%)",
                    "p = 0.001",
                    "value 2 &lt;cmd&gt;",
                    "Note: a &lt;note&gt;",
                    "<strong>SG0101 mutable-artifact</strong>: m — overridden: hotfix &lt;now&gt;",
                ][..],
                &[r#"id="analysis-none""#, "<worse>", "<cmd>", "<now>"][..],
            ),
            (
                Record { checklist: Some(checklist), ..Record::default() },
                &[
                    r#"<section id="checklist""#,
                    "1 passed, 1 failed, 0 unknown",
                    r#"<td data-label="Result"><strong class="status-fail">fail</strong></td><td data-label="Evidence">no &lt;entry&gt;</td>"#,
                    "<strong>SG0305</strong> (warn): change log: no entry",
                ][..],
                &["<entry>"][..],
            ),
            (
                Record { plan: Some(plan), ..Record::default() },
                &[r#"id="gates-now""#, "<strong>SG0201 no-tests</strong>: no tests", "Hint: add some"][..],
                &[][..],
            ),
        ];
        for (record, shown, absent) in cases {
            let html = deployment_live(&who(Role::Viewer, None), &deployment, &json!({"weights": []}), &record);
            for part in shown {
                assert!(html.contains(part), "`{part}` missing:\n{html}");
            }
            for part in absent {
                assert!(!html.contains(part), "`{part}` should not show:\n{html}");
            }
        }
    }

    #[test]
    fn a_release_shows_where_it_runs_and_its_evidence_in_words() {
        let environments = json!([
            {"name": "staging", "active": {"version": "v2"}, "previous": {"version": "v1", "warm_until": "2026-01-01T00:10:00Z"},
             "deployment": null},
            {"name": "production", "active": {"version": "v1"}, "previous": null, "deployment": {"id": 9, "version": "v2"}},
        ]);
        let cases = [
            ("v1", &["previous in staging, warm until 2026-01-01T00:10:00Z", "active in production"][..]),
            ("v2", &["active in staging", "being deployed to production (deployment 9)"][..]),
            ("v3", &[][..]),
        ];
        for (version, expected) in cases {
            assert_eq!(deployed_where(version, &environments), expected, "{version}");
        }
        let full = json!({"tests": {"exit_code": 0, "junit": {"tests": 12, "failures": 0, "errors": 0, "skipped": 1}},
            "secrets": {"scanned": "commit abc", "source": [{"rule": "aws"}], "artifact": []},
            "migrations": {"rehearsal": {"passed": true}}, "changelog": {"markdown": "- fixed <b>"}});
        let cases = [
            (
                full.clone(),
                vec![
                    ("Tests", "passed: 12 tests, 0 failures, 0 errors, 1 skipped"),
                    ("Secret scan", "1 secret(s) found in commit abc, 0 in the artifact"),
                    ("Migrations", "rehearsal passed"),
                ],
            ),
            (
                json!({"tests": {"exit_code": 2, "junit": null}, "secrets": {"scanned": "the working tree", "source": [], "artifact": []},
                       "migrations": {"rehearsal": null}}),
                vec![
                    ("Tests", "failed (exit code 2)"),
                    ("Secret scan", "no secret found in the working tree or the artifact"),
                    ("Migrations", "not rehearsed"),
                ],
            ),
            (
                json!({"tests": null, "secrets": null, "migrations": null}),
                vec![("Tests", "no test evidence"), ("Secret scan", "not scanned"), ("Migrations", "none")],
            ),
            (Value::Null, vec![("Evidence", "none recorded")]),
        ];
        for (evidence, expected) in cases {
            let lines = evidence_lines(&evidence);
            let lines: Vec<(&str, &str)> = lines.iter().map(|(what, line)| (*what, line.as_str())).collect();
            assert_eq!(lines, expected, "{evidence}");
        }
        let list = json!([{"version": "v2", "digest": "sha256:ab", "evidence": full, "created": "t", "creator": "c"}]);
        let html = releases(&who(Role::Viewer, None), &list, &environments);
        assert!(
            html.contains(r#"<td data-label="Deployed" class="deployed"><ul class="plain"><li>active in staging</li>"#),
            "{html}"
        );
        assert!(html.contains("<pre>- fixed &lt;b&gt;</pre>") && !html.contains("<b>"), "{html}");
    }

    #[test]
    fn an_environment_lists_its_open_findings() {
        let drift = json!({"findings": [{"rule": "SG0403", "name": "unmanaged-instance", "severity": "warn",
                                        "message": "instance <x> runs", "hint": "stop it"}]});
        let cases = [
            (
                Ok(drift),
                &["<strong>SG0403 unmanaged-instance</strong> (warn): instance &lt;x&gt; runs", "Hint: stop it"][..],
            ),
            (Ok(json!({"findings": []})), &["None: what runs matches"][..]),
            (Err("the agent is <down>".to_owned()), &["Not known: the agent is &lt;down&gt;"][..]),
        ];
        for (found, expected) in cases {
            let html = open_findings("staging", &found);
            assert!(html.starts_with(r#"<div id="findings-staging"><h3>Open findings</h3>"#), "{html}");
            for part in expected {
                assert!(html.contains(part), "`{part}` missing:\n{html}");
            }
        }
    }
}
