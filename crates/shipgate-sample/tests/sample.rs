#![allow(clippy::unwrap_used)]
//! The real binary, one behaviour per test. Timing assertions are lower
//! bounds only: the machine is shared and noisy.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{Sample, command, free_port, get, timed};
use tungstenite::Message;

#[test]
fn root_names_its_version_in_body_and_header() {
    let sample = Sample::start(&[("SAMPLE_VERSION", "1.2.3")]);
    let reply = sample.get("/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hello from shipgate-sample version 1.2.3\n");
    assert_eq!(reply.version.as_deref(), Some("1.2.3"));
    let announced = format!("shipgate-sample v1.2.3 listening on 127.0.0.1:{}", sample.port);
    sample.wait_for_stderr(&announced);
}

#[test]
fn version_defaults_to_dev() {
    let sample = Sample::start(&[]);
    let reply = sample.get("/");
    assert_eq!(reply.body, "hello from shipgate-sample version dev\n");
    assert_eq!(reply.version.as_deref(), Some("dev"));
}

#[test]
fn sample_listen_sets_the_whole_address() {
    let port = free_port();
    let mut command = command();
    command.env("SAMPLE_LISTEN", format!("127.0.0.1:{port}"));
    let mut sample = Sample::spawn_command(command, port);
    sample.wait_for_port();
    assert_eq!(sample.get("/").status, 200);
}

#[test]
fn healthz_is_ok() {
    let sample = Sample::start(&[]);
    let reply = sample.get("/healthz");
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
}

#[test]
fn healthz_fails_when_unhealthy() {
    let sample = Sample::start(&[("SAMPLE_UNHEALTHY", "1")]);
    assert_eq!(sample.get("/healthz").status, 503);
    assert_eq!(sample.get("/").status, 200, "only /healthz is affected");
}

#[test]
fn healthz_fails_while_starting() {
    let (sample, elapsed) = timed(|| {
        let sample = Sample::start(&[("SAMPLE_STARTUP_MS", "1500")]);
        assert_eq!(sample.get("/healthz").status, 503, "at first");
        assert_eq!(sample.get("/").status, 200, "serves while starting");
        while sample.get("/healthz").status != 200 {
            thread::sleep(Duration::from_millis(50));
        }
        sample
    });
    assert!(elapsed >= Duration::from_millis(1500), "ready after {elapsed:?}");
    drop(sample);
}

#[test]
fn error_rate_zero_never_fails() {
    let sample = Sample::start(&[("SAMPLE_ERROR_RATE", "0")]);
    for _ in 0..200 {
        assert_eq!(sample.get("/").status, 200);
    }
}

#[test]
fn error_rate_one_fails_root_and_slow_only() {
    let sample = Sample::start(&[("SAMPLE_ERROR_RATE", "1")]);
    for _ in 0..50 {
        let reply = sample.get("/");
        assert_eq!(reply.status, 500);
        assert_eq!(reply.version.as_deref(), Some("dev"), "errors name the version");
        assert_eq!(sample.get("/slow?ms=0").status, 500);
    }
    assert_eq!(sample.get("/healthz").status, 200);
}

#[test]
fn error_rate_fraction_fails_about_that_share() {
    let sample = Sample::start(&[("SAMPLE_ERROR_RATE", "0.3")]);
    let failed = (0..1000).filter(|_| sample.get("/").status == 500).count();
    // Expected 300, standard deviation about 14.5.
    assert!((200..=400).contains(&failed), "{failed} of 1000 failed");
}

#[test]
fn fixed_latency_delays_root_and_slow() {
    let sample = Sample::start(&[("SAMPLE_LATENCY_MS", "200")]);
    let (reply, elapsed) = timed(|| sample.get("/"));
    assert_eq!(reply.status, 200);
    assert!(elapsed >= Duration::from_millis(200), "took {elapsed:?}");
    let (reply, elapsed) = timed(|| sample.get("/slow?ms=100"));
    assert_eq!(reply.status, 200);
    assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
}

#[test]
fn random_latency_has_about_that_median() {
    let sample = Sample::start(&[("SAMPLE_LATENCY_MS", "50,200")]);
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let (reply, elapsed) = timed(|| sample.get("/"));
            assert_eq!(reply.status, 200);
            elapsed
        })
        .collect();
    times.sort();
    let median = times[25];
    assert!(median >= Duration::from_millis(25), "median {median:?}");
}

#[test]
fn slow_sleeps_that_long() {
    let sample = Sample::start(&[]);
    let (reply, elapsed) = timed(|| sample.get("/slow?ms=300"));
    assert_eq!((reply.status, reply.body.as_str()), (200, "slept 300 ms\n"));
    assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
}

