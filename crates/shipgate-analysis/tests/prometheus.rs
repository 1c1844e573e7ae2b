//! The Prometheus provider against a real Prometheus (the Debian `prometheus` package):
//! started here on a free port, scraping a tiny endpoint this test serves, then queried
//! through the provider. Without the binary the test says so loudly and passes, unless
//! `SHIPGATE_REQUIRE_ALL=1`, where a skip is a failure.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use shipgate_analysis::providers::{Prometheus, Provider, ProviderError, Query};
use shipgate_analysis::{Config, Counts, Hold, Judge, MetricReading, MetricRule, Reference, Verdict};

const REQUIRE_ALL_VAR: &str = "SHIPGATE_REQUIRE_ALL";

/// Says loudly, past the harness's capture, that the test did not run; or fails under
/// `SHIPGATE_REQUIRE_ALL=1`.
fn skip(reason: &str) {
    if std::env::var(REQUIRE_ALL_VAR).is_ok_and(|value| value == "1") {
        panic!("{reason}, and {REQUIRE_ALL_VAR}=1 forbids skipping");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {test}: {reason}; set {REQUIRE_ALL_VAR}=1 to make this a failure ***\n"
    );
}

/// `$SHIPGATE_TEST_PROMETHEUS`, or `prometheus` on the `PATH`.
fn prometheus_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("SHIPGATE_TEST_PROMETHEUS") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("prometheus")).find(|candidate| candidate.is_file())
}

/// A Prometheus process that is killed (and reaped) when the test ends, however it ends.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_prometheus(binary: &PathBuf, target: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: shipgate-test\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Server { child, url: format!("http://127.0.0.1:{port}"), _data: dir }
}

/// Serves `GET /metrics` in the Prometheus text format: per version, request and error
/// counters that grow at every scrape (v1 at 1% errors, v2 at 5%), and a gauge.
fn serve_metrics(stop: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let scrapes = AtomicU64::new(0);
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => answer(stream, scrapes.fetch_add(1, Ordering::Relaxed) + 1),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    address
}

fn answer(mut stream: TcpStream, scrape: u64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let requests = scrape * 1000;
    let body = format!(
        "# TYPE http_requests_total counter\n\
         http_requests_total{{app=\"hello\",env=\"production\",version=\"v1\"}} {requests}\n\
         http_requests_total{{app=\"hello\",env=\"production\",version=\"v2\"}} {requests}\n\
         # TYPE http_errors_total counter\n\
         http_errors_total{{app=\"hello\",env=\"production\",version=\"v1\"}} {}\n\
         http_errors_total{{app=\"hello\",env=\"production\",version=\"v2\"}} {}\n\
         # TYPE checkout_success_ratio gauge\n\
         checkout_success_ratio{{app=\"hello\",env=\"production\",version=\"v2\"}} 0.97\n",
        scrape * 10,
        scrape * 50,
    );
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn query(version: &str) -> Query<'_> {
    Query { app: "hello", environment: "production", version, at: Timestamp::now() }
}

/// Polls `read` until it gives a value or 60 s pass.
fn eventually(provider: &Prometheus, version: &str) -> f64 {
    let started = Instant::now();
    loop {
        match provider.read(&query(version)) {
            Ok(reading) => return reading.value.unwrap(),
            Err(error) if started.elapsed() < Duration::from_secs(60) => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(error) => panic!("Prometheus never answered with data: {error}"),
        }
    }
}

#[test]
fn prometheus_provider_reads_a_real_prometheus_and_judges_a_bad_canary() {
    let Some(binary) = prometheus_binary() else {
        skip("Prometheus is not installed (`apt-get install prometheus`, or set SHIPGATE_TEST_PROMETHEUS)");
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let target = serve_metrics(stop.clone());
    let server = start_prometheus(&binary, &target);
    let timeout = Duration::from_secs(5);

    // Instant query, templated: the gauge of the new version.
    let gauge = Prometheus::new(
        &server.url,
        "checkout_success_ratio{app=\"{{app}}\",env=\"{{env}}\",version=\"{{version}}\"}",
        timeout,
    );
    assert_eq!(eventually(&gauge, "v2"), 0.97);
    let reading = gauge.read(&query("v2")).unwrap();
    assert!(reading.detail.contains("version=\"v2\""), "{}", reading.detail);

    // Error rates from counters: 5% for v2, 1% for v1.
    let errors = Prometheus::new(
        &server.url,
        "sum(rate(http_errors_total{version=\"{{version}}\"}[10s])) / sum(rate(http_requests_total{version=\"{{version}}\"}[10s]))",
        timeout,
    );
    let canary_rate = eventually(&errors, "v2");
    assert!((canary_rate - 0.05).abs() < 1e-9, "{canary_rate}");
    assert!((eventually(&errors, "v1") - 0.01).abs() < 1e-9);

    // Range query over the last seconds.
    let end = Timestamp::now();
    let start = end - jiff::SignedDuration::from_secs(5);
    let series =
        errors.range("sum(rate(http_requests_total[10s])) by (version)", start, end, Duration::from_secs(1)).unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(series.iter().all(|one| !one.values.is_empty() && one.labels.contains_key("version")));

    // What is not one number is no data, never a verdict.
    let both = Prometheus::new(&server.url, "http_requests_total", timeout);
    assert!(matches!(both.read(&query("v2")), Err(ProviderError::NotOneNumber { series: 2, .. })));
    let nothing = Prometheus::new(&server.url, "http_requests_total{version=\"v9\"}", timeout);
    assert!(matches!(nothing.read(&query("v9")), Err(ProviderError::NoData { .. })));
    let broken = Prometheus::new(&server.url, "sum(", timeout);
    assert!(
        matches!(broken.read(&query("v2")), Err(ProviderError::Prometheus { .. })),
        "{:?}",
        broken.read(&query("v2"))
    );

    // The judge fails the new version on the metric read from Prometheus.
    let config = Config {
        compare: false,
        metrics: vec![MetricRule { name: "error-rate".to_owned(), min: None, max: Some(0.02) }],
        ..Config::default()
    };
    let now = Timestamp::now();
    let hold = Hold { start: now, end: now + jiff::SignedDuration::from_secs(60) };
    let mut judge = Judge::new(config, hold, Counts::default(), Reference::None);
    let reading = MetricReading {
        name: "error-rate".to_owned(),
        at: now,
        result: errors.read(&query("v2")).map_err(|error| error.to_string()),
    };
    let verdict = judge.observe_window(now, &Counts::default(), None, &[reading]);
    assert_eq!(verdict, Verdict::Fail, "{}", judge.evidence().summary);
    assert!(judge.evidence().summary.contains("above 0.02"), "{}", judge.evidence().summary);

    stop.store(true, Ordering::Relaxed);
    drop(server);
}

#[test]
fn an_unreachable_prometheus_is_no_data() {
    let port = free_port();
    let provider = Prometheus::new(&format!("http://127.0.0.1:{port}"), "up", Duration::from_secs(2));
    assert!(matches!(provider.read(&query("v2")), Err(ProviderError::Http { .. })));
}
