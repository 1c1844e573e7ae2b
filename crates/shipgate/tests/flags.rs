//! Feature flags end to end: a real server and agent, a release declaring flags, instances that
//! get `SHIPGATE_FLAGS_URL` and a flag token, OFREP answers checked against the protocol's
//! schema, the CLI changing flags (kill, rollout, bad input), the ledger, token scopes, and an
//! OpenFeature SDK (Python `openfeature-sdk` with `openfeature-provider-ofrep`, installed by
//! scripts/setup) reading the flags.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::cluster::Cluster;
use serde_json::{Value, json};

const FLAGS: &str = r##"
[flags.new-checkout]
variants = { on = true, off = false }
default = "off"
targeting = '{"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", null]}'

[flags.color]
variants = { red = "#f00", blue = "#00f" }
default = "red"
targeting = { fractional = [ ["red", 50], ["blue", 50] ] }
"##;

/// One HTTP/1.1 request with extra headers; the status, the lower-cased head and the body.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, Value) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let head = head.to_ascii_lowercase();
    let rest =
        if head.contains("transfer-encoding: chunked") { common::cluster::dechunk(rest) } else { rest.to_owned() };
    (status, head, serde_json::from_str(&rest).unwrap_or(Value::String(rest)))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| line.strip_prefix(&format!("{name}: ")).map(|value| value.trim().to_owned()))
}

fn ofrep(cluster: &Cluster, token: &str, key: Option<&str>, context: Value) -> (u16, String, Value) {
    let path = match key {
        Some(key) => format!("/ofrep/v1/evaluate/flags/{key}"),
        None => "/ofrep/v1/evaluate/flags".to_owned(),
    };
    let auth = format!("Bearer {token}");
    request(cluster.api, "POST", &path, &[("Authorization", &auth)], &json!({"context": context}).to_string())
}

fn validator(definition: &str) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(shipgate_flags_schema()).unwrap();
    schema["$ref"] = json!(format!("#/$defs/{definition}"));
    jsonschema::validator_for(&schema).unwrap()
}

fn shipgate_flags_schema() -> &'static str {
    include_str!("../../shipgate-flags/schema/ofrep.schema.json")
}

/// An environment variable of the running instances, from the agent's state.
fn instance_env(cluster: &Cluster, name: &str) -> String {
    fn find(value: &Value, name: &str) -> Option<String> {
        match value {
            Value::Object(map) => map
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| map.values().find_map(|value| find(value, name))),
            Value::Array(items) => items.iter().find_map(|value| find(value, name)),
            _ => None,
        }
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.path("agent/state.json")).unwrap()).unwrap();
    find(&state, name).unwrap_or_else(|| panic!("no instance has {name}"))
}

