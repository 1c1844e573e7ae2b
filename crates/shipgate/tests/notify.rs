//! `[notify]` webhooks end to end: a real agent and server deploy the sample service, and
//! webhook receivers in this process (plain `TcpListener` HTTP servers) hear about it, including
//! one that fails twice before it accepts and one that never answers at all.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use serde_json::Value;

const CANARY: &str = "replicas = 1\nstrategy = { canary = [ { weight = 50, hold = \"0s\" } ] }\n";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }
}

/// An HTTP receiver that answers each request with the next status of its script (the last
/// one repeats) and keeps what it received.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/deploys", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let Some((headers, body)) = read_request(&stream) else { continue };
                let mut seen = record.lock().unwrap();
                let status = script[seen.len().min(script.len() - 1)];
                seen.push(Received { at: Instant::now(), headers, body: serde_json::from_slice(&body).unwrap() });
                drop(seen);
                let mut stream = stream;
                let _ =
                    write!(stream, "HTTP/1.1 {status} Scripted\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            }
        });
        Receiver { url, seen }
    }

    /// Waits until `count` requests arrived (and a moment longer, to catch extra ones).
    fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        while self.seen.lock().unwrap().len() < count {
            assert!(Instant::now() < deadline, "only {:#?} arrived, {count} expected", self.seen.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        self.seen.lock().unwrap().clone()
    }
}

/// A request's headers (names in lowercase) and body.
type Request = (Vec<(String, String)>, Vec<u8>);

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    assert!(request_line.starts_with("POST /hooks/deploys "), "{request_line}");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers.iter().find(|(name, _)| name == "content-length")?.1.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

fn webhook(url: &str, format: &str, events: &str) -> String {
    format!("[[notify.webhook]]\nurl = \"{url}\"\nformat = \"{format}\"\nevents = [{events}]\n")
}

