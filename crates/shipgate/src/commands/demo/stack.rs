//! The demo's processes and files: an agent and a server (this very executable, as
//! subprocesses), a signing key, the sample service's releases, and a small JSON client for the
//! server's API that keeps refusals' bodies (their `findings`).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use super::hooks::Hooks;
use crate::env_vars;

/// What a release of the demo's sample service does.
pub struct Sample<'a> {
    pub version: &'a str,
    /// Extra `[run] env` entries (`, KEY = "value"`).
    pub env: &'a str,
    /// Extra top-level TOML (a `[windows]` table).
    pub extra: &'a str,
    pub signed: bool,
}

pub struct Stack {
    pub dir: PathBuf,
    pub exe: PathBuf,
    pub sample: PathBuf,
    agent: Option<Child>,
    server: Option<Child>,
    pub api: SocketAddr,
    pub staging: SocketAddr,
    pub production: SocketAddr,
    pub token: String,
    public_key: String,
    http: ureq::Agent,
    /// The team's chat: `[notify]` sends here.
    pub hooks: Hooks,
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0").context("cannot bind a port on 127.0.0.1")?.local_addr()?)
}

/// `shipgate-sample` next to this executable (where `cargo build` puts both), else on PATH.
pub fn find_sample(exe: &Path) -> Option<PathBuf> {
    let beside = exe.with_file_name("shipgate-sample");
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("shipgate-sample"))
        .find(|candidate| candidate.is_file())
}

impl Stack {
    /// Starts the agent, makes the signing key and starts the server in `dir`.
    pub fn start(dir: PathBuf, exe: PathBuf, sample: PathBuf) -> anyhow::Result<Stack> {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let mut stack = Stack {
            dir,
            exe,
            sample,
            agent: None,
            server: None,
            api: free_addr()?,
            staging: free_addr()?,
            production: free_addr()?,
            token: String::new(),
            public_key: String::new(),
            http,
            hooks: Hooks::start()?,
        };
        stack.start_agent()?;
        stack.make_key()?;
        stack.start_server()?;
        Ok(stack)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    fn log(&self, name: &str) -> anyhow::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .with_context(|| format!("cannot write `{name}` in `{}`", self.dir.display()))
    }

