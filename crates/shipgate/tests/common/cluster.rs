//! The control plane end to end, shared by the test files that need it: a real agent with
//! its metrics endpoint, the real server on its own data directory, and helpers that create
//! releases of the sample service and drive the API and the CLI.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::load::{adopt_orphans, free_port, sample_bin};

/// Port ranges for instances, distinct per test (tests run in parallel).
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

pub fn port_range() -> String {
    let slot = NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
    let low = 31000 + slot * 200 + (std::process::id() % 5) as u16 * 3000;
    format!("{low}-{}", low + 199)
}

/// One agent, one server and a project folder.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub agent: Option<Child>,
    pub server: Option<Child>,
    pub api: SocketAddr,
    pub listen: SocketAddr,
    pub token: String,
    pub database: Option<String>,
    pub delay_ms: u64,
    /// Extra environment of the server (the app database's URL for migrations).
    pub server_env: Vec<(String, String)>,
    /// Extra arguments of `shipgate server` (e.g. `--secrets-key-file`), from its next start.
    pub server_args: Vec<String>,
    /// Where the agent serves Prometheus metrics.
    pub agent_metrics: SocketAddr,
    /// The public key of `signing.key`, which signs every release `release_with` creates
    /// (production refuses unsigned releases); in `[artifact] trusted_keys`.
    pub public_key: String,
}

impl Cluster {
    pub fn start(database: Option<String>, delay_ms: u64) -> Cluster {
        Cluster::start_with(database, delay_ms, Vec::new())
    }

