//! Processes and load for end-to-end tests: the sample service's binary, free ports, and a
//! load generator that counts every failed request.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn sample_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_shipgate")).with_file_name("shipgate-sample");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let _ = Command::new(cargo)
        .stdin(Stdio::null())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(["build", "-q", "-p", "shipgate-sample"])
        .status();
    assert!(bin.exists(), "shipgate-sample not found at {}", bin.display());
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Instances outlive a killed or upgraded agent and are re-parented to the nearest "child
/// subreaper": make that this test process, so they never land on whatever runs the tests.
pub fn adopt_orphans() {
    let me = rustix::process::Pid::from_raw(std::process::id() as i32);
    rustix::process::set_child_subreaper(me).unwrap();
}

/// A keep-alive HTTP/1.1 GET. Like any HTTP client, it sends the request again on a new
/// connection when a *reused* connection was closed before any byte of the answer.
pub fn get(addr: SocketAddr, conn: &mut Option<BufReader<TcpStream>>) -> Result<u16, String> {
    for _ in 0..2 {
        let fresh = conn.is_none();
        if fresh {
            let stream =
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect: {e}"))?;
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            *conn = Some(BufReader::new(stream));
        }
        let reader = conn.as_mut().unwrap();
        if reader.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n").is_err() && !fresh {
            *conn = None;
            continue;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) if !fresh => {
                *conn = None;
                continue;
            }
            Ok(0) => return Err("closed before answering".into()),
            Err(error) => return Err(format!("read: {error}")),
            Ok(_) => {}
        }
        let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).ok_or(format!("bad status line {line:?}"))?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(|e| format!("headers: {e}"))?;
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if header == "connection: close" {
                close = true;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
        if close {
            *conn = None;
        }
        return Ok(status);
    }
    Err("reused connection closed twice".into())
}

pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

pub fn start_load(addr: SocketAddr, threads: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads = (0..threads)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut conn = None;
                // Bounded: at most 60 s, then it stops by itself.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match get(addr, &mut conn) {
                        Ok(200) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(status) => failed.lock().unwrap().push(format!("status {status}")),
                        Err(error) => {
                            failed.lock().unwrap().push(error);
                            conn = None;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    Load { stop, ok, failed, threads }
}

impl Load {
    pub fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.lock().unwrap().clone())
    }
}

/// One request to an agent's control API on `state/control.sock`.
pub fn agent_api(state: &Path, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match UnixStream::connect(state.join("control.sock")) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("control socket: {error}"),
        }
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}