    fn start_agent(&mut self) -> anyhow::Result<()> {
        let state = self.path("agent");
        std::fs::create_dir_all(&state)?;
        // Instances' ports: a range of its own per demo, so two demos can run side by side.
        let low = 40000 + (std::process::id() % 100) as u16 * 200;
        let agent = Command::new(&self.exe)
            .args(["agent", "--stop-instances-on-exit", "--port-range", &format!("{low}-{}", low + 199)])
            .arg("--metrics-listen")
            .arg(free_addr()?.to_string())
            .arg("--state-dir")
            .arg(&state)
            .env(env_vars::NO_COLOR, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log("agent.log")?)
            .spawn()
            .context("cannot start `shipgate agent`")?;
        self.agent = Some(agent);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.join("control.sock").exists() {
            if Instant::now() > deadline {
                bail!("the agent did not start within 10s (see `{}`)", self.path("agent.log").display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn make_key(&mut self) -> anyhow::Result<()> {
        let output = Command::new(&self.exe)
            .args(["keys", "generate", "--name"])
            .arg(self.path("signing"))
            .env_remove(env_vars::SHIPGATE_KEY_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .context("cannot run `shipgate keys generate`")?;
        if !output.status.success() {
            bail!("`shipgate keys generate` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let public = std::fs::read_to_string(self.path("signing.pub"))?;
        self.public_key = public.lines().nth(1).unwrap_or_default().trim().to_owned();
        Ok(())
    }

    fn start_server(&mut self) -> anyhow::Result<()> {
        let mut server = Command::new(&self.exe)
            .args(["server", "--listen", &self.api.to_string(), "--data-dir"])
            .arg(self.data_dir())
            .arg("--agent-socket")
            .arg(self.path("agent/control.sock"))
            .env(env_vars::NO_COLOR, "1")
            // Its admin token goes into the demo's folder, never into the user's credentials.
            .env(env_vars::SHIPGATE_CREDENTIALS, self.path("credentials.json"))
            .env_remove(env_vars::SHIPGATE_STEP_DELAY_MS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(self.log("server.log")?)
            .spawn()
            .context("cannot start `shipgate server`")?;
        let stdout = server.stdout.take().ok_or_else(|| anyhow!("no standard output from the server"))?;
        self.server = Some(server);
        // "admin token (shown once, …):" then the token.
        let token = BufReader::new(stdout).lines().map_while(Result::ok).find(|line| line.trim().starts_with("sgt_"));
        self.token = token.map(|line| line.trim().to_owned()).ok_or_else(|| {
            anyhow!("the server printed no admin token (see `{}`)", self.path("server.log").display())
        })?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.call("GET", "/api/v1/health", None).map(|(status, _)| status).unwrap_or(0) != 200 {
            if Instant::now() > deadline {
                bail!("the server did not answer within 20s (see `{}`)", self.path("server.log").display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The demo's shipgate.toml: staging, then production with a two-step canary judged by
    /// analysis; short holds and fast health checks keep the whole demo under half a minute.
    fn spec(&self, sample: &Sample) -> String {
        format!(
            r#"[app]
name = "web"

[artifact]
path = "app"
trusted_keys = ["{key}"]

[run]
command = ["./shipgate-sample"]
env = {{ SAMPLE_VERSION = "{version}"{env} }}
drain = "1s"
stop_grace = "1s"

[run.health]
http = "/healthz"
interval = "100ms"
healthy = 1
unhealthy = 2
startup = "3s"

[[notify.webhook]]
url = "{hooks}"
format = "slack"
{extra}
[environments.staging]
listen = "{staging}"
smoke = [{{ http = "/healthz" }}]

[environments.production]
listen = "{production}"
requires = ["staging"]
replicas = 2
strategy = {{ canary = [ {{ weight = 20, hold = "4s" }}, {{ weight = 50, hold = "4s" }} ] }}
smoke = [{{ http = "/healthz" }}]
analysis = {{ error_rate_max = 0.05, p99_max = "500ms", on_inconclusive = "promote" }}
"#,
            key = self.public_key,
            version = sample.version,
            env = sample.env,
            extra = sample.extra,
            hooks = self.hooks.url,
            staging = self.staging,
            production = self.production,
        )
    }

    /// `shipgate release create` for the sample, signed or not, with passing test evidence.
    pub fn release(&self, sample: &Sample) -> anyhow::Result<()> {
        let project = self.path(&format!("project-{}", sample.version));
        std::fs::create_dir_all(project.join("app"))?;
        std::fs::copy(&self.sample, project.join("app/shipgate-sample"))
            .with_context(|| format!("cannot copy `{}`", self.sample.display()))?;
        std::fs::write(project.join("shipgate.toml"), self.spec(sample))?;
        let key = self.path("signing.key");
        let mut command = Command::new(&self.exe);
        command
            .current_dir(&project)
            .args(["release", "create", "--version", sample.version, "--commit", "0123456789abcdef"])
            .args(["--test-exit", "0", "--data-dir"])
            .arg(self.data_dir())
            .env(env_vars::NO_COLOR, "1")
            .env_remove(env_vars::SHIPGATE_KEY_PASSWORD)
            .env_remove(env_vars::SHIPGATE_SIGNING_KEY)
            .stdin(Stdio::null());
        if sample.signed {
            command.arg("--sign").arg(&key);
        }
        let output = command.output().context("cannot run `shipgate release create`")?;
        if !output.status.success() {
            bail!(
                "`shipgate release create {}` failed: {}",
                sample.version,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Commits the sample's `sample.version` to the demo's git repository (`project/`) and
    /// takes it through `shipgate pipeline run`, whose stage list goes to standard error when
    /// `show`, else to `pipeline.log`. Whether every stage succeeded.
    pub fn pipeline(&self, sample: &Sample, message: &str, show: bool) -> anyhow::Result<bool> {
        let project = self.path("project");
        if !project.join(".git").exists() {
            std::fs::create_dir_all(&project)?;
            git(&project, &["init", "-q"])?;
            std::fs::write(project.join(".gitignore"), "app/\n.shipgate/\n")?;
            std::fs::write(project.join("test.sh"), TEST_SCRIPT)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(project.join("test.sh"), std::fs::Permissions::from_mode(0o755))?;
        }
        let pipeline = format!(
            "\n[pipeline]\nbuild = [\"mkdir -p app && cp '{}' app/shipgate-sample\"]\ntest = [\"./test.sh\"]\n",
            self.sample.display()
        );
        std::fs::write(project.join("shipgate.toml"), self.spec(sample) + &pipeline)?;
        git(&project, &["add", "-A"])?;
        git(
            &project,
            &["-c", "user.name=shipgate demo", "-c", "user.email=demo@localhost", "commit", "-q", "-m", message],
        )?;
        let stderr = if show { Stdio::inherit() } else { Stdio::from(self.log("pipeline.log")?) };
        let status = Command::new(&self.exe)
            .args(["pipeline", "run", "--version", sample.version, "--approval-timeout", "1m", "--file"])
            .arg(project.join("shipgate.toml"))
            .arg("--sign")
            .arg(self.path("signing.key"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .env(env_vars::SHIPGATE_SERVER, format!("http://{}", self.api))
            .env(env_vars::SHIPGATE_TOKEN, &self.token)
            .env_remove(env_vars::SHIPGATE_KEY_PASSWORD)
            .env_remove(env_vars::SHIPGATE_FILE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .status()
            .context("cannot run `shipgate pipeline run`")?;
        Ok(status.success())
    }

    /// One API call; the status and the JSON answer (whatever the status).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let url = format!("http://{}{path}", self.api);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("POST", body) => self
                .http
                .post(&url)
                .header("authorization", &auth)
                .content_type("application/json")
                .send(body.unwrap_or(json!({})).to_string()),
            _ => self.http.get(&url).header("authorization", &auth).call(),
        };
        let mut response = response.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// `shipgate audit verify --format json` on the demo's data directory.
    pub fn verify_ledger(&self) -> anyhow::Result<Value> {
        let output = Command::new(&self.exe)
            .args(["audit", "verify", "--format", "json", "--data-dir"])
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .output()
            .context("cannot run `shipgate audit verify`")?;
        serde_json::from_slice(&output.stdout)
            .map_err(|_| anyhow!("`shipgate audit verify` failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }

    /// Stops the server, then the agent with SIGTERM so it drains and stops the instances.
    pub fn stop(&mut self) {
        for child in [self.server.take(), self.agent.take()].into_iter().flatten() {
            terminate(child);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The demo project's test suite: the built service starts and its health check answers 200
/// (bash for `/dev/tcp`, so no HTTP client needs to be installed).
const TEST_SCRIPT: &str = r#"#!/usr/bin/env bash
# The built service starts and answers its health check with 200.
port=$(( 20000 + RANDOM % 20000 ))
PORT=$port ./app/shipgate-sample & pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 100); do
  if status=$( { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -n 1 <&3; } 2>/dev/null ); then
    case "$status" in *" 200 "*) echo "ok: /healthz answers: $status"; exit 0 ;; esac
    echo "FAILED: /healthz answers: $status"; exit 1
  fi
  sleep 0.1
done
echo "FAILED: the service never listened on port $port"; exit 1
"#;

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git, which the demo's pipeline needs (it releases commits)")?;
    if !output.status.success() {
        bail!("`git {}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// SIGTERM, up to 15 s to exit, then SIGKILL.
fn terminate(mut child: Child) {
    if let Ok(None) = child.try_wait()
        && let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
