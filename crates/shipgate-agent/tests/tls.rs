//! TLS termination with certificates generated here (rcgen) and a real TLS client (rustls):
//! SNI chooses between two services' certificates on one listener, a replaced certificate is
//! served without a restart, and plain HTTP is redirected to HTTPS.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Harness, free_port};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for `name`, written to `DIR/NAME.pem` and `DIR/NAME.key`.
fn write_certificate(dir: &Path, name: &str) -> CertificateDer<'static> {
    let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    // The key first: the agent may look between the two writes, and must then keep the old pair.
    std::fs::write(dir.join(format!("{name}.key")), generated.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), generated.cert.pem()).unwrap();
    generated.cert.der().clone()
}

/// GET `/` over TLS with SNI `name` (and `Host: name`), trusting only `trusted`. Returns the
/// certificate the server presented and the status and `x-sample-version` of the answer.
async fn get(addr: SocketAddr, name: &str, trusted: &[CertificateDer<'static>]) -> (CertificateDer<'static>, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from(name.to_owned()).unwrap(), tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = answer.get(9..12).unwrap_or("").to_owned();
    let version = answer
        .lines()
        .find_map(|line| line.strip_prefix("x-sample-version:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    (presented, format!("{status} {version}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_chooses_the_certificate_by_sni_reloads_it_and_redirects_http() {
    let h = Harness::start().await;
    let certs = h.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let first_a = write_certificate(&certs, "a.test");
    let b = write_certificate(&certs, "b.test");
    let files =
        |name: &str| json!({"cert": certs.join(format!("{name}.pem")), "key": certs.join(format!("{name}.key"))});
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let redirect = SocketAddr::from(([127, 0, 0, 1], free_port()));
    h.service(
        "a",
        json!({"listen": listen.to_string(), "hosts": ["a.test"], "versions": [{"name": "va", "weight": 1}],
               "tls": {"certificates": [files("a.test")], "redirect_http_from": redirect.to_string()}}),
    )
    .await;
    h.service(
        "b",
        json!({"listen": listen.to_string(), "hosts": ["b.test"], "versions": [{"name": "vb", "weight": 1}],
               "tls": {"certificates": [files("b.test")]}}),
    )
    .await;
    let ia = h.instance("a", "va", json!({})).await;
    let ib = h.instance("b", "vb", json!({})).await;
    h.wait_state(&ia, "healthy", Duration::from_secs(10)).await;
    h.wait_state(&ib, "healthy", Duration::from_secs(10)).await;

    // SNI picks the certificate; Host picks the service.
    let trusted = [first_a.clone(), b.clone()];
    assert_eq!(get(listen, "a.test", &trusted).await, (first_a.clone(), "200 va".to_owned()));
    assert_eq!(get(listen, "b.test", &trusted).await, (b.clone(), "200 vb".to_owned()));

    // Replace a.test's certificate and key: served without a restart.
    let second_a = write_certificate(&certs, "a.test");
    assert_ne!(second_a, first_a);
    let trusted = [second_a.clone(), b.clone()];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let connector_trusts_both = [first_a.clone(), second_a.clone()];
        let (presented, answer) = get(listen, "a.test", &connector_trusts_both).await;
        if presented == second_a {
            assert_eq!(answer, "200 va");
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(listen, "b.test", &trusted).await.0, b);

    // Plain HTTP on the redirect listener: 308 to the same host and path over HTTPS.
    let mut plain = tokio::net::TcpStream::connect(redirect).await.unwrap();
    plain.write_all(b"GET /some/path?q=1 HTTP/1.1\r\nHost: a.test:8080\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    let location = format!("location: https://a.test:{}/some/path?q=1\r\n", listen.port());
    assert!(answer.to_ascii_lowercase().contains(&location), "{answer}");

    // A plain service cannot share a TLS listener; unreadable certificates are refused.
    let (status, answer) =
        h.api("PUT", "/v1/services/c", Some(json!({"listen": listen.to_string(), "hosts": ["c.test"]}))).await;
    assert_eq!(status, 409, "{answer}");
    let missing = json!({"cert": certs.join("nope.pem"), "key": certs.join("nope.key")});
    let (status, answer) = h
        .api(
            "PUT",
            "/v1/services/d",
            Some(json!({"listen": format!("127.0.0.1:{}", free_port()), "tls": {"certificates": [missing]}})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("nope.pem"), "{answer}");
    h.shutdown().await;
}
