//! Smoke checks: requests to one version through the proxy, pinned with `x-shipgate-version`,
//! so a version is checked exactly where users will reach it, before it takes traffic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use shipgate_spec::{SmokeCheck, SmokeProbe};

/// Where to connect to reach a listener bound to `listen` (an unspecified address is reached
/// on loopback).
pub fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port()),
        _ => listen,
    }
}

/// Runs every check in order; the first failure says which and why.
pub async fn run(listen: SocketAddr, version: &str, checks: &[SmokeCheck]) -> Result<(), String> {
    let address = reachable(listen);
    for check in checks {
        let timeout = check.timeout.as_std();
        match &check.probe {
            SmokeProbe::Http(path) => {
                let (status, body) = tokio::time::timeout(timeout, get(address, path, version))
                    .await
                    .map_err(|_| format!("smoke check GET {path} on {version}: no answer within {}", check.timeout))?
                    .map_err(|error| format!("smoke check GET {path} on {version}: {error}"))?;
                if status != check.expect {
                    return Err(format!(
                        "smoke check GET {path} on {version} answered {status}, expected {}",
                        check.expect
                    ));
                }
                if let Some(needle) = &check.contains
                    && !String::from_utf8_lossy(&body).contains(needle.as_str())
                {
                    return Err(format!("smoke check GET {path} on {version}: the body does not contain `{needle}`"));
                }
            }
            SmokeProbe::Exec(command) => exec(command, address, version, timeout).await?,
        }
    }
    Ok(())
}

async fn get(address: SocketAddr, path: &str, version: &str) -> Result<(u16, Bytes), String> {
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|error| error.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::builder()
        .uri(path)
        .header(http::header::HOST, address.to_string())
        .header("x-shipgate-version", version)
        .body(Empty::<Bytes>::new())
        .map_err(|error| error.to_string())?;
    let response = sender.send_request(request).await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
    Ok((status, body))
}

async fn exec(command: &[String], address: SocketAddr, version: &str, timeout: Duration) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else { return Err("an empty smoke command".into()) };
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("SHIPGATE_URL", format!("http://{address}"))
        .env("SHIPGATE_VERSION", version)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| format!("smoke command `{}` did not finish within {} s", command.join(" "), timeout.as_secs()))?
        .map_err(|error| format!("cannot run smoke command `{}`: {error}", command.join(" ")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String =
        stderr.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" / ");
    Err(format!("smoke command `{}` failed ({}): {tail}", command.join(" "), output.status))
}