#[test]
fn webhooks_hear_starts_promotions_and_rollbacks_in_json_and_slack_format() {
    let cluster = Cluster::start(None, 0);
    let json = Receiver::start(vec![200]);
    let slack = Receiver::start(vec![200]);
    let notify =
        format!("{}{}", webhook(&json.url, "json", ""), webhook(&slack.url, "slack", "\"deployment.rolled_back\""));
    cluster.release_with_sections("v1", "", CANARY, &notify);
    cluster.release_with_sections("v2", ", SAMPLE_CRASH_AFTER = \"0\"", CANARY, &notify);
    let first = cluster.outcome(cluster.deploy("v1"));
    assert_eq!(first["status"], "succeeded", "{first:#}");
    let second = cluster.outcome(cluster.deploy("v2"));
    assert_eq!(second["status"], "rolled_back", "{second:#}");

    let received = json.wait_for(4, Duration::from_secs(20));
    let mut events: Vec<(String, String)> = received
        .iter()
        .map(|r| (r.body["event"].as_str().unwrap().to_owned(), r.body["version"].as_str().unwrap().to_owned()))
        .collect();
    // Each delivery is its own task: the order between two notifications may vary.
    events.sort();
    let expected = [
        ("deployment.rolled_back", "v2"),
        ("deployment.started", "v1"),
        ("deployment.started", "v2"),
        ("deployment.succeeded", "v1"),
    ];
    assert_eq!(events, expected.map(|(event, version)| (event.to_owned(), version.to_owned())), "{received:#?}");
    let rolled_back = received.iter().find(|r| r.body["event"] == "deployment.rolled_back").unwrap();
    let body = &rolled_back.body;
    assert_eq!(body["app"], "web");
    assert_eq!(body["environment"], "staging");
    assert_eq!(body["from_version"], "v1");
    assert_eq!(body["deployment"], second["id"]);
    assert_eq!(body["kind"], "deploy");
    assert_eq!(body["status"], "rolled_back");
    assert_eq!(body["reason"], second["reason"]);
    assert!(body["time"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok(), "{body}");
    assert_eq!(rolled_back.header("content-type"), "application/json");
    assert_eq!(rolled_back.header("x-shipgate-event"), "deployment.rolled_back");
    assert_eq!(
        rolled_back.header("x-shipgate-delivery"),
        format!("{}-{}-deployment.rolled_back", second["id"], body["seq"])
    );
    let started = received.iter().find(|r| r.body["event"] == "deployment.started" && r.body["version"] == "v1");
    assert_eq!(started.unwrap().body["from_version"], Value::Null);

    // The Slack webhook asked for rollbacks only.
    let received = slack.wait_for(1, Duration::from_secs(20));
    assert_eq!(received.len(), 1, "{received:#?}");
    let text = received[0].body["text"].as_str().unwrap();
    assert!(text.starts_with("web: v2 was rolled back in staging, v1 serves again: "), "{text}");
    assert_eq!(received[0].body["blocks"][0]["text"]["text"], text);
    assert_eq!(received[0].body["blocks"][0]["type"], "section");
}

#[test]
fn a_receiver_failing_twice_gets_the_notification_on_the_third_attempt_after_backoff() {
    let cluster = Cluster::start(None, 0);
    let flaky = Receiver::start(vec![503, 500, 204]);
    cluster.release_with_sections("v1", "", CANARY, &webhook(&flaky.url, "json", "\"deployment.succeeded\""));
    let outcome = cluster.outcome(cluster.deploy("v1"));
    assert_eq!(outcome["status"], "succeeded", "{outcome:#}");

    let received = flaky.wait_for(3, Duration::from_secs(20));
    assert_eq!(received.len(), 3, "delivered on the third attempt, then no more: {received:#?}");
    let attempts: Vec<&str> = received.iter().map(|r| r.header("x-shipgate-attempt")).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let deliveries: Vec<&str> = received.iter().map(|r| r.header("x-shipgate-delivery")).collect();
    assert!(deliveries.iter().all(|id| *id == deliveries[0]), "one notification, retried: {deliveries:?}");
    assert!(received.iter().all(|r| r.body["event"] == "deployment.succeeded"));
    // Exponential backoff: 0.5 s, then 1 s.
    let (first_wait, second_wait) = (received[1].at - received[0].at, received[2].at - received[1].at);
    assert!(first_wait >= Duration::from_millis(450), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(950), "{second_wait:?}");
    assert!(second_wait > first_wait, "{first_wait:?} then {second_wait:?}");
    // Nothing was recorded as failed.
    let failed = cluster.events(outcome["id"].as_u64().unwrap()).into_iter().filter(|e| e["kind"] == "notify_failed");
    assert_eq!(failed.count(), 0);
}

#[test]
fn a_receiver_that_never_answers_does_not_hold_up_a_rollback() {
    let cluster = Cluster::start(None, 0);
    // Connections complete in the kernel's backlog, and the requests are sent, but nobody ever
    // reads or answers them: every attempt runs into its timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/deploys", silent.local_addr().unwrap());
    let notify = webhook(&url, "json", "");
    cluster.release_with_sections("v1", "", CANARY, &notify);
    cluster.release_with_sections("v2", ", SAMPLE_CRASH_AFTER = \"0\"", CANARY, &notify);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");

    let started = Instant::now();
    let id = cluster.deploy("v2");
    let outcome = cluster.outcome(id);
    let took = started.elapsed();
    assert_eq!(outcome["status"], "rolled_back", "{outcome:#}");
    assert_eq!(cluster.answering(), "v1");
    // Five attempts of 5 s each would take 25 s for a single notification; the rollback did
    // not wait for any of them.
    assert!(took < Duration::from_secs(20), "the rollback took {took:?}");
    let failed = |cluster: &Cluster| -> Vec<Value> {
        cluster.events(id).into_iter().filter(|event| event["kind"] == "notify_failed").collect()
    };
    assert!(failed(&cluster).is_empty(), "the deployment finished before its notifications were given up");

    // The server gives up on each notification after its last attempt and records that.
    let deadline = Instant::now() + Duration::from_secs(60);
    let failures = loop {
        let failures = failed(&cluster);
        if failures.len() == 2 {
            break failures;
        }
        assert!(Instant::now() < deadline, "notify_failed events: {failures:#?}\n{}", cluster.log("server.log"));
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut events: Vec<&str> = failures.iter().map(|event| event["data"]["event"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["deployment.rolled_back", "deployment.started"]);
    let message = failures[0]["message"].as_str().unwrap();
    assert!(message.contains("not delivered after 5 attempt(s)"), "{message}");
    assert!(cluster.log("server.log").contains("webhook not delivered"));
    drop(silent);
}
