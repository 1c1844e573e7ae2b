//! The CLI against the API contract in `crates/shipgate-server/README.md`: a `TcpListener` in the
//! test answers each request with the response the contract prescribes, and records what the CLI
//! sent. (The real server is tested end to end in `deploy.rs`; this pins the client's side of the
//! contract: paths, bodies, the token, the plan digest, reconnecting, and the exit codes.)

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::Run;
use serde_json::{Value, json};

/// One request as the CLI sent it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// The path with its query, e.g. `/api/v1/deployments/d-1/events?after=0`.
    target: String,
    authorization: Option<String>,
    body: String,
}

impl Request {
    fn is(&self, method: &str, target: &str) -> bool {
        self.method == method && self.target == target
    }
}

/// What the canned server answers.
enum Reply {
    Json(u16, Value),
    Text(u16, &'static str, String),
    /// A `text/event-stream` of these events; the connection closes after the last.
    Events(Vec<Value>),
}

/// An HTTP/1.1 server on a free port that answers each request with `script(request, n)`, where
/// `n` counts earlier requests with the same method and target.
struct Canned {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Canned {
    fn start(script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, script) = (Arc::clone(&requests), Arc::new(script));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
                std::thread::spawn(move || answer(stream, &seen, &*script));
            }
        });
        Canned { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn targets(&self) -> Vec<String> {
        self.requests().iter().map(|request| format!("{} {}", request.method, request.target)).collect()
    }
}

fn answer(stream: TcpStream, seen: &Mutex<Vec<Request>>, script: &dyn Fn(&Request, usize) -> Reply) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
    let (mut length, mut authorization) = (0, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Request { method, target, authorization, body: String::from_utf8(body).unwrap() };
    let earlier = {
        let mut seen = seen.lock().unwrap();
        let earlier = seen.iter().filter(|known| known.is(&request.method, &request.target)).count();
        seen.push(request.clone());
        earlier
    };
    let mut stream = stream;
    let head = |status: u16, content_type: &str, length: Option<usize>| {
        let length = length.map(|length| format!("content-length: {length}\r\n")).unwrap_or_default();
        format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\n{length}connection: close\r\n\r\n",
            reason(status)
        )
    };
    let _ = match script(&request, earlier) {
        Reply::Json(status, value) => {
            let body = value.to_string();
            stream.write_all(format!("{}{body}", head(status, "application/json", Some(body.len()))).as_bytes())
        }
        Reply::Text(status, content_type, text) => {
            stream.write_all(format!("{}{text}", head(status, content_type, Some(text.len()))).as_bytes())
        }
        Reply::Events(events) => {
            let mut text = head(200, "text/event-stream", None);
            text.push_str(": connected\n\n");
            for event in events {
                // Split the data over two `data:` lines, as a server may: the client joins them.
                let data = serde_json::to_string_pretty(&event).unwrap();
                let (first, rest) = data.split_once('\n').unwrap();
                text.push_str(&format!(
                    "id: {}\nevent: {}\ndata: {first}\ndata: {}\n\n",
                    event["seq"],
                    event["kind"].as_str().unwrap(),
                    rest.replace('\n', " ")
                ));
            }
            stream.write_all(text.as_bytes())
        }
    };
    let _ = stream.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Other",
    }
}

