//! Runs the real `shipgate-sample` binary on a free port and talks to it.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core machine; only a hung test waits this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running sample, killed when dropped.
pub struct Sample {
    child: Child,
    pub port: u16,
    agent: ureq::Agent,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub version: Option<String>,
}

impl Sample {
    /// Starts a sample with `PORT` set to a free port plus `env`, and waits
    /// until the port accepts connections.
    pub fn start(env: &[(&str, &str)]) -> Sample {
        let mut sample = Sample::spawn(env);
        sample.wait_for_port();
        sample
    }

    /// Starts a sample with `PORT` set to a free port plus `env` (which may
    /// override `PORT`), without waiting.
    pub fn spawn(env: &[(&str, &str)]) -> Sample {
        let port = free_port();
        let mut command = command();
        command.env("PORT", port.to_string()).envs(env.iter().copied());
        Sample::spawn_command(command, port)
    }

    /// Starts `command`, made by [`command`], that listens on `port`.
    pub fn spawn_command(mut command: Command, port: u16) -> Sample {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the shipgate-sample binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = child.stderr.take().map(|pipe| collect(pipe, Arc::clone(&stderr)));
        let agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(PATIENCE)).build().into();
        Sample { child, port, agent, stderr, stderr_reader }
    }

    pub fn wait_for_port(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + PATIENCE;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("shipgate-sample exited with {status} before listening; stderr:\n{}", self.stderr_after_exit());
            }
            assert!(
                Instant::now() < deadline,
                "shipgate-sample did not listen on {addr} within {PATIENCE:?}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path` over this sample's keep-alive connection.
    pub fn get(&self, path: &str) -> Reply {
        get(&self.agent, &self.url(path))
    }

    pub fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }

    /// Sends SIGTERM with the `kill` command.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("`kill` runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit on its own, failing after `PATIENCE`.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait works") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "shipgate-sample still runs after {PATIENCE:?}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until stderr contains `needle` (output reaches us through a
    /// pipe and a thread, so a moment after the process wrote it).
    pub fn wait_for_stderr(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.stderr().contains(needle) {
            assert!(Instant::now() < deadline, "stderr lacks `{needle}` after {PATIENCE:?}:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// All of stderr, once the process has exited.
    pub fn stderr_after_exit(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, with a clean environment so that a `SAMPLE_*` variable of
/// whoever runs the tests cannot change them.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate-sample"));
    command.env_clear();
    if let Some(backtrace) = std::env::var_os("RUST_BACKTRACE") {
        command.env("RUST_BACKTRACE", backtrace);
    }
    command
}

/// Copies the child's stderr into `sink` as it comes.
fn collect(mut pipe: ChildStderr, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut sink) = sink.lock() {
                sink.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    })
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

pub fn get(agent: &ureq::Agent, url: &str) -> Reply {
    let mut response = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let version = response.headers().get("x-sample-version").and_then(|v| v.to_str().ok()).map(ToOwned::to_owned);
    Reply {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().unwrap_or_else(|e| panic!("GET {url} body: {e}")),
        version,
    }
}

/// How long `f` takes.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}
