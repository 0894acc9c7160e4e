//! Client configurations for upstreams: the endpoints' certificates are always verified
//! (against a CA file or the system roots, which the caller reads), with the gateway's
//! provider, optionally presenting a client certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::TlsError;

/// `name` as the server name a connection sends and verifies (a DNS name or an IP address).
pub fn check_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::Name(name.to_owned()))
}

/// The trust anchors in a PEM file (at least one).
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| TlsError::Certificate(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Certificate("no CERTIFICATE block".into()));
    }
    Ok(roots)
}

/// A configuration verifying servers against `roots`, presenting the certificate chain and
/// key in `client` (PEM) when a server asks, offering `alpn` (`h2`, `http/1.1`), in order.
pub fn upstream_config(
    roots: RootCertStore,
    client: Option<(&[u8], &[u8])>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(crate::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let mut cfg = match client {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Certificate(format!("not PEM: {e}")))?;
            if chain.is_empty() {
                return Err(TlsError::Certificate("no CERTIFICATE block".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| TlsError::Key(format!("no private key in the PEM: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
                    other => TlsError::Key(other.to_string()),
                })?
        }
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}
