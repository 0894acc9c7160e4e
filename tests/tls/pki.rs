//! Certificates made at test time (rcgen) and a rustls client that reports what the handshake
//! agreed on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A certificate authority that signs the test's server certificates.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
    der: CertificateDer<'static>,
}

/// The key algorithm of a certificate.
#[derive(Clone, Copy)]
pub(crate) enum Alg {
    Ecdsa,
    Rsa,
}

/// A server certificate and its key, as PEM, and the leaf's DER.
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) der: Vec<u8>,
}

impl Ca {
    pub(crate) fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), valid from yesterday for a year
    /// unless `expired`.
    pub(crate) fn leaf(&self, names: &[&str], alg: Alg, expired: bool) -> Leaf {
        let key = match alg {
            Alg::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            Alg::Rsa => KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap(),
        };
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Roots trusting this CA only.
    pub(crate) fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }
}

impl Ca {
    /// A client certificate: subject `CN=<cn>`, these SANs (`URI:`/`DNS:` prefixed), this
    /// serial number, for client authentication.
    pub(crate) fn client(&self, cn: &str, sans: &[&str], serial: u64) -> Leaf {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.subject_alt_names = sans
            .iter()
            .map(|s| match s.split_once(':') {
                Some(("URI", v)) => rcgen::SanType::URI(v.try_into().unwrap()),
                Some(("DNS", v)) => rcgen::SanType::DnsName(v.try_into().unwrap()),
                _ => panic!("SAN {s}"),
            })
            .collect();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A CRL of this CA revoking these serial numbers, as PEM.
    pub(crate) fn crl(&self, revoked: &[u64]) -> String {
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2035, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(serial),
                    revocation_time: rcgen::date_time_ymd(2025, 6, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}

impl Leaf {
    /// Writes `<stem>.pem` and `<stem>.key` under `dir`; returns their paths.
    pub(crate) fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        replace(&cert, &self.cert_pem);
        replace(&key, &self.key_pem);
        (cert, key)
    }
}

/// Writes `text` to `path` the way deployment tools do: a new file renamed over the old.
pub(crate) fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A client configuration trusting `roots`, with the given versions and ALPN.
pub(crate) fn client_config(
    roots: RootCertStore,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&str],
) -> Arc<ClientConfig> {
    let mut cfg = ClientConfig::builder_with_provider(ringway_tls::crypto_provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(cfg)
}

/// A client configuration trusting `roots` that presents `client` when asked.
pub(crate) fn client_config_with_cert(roots: RootCertStore, client: &Leaf) -> Arc<ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let chain = vec![CertificateDer::from(client.der.clone())];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap();
    let cfg = ClientConfig::builder_with_provider(ringway_tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(cfg)
}

/// What one HTTPS exchange showed.
#[derive(Debug)]
pub(crate) struct Seen {
    /// The leaf certificate the server sent.
    pub(crate) leaf: Vec<u8>,
    pub(crate) version: Option<rustls::ProtocolVersion>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) resumed: bool,
    /// The whole response.
    pub(crate) response: String,
}

/// Connects to `addr` naming `server_name` (an IP address sends no SNI), sends one
/// `GET path` with `Connection: close` and reads the response to the end.
pub(crate) fn https_get(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    server_name: &str,
    path: &str,
) -> Result<Seen, String> {
    https_get_with(addr, config, server_name, path, "")
}

/// [`https_get`] with more header lines (`name: value\r\n` each).
pub(crate) fn https_get_with(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    server_name: &str,
    path: &str,
    headers: &str,
) -> Result<Seen, String> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\n{headers}Connection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // Some servers close without close_notify; what was read is the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let c = &tls.conn;
    Ok(Seen {
        leaf: c
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|d| d.to_vec())
            .unwrap_or_default(),
        version: c.protocol_version(),
        alpn: c.alpn_protocol().map(<[u8]>::to_vec),
        resumed: matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        response: String::from_utf8_lossy(&out).into_owned(),
    })
}

/// A client configuration that accepts any certificate (to see which one a server sends to
/// a name it has none for) and still checks the handshake signatures; never resumes; `rsa_only` offers RSA
/// signature schemes only, as an old client would.
pub(crate) fn any_cert_config(rsa_only: bool) -> Arc<ClientConfig> {
    let provider = ringway_tls::crypto_provider();
    let verifier = Arc::new(AnyCert(Arc::clone(&provider), rsa_only));
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Every connection a full handshake: a resumed one shows the certificate of the session.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>, bool);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        let all = self.0.signature_verification_algorithms.supported_schemes();
        all.into_iter()
            .filter(|s| !self.1 || format!("{s:?}").starts_with("RSA_"))
            .collect()
    }
}
