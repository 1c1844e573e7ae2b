//! The demo's load generator: a few threads of keep-alive `GET /` against production, each
//! answer counted by the version that gave it (the sample's `x-sample-version` header).
//!
//! Written by hand over a `TcpStream` rather than with ureq because the point is to count every
//! failed request exactly: a reused connection that the proxy closed before any byte of the
//! answer is sent again on a new one (as browsers and HTTP clients do), anything else counts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the users saw, per answering version (`?` when no version answered).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub ok: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    /// The first few failures that no version answered, for the summary.
    pub errors: Vec<String>,
}

impl Counts {
    pub fn total_ok(&self) -> u64 {
        self.ok.values().sum()
    }

    /// Failed requests except those answered by `excluded` (the deliberately broken release).
    pub fn failed_except(&self, excluded: &str) -> u64 {
        self.failed.iter().filter(|(version, _)| version.as_str() != excluded).map(|(_, n)| n).sum()
    }

    fn record(&mut self, answer: Result<(u16, String), String>) {
        match answer {
            Ok((200, version)) => *self.ok.entry(version).or_default() += 1,
            Ok((status, version)) => {
                if version == "?" && self.errors.len() < 5 {
                    self.errors.push(format!("status {status}"));
                }
                *self.failed.entry(version).or_default() += 1;
            }
            Err(error) => {
                if self.errors.len() < 5 {
                    self.errors.push(error);
                }
                *self.failed.entry("?".to_owned()).or_default() += 1;
            }
        }
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<Counts>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(addr: SocketAddr, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let threads = (0..threads)
            .map(|_| {
                let (stop, counts) = (stop.clone(), counts.clone());
                std::thread::spawn(move || {
                    let mut conn = None;
                    while !stop.load(Ordering::Relaxed) {
                        let answer = get(addr, &mut conn);
                        if answer.is_err() {
                            conn = None;
                        }
                        if let Ok(mut counts) = counts.lock() {
                            counts.record(answer);
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        Load { stop, counts, threads }
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().map(|counts| counts.clone()).unwrap_or_default()
    }

    pub fn finish(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        self.counts.lock().map(|counts| counts.clone()).unwrap_or_default()
    }
}

/// One keep-alive `GET /`: the status and the answering version.
fn get(addr: SocketAddr, conn: &mut Option<BufReader<TcpStream>>) -> Result<(u16, String), String> {
    for _ in 0..2 {
        let fresh = conn.is_none();
        let reader = match conn {
            Some(reader) => reader,
            None => {
                let stream =
                    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect: {e}"))?;
                stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
                conn.insert(BufReader::new(stream))
            }
        };
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
        let (mut length, mut close, mut version) = (0usize, false, "?".to_owned());
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(|e| format!("headers: {e}"))?;
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            } else if let Some(value) = header.strip_prefix("x-sample-version:") {
                version = value.trim().to_owned();
            } else if header == "connection: close" {
                close = true;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
        if close {
            *conn = None;
        }
        return Ok((status, version));
    }
    Err("reused connection closed twice".into())
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn failures_are_counted_by_the_version_that_answered() {
        let mut counts = Counts::default();
        for answer in [
            Ok((200, "v2".to_owned())),
            Ok((500, "v3".to_owned())),
            Ok((502, "?".to_owned())),
            Err("connect: refused".to_owned()),
            Ok((200, "v3".to_owned())),
        ] {
            counts.record(answer);
        }
        assert_eq!(counts.total_ok(), 2);
        assert_eq!(counts.failed_except("v3"), 2);
        assert_eq!(counts.failed_except("v9"), 3);
        assert_eq!(counts.errors, ["status 502", "connect: refused"]);
    }
}