/// `shipgate ARGS --server URL` with a home of its own and the given variables.
fn shipgate(server: &Canned, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    command
        .args(args)
        .args(["--server", &server.url])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SHIPGATE_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const TOKEN: [(&str, &str); 1] = [("SHIPGATE_TOKEN", "t0ken")];
const DIGEST: &str = "sha256:5e1f0000aaaabbbbccccdddd";

fn plan_view(no_op: Option<&str>) -> Value {
    json!({
        "environment": "production", "from": "1.1.0", "to": "1.2.0", "digest": DIGEST, "no_op": no_op,
        "steps": if no_op.is_some() { json!([]) } else { json!([
            {"index": 0, "step": {"start_instances": {"version": "1.2.0", "count": 3}}, "description": "start 3 instances of 1.2.0"},
            {"index": 1, "step": {"set_weight": {"version": "1.2.0", "weight": 5}}, "description": "send 5% of traffic to 1.2.0"},
            {"index": 2, "step": "promote", "description": "promote 1.2.0"},
        ]) },
        "gates": [{"name": "requires", "verdict": "pass", "detail": "1.2.0 succeeded in staging"}],
    })
}

fn deployment(id: &str, status: &str, finished: Option<&str>, reason: Option<&str>) -> Value {
    json!({
        // The server writes ids as numbers; the contract does not say, so both are tested.
        "id": id.parse::<u64>().map_or_else(|_| json!(id), |number| json!(number)), "environment": "production", "version": "1.2.0", "from_version": "1.1.0", "status": status,
        "reason": reason, "actor": "alice", "created": "2026-05-04T12:00:00Z", "finished": finished,
        "plan_digest": DIGEST, "kind": "deploy",
        "steps": [
            {"index": 0, "step": {}, "description": "start 3 instances of 1.2.0", "state": "pending", "started": null, "finished": null, "detail": null},
            {"index": 1, "step": {}, "description": "send 5% of traffic to 1.2.0", "state": "pending", "started": null, "finished": null, "detail": null},
            {"index": 2, "step": {}, "description": "promote 1.2.0", "state": "pending", "started": null, "finished": null, "detail": null},
        ],
    })
}

fn event(id: &str, seq: u64, kind: &str, step: Option<u32>, message: &str, data: Value) -> Value {
    json!({
        "seq": seq, "deployment": id, "time": format!("2026-05-04T12:00:{seq:02}Z"), "kind": kind,
        "step_index": step, "message": message, "data": data,
    })
}

fn error(code: &str, message: &str, hint: Option<&str>) -> Value {
    json!({"code": code, "message": message, "hint": hint})
}

fn not_expected(request: &Request) -> Reply {
    Reply::Json(400, error("invalid_request", &format!("the canned server has no answer for {request:?}"), None))
}

#[test]
fn deploy_that_is_a_no_op_prints_why_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/production/plan") => {
            Reply::Json(200, plan_view(Some("production already runs 1.2.0")))
        }
        ("POST", "/api/v1/environments/production/deployments") => {
            Reply::Json(200, json!({"no_op": "production already runs 1.2.0"}))
        }
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "nothing to do: production already runs 1.2.0\n");
    assert!(
        run.stderr.starts_with("plan for `production`: 1.1.0 -> 1.2.0, 0 steps, digest sha256:5e1f0000aaaa\n"),
        "{}",
        run.stderr
    );

    let requests = server.requests();
    assert_eq!(
        server.targets(),
        ["POST /api/v1/environments/production/plan", "POST /api/v1/environments/production/deployments"]
    );
    assert!(requests.iter().all(|request| request.authorization.as_deref() == Some("Bearer t0ken")));
    assert_eq!(serde_json::from_str::<Value>(&requests[0].body).unwrap(), json!({"version": "1.2.0", "overrides": []}));
    assert_eq!(
        serde_json::from_str::<Value>(&requests[1].body).unwrap(),
        json!({"version": "1.2.0", "plan_digest": DIGEST, "overrides": []}),
        "deploy executes exactly the plan it showed"
    );
}

#[test]
fn deploy_while_another_runs_names_it_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/production/plan") => Reply::Json(200, plan_view(None)),
        ("POST", "/api/v1/environments/production/deployments") => Reply::Json(
            409,
            error(
                "deployment_in_progress",
                "deployment d-9 of 1.3.0 to `production`, started by bob, is in progress",
                None,
            ),
        ),
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0"], &TOKEN);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.ends_with(
            "error: deployment d-9 of 1.3.0 to `production`, started by bob, is in progress\n\
             hint: wait for it with `shipgate deploy production 1.2.0 --wait`, or watch it with `shipgate status production`\n"
        ),
        "{}",
        run.stderr
    );
}