#[test]
fn flags_are_served_over_ofrep_and_changed_by_the_cli() {
    let cluster = Cluster::start(None, 0);
    cluster.release_with_sections("1.0.0", "", "", FLAGS);
    let id = cluster.deploy("1.0.0");
    assert_eq!(cluster.outcome(id)["status"], "succeeded", "{}", cluster.log("server.log"));

    // Instances get the URL and a flag token of their environment.
    let url = instance_env(&cluster, "SHIPGATE_FLAGS_URL");
    assert_eq!(url, format!("http://{}", cluster.api));
    let token = instance_env(&cluster, "SHIPGATE_FLAGS_TOKEN");
    assert_ne!(token, cluster.token, "instances must not hold the admin token");

    let success = validator("evaluationSuccess");
    let (status, _, body) =
        ofrep(&cluster, &token, Some("new-checkout"), json!({"targetingKey": "u1", "email": "ada@example.com"}));
    assert_eq!((status, &body["value"], &body["reason"]), (200, &json!(true), &json!("TARGETING_MATCH")), "{body}");
    assert!(success.is_valid(&body), "{body}");
    let (status, _, body) =
        ofrep(&cluster, &token, Some("new-checkout"), json!({"targetingKey": "u2", "email": "bob@other.org"}));
    assert_eq!((status, &body["variant"], &body["reason"]), (200, &json!("off"), &json!("DEFAULT")), "{body}");
    let (status, _, body) = ofrep(&cluster, &token, Some("no-such-flag"), json!({}));
    assert_eq!((status, &body["errorCode"]), (404, &json!("FLAG_NOT_FOUND")), "{body}");
    assert!(validator("flagNotFound").is_valid(&body), "{body}");
    let (status, _, body) = ofrep(&cluster, &token, Some("new-checkout"), json!({"targetingKey": 7}));
    assert_eq!((status, &body["errorCode"]), (400, &json!("INVALID_CONTEXT")), "{body}");
    assert!(validator("evaluationFailure").is_valid(&body), "{body}");

    // Bulk evaluation with an ETag: unchanged answers are 304.
    let context = json!({"targetingKey": "u1", "email": "ada@example.com"});
    let (status, head, bulk) = ofrep(&cluster, &token, None, context.clone());
    assert_eq!(status, 200, "{bulk}");
    assert!(validator("bulkEvaluationSuccess").is_valid(&bulk), "{bulk}");
    assert_eq!(bulk["flags"].as_array().unwrap().len(), 2, "{bulk}");
    let etag = header(&head, "etag").expect("an etag");
    let auth = format!("Bearer {token}");
    let body = json!({"context": context}).to_string();
    let headers = [("Authorization", auth.as_str()), ("If-None-Match", etag.as_str())];
    let (status, _, _) = request(cluster.api, "POST", "/ofrep/v1/evaluate/flags", &headers, &body);
    assert_eq!(status, 304);

    // The kill switch takes effect on the next evaluation, and changes the bulk answer.
    let (code, _, stderr) = cluster.cli(&["flags", "kill", "staging", "new-checkout"]);
    assert_eq!(code, 0, "{stderr}");
    let (status, _, body) = ofrep(&cluster, &token, Some("new-checkout"), context.clone());
    assert_eq!((status, &body["value"], &body["reason"]), (200, &json!(false), &json!("DISABLED")), "{body}");
    let (status, _, _) = request(cluster.api, "POST", "/ofrep/v1/evaluate/flags", &headers, &body_of(&context));
    assert_eq!(status, 200, "a changed answer is not a 304");

    // A 10% rollout: about a tenth of the keys, SPLIT, and a missing key is an error.
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "new-checkout", "--rollout", "10%"]);
    assert_eq!(code, 0, "{stderr}");
    let mut on = 0;
    for index in 0..300 {
        let (status, _, body) =
            ofrep(&cluster, &token, Some("new-checkout"), json!({"targetingKey": format!("user-{index}")}));
        assert_eq!(status, 200, "{body}");
        if body["reason"] == "SPLIT" {
            assert_eq!(body["value"], true);
            on += 1;
        }
    }
    assert!((10..=55).contains(&on), "{on} of 300 keys in a 10% rollout");
    let (status, _, body) = ofrep(&cluster, &token, Some("new-checkout"), json!({}));
    assert_eq!((status, &body["errorCode"]), (400, &json!("TARGETING_KEY_MISSING")), "{body}");

    // Bad input: clear errors, exit 2.
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "no-such-flag", "--variant", "on"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no flag `no-such-flag`") && stderr.contains("new-checkout"), "{stderr}");
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "new-checkout", "--variant", "maybe"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no variant `maybe`") && stderr.contains("`off`"), "{stderr}");
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "new-checkout", "--rollout", "150%"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("150%"), "{stderr}");
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "color", "--rollout", "5%"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a boolean flag"), "{stderr}");

    // Every change is in the ledger, and in the flag's history.
    let (code, stdout, stderr) = cluster.cli(&["flags", "history", "staging", "new-checkout"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("killed") && stdout.contains("10%"), "{stdout}");
    let killed = cluster.audit("flag.killed");
    assert_eq!(killed.as_array().map(Vec::len), Some(1), "{killed}");
    let set = cluster.audit("flag.set");
    assert_eq!(set.as_array().map(Vec::len), Some(1), "{set}");
    let (code, stdout, _) = cluster.cli(&["flags", "list", "staging"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("new-checkout") && stdout.contains("color"), "{stdout}");

    // Scopes: the flag token evaluates flags and nothing else, and only its environment's.
    let (status, _, body) =
        request(cluster.api, "GET", "/api/v1/environments/staging/flags", &[("Authorization", &auth)], "");
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = request(
        cluster.api,
        "POST",
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("Authorization", &auth), ("X-Shipgate-Environment", "production")],
        r#"{"context": {"targetingKey": "u1"}}"#,
    );
    assert_eq!(status, 200, "a flag token answers for its own environment whatever the header says: {body}");
    let (code, stdout, stderr) =
        cluster.cli(&["token", "create", "--role", "viewer", "--env", "staging", "--env", "qa", "--name", "two"]);
    assert_eq!(code, 0, "{stderr}");
    let viewer = format!("Bearer {}", stdout.trim());
    let (status, _, body) = request(
        cluster.api,
        "POST",
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("Authorization", &viewer), ("X-Shipgate-Environment", "production")],
        r#"{"context": {"targetingKey": "u1"}}"#,
    );
    assert_eq!(status, 403, "a token of staging and qa cannot evaluate production's flags: {body}");

    sdk_reads_flags(&cluster, &url, &token);
}

