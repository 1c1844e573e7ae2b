//! The web provider against a real HTTP server on a local socket.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use shipgate_analysis::providers::{Provider, ProviderError, Query, Web};
use shipgate_spec::Condition;

/// Answers each request with the status and body the path names: `/ok`, `/degraded`,
/// `/broken` (500) and `/text` (not JSON). Returns the base URL.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/hello/v2/ok" => ("200 OK", r#"{"checks":[{"state":"ok","ratio":0.995}]}"#),
                "/hello/v2/degraded" => ("200 OK", r#"{"checks":[{"state":"degraded","ratio":"0.9"}]}"#),
                "/hello/v2/broken" => ("500 Internal Server Error", "oops"),
                _ => ("200 OK", "not json"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

fn query() -> Query<'static> {
    Query { app: "hello", environment: "production", version: "v2", at: jiff::Timestamp::UNIX_EPOCH }
}

fn web(base: &str, path: &str, select: &str, success: Option<&str>) -> Web {
    let success = success.map(|text| Condition::parse(text).unwrap());
    Web::new(&format!("{base}/{{{{app}}}}/{{{{version}}}}/{path}"), select, success, Duration::from_secs(5))
}

#[test]
fn web_checks_select_a_value_and_test_it() {
    let base = serve();
    let ok = web(&base, "ok", "/checks/0/state", Some("== \"ok\"")).read(&query()).unwrap();
    assert_eq!(ok.ok, Some(true));
    assert!(ok.detail.contains("GET http://") && ok.detail.contains("/hello/v2/ok"), "{}", ok.detail);
    let degraded = web(&base, "degraded", "/checks/0/state", Some("== \"ok\"")).read(&query()).unwrap();
    assert_eq!(degraded.ok, Some(false));
    let ratio = web(&base, "degraded", "/checks/0/ratio", Some(">= 0.99")).read(&query()).unwrap();
    assert_eq!((ratio.ok, ratio.value), (Some(false), Some(0.9)));
    let plain = web(&base, "ok", "/checks/0/ratio", None).read(&query()).unwrap();
    assert_eq!((plain.ok, plain.value), (None, Some(0.995)));

    let missing = web(&base, "ok", "/checks/9", None).read(&query());
    assert!(
        matches!(missing, Err(ProviderError::Answer { ref why, .. }) if why.contains("no value at")),
        "{missing:?}"
    );
    let status = web(&base, "broken", "", None).read(&query());
    assert!(matches!(status, Err(ProviderError::Status { status: 500, .. })), "{status:?}");
    let text = web(&base, "text", "", None).read(&query());
    assert!(matches!(text, Err(ProviderError::Answer { ref why, .. }) if why.contains("not JSON")), "{text:?}");
    let uncomparable = web(&base, "ok", "/checks/0/state", Some("> 1")).read(&query());
    assert!(matches!(uncomparable, Err(ProviderError::Answer { .. })), "{uncomparable:?}");
}
