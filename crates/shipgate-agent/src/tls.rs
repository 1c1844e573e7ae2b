//! TLS termination (rustls): each listener serves the certificates of the services on it,
//! chosen by SNI, and reloads them when their files change (polled, see [`ListenerTls::reload`]).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::api::CertificateFiles;
use crate::error::Error;

/// The TLS side of one listener. Plain HTTP while it has no certificate files.
pub struct ListenerTls {
    resolver: Arc<SniResolver>,
    config: Arc<ServerConfig>,
    files: Mutex<Loaded>,
}

#[derive(Default, PartialEq)]
struct Loaded {
    files: Vec<CertificateFiles>,
    /// Modification time and length of every file, when last loaded.
    stamps: Vec<Option<(SystemTime, u64)>>,
}

impl ListenerTls {
    pub fn new() -> Result<ListenerTls, Error> {
        let resolver = Arc::new(SniResolver { certs: ArcSwap::from_pointee(Vec::new()) });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ListenerTls { resolver, config: Arc::new(config), files: Mutex::new(Loaded::default()) })
    }

    /// The acceptor for new connections; `None` when the listener is plain HTTP.
    pub fn acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        (!self.resolver.certs.load().is_empty()).then(|| tokio_rustls::TlsAcceptor::from(self.config.clone()))
    }

    /// Serve these certificate files from now on (loading them now if they differ from the
    /// current ones). On error the previous certificates stay.
    pub fn set_files(&self, mut files: Vec<CertificateFiles>) -> Result<(), Error> {
        files.sort();
        files.dedup();
        let mut current = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if current.files == files {
            return Ok(());
        }
        let certs = load_all(&files)?;
        self.resolver.certs.store(Arc::new(certs));
        current.stamps = stamps(&files);
        current.files = files;
        Ok(())
    }

    /// Load the files again if any changed since they were loaded. A half-written or broken
    /// file keeps the previous certificates (and is tried again at the next poll).
    pub fn reload(&self) {
        let mut current = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if current.files.is_empty() {
            return;
        }
        let now = stamps(&current.files);
        if now == current.stamps {
            return;
        }
        match load_all(&current.files) {
            Ok(certs) => {
                self.resolver.certs.store(Arc::new(certs));
                current.stamps = now;
                tracing::info!(files = current.files.len(), "reloaded TLS certificates");
            }
            Err(error) => tracing::warn!(%error, "cannot reload TLS certificates: keeping the previous ones"),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn stamps(files: &[CertificateFiles]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .flat_map(|f| [&f.cert, &f.key])
        .map(|path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
        .collect()
}

/// Read and check every certificate and key (the key must match the certificate).
pub fn load_all(files: &[CertificateFiles]) -> Result<Vec<Arc<CertifiedKey>>, Error> {
    let provider = provider();
    files
        .iter()
        .map(|f| {
            let chain =
                CertificateDer::pem_file_iter(&f.cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| Error::Tls(format!("cannot read certificates from `{}`: {e}", f.cert.display())))?;
            if chain.is_empty() {
                return Err(Error::Tls(format!("no certificate in `{}`", f.cert.display())));
            }
            let key = PrivateKeyDer::from_pem_file(&f.key)
                .map_err(|e| Error::Tls(format!("cannot read a private key from `{}`: {e}", f.key.display())))?;
            let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
                Error::Tls(format!("`{}` does not go with `{}`: {e}", f.key.display(), f.cert.display()))
            })?;
            Ok(Arc::new(certified))
        })
        .collect()
}

/// Chooses the certificate whose names cover the SNI name (exact or wildcard, as a client would
/// check it); without SNI, or when none matches, the first one.
#[derive(Debug)]
struct SniResolver {
    certs: ArcSwap<Vec<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.load();
        if let Some(name) = hello.server_name().and_then(|name| ServerName::try_from(name).ok()) {
            let matching = certs.iter().find(|certified| {
                certified.end_entity_cert().ok().is_some_and(|der| {
                    webpki::EndEntityCert::try_from(der)
                        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
                })
            });
            if let Some(certified) = matching {
                return Some(certified.clone());
            }
        }
        certs.first().cloned()
    }
}