    pub fn start_with(database: Option<String>, delay_ms: u64, server_env: Vec<(String, String)>) -> Cluster {
        adopt_orphans();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("agent");
        std::fs::create_dir(&state).unwrap();
        let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
        let agent_metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let agent = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(["agent", "--stop-instances-on-exit", "--port-range", &port_range(), "--metrics-listen"])
            .arg(agent_metrics.to_string())
            .arg("--state-dir")
            .arg(&state)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.join("control.sock").exists() {
            assert!(Instant::now() < deadline, "the agent did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let keys = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(["keys", "generate", "--name"])
            .arg(dir.path().join("signing"))
            .env_remove("SHIPGATE_KEY_PASSWORD")
            .output()
            .unwrap();
        assert!(keys.status.success(), "keys generate: {}", String::from_utf8_lossy(&keys.stderr));
        let public = std::fs::read_to_string(dir.path().join("signing.pub")).unwrap();
        let public_key = public.lines().nth(1).unwrap().trim().to_owned();
        let mut cluster = Cluster {
            dir,
            agent: Some(agent),
            server: None,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen,
            token: String::new(),
            database,
            delay_ms,
            server_env,
            server_args: Vec::new(),
            agent_metrics,
            public_key,
        };
        cluster.start_server();
        cluster
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn start_server(&mut self) {
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
        command
            .args([
                "server",
                "--orphan-grace",
                "1s",
                "--drift-interval",
                "300ms",
                "--listen",
                &api.to_string(),
                "--data-dir",
            ])
            .arg(self.path("data"))
            .arg("--agent-socket")
            .arg(self.path("agent/control.sock"))
            .args(&self.server_args)
            .env("NO_COLOR", "1")
            .env("SHIPGATE_STEP_DELAY_MS", self.delay_ms.to_string())
            .envs(self.server_env.iter().map(|(key, value)| (key.as_str(), value.as_str())))
            .env("SHIPGATE_CREDENTIALS", self.path("credentials.json"))
            .stdout(Stdio::piped())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(self.path("server.log")).unwrap());
        if let Some(database) = &self.database {
            command.args(["--database", database]);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let first_start = self.token.is_empty();
        self.server = Some(child);
        self.api = api;
        if first_start {
            let mut lines = BufReader::new(stdout).lines();
            let _announcement = lines.next().unwrap().unwrap();
            self.token = lines.next().unwrap().unwrap().trim().to_owned();
            assert!(self.token.starts_with("sgt_"), "token: {}", self.token);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while http(api, "GET", "/api/v1/health", None, None).map(|(status, _)| status) != Ok(200) {
            assert!(Instant::now() < deadline, "the server did not start:\n{}", self.log("server.log"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill_server(&mut self) {
        let mut server = self.server.take().unwrap();
        server.kill().unwrap();
        server.wait().unwrap();
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Creates release `version` whose instances run the sample with `env` (TOML inline-table
    /// entries) under `environment` (TOML for `[environments.staging]`).
    pub fn release(&self, version: &str, env: &str, environment: &str) {
        let environments = format!("[environments.staging]\nlisten = \"{}\"\n{environment}\n", self.listen);
        self.release_with(version, env, &environments, &[]);
    }

    /// Creates release `version` with these `[environments.*]` tables and extra
    /// `release create` arguments.
    pub fn release_with(&self, version: &str, env: &str, environments: &str, args: &[&str]) {
        let key = self.path("signing.key");
        let mut signed = vec!["--sign", key.to_str().unwrap()];
        signed.extend_from_slice(args);
        self.release_unsigned(version, env, environments, &signed);
    }

    /// Like [`Cluster::release_with`], without signing unless `args` say so.
    pub fn release_unsigned(&self, version: &str, env: &str, environments: &str, args: &[&str]) {
        self.create_release(version, env, environments, &self.public_key, args);
    }

    /// Creates release `version` signed with the secret key at `key_file`, whose one-line
    /// public key `public_key` is the only one in `[artifact] trusted_keys`.
    pub fn release_signed_by(&self, version: &str, environments: &str, public_key: &str, key_file: &str) {
        self.create_release(version, "", environments, public_key, &["--sign", key_file]);
    }

    fn create_release(&self, version: &str, env: &str, environments: &str, trusted_key: &str, args: &[&str]) {
        let project = self.path(&format!("project-{version}"));
        std::fs::create_dir_all(project.join("app")).unwrap();
        std::fs::copy(sample_bin(), project.join("app/shipgate-sample")).unwrap();
        std::fs::write(project.join("app/VERSION"), version).unwrap();
        let spec = format!(
            "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\ntrusted_keys = [\"{key}\"]\n\
             [run]\ncommand = [\"./shipgate-sample\"]\nenv = {{ SAMPLE_VERSION = \"{version}\"{env} }}\n\
             drain = \"1s\"\nstop_grace = \"1s\"\n\
             [run.health]\nhttp = \"/healthz\"\ninterval = \"100ms\"\nhealthy = 1\nunhealthy = 2\nstartup = \"3s\"\n\
             {environments}",
            key = trusted_key
        );
        std::fs::write(project.join("shipgate.toml"), spec).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .current_dir(&project)
            .args(["release", "create", "--version", version, "--commit", "0123456789abcdef", "--data-dir"])
            .arg(self.path("data"))
            .args(self.database.iter().flat_map(|database| ["--database", database.as_str()]))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "release create: {}", String::from_utf8_lossy(&output.stderr));
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = http(self.api, method, path, Some(&self.token), body.as_ref()).unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Starts a deployment and returns its id.
    pub fn deploy(&self, version: &str) -> u64 {
        let (status, body) =
            self.call("POST", "/api/v1/environments/staging/deployments", Some(json!({"version": version})));
        assert_eq!(status, 201, "{body}");
        body["id"].as_u64().unwrap()
    }

    /// Waits for the deployment's final status.
    pub fn outcome(&self, id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = self.call("GET", &format!("/api/v1/deployments/{id}"), None);
            if ["succeeded", "rolled_back", "failed", "aborted", "rejected"]
                .contains(&body["status"].as_str().unwrap_or(""))
            {
                return body;
            }
            assert!(Instant::now() < deadline, "deployment {id} did not finish: {body:#}\n{}", self.log("server.log"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn status(&self) -> Value {
        self.call("GET", "/api/v1/environments/staging", None).1
    }

    /// The version that answers `GET /` now.
    pub fn answering(&self) -> String {
        let (_, body) = http(self.listen, "GET", "/", None, None).unwrap();
        // "hello from shipgate-sample version V"
        body.split_whitespace().last().unwrap_or_default().to_owned()
    }

    pub fn events(&self, id: u64) -> Vec<Value> {
        let (status, text) =
            http(self.api, "GET", &format!("/api/v1/deployments/{id}/events"), Some(&self.token), None).unwrap();
        assert_eq!(status, 200);
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|data| serde_json::from_str(data.trim()).unwrap())
            .collect()
    }

    pub fn live_instances(&self, version: &str) -> usize {
        self.status()["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|instance| instance["version"] == version && instance["live"] == true)
            .count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The server's side of a failed test, which is otherwise lost with the directory.
            let log = self.log("server.log");
            let tail: Vec<&str> = log.lines().filter(|line| !line.starts_with("  ")).rev().take(40).collect();
            eprintln!("--- server.log (last 40 lines, no backtrace frames) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some(mut agent) = self.agent.take() {
            // SIGTERM: the agent drains and stops its instances (--stop-instances-on-exit).
            if let Some(pid) = rustix::process::Pid::from_raw(agent.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while agent.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; the body read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no head")?;
    let status = head.get(9..12).and_then(|s| s.parse().ok()).ok_or("bad status")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_owned() };
    Ok((status, body))
}

pub fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

impl Cluster {
    /// The audit ledger's entries whose action matches `action` (`deployment.*` for a prefix).
    pub fn audit(&self, action: &str) -> Value {
        let log = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(["audit", "log", "--format", "json", "--action", action, "--data-dir"])
            .arg(self.path("data"))
            .output()
            .unwrap();
        serde_json::from_slice(&log.stdout).unwrap_or(Value::Null)
    }

    /// Waits until deployment `id` is paused; it must not finish meanwhile.
    pub fn until_paused(&self, id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = self.call("GET", &format!("/api/v1/deployments/{id}"), None);
            if body["status"] == "paused" {
                return body;
            }
            assert!(body["finished"].is_null(), "it should pause, not finish: {body:#}");
            assert!(Instant::now() < deadline, "never paused: {body:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the CLI against this cluster's server with its token.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.cli_as(&self.token, args)
    }

    /// An API call with another token.
    pub fn call_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = http(self.api, method, path, Some(token), body.as_ref()).unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates a token with `role` and returns its secret.
    pub fn token(&self, name: &str, role: &str) -> String {
        self.token_with(json!({"name": name, "role": role}))["token"].as_str().unwrap().to_owned()
    }

    /// Creates a token from `request` (name, role, environments, expires) and returns the answer:
    /// its `id` and its secret `token`.
    pub fn token_with(&self, request: Value) -> Value {
        let (status, body) = self.call("POST", "/api/v1/tokens", Some(request));
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Runs the CLI against this cluster's server with `token`.
    pub fn cli_as(&self, token: &str, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(args)
            .env("SHIPGATE_SERVER", format!("http://{}", self.api))
            .env("SHIPGATE_TOKEN", token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
    }
}

impl Cluster {
    pub fn deploy_to(&self, env: &str, version: &str, overrides: Value) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/api/v1/environments/{env}/deployments"),
            Some(json!({"version": version, "overrides": overrides})),
        )
    }
}

impl Cluster {
    /// The version answering `GET /`, retrying past the sample's deliberate 500s.
    pub fn answering_ignoring_errors(&self) -> String {
        for _ in 0..50 {
            let (status, body) = http(self.listen, "GET", "/", None, None).unwrap();
            if status == 200 {
                return body.split_whitespace().last().unwrap_or_default().to_owned();
            }
        }
        String::new()
    }
}

impl Cluster {
    /// Creates release `version` like [`Cluster::release`] (the sample with `env`, staging with
    /// `environment`), with `extra` appended to its shipgate.toml: further sections such as
    /// `[[notify.webhook]]`.
    pub fn release_with_sections(&self, version: &str, env: &str, environment: &str, extra: &str) {
        let environments = format!("[environments.staging]\nlisten = \"{}\"\n{environment}\n{extra}\n", self.listen);
        self.release_with(version, env, &environments, &[]);
    }
}

impl Cluster {
    /// The events of deployment `id` recorded so far, as the API's JSON list (`Accept:
    /// application/json`): answered at once, even while the deployment runs.
    pub fn events_json(&self, id: u64) -> Vec<Value> {
        let mut stream = TcpStream::connect_timeout(&self.api, Duration::from_secs(2)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "GET /api/v1/deployments/{id}/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.token
        )
        .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        serde_json::from_str(&body).unwrap()
    }
}
