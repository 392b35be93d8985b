//! The serving certificate of the metrics endpoint: read from PEM files (e.g. a cert-manager
//! Secret mounted into the pod) and re-read when they change, or self-signed at start-up when
//! no files are given.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// How often the certificate files are checked for a change: a renewed certificate is served
/// within this long, and a busy endpoint does not stat the files on every handshake.
const RELOAD_CHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("certificate and key do not fit together: {0}")]
    Key(#[from] rustls::Error),
    #[error("generating a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServingCertificate {
    /// Generated at start-up, valid for `localhost` and the pod's host name; clients cannot
    /// verify it unless told to skip verification (Prometheus: `insecureSkipVerify`).
    #[default]
    SelfSigned,
    /// PEM files: the certificate chain (leaf first) and its private key.
    Files { cert: PathBuf, key: PathBuf },
}

/// A TLS acceptor serving `certificate`, HTTP/1.1 only.
pub fn acceptor(certificate: &ServingCertificate) -> Result<TlsAcceptor, TlsError> {
    let provider = provider();
    let resolver: Arc<dyn ResolvesServerCert> = match certificate {
        ServingCertificate::SelfSigned => Arc::new(Fixed(Arc::new(self_signed(&provider)?))),
        ServingCertificate::Files { cert, key } => Arc::new(ReloadingFiles::new(
            cert.clone(),
            key.clone(),
            Arc::clone(&provider),
        )?),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Key)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Names the self-signed certificate is issued for: loopback and the pod's host name.
fn self_signed_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(host) = std::env::var("HOSTNAME")
        && !host.is_empty()
    {
        names.push(host);
    }
    names
}

fn self_signed(provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let generated = rcgen::generate_simple_self_signed(self_signed_names())?;
    let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der()).map_err(|reason| {
        TlsError::Read {
            path: PathBuf::from("<generated key>"),
            reason: reason.to_string(),
        }
    })?;
    info!("serving metrics with a self-signed certificate");
    Ok(CertifiedKey::from_der(
        vec![generated.cert.der().clone()],
        key,
        provider,
    )?)
}

/// Reads a certificate chain and its key from PEM files.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read_error = |path: &Path, reason: String| TlsError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(read_error(cert, "no PEM certificate in the file".into()));
    }
    let private_key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| read_error(key, e.to_string()))?;
    Ok(CertifiedKey::from_der(chain, private_key, provider)?)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Serves the certificate in two files and re-reads them when their modification time
/// changes (cert-manager renews the Secret; the kubelet swaps the mounted files). A renewal
/// that cannot be read keeps the previous certificate and logs why.
#[derive(Debug)]
struct ReloadingFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    versions: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

impl ReloadingFiles {
    fn new(cert: PathBuf, key: PathBuf, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let versions = (modified(&cert), modified(&key));
        let loaded = load(&cert, &key, &provider)?;
        info!(cert = %cert.display(), "serving metrics with the certificate from files");
        Ok(Self {
            cert,
            key,
            provider,
            state: Mutex::new(Loaded {
                key: Arc::new(loaded),
                versions,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let versions = (modified(&self.cert), modified(&self.key));
            if versions != state.versions {
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(key) => {
                        info!(cert = %self.cert.display(), "serving certificate reloaded");
                        state.key = Arc::new(key);
                        state.versions = versions;
                    }
                    // Possibly half-written: tried again at the next check.
                    Err(err) => warn!(error = %err, "serving certificate not reloaded"),
                }
            }
        }
        Arc::clone(&state.key)
    }
}

impl ResolvesServerCert for ReloadingFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Always the same certificate.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}
