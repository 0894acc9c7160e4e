//! TLS for Ringway, as plain data and rustls configurations — no sockets, no clock reads:
//!
//! * [`load_cert`]: a certificate chain and its private key from PEM, checked before use (the
//!   key matches the certificate, the certificate is valid at the time given), with the facts
//!   the rest of the gateway shows (names, expiry, SHA-256 fingerprint; never the key);
//! * [`CertTable`]: the certificates of a listener, chosen per handshake by SNI (exact names,
//!   then `*.` wildcards of one label, then the default or a refusal) and, among several for
//!   one name, by the signature schemes the client offers (ECDSA before RSA when both fit);
//! * [`server_config`]: a rustls server configuration from a profile (Mozilla's
//!   `intermediate`: TLS 1.2 and 1.3 with ECDHE and AEAD suites only; `modern`: TLS 1.3) or
//!   explicit suites and groups validated by name, ALPN, and session tickets whose key is
//!   shared by every core using the configuration (a returning client lands on any core);
//! * [`LiveCerts`]: the table a configuration resolves with, replaced whole on reload;
//! * [`client_verifier`] and [`ClientCert`]: client certificates (mTLS) checked against a CA
//!   and CRLs, and the identity of a verified one;
//! * [`upstream_config`]: client configurations for upstreams, always verifying.
//!
//! The data plane drives `rustls::ServerConnection` over its own buffers; this crate is what it
//! is handed, unit-tested with in-memory handshakes.

mod certs;
mod client;
mod live;
mod profile;
mod table;
mod upstream;

pub use certs::{load_cert, CertInfo, KeyType, LoadedCert};
pub use client::{client_verifier, ClientAuthMode, ClientCert};
pub use live::LiveCerts;
pub use profile::{
    crypto_provider, group_names, server_config, suite_names, Profile, ServerOptions, TlsVersion,
};
pub use rustls::pki_types::ServerName;
pub use table::{CertTable, UnknownSni};
pub use upstream::{check_server_name, roots_from_pem, upstream_config};

/// Why a certificate or a configuration cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    /// The PEM holds no certificate, or one that does not parse.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The PEM holds no private key, or one this build cannot use.
    #[error("private key: {0}")]
    Key(String),
    /// The key is not the certificate's.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// Outside its validity period at the time checked.
    #[error("certificate {0}")]
    Validity(String),
    /// A name that is not a valid DNS name or wildcard.
    #[error("invalid name {0:?}")]
    Name(String),
    /// A certificate revocation list (its index among the files) that does not parse.
    #[error("CRL file {0}: {1}")]
    Crl(usize, String),
    /// A cipher suite or group name this build does not know, or a combination rustls refuses.
    #[error("{0}")]
    Config(String),
}
