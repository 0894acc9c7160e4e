//! Certificates checked before use: the chain and key parse, the key is the certificate's,
//! and the certificate is valid at the time given; with the facts shown elsewhere (names,
//! validity, fingerprint — never the key).

use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::SignatureAlgorithm;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::TlsError;

/// The kind of a certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA (P-256, P-384).
    Ecdsa,
    /// RSA.
    Rsa,
    /// Ed25519.
    Ed25519,
}

/// What the gateway shows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The names it is served for (lower case; `*.` wildcards of one label).
    pub names: Vec<String>,
    /// The subject, as text.
    pub subject: String,
    /// Validity, seconds since the epoch.
    pub not_before_unix: i64,
    /// Expiry, seconds since the epoch.
    pub not_after_unix: i64,
    /// SHA-256 of the leaf certificate, lower-case hex.
    pub sha256: String,
    /// The key's kind.
    pub key_type: KeyType,
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// The chain and signing key rustls serves.
    pub key: Arc<CertifiedKey>,
    /// Its facts.
    pub info: CertInfo,
}

/// A DNS name or one-label wildcard as a certificate table key: lower case, labels of
/// letters, digits and `-`, `*.` only in front.
pub(crate) fn normalize_name(name: &str) -> Result<String, TlsError> {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = n.strip_prefix("*.").unwrap_or(&n);
    let ok = !rest.is_empty()
        && rest.len() <= 253
        && rest.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(n)
    } else {
        Err(TlsError::Name(name.to_owned()))
    }
}

/// Loads a certificate chain (leaf first) and its private key from PEM and checks them at
/// `now_unix`. `names`: the names to serve it for; `None` takes the certificate's DNS SANs.
pub fn load_cert(
    cert_pem: &[u8],
    key_pem: &[u8],
    names: Option<&[String]>,
    now_unix: i64,
) -> Result<LoadedCert, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate(format!("not PEM: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Certificate("no CERTIFICATE block".into()));
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Key(format!("no private key in the PEM: {e}")))?;
    let signing = aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let key_type = match signing.algorithm() {
        SignatureAlgorithm::ECDSA => KeyType::Ecdsa,
        SignatureAlgorithm::RSA => KeyType::Rsa,
        SignatureAlgorithm::ED25519 => KeyType::Ed25519,
        other => return Err(TlsError::Key(format!("unsupported key type {other:?}"))),
    };
    let (_, x509) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| TlsError::Certificate(format!("not X.509: {e}")))?;
    let certified = CertifiedKey::new(chain.clone(), signing);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch)?;
    let validity = x509.validity();
    let (not_before_unix, not_after_unix) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if now_unix < not_before_unix {
        return Err(TlsError::Validity(format!(
            "not valid before {} (unix {not_before_unix})",
            validity.not_before
        )));
    }
    if now_unix > not_after_unix {
        return Err(TlsError::Validity(format!(
            "expired on {} (unix {not_after_unix})",
            validity.not_after
        )));
    }
    let names = match names {
        Some(given) => given
            .iter()
            .map(|n| normalize_name(n))
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let sans = x509
                .subject_alternative_name()
                .map_err(|e| TlsError::Certificate(format!("bad subjectAltName: {e}")))?;
            let dns: Vec<String> = sans
                .map(|ext| {
                    ext.value
                        .general_names
                        .iter()
                        .filter_map(|g| match g {
                            GeneralName::DNSName(d) => normalize_name(d).ok(),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if dns.is_empty() {
                return Err(TlsError::Certificate(
                    "no DNS names in its subjectAltName: give the names to serve it for".into(),
                ));
            }
            dns
        }
    };
    let sha256 = Sha256::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(LoadedCert {
        key: Arc::new(certified),
        info: CertInfo {
            names,
            subject: x509.subject().to_string(),
            not_before_unix,
            not_after_unix,
            sha256,
            key_type,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_lower_cased() {
        assert_eq!(
            normalize_name("API.Example.com.").unwrap(),
            "api.example.com"
        );
        assert_eq!(normalize_name("*.example.com").unwrap(), "*.example.com");
        for bad in [
            "", "*.", "a..b", "-a.com", "a-.com", "a b.com", "*.*.com", "a.*.com", "é.com",
        ] {
            assert!(normalize_name(bad).is_err(), "{bad:?}");
        }
    }
}
