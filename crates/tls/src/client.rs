//! Client certificates (mTLS): the verifier a listener checks them with (a CA file, optional
//! CRLs, required or optional), and the identity of a verified certificate as the gateway
//! uses it — subject, subject alternative names, SHA-256 fingerprint — and forwards it
//! (Envoy's `x-forwarded-client-cert` element).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::TlsError;

/// Whether a listener asks for client certificates and what it does without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMode {
    /// A handshake without a valid client certificate fails.
    Required,
    /// A client may send none; one it sends must be valid (routes can then require it).
    Optional,
}

/// The verifier of a listener's client certificates: chains to a CA in `ca_pem`, not revoked
/// by any CRL in `crl_pems` (PEM or DER), valid now.
pub fn client_verifier(
    ca_pem: &[u8],
    crl_pems: &[Vec<u8>],
    mode: ClientAuthMode,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| TlsError::Certificate(format!("CA file: not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| TlsError::Certificate(format!("CA file: {e}")))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Certificate(
            "CA file: no CERTIFICATE block".into(),
        ));
    }
    let mut crls = Vec::with_capacity(crl_pems.len());
    for (i, bytes) in crl_pems.iter().enumerate() {
        let mut found: Vec<CertificateRevocationListDer<'static>> =
            CertificateRevocationListDer::pem_slice_iter(bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Crl(i, format!("not PEM: {e}")))?;
        if found.is_empty() {
            // A DER file.
            found.push(CertificateRevocationListDer::from(bytes.clone()));
        }
        for crl in &found {
            x509_parser::parse_x509_crl(crl.as_ref())
                .map_err(|e| TlsError::Crl(i, format!("not a CRL: {e}")))?;
        }
        crls.extend(found);
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::crypto_provider())
            .with_crls(crls);
    let builder = match mode {
        ClientAuthMode::Required => builder,
        ClientAuthMode::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .map_err(|e| TlsError::Config(format!("client certificate verifier: {e}")))
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The subject, as text (`CN=alice, O=Example`).
    pub subject: String,
    /// Subject alternative names, typed: `DNS:host`, `URI:spiffe://...`, `email:a@b`,
    /// `IP:10.0.0.1`.
    pub sans: Vec<String>,
    /// SHA-256 of the certificate, lower-case hex.
    pub sha256: String,
}

impl ClientCert {
    /// The identity of a (verified) leaf certificate.
    pub fn from_der(der: &[u8]) -> Result<ClientCert, TlsError> {
        let (_, x509) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| TlsError::Certificate(format!("not X.509: {e}")))?;
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = x509.subject_alternative_name() {
            for g in &ext.value.general_names {
                match g {
                    GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                    GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                    GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                    GeneralName::IPAddress(ip) => {
                        let addr = match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                            16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                            _ => None,
                        };
                        if let Some(a) = addr {
                            sans.push(format!("IP:{a}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(ClientCert {
            subject: x509.subject().to_string(),
            sans,
            sha256: Sha256::digest(der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        })
    }

    /// The `x-forwarded-client-cert` element Envoy writes:
    /// `Hash=<sha256>;Subject="<subject>";URI=<uri>;DNS=<dns>` (quotes and backslashes in the
    /// subject escaped; URI and DNS once per name).
    pub fn xfcc(&self) -> String {
        let subject = self.subject.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!("Hash={};Subject=\"{subject}\"", self.sha256);
        for san in &self.sans {
            for (prefix, key) in [("URI:", "URI"), ("DNS:", "DNS")] {
                if let Some(v) = san.strip_prefix(prefix) {
                    // Separators inside a value would split the element.
                    if !v.contains([';', ',', '"', '=']) {
                        out.push_str(&format!(";{key}={v}"));
                    }
                }
            }
        }
        out
    }

    /// Whether a route rule naming `subjects` and `sans` admits this certificate: any of
    /// them matches exactly (none named: any verified certificate).
    pub fn admitted_by(&self, subjects: &[String], sans: &[String]) -> bool {
        (subjects.is_empty() && sans.is_empty())
            || subjects.contains(&self.subject)
            || sans.iter().any(|s| self.sans.contains(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: &str, sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_and_forwarded_element() {
        let der = cert(
            "a \"quoted\" name",
            vec![
                rcgen::SanType::URI("spiffe://t/a".try_into().unwrap()),
                rcgen::SanType::URI("spiffe://t/b;x=1".try_into().unwrap()),
                rcgen::SanType::DnsName("a.test".try_into().unwrap()),
                rcgen::SanType::IpAddress("10.0.0.1".parse().unwrap()),
                rcgen::SanType::Rfc822Name("a@t.test".try_into().unwrap()),
            ],
        );
        let c = ClientCert::from_der(&der).unwrap();
        assert_eq!(c.subject, "CN=a \"quoted\" name");
        assert_eq!(
            c.sans,
            [
                "URI:spiffe://t/a",
                "URI:spiffe://t/b;x=1",
                "DNS:a.test",
                "IP:10.0.0.1",
                "email:a@t.test"
            ]
        );
        assert_eq!(c.sha256.len(), 64);
        // Quotes escaped; a value with a separator left out rather than splitting the element.
        assert_eq!(
            c.xfcc(),
            format!(
                "Hash={};Subject=\"CN=a \\\"quoted\\\" name\";URI=spiffe://t/a;DNS=a.test",
                c.sha256
            )
        );
        assert!(c.admitted_by(&[], &[]));
        assert!(c.admitted_by(&[], &["DNS:a.test".into()]));
        assert!(c.admitted_by(&["CN=a \"quoted\" name".into()], &[]));
        assert!(!c.admitted_by(&["CN=a".into()], &["DNS:b.test".into()]));
        assert!(!c.admitted_by(&[], &["a.test".into()]), "SANs are typed");
    }

    #[test]
    fn verifier_inputs_are_checked() {
        let ca = {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(Vec::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.self_signed(&key).unwrap().pem()
        };
        assert!(client_verifier(ca.as_bytes(), &[], ClientAuthMode::Required).is_ok());
        assert!(matches!(
            client_verifier(b"nothing", &[], ClientAuthMode::Required),
            Err(TlsError::Certificate(_))
        ));
        assert!(matches!(
            client_verifier(ca.as_bytes(), &[b"junk".to_vec()], ClientAuthMode::Optional),
            Err(TlsError::Crl(0, _))
        ));
    }
}