#[test]
fn slow_rejects_bad_ms() {
    let sample = Sample::start(&[]);
    for query in ["ms=abc", "ms=-1", "ms=1.5", "ms=60001", "ms=", ""] {
        let reply = sample.get(&format!("/slow?{query}"));
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(reply.body.contains("`ms`"), "{query}: {reply:?}");
    }
}

#[test]
fn crash_after_three_requests() {
    let mut sample = Sample::start(&[("SAMPLE_CRASH_AFTER", "3")]);
    // Every request counts, whatever its path.
    assert_eq!(sample.get("/").status, 200);
    assert_eq!(sample.get("/healthz").status, 200);
    assert_eq!(sample.get("/slow?ms=10").status, 200);
    let status = sample.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", sample.stderr_after_exit());
    assert!(sample.stderr_after_exit().contains("SAMPLE_CRASH_AFTER"));
}

#[test]
fn crash_after_zero_exits_at_start() {
    let mut sample = Sample::spawn(&[("SAMPLE_CRASH_AFTER", "0")]);
    let status = sample.wait_exit();
    let stderr = sample.stderr_after_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SAMPLE_CRASH_AFTER"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn sigterm_finishes_the_request_in_flight() {
    let mut sample = Sample::start(&[]);
    let (agent, url) = (sample.agent(), sample.url("/slow?ms=1000"));
    let in_flight = thread::spawn(move || get(&agent, &url));
    // Give the request time to reach the server before the signal.
    thread::sleep(Duration::from_millis(400));
    sample.terminate();
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let status = sample.wait_exit();
    let stderr = sample.stderr_after_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn websocket_echoes_text_and_binary() {
    // Injected errors and latency do not apply to /ws.
    let sample = Sample::start(&[("SAMPLE_ERROR_RATE", "1"), ("SAMPLE_LATENCY_MS", "5000")]);
    let stream = TcpStream::connect(("127.0.0.1", sample.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let url = format!("ws://127.0.0.1:{}/ws", sample.port);
    let (mut socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
    let messages = [Message::Text("hello".into()), Message::Binary(vec![0u8, 1, 2, 255].into())];
    for message in messages {
        socket.send(message.clone()).unwrap();
        assert_eq!(socket.read().unwrap(), message);
    }
    socket.close(None).unwrap();
    // Drain until the server's close frame; then the connection ends.
    loop {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("closing: {e}"),
        }
    }
}

#[test]
fn invalid_variables_exit_2_naming_them() {
    let cases = [
        ("PORT", "http"),
        ("SAMPLE_LISTEN", "localhost"),
        ("SAMPLE_VERSION", "1 2"),
        ("SAMPLE_UNHEALTHY", "maybe"),
        ("SAMPLE_STARTUP_MS", "soon"),
        ("SAMPLE_ERROR_RATE", "1.5"),
        ("SAMPLE_LATENCY_MS", "200,100"),
        ("SAMPLE_CRASH_AFTER", "-1"),
        ("SAMPLE_ACCESS_LOG", "yes"),
    ];
    for (var, value) in cases {
        let mut sample = Sample::spawn(&[(var, value)]);
        let status = sample.wait_exit();
        let stderr = sample.stderr_after_exit();
        assert_eq!(status.code(), Some(2), "{var}={value}: {stderr}");
        let expected = format!("error: invalid value `{value}` for `{var}`");
        assert!(stderr.contains(&expected), "{var}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{var}={value}: {stderr}");
    }
}

#[test]
fn missing_port_exits_2() {
    let mut sample = Sample::spawn_command(command(), 0);
    let status = sample.wait_exit();
    let stderr = sample.stderr_after_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: ") && stderr.contains("`PORT`"), "{stderr}");
}

#[test]
fn access_log_is_off_by_default_and_on_when_asked() {
    let quiet = Sample::start(&[]);
    let loud = Sample::start(&[("SAMPLE_ACCESS_LOG", "1")]);
    for sample in [&quiet, &loud] {
        assert_eq!(sample.get("/slow?ms=1").status, 200);
    }
    loud.wait_for_stderr("access method=GET uri=/slow?ms=1 status=200");
    assert!(!quiet.stderr().contains("uri="), "{}", quiet.stderr());
}

#[test]
fn unknown_sample_variable_is_warned_about() {
    let sample = Sample::start(&[("SAMPLE_EROR_RATE", "1")]);
    assert_eq!(sample.get("/").status, 200);
    sample.wait_for_stderr("warning: ignoring unknown variable `SAMPLE_EROR_RATE`");
}