/// A deployment `7` whose event stream breaks after two events (the server restarted), and
/// that ends with `last` after reconnecting.
fn deployment_server(last: &'static str, reason: Option<&'static str>) -> Canned {
    Canned::start(move |request, earlier| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/production/plan") => Reply::Json(200, plan_view(None)),
        ("POST", "/api/v1/environments/production/deployments") => {
            Reply::Json(201, deployment("7", "running", None, None))
        }
        ("GET", "/api/v1/deployments/7/events?after=0") => Reply::Events(vec![
            event("7", 1, "created", None, "deployment of 1.2.0 to production created", json!({})),
            event("7", 2, "step_started", Some(0), "", json!({})),
        ]),
        // Restarting behind a proxy: the first attempt to reconnect fails.
        ("GET", "/api/v1/deployments/7/events?after=2") if earlier == 0 => {
            Reply::Text(503, "text/html", "<h1>Service Unavailable</h1>".into())
        }
        ("GET", "/api/v1/deployments/7/events?after=2") => Reply::Events(vec![
            event("7", 3, "step_done", Some(0), "3 instances of 1.2.0 healthy", json!({"healthy": 3, "wanted": 3})),
            event(
                "7",
                4,
                "step_started",
                Some(1),
                "",
                json!({"weights": [{"version": "1.2.0", "weight": 5.0}, {"version": "1.1.0", "weight": 95.0}]}),
            ),
            match last {
                "succeeded" => event("7", 5, "succeeded", None, "production runs 1.2.0", json!({})),
                _ => event("7", 5, last, Some(1), reason.unwrap_or_default(), json!({})),
            },
        ]),
        ("GET", "/api/v1/deployments/7") => {
            Reply::Json(200, deployment("7", last, Some("2026-05-04T12:03:12Z"), reason))
        }
        _ => not_expected(request),
    })
}

#[test]
fn deploy_follows_the_events_across_a_server_restart_to_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = deployment_server("succeeded", None);
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "deployment 7 succeeded in 3m12s: `production` runs 1.2.0\n");
    let stderr = run.stderr.replace(&server.url, "URL");
    insta::assert_snapshot!(stderr, @r"
    plan for `production`: 1.1.0 -> 1.2.0, 3 steps, digest sha256:5e1f0000aaaa
       1. start 3 instances of 1.2.0
       2. send 5% of traffic to 1.2.0
       3. promote 1.2.0
    started deployment 7
    12:00:01 created       deployment of 1.2.0 to production created
    12:00:02 step_started  step 1: start 3 instances of 1.2.0
    lost the connection to URL while following deployment 7; reconnecting for up to 60s
    reconnected to URL
    12:00:03 step_done     step 1: 3 instances of 1.2.0 healthy
    12:00:04 step_started  step 2: send 5% of traffic to 1.2.0
    12:00:05 succeeded     production runs 1.2.0
    ");
    assert_eq!(
        server.targets(),
        [
            "POST /api/v1/environments/production/plan",
            "POST /api/v1/environments/production/deployments",
            "GET /api/v1/deployments/7/events?after=0",
            "GET /api/v1/deployments/7/events?after=2",
            "GET /api/v1/deployments/7/events?after=2",
            "GET /api/v1/deployments/7",
        ]
    );
}

