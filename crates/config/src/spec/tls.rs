//! The TLS and HTTP/2 parts of the file shape: `listeners[].tls`, `listeners[].http2`,
//! `upstreams.<name>.tls` and `routes[].client_cert`.

use serde::Deserialize;

use super::{defaults, DurationSpec};

/// `upstreams.<name>.tls`: HTTPS to the endpoints. Their certificates are always verified.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct UpstreamTlsSpec {
    /// The name sent (SNI) and verified. Default: each endpoint's host as written in its
    /// `address` (a DNS name, or an IP address verified against the certificate's IP SANs).
    pub server_name: Option<String>,
    /// PEM file of the CAs the endpoints' certificates must chain to. Default: the system's
    /// root certificates.
    pub ca: Option<String>,
    /// A client certificate presented to endpoints that ask for one. Default: none.
    pub client_cert: Option<ClientCertFilesSpec>,
}

/// A certificate and key presented as a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ClientCertFilesSpec {
    /// PEM chain. Required.
    pub cert: String,
    /// PEM private key. Required.
    pub key: String,
}

/// `listeners[].http2`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Http2Spec {
    /// Accept cleartext HTTP/2 with prior knowledge (h2c) beside HTTP/1.1. Default `false`.
    pub h2c: bool,
    /// Streams open at once per connection. Default 100; 1..=1000.
    pub max_concurrent_streams: u32,
    /// Initial flow-control window of a stream, bytes. Default 65536; 65535..=16777216.
    pub stream_window_bytes: u32,
    /// Flow-control window of a connection, bytes. Default 1048576; at least the stream window.
    pub connection_window_bytes: u32,
    /// Requests served on a connection before GOAWAY. Default 1000; not zero.
    pub max_requests_per_connection: u32,
    /// Age after which a connection gets GOAWAY. Default `1h`; not zero.
    pub max_connection_age: DurationSpec,
}

impl Default for Http2Spec {
    fn default() -> Self {
        Self {
            h2c: false,
            max_concurrent_streams: 100,
            stream_window_bytes: 65536,
            connection_window_bytes: 1 << 20,
            max_requests_per_connection: 1000,
            max_connection_age: DurationSpec::new("1h"),
        }
    }
}

/// `listeners[].tls`: the listener speaks HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TlsSpec {
    /// Certificates served; at least one. For clients naming no host (or an unknown one when
    /// `unknown_sni` is `default`), the one marked `default: true`, else the first.
    pub certificates: Vec<CertificateSpec>,
    /// A client naming a host no certificate is for: `default` (serve the default certificate)
    /// or `reject` (abort the handshake). Default `default`.
    pub unknown_sni: String,
    /// Lowest TLS version: `"1.2"` or `"1.3"`. Default `"1.2"`.
    pub min_version: String,
    /// `intermediate` (Mozilla's: TLS 1.2 and 1.3, ECDHE, AEAD) or `modern` (TLS 1.3 only).
    /// Default `intermediate`.
    pub profile: String,
    /// Cipher suites by IANA name, in preference order. Default: the profile's.
    pub cipher_suites: Option<Vec<String>>,
    /// Key-exchange groups by name (`X25519`, `secp256r1`, `X25519MLKEM768`, ...), in
    /// preference order. Default: all the build knows.
    pub groups: Option<Vec<String>>,
    /// ALPN protocols offered, in preference order. Default `[http/1.1]`.
    pub alpn: Vec<String>,
    /// Time allowed for the handshake. Default `10s`; not zero.
    pub handshake_timeout: DurationSpec,
    /// Stateless session tickets, one key shared by every core. Default `true`.
    pub session_tickets: bool,
    /// Ask clients for certificates (mTLS). Default: none asked for.
    pub client_auth: Option<ClientAuthSpec>,
}

/// `listeners[].tls.client_auth`: client certificates (mTLS).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClientAuthSpec {
    /// `required` (a handshake without a valid certificate fails) or `optional` (routes may
    /// require one with `client_cert`). Default `required`.
    pub mode: String,
    /// PEM file of the CAs client certificates must chain to. Required.
    pub ca: String,
    /// Certificate revocation lists (PEM or DER files). Default: none.
    pub crls: Vec<String>,
    /// Forward the verified certificate upstream as `x-forwarded-client-cert` (Envoy's
    /// format); the field is removed from every incoming request either way. Default `true`.
    pub forward: bool,
}

impl Default for ClientAuthSpec {
    fn default() -> Self {
        Self {
            mode: "required".to_owned(),
            ca: String::new(),
            crls: Vec::new(),
            forward: true,
        }
    }
}

impl Default for TlsSpec {
    fn default() -> Self {
        Self {
            certificates: Vec::new(),
            unknown_sni: defaults::TLS_UNKNOWN_SNI.to_owned(),
            min_version: defaults::TLS_MIN_VERSION.to_owned(),
            profile: defaults::TLS_PROFILE.to_owned(),
            cipher_suites: None,
            groups: None,
            alpn: defaults::TLS_ALPN.iter().map(|s| (*s).to_owned()).collect(),
            handshake_timeout: DurationSpec::new(defaults::TLS_HANDSHAKE_TIMEOUT),
            session_tickets: true,
            client_auth: None,
        }
    }
}

/// `listeners[].tls.certificates[]`: a PEM chain and its key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct CertificateSpec {
    /// PEM file: the certificate, then its intermediates. Required.
    pub cert: String,
    /// PEM file: the private key (PKCS#8, SEC1 or PKCS#1). Required.
    pub key: String,
    /// Host names served with it (`*.example.com` for one label). Default: the certificate's
    /// DNS subject alternative names.
    pub names: Option<Vec<String>>,
    /// Served when the client names no host or an unknown one. At most one. Default `false`.
    pub default: bool,
}

/// `routes[].client_cert`: which client certificates a route admits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ClientCertRuleSpec {
    /// Subjects admitted, exactly as shown (`CN=alice, O=Example`). Default: none.
    pub subjects: Vec<String>,
    /// Subject alternative names admitted, typed: `DNS:host`, `URI:spiffe://...`,
    /// `email:a@b`, `IP:10.0.0.1`. Default: none. With neither list, any verified
    /// certificate is admitted.
    pub sans: Vec<String>,
}
