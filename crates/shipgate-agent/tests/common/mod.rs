//! Test harness: an in-process agent in a temporary state directory, the real `shipgate-sample`
//! binary as instances, a control client over the Unix socket and an HTTP client for the proxy.
//!
//! The sample binary: `cargo build -p shipgate-sample` runs once per test process (a no-op when
//! it is fresh; cargo does not hold its build lock while tests run), then the binary is taken
//! from the target directory of this test executable (`target/debug/deps/..` → `target/debug`).
//! If the build cannot run (no cargo), an existing binary is used; none at all fails loudly.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use shipgate_agent::{Agent, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn sample_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let target = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        let bin = target.join("shipgate-sample");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let profile_release = target.file_name().is_some_and(|n| n == "release");
        let mut command = std::process::Command::new(cargo);
        command.current_dir(&workspace).stdin(std::process::Stdio::null()).args([
            "build",
            "-q",
            "-p",
            "shipgate-sample",
        ]);
        if profile_release {
            command.arg("--release");
        }
        let built = command.status().map(|s| s.success()).unwrap_or(false);
        assert!(bin.exists(), "shipgate-sample not found at {} (cargo build ok: {built})", bin.display());
        bin
    })
    .clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A distinct port range per test, so parallel tests never hand out the same port.
fn port_range() -> (u16, u16) {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed);
    let base = 30_000 + (std::process::id() % 200) as u16 * 100 + slot * 20;
    (base, base + 19)
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub agent: Option<Agent>,
    pub socket: PathBuf,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("state"));
        config.port_range = port_range();
        let agent = Agent::start(config).await.unwrap();
        let socket = agent.control_socket();
        let client = Client::builder(TokioExecutor::new()).build_http();
        Harness { dir, agent: Some(agent), socket, client }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        api(&self.socket, method, path, body).await
    }

    /// Put a service listening on a fresh port; returns its address.
    pub async fn service(&self, name: &str, mut spec: Value) -> SocketAddr {
        let addr: SocketAddr = match spec.get("listen") {
            Some(listen) => listen.as_str().unwrap().parse().unwrap(),
            None => SocketAddr::from(([127, 0, 0, 1], free_port())),
        };
        spec["listen"] = json!(addr.to_string());
        if spec.get("health").is_none() {
            spec["health"] = json!({"probe": {"http": {"path": "/healthz"}}, "interval_ms": 100});
        }
        let (status, answer) = self.api("PUT", &format!("/v1/services/{name}"), Some(spec)).await;
        assert_eq!(status, 200, "{answer}");
        addr
    }

    pub async fn instance(&self, service: &str, version: &str, env: Value) -> String {
        let mut env = env;
        env["SAMPLE_VERSION"] = json!(version);
        let spec = json!({
            "service": service, "version": version, "artifact_dir": self.dir.path(),
            "command": [sample_bin()], "env": env,
        });
        let (status, answer) = self.api("POST", "/v1/instances", Some(spec)).await;
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_owned()
    }

    pub async fn wait_state(&self, id: &str, state: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, answer) = self.api("GET", &format!("/v1/instances/{id}"), None).await;
            if status == 200 && answer["state"] == state {
                return answer;
            }
            assert!(Instant::now() < deadline, "instance {id} not {state} within {within:?}: {answer}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_gone(&self, id: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.api("GET", &format!("/v1/instances/{id}"), None).await.0 != 404 {
            assert!(Instant::now() < deadline, "instance {id} not removed within {within:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn get(&self, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = http::Request::get(format!("http://{addr}{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Full::new(Bytes::new())).unwrap()).await
    }

    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Reply {
        let response = self.client.request(request).await.expect("request through the proxy");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub async fn shutdown(mut self) {
        if let Some(agent) = self.agent.take() {
            agent.shutdown(true, Duration::from_secs(5)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A failed test must not leave instances behind: kill every recorded process group.
        kill_recorded(&self.dir.path().join("state"));
    }
}

pub fn kill_recorded(state_dir: &Path) {
    let Ok(text) = std::fs::read_to_string(state_dir.join("state.json")) else { return };
    let Ok(state) = serde_json::from_str::<Value>(&text) else { return };
    for instance in state["instances"].as_array().into_iter().flatten() {
        // Never 0 or 1: kill(-1) would signal every process of this user.
        if let Some(pid) = instance["workload"]["pid"].as_i64().filter(|pid| *pid > 1)
            && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn version(&self) -> &str {
        self.headers.get("x-sample-version").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// One control request over the Unix socket (HTTP/1.1, `Connection: close`).
pub async fn api(socket: &Path, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.expect("control socket");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    let value =
        if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap_or(Value::String(body.into())) };
    (status, value)
}

/// `n` GET requests, `concurrency` at a time; returns (status, version) of each.
pub async fn load(
    h: &Harness,
    addr: SocketAddr,
    path: &str,
    n: usize,
    concurrency: usize,
    headers: &[(&str, &str)],
) -> Vec<(u16, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = h.client.clone();
        let next = next.clone();
        let path = path.to_owned();
        let headers: Vec<(String, String)> = headers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let mut builder = http::Request::get(format!("http://{addr}{path}"));
                for (name, value) in &headers {
                    builder = builder.header(name, value);
                }
                match client.request(builder.body(Full::new(Bytes::new())).unwrap()).await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let version = response
                            .headers()
                            .get("x-sample-version")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let _ = response.into_body().collect().await;
                        out.push((status, version));
                    }
                    Err(error) => out.push((0, format!("client error: {error:?}"))),
                }
            }
            out
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}