#[test]
fn deploy_that_is_rolled_back_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = deployment_server("rolled_back", Some("error rate 5.1% over the 1% allowed"));
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0"], &TOKEN);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("12:00:05 rolled_back   step 2: error rate 5.1% over the 1% allowed\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with(
            "error: deployment 7 was rolled back in 3m12s: error rate 5.1% over the 1% allowed\n\
             hint: `production` runs 1.1.0 again; `shipgate history production` lists it\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn deploy_with_json_prints_each_event_as_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = deployment_server("failed", Some("no healthy instance within 60s"));
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0", "--format", "json"], &TOKEN);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let events: Vec<Value> = run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let seqs: Vec<u64> = events.iter().map(|event| event["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "each event once, across the reconnect");
    assert_eq!(events[3]["data"]["weights"][0]["weight"], 5.0);
    assert!(
        run.stderr.contains("error: deployment 7 failed in 3m12s: no healthy instance within 60s\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn deploy_with_wait_queues_behind_the_running_deployment_then_plans_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, earlier| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/production/plan") => Reply::Json(200, plan_view(None)),
        ("POST", "/api/v1/environments/production/deployments") if earlier == 0 => {
            Reply::Json(409, error("deployment_in_progress", "deployment d-9 by bob is in progress", None))
        }
        ("POST", "/api/v1/environments/production/deployments") => {
            Reply::Json(201, deployment("d-10", "running", None, None))
        }
        ("GET", "/api/v1/environments/production") => Reply::Json(
            200,
            json!({"name": "production", "active": null, "previous": null, "weights": [], "instances": [],
                   "deployment": deployment("d-9", "running", None, None)}),
        ),
        ("GET", "/api/v1/deployments/d-9") if earlier < 2 => Reply::Json(200, deployment("d-9", "running", None, None)),
        ("GET", "/api/v1/deployments/d-9") => {
            Reply::Json(200, deployment("d-9", "succeeded", Some("2026-05-04T12:01:00Z"), None))
        }
        ("GET", "/api/v1/deployments/d-10/events?after=0") => {
            Reply::Events(vec![event("d-10", 1, "succeeded", None, "production runs 1.2.0", json!({}))])
        }
        ("GET", "/api/v1/deployments/d-10") => {
            Reply::Json(200, deployment("d-10", "succeeded", Some("2026-05-04T12:02:00Z"), None))
        }
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["deploy", "production", "1.2.0", "--wait"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        run.stderr
            .matches("queued behind deployment d-9 (1.2.0 of `production`, started by alice); waiting for it to end\n")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("plan for `production`").count(), 1, "the same plan is shown once: {}", run.stderr);
    let targets = server.targets();
    assert_eq!(targets.iter().filter(|target| target.ends_with("/plan")).count(), 2, "planned again after waiting");
    assert_eq!(targets.iter().filter(|target| *target == "GET /api/v1/deployments/d-9").count(), 3);
    assert!(run.stdout.starts_with("deployment d-10 succeeded"), "{}", run.stdout);
}

#[test]
fn api_errors_map_to_exit_codes_with_the_servers_message_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/nowhere/plan") => Reply::Json(
            404,
            error("unknown_environment", "there is no environment `nowhere`", Some("`shipgate status` lists them")),
        ),
        ("POST", "/api/v1/environments/production/plan") => Reply::Json(
            200,
            json!({"environment": "production", "from": null, "to": "1.2.0", "digest": DIGEST, "no_op": null,
                "steps": [], "gates": [{"name": "window", "verdict": "fail", "detail": "inside the `weekend` freeze"}]}),
        ),
        ("POST", "/api/v1/environments/staging/plan") => Reply::Json(200, plan_view(None)),
        ("POST", "/api/v1/environments/staging/deployments") => {
            Reply::Json(409, error("plan_changed", "the plan changed since it was shown", None))
        }
        ("GET", "/api/v1/environments") => Reply::Json(500, error("internal", "database is locked", None)),
        ("GET", "/api/v1/environments/production/logs") => Reply::Text(404, "text/html", "<h1>Not Found</h1>".into()),
        ("GET", "/api/v1/environments/production/deployments?limit=20") => {
            Reply::Text(502, "text/html", "<h1>Bad Gateway</h1>".into())
        }
        ("POST", "/api/v1/deployments/d-1/resume") => {
            Reply::Json(409, error("not_paused", "deployment d-1 is running, not paused", None))
        }
        _ => not_expected(request),
    });
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["logs", "production"],
            3,
            "error: `URL` answered 404 to `/environments/production/logs`: <h1>Not Found</h1>\n\
             hint: is this a shipgate server? point `--server` or `SHIPGATE_SERVER` at one\n",
        ),
        (
            &["plan", "nowhere", "1.2.0"],
            2,
            "error: there is no environment `nowhere`\nhint: `shipgate status` lists them\n",
        ),
        (
            &["deploy", "production", "1.2.0"],
            1,
            "error: a deployment of `1.2.0` to `production` would be refused by `window`: inside the `weekend` freeze\n\
             hint: fix what the failing gates name, then plan again\n",
        ),
        (
            &["deploy", "staging", "1.2.0"],
            1,
            "error: the plan changed since it was shown\n\
             hint: `staging` changed since the plan was made: run the command again to see the new plan\n",
        ),
        (&["status"], 3, "error: database is locked\n"),
        (
            &["history", "production"],
            3,
            "error: `URL` answered 502 to `/environments/production/deployments`: <h1>Bad Gateway</h1>\n\
             hint: the server may be restarting; try again in a moment\n",
        ),
        (
            &["deploy", "resume", "d-1"],
            1,
            "error: deployment d-1 is running, not paused\n\
             hint: only a paused deployment can be resumed; `shipgate status` shows each one's state\n",
        ),
    ];
    for (args, code, stderr_end) in cases {
        let run = shipgate(&server, dir.path(), args, &TOKEN);
        assert_eq!(run.code, code, "{args:?}\n{}", run.transcript());
        assert!(run.stderr.replace(&server.url, "URL").ends_with(stderr_end), "{args:?}\n{}", run.stderr);
    }
    // The plan with a failing gate is shown, and deploy never asked to start it.
    assert!(!server.targets().contains(&"POST /api/v1/environments/production/deployments".to_owned()));
    let run = shipgate(&server, dir.path(), &["plan", "production", "1.2.0"], &TOKEN);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        format!(
            "plan for `production`: 1.2.0 (first release here)\ngates:\n  fail    window  inside the `weekend` freeze\nplan digest: {DIGEST}\n"
        )
    );
}