fn body_of(context: &Value) -> String {
    json!({"context": context}).to_string()
}

/// The Python OpenFeature SDK with the OFREP provider, pointed at the server as an instance
/// would be; the kill switch changes what it reads on the next evaluation.
fn sdk_reads_flags(cluster: &Cluster, url: &str, token: &str) {
    let python = std::env::var("SHIPGATE_TEST_OFREP_PYTHON").unwrap_or_else(|_| {
        format!("{}/.cache/shipgate/ofrep-venv/bin/python", std::env::var("HOME").unwrap_or_default())
    });
    if !std::path::Path::new(&python).exists() {
        assert!(
            std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
            "the OpenFeature SDK is required (SHIPGATE_REQUIRE_ALL=1) but `{python}` is missing; run scripts/setup"
        );
        eprintln!("SKIPPED: the OpenFeature SDK check needs `{python}` (scripts/setup installs it)");
        return;
    }
    let script = r#"
import json, os, sys
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider
token = os.environ["SHIPGATE_FLAGS_TOKEN"]
api.set_provider(OFREPProvider(os.environ["SHIPGATE_FLAGS_URL"], headers_factory=lambda: {"Authorization": "Bearer " + token}))
client = api.get_client()
context = EvaluationContext("user-1", {"email": "ada@example.com"})
checkout = client.get_boolean_details("new-checkout", False, context)
color = client.get_string_details("color", "none", context)
missing = client.get_boolean_details("no-such-flag", True, context)
print(json.dumps({
    "checkout": [checkout.value, str(checkout.reason)],
    "color": color.value,
    "missing": [missing.value, str(missing.error_code)],
}))
"#;
    let run = || {
        let output = std::process::Command::new(&python)
            .args(["-c", script])
            .env("SHIPGATE_FLAGS_URL", url)
            .env("SHIPGATE_FLAGS_TOKEN", token)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let (code, _, stderr) = cluster.cli(&["flags", "set", "staging", "new-checkout", "--reset"]);
    assert_eq!(code, 0, "{stderr}");
    let answer = run();
    assert_eq!(answer["checkout"][0], true, "{answer}");
    assert!(answer["checkout"][1].as_str().unwrap().contains("TARGETING_MATCH"), "{answer}");
    assert!(["#f00", "#00f"].contains(&answer["color"].as_str().unwrap()), "{answer}");
    assert_eq!(answer["missing"][0], true, "{answer}");
    assert!(answer["missing"][1].as_str().unwrap().contains("FLAG_NOT_FOUND"), "{answer}");
    let (code, _, stderr) = cluster.cli(&["flags", "kill", "staging", "new-checkout"]);
    assert_eq!(code, 0, "{stderr}");
    let answer = run();
    assert_eq!(answer["checkout"][0], false, "{answer}");
    assert!(answer["checkout"][1].as_str().unwrap().contains("DISABLED"), "{answer}");
}
