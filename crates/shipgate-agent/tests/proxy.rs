//! The proxy and supervisor against real `shipgate-sample` processes and real sockets.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Harness, load};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn share(replies: &[(u16, String)], version: &str) -> f64 {
    replies.iter().filter(|(_, v)| v == version).count() as f64 / replies.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_split_within_two_points_at_10_90_and_50_50() {
    let h = Harness::start().await;
    let spec = |a: u32, b: u32| json!({"versions": [{"name": "v1", "weight": a}, {"name": "v2", "weight": b}]});
    let addr = h.service("web", spec(10, 90)).await;
    let v1 = h.instance("web", "v1", json!({})).await;
    let v2 = h.instance("web", "v2", json!({})).await;
    h.wait_state(&v1, "healthy", Duration::from_secs(10)).await;
    h.wait_state(&v2, "healthy", Duration::from_secs(10)).await;

    let replies = load(&h, addr, "/", 10_000, 32, &[]).await;
    assert!(replies.iter().all(|(s, _)| *s == 200), "all succeed");
    let v1_share = share(&replies, "v1");
    assert!((v1_share - 0.10).abs() <= 0.02, "10/90: v1 got {v1_share}");

    h.service(
        "web",
        json!({"listen": addr.to_string(), "versions": [{"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}]}),
    )
    .await;
    let replies = load(&h, addr, "/", 10_000, 32, &[]).await;
    assert!(replies.iter().all(|(s, _)| *s == 200));
    let v1_share = share(&replies, "v1");
    assert!((v1_share - 0.50).abs() <= 0.02, "50/50: v1 got {v1_share}");

    // Metrics count what was served, per version, cumulatively.
    let (_, metrics) = h.api("GET", "/v1/metrics", None).await;
    let total: u64 = metrics.as_array().unwrap().iter().map(|m| m["responses"]["2xx"].as_u64().unwrap()).sum();
    assert_eq!(total, 20_000);
    assert!(metrics[0]["latency"]["count"].as_u64().unwrap() > 0);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_by_header_and_cookie_and_stickiness() {
    let h = Harness::start().await;
    let addr = h
        .service(
            "web",
            json!({"sticky": true, "versions": [
                {"name": "stable", "weight": 50}, {"name": "canary", "weight": 50}, {"name": "next", "weight": 0, "pinnable": true}
            ]}),
        )
        .await;
    for v in ["stable", "canary", "next"] {
        let id = h.instance("web", v, json!({})).await;
        h.wait_state(&id, "healthy", Duration::from_secs(10)).await;
    }
    for _ in 0..20 {
        assert_eq!(h.get(addr, "/", &[("x-shipgate-version", "next")]).await.version(), "next");
        assert_eq!(h.get(addr, "/", &[("cookie", "a=b; shipgate-version=next")]).await.version(), "next");
    }
    // Weight 0 and not pinned: never reached by weighted traffic.
    let replies = load(&h, addr, "/", 400, 8, &[]).await;
    assert_eq!(share(&replies, "next"), 0.0);
    // Unknown version by header: 503 naming it.
    let refused = h.get(addr, "/", &[("x-shipgate-version", "nope")]).await;
    assert_eq!(refused.status, 503);
    assert!(refused.body.contains("`nope`"), "{}", refused.body);

    // Stickiness: the first answer sets the cookie; with it, every request stays on that version.
    let first = h.get(addr, "/", &[]).await;
    let cookie = first.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("shipgate-sticky="));
    for _ in 0..30 {
        let reply = h.get(addr, "/", &[("cookie", pair.as_str())]).await;
        assert_eq!(reply.version(), first.version());
        assert!(reply.headers.get("set-cookie").is_none());
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_reaches_an_instance_before_it_is_healthy() {
    let h = Harness::start().await;
    let addr =
        h.service("web", json!({"versions": [{"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}]})).await;
    let v1 = h.instance("web", "v1", json!({})).await;
    h.wait_state(&v1, "healthy", Duration::from_secs(10)).await;
    let started = Instant::now();
    let v2 = h.instance("web", "v2", json!({"SAMPLE_STARTUP_MS": "2000"})).await;
    let mut served_by_v2_at = None;
    while started.elapsed() < Duration::from_secs(6) {
        let reply = h.get(addr, "/", &[]).await;
        assert_eq!(reply.status, 200);
        if reply.version() == "v2" {
            served_by_v2_at = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at = served_by_v2_at.expect("v2 takes traffic once healthy");
    assert!(at >= Duration::from_millis(1900), "v2 answered after {at:?}, before its 2 s startup");
    let status = h.wait_state(&v2, "healthy", Duration::from_secs(1)).await;
    assert_eq!(status["restarts"], 0);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_restarts_with_backoff_then_crashloop() {
    let h = Harness::start().await;
    h.service(
        "web",
        json!({"versions": [{"name": "v1", "weight": 1}],
               "restart": {"backoff_initial_ms": 100, "backoff_max_ms": 1000, "crashloop_restarts": 3, "crashloop_window_ms": 60000}}),
    )
    .await;
    let started = Instant::now();
    let id = h.instance("web", "v1", json!({"SAMPLE_CRASH_AFTER": "0"})).await;
    let status = h.wait_state(&id, "crashloop", Duration::from_secs(10)).await;
    // Three restarts after waits of 100 + 200 + 400 ms: at least 700 ms, with backoff.
    assert_eq!(status["restarts"], 3, "{status}");
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(status["last_exit"].as_str().unwrap().contains("1"), "{status}");
    // Stays there: no more restarts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, again) = h.api("GET", &format!("/v1/instances/{id}"), None).await;
    assert_eq!(again["state"], "crashloop");
    assert_eq!(again["restarts"], 3);
    // The log has the sample's own crash message.
    let log = std::fs::read_to_string(h.state_dir().join("logs").join(format!("{id}.log"))).unwrap();
    assert!(log.contains("crashing at start"), "{log}");
    h.api("DELETE", &format!("/v1/instances/{id}"), None).await;
    h.wait_gone(&id, Duration::from_secs(5)).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_instance_under_load_loses_no_request() {
    let h = Harness::start().await;
    let addr = h
        .service(
            "web",
            json!({"versions": [{"name": "v1", "weight": 1}],
                   "restart": {"backoff_initial_ms": 100, "crashloop_restarts": 100}}),
        )
        .await;
    let a = h.instance("web", "v1", json!({"SAMPLE_CRASH_AFTER": "300"})).await;
    let b = h.instance("web", "v1", json!({})).await;
    h.wait_state(&a, "healthy", Duration::from_secs(10)).await;
    h.wait_state(&b, "healthy", Duration::from_secs(10)).await;
    let replies = load(&h, addr, "/", 3_000, 8, &[]).await;
    let failed: Vec<_> = replies.iter().filter(|(s, _)| *s != 200).collect();
    assert!(failed.is_empty(), "{} failed: {:?}", failed.len(), &failed[..failed.len().min(5)]);
    // The load may end while the crashed instance still waits out its backoff;
    // it must have crashed during the load and be restarted soon after.
    let (_, status) = h.api("GET", &format!("/v1/instances/{a}"), None).await;
    assert!(!status["last_exit"].is_null(), "the instance crashed under load: {status}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = h.api("GET", &format!("/v1/instances/{a}"), None).await;
        if status["restarts"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the crashing instance was restarted: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_drains_a_slow_request_and_an_open_websocket() {
    let h = Harness::start().await;
    let addr = h.service("web", json!({"versions": [{"name": "v1", "weight": 1}], "drain_ms": 10000})).await;
    let id = h.instance("web", "v1", json!({})).await;
    h.wait_state(&id, "healthy", Duration::from_secs(10)).await;

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket through the proxy");
    ws.send(tokio_tungstenite::tungstenite::Message::text("before")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), "before");

    let slow = {
        let client = h.client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let request = http::Request::get(format!("http://{addr}/slow?ms=3000"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let response = client.request(request).await.unwrap();
            (response.status().as_u16(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = h.api("DELETE", &format!("/v1/instances/{id}"), None).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["state"], "draining");
    // New requests no longer reach it.
    assert_eq!(h.get(addr, "/", &[]).await.status, 503);
    let (status, took) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(2900));
    // The WebSocket opened before removal still works after it.
    ws.send(tokio_tungstenite::tungstenite::Message::text("after")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), "after");
    let (_, still) = h.api("GET", &format!("/v1/instances/{id}"), None).await;
    assert_eq!(still["state"], "draining", "still draining while the WebSocket is open");
    ws.close(None).await.unwrap();
    drop(ws);
    h.wait_gone(&id, Duration::from_secs(5)).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_timeouts_and_bad_clients_get_clear_answers() {
    let h = Harness::start().await;
    let addr = h
        .service(
            "web",
            json!({"versions": [{"name": "v1", "weight": 1}],
                   "limits": {"max_body_bytes": 1000, "response_header_timeout_ms": 500}}),
        )
        .await;
    let id = h.instance("web", "v1", json!({})).await;
    h.wait_state(&id, "healthy", Duration::from_secs(10)).await;

    // Over the body limit by Content-Length: 413 before anything is sent upstream.
    let big = http::Request::post(format!("http://{addr}/"))
        .body(http_body_util::Full::new(bytes::Bytes::from(vec![b'x'; 5000])))
        .unwrap();
    let reply = h.send(big).await;
    assert_eq!(reply.status, 413);
    assert!(reply.body.contains("client failed"), "{}", reply.body);

    // Over the limit while streaming a chunked body: 413 too.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Head and an oversized first chunk in one write, so the limit trips before the instance
    // could answer on its own.
    let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n".to_vec();
    request.extend_from_slice(&[b'y'; 5000]);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    raw.write_all(&request).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut answer)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );

    // Slower than the response header timeout: 504 naming the instance.
    let reply = h.get(addr, "/slow?ms=2000", &[]).await;
    assert_eq!(reply.status, 504);
    assert!(reply.body.contains("upstream failed") && reply.body.contains(&id), "{}", reply.body);

    // Malformed HTTP from a raw socket: 400 from hyper, and the proxy keeps serving.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"GARBAGE\x01\x02 / NOT-HTTP\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut answer)).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");

    // A client that disconnects mid-body: nothing leaks, nothing panics.
    for _ in 0..5 {
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"POST /slow?ms=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\nonly-a-little")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(raw);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status) = h.api("GET", &format!("/v1/instances/{id}"), None).await;
    assert_eq!(status["in_flight"], 0, "{status}");
    assert_eq!(h.get(addr, "/", &[]).await.status, 200);

    // Unknown host on a listener whose only service names its hosts: 404 saying so.
    let named = h.service("named", json!({"hosts": ["app.example"], "versions": []})).await;
    let reply = h.get(named, "/", &[("host", "other.example")]).await;
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("other.example"), "{}", reply.body);
    // Known host but no healthy instance: 503 from shipgate.
    let reply = h.get(named, "/", &[("host", "app.example")]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.headers["x-shipgate-error"], "shipgate");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_services_share_a_listener_by_host_and_get_forwarded_headers() {
    let h = Harness::start().await;
    let addr = h.service("a", json!({"hosts": ["a.example"], "versions": [{"name": "va", "weight": 1}]})).await;
    h.service(
        "b",
        json!({"listen": addr.to_string(), "hosts": ["b.example"], "versions": [{"name": "vb", "weight": 1}]}),
    )
    .await;
    for (service, version) in [("a", "va"), ("b", "vb")] {
        let id = h.instance(service, version, json!({})).await;
        h.wait_state(&id, "healthy", Duration::from_secs(10)).await;
    }
    for _ in 0..10 {
        assert_eq!(h.get(addr, "/", &[("host", "a.example")]).await.version(), "va");
        assert_eq!(h.get(addr, "/", &[("host", "B.example:8080")]).await.version(), "vb");
    }
    // The services list shows both; the Prometheus text has both.
    let (_, services) = h.api("GET", "/v1/services", None).await;
    assert_eq!(services.as_array().unwrap().len(), 2);
    let (status, _) = h.api("GET", "/metrics", None).await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_refuses_bad_input_with_a_hint() {
    let h = Harness::start().await;
    let (status, answer) = h.api("PUT", "/v1/services/web", Some(json!({"listen": "127.0.0.1:1", "nope": 1}))).await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("nope"), "{answer}");
    assert!(answer["hint"].is_string());
    let (status, _) = h.api("PUT", "/v1/services/bad%20name", Some(json!({"listen": "127.0.0.1:1"}))).await;
    assert_eq!(status, 400);
    let (status, answer) = h
        .api(
            "POST",
            "/v1/instances",
            Some(json!({"service": "ghost", "version": "v", "artifact_dir": "/", "command": ["true"]})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = h.api("GET", "/v1/nothing", None).await;
    assert_eq!(status, 404);
    let mode = std::fs::metadata(&h.socket).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions())).unwrap();
    assert_eq!(mode & 0o777, 0o600);
    h.shutdown().await;
}