#[test]
fn a_refused_token_is_a_usage_error_that_says_where_the_token_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| {
        if request.authorization.as_deref() == Some("Bearer from-file") {
            Reply::Json(200, json!([]))
        } else {
            Reply::Json(401, error("unauthorized", "missing or unknown token", None))
        }
    });
    let run = shipgate(&server, dir.path(), &["status"], &[("SHIPGATE_TOKEN", "wrong")]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("refused the token in `SHIPGATE_TOKEN`"), "{}", run.stderr);

    let run = shipgate(&server, dir.path(), &["status"], &[]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    let file = dir.path().join(".config/shipgate/credentials.json");
    assert!(
        run.stderr.ends_with(&format!(
            "hint: set `SHIPGATE_TOKEN`, or add `{}` to `{}` (`shipgate server` writes it there at first start)\n",
            server.url,
            file.display()
        )),
        "{}",
        run.stderr
    );

    // The credentials file's entry for this URL is used when `SHIPGATE_TOKEN` is not set.
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let entries =
        json!({"servers": {"http://elsewhere:7300": {"token": "other"}, server.url.clone(): {"token": "from-file"}}});
    std::fs::write(&file, entries.to_string()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = shipgate(&server, dir.path(), &["status"], &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "no environments yet; create a release with `shipgate release create --version V`\n");
}

#[test]
fn status_json_is_the_servers_environment_status() {
    let dir = tempfile::tempdir().unwrap();
    let environments = json!([
        {"name": "production",
         "active": {"version": "1.1.0", "digest": "sha256:aabbccddeeff00112233", "since": "2026-05-04T10:00:00Z"},
         "previous": {"version": "1.0.0", "warm_until": "2026-05-04T10:30:00Z"},
         "weights": [{"version": "1.1.0", "weight": 95.0}, {"version": "1.2.0", "weight": 5.0}],
         "instances": [{"id": "i-1", "version": "1.1.0", "state": "healthy", "port": 41001, "restarts": 0}],
         "deployment": deployment("d-1", "running", None, None)},
        {"name": "staging", "active": null, "previous": null, "weights": [], "instances": [], "deployment": null},
    ]);
    let served = environments.clone();
    let server = Canned::start(move |request, _| match (request.method.as_str(), request.target.as_str()) {
        ("GET", "/api/v1/environments") => Reply::Json(200, served.clone()),
        ("GET", "/api/v1/environments/staging") => Reply::Json(200, served[1].clone()),
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["status", "--format", "json"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), environments);

    let run = shipgate(&server, dir.path(), &["status", "staging", "--format", "json"], &TOKEN);
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), environments[1]);

    let run = shipgate(&server, dir.path(), &["status"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("  weights     1.1.0 95%, 1.2.0 5%\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  deployment  d-1 running 1.1.0 -> 1.2.0 by alice"), "{}", run.stdout);
    assert!(run.stdout.contains("\nstaging\n  active      nothing deployed yet\n"), "{}", run.stdout);
}

#[test]
fn rollback_warm_prints_the_time_and_cold_follows_the_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/environments/production/rollback") if request.body.contains("1.0.0") => Reply::Json(
            200,
            json!({"mode": "cold", "version": "1.0.0", "deployment": deployment("d-3", "running", None, None)}),
        ),
        ("POST", "/api/v1/environments/production/rollback") => {
            Reply::Json(200, json!({"mode": "warm", "version": "1.1.0", "elapsed_ms": 3}))
        }
        ("GET", "/api/v1/deployments/d-3/events?after=0") => {
            Reply::Events(vec![event("d-3", 1, "succeeded", None, "production runs 1.0.0", json!({}))])
        }
        ("GET", "/api/v1/deployments/d-3") => {
            Reply::Json(200, deployment("d-3", "succeeded", Some("2026-05-04T12:00:09Z"), None))
        }
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["rollback", "production", "--reason", "error rate"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.starts_with("rolled back `production` to 1.1.0 in 3 ms (warm"), "{}", run.stdout);
    assert_eq!(serde_json::from_str::<Value>(&server.requests()[0].body).unwrap(), json!({"reason": "error rate"}));

    let run = shipgate(&server, dir.path(), &["rollback", "production", "--to", "1.0.0"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stderr.contains("starting it again with deployment d-3"), "{}", run.stderr);
    assert!(run.stderr.contains("succeeded     production runs 1.0.0"), "{}", run.stderr);
}

