//! Active health probes: one check of one instance.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::Probe;

/// Runs `probe` against the instance at `addr`; `Err` says why it failed.
pub async fn check(probe: &Probe, addr: SocketAddr, artifact_dir: &Path, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, run(probe, addr, artifact_dir)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn run(probe: &Probe, addr: SocketAddr, artifact_dir: &Path) -> Result<(), String> {
    match probe {
        Probe::Tcp => TcpStream::connect(addr).await.map(drop).map_err(|e| format!("connect: {e}")),
        Probe::Http { path } => http_get(addr, path).await,
        Probe::Exec { command } => {
            let Some((program, args)) = command.split_first() else {
                return Err("empty exec probe".into());
            };
            let status = tokio::process::Command::new(program)
                .args(args)
                .current_dir(artifact_dir)
                .env("PORT", addr.port().to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .map_err(|e| format!("cannot run `{program}`: {e}"))?;
            if status.success() { Ok(()) } else { Err(format!("`{program}` {status}")) }
        }
    }
}

/// A minimal HTTP/1.1 GET on a fresh connection: probes must not share (or be hidden by) the
/// proxy's connection pool, and need only the status line.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: shipgate-probe\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut buf[len..]).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before the status line".into());
        }
        len += n;
    }
    let line = &buf[..len];
    // "HTTP/1.x NNN"
    if !line.starts_with(b"HTTP/1.") {
        return Err("not an HTTP response".into());
    }
    match line.get(9) {
        Some(b'2') => Ok(()),
        _ => Err(format!("status {}", String::from_utf8_lossy(&line[9..12]))),
    }
}