#[test]
fn history_and_logs_ask_for_what_the_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, _| match (request.method.as_str(), request.target.as_str()) {
        ("GET", "/api/v1/environments/production/deployments?limit=2") => Reply::Json(
            200,
            json!([
                deployment("d-2", "rolled_back", Some("2026-05-04T12:00:42Z"), Some("error rate")),
                deployment("d-1", "succeeded", Some("2026-05-04T12:03:12Z"), None)
            ]),
        ),
        ("GET", "/api/v1/environments/production/logs?instance=i-1&follow=true&tail=5") => {
            Reply::Text(200, "text/plain; charset=utf-8", "i-1 | listening on :41001\ni-1 | GET /healthz 200\n".into())
        }
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["history", "production", "--limit", "2"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    insta::assert_snapshot!(run.stdout, @r"
    ID   VERSION  FROM   STATUS       ACTOR  CREATED               DURATION  REASON
    d-2  1.2.0    1.1.0  rolled_back  alice  2026-05-04 12:00:00Z  42s       error rate
    d-1  1.2.0    1.1.0  succeeded    alice  2026-05-04 12:00:00Z  3m12s
    ");

    let run = shipgate(&server, dir.path(), &["logs", "production", "--instance", "i-1", "-f", "--tail", "5"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "i-1 | listening on :41001\ni-1 | GET /healthz 200\n");
}

#[test]
fn abort_waits_until_the_deployment_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(|request, earlier| match (request.method.as_str(), request.target.as_str()) {
        ("GET", "/api/v1/deployments/7") if earlier == 0 => Reply::Json(200, deployment("7", "running", None, None)),
        ("GET", "/api/v1/deployments/7") => {
            Reply::Json(200, deployment("7", "aborted", Some("2026-05-04T12:01:00Z"), Some("aborted by alice")))
        }
        // The server answers before the rollback is recorded when it takes long.
        ("POST", "/api/v1/deployments/7/abort") => Reply::Json(200, deployment("7", "running", None, None)),
        ("GET", "/api/v1/deployments/8") => {
            Reply::Json(200, deployment("8", "succeeded", Some("2026-05-04T12:01:00Z"), None))
        }
        _ => not_expected(request),
    });
    let run = shipgate(&server, dir.path(), &["deploy", "abort", "7", "--reason", "wrong config"], &TOKEN);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "aborted deployment 7: `production` runs 1.1.0 again\n");
    assert_eq!(run.stderr, "aborting deployment 7 of 1.2.0 to `production`: waiting until traffic is back on 1.1.0\n");
    let abort = server.requests().into_iter().find(|request| request.method == "POST").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&abort.body).unwrap(), json!({"reason": "wrong config"}));

    let run = shipgate(&server, dir.path(), &["deploy", "abort", "8"], &TOKEN);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(
        run.stderr,
        "error: deployment 8 has already ended: succeeded\nhint: `shipgate rollback production` returns `production` to the release before\n"
    );
}
