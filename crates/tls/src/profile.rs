//! rustls server configurations by profile, or with suites and groups chosen by name.

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoClientAuth, ResolvesServerCert};
use rustls::version::{TLS12, TLS13};
use rustls::{ServerConfig, SupportedProtocolVersion};

use crate::TlsError;

/// A TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A set of protocol choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Mozilla's intermediate profile: TLS 1.2 and 1.3, ECDHE key exchange, AEAD suites
    /// (AES-GCM, ChaCha20-Poly1305) — rustls offers nothing weaker.
    #[default]
    Intermediate,
    /// Mozilla's modern profile: TLS 1.3 only.
    Modern,
}

/// How a listener speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// The profile.
    pub profile: Profile,
    /// The lowest version accepted (the profile may raise it).
    pub min_version: TlsVersion,
    /// Cipher suites by IANA name (`TLS13_AES_128_GCM_SHA256`, ...), in preference order;
    /// `None`: the profile's.
    pub suites: Option<Vec<String>>,
    /// Key-exchange groups by name (`X25519`, `secp256r1`, `X25519MLKEM768`, ...); `None`: all.
    pub groups: Option<Vec<String>>,
    /// ALPN protocols offered, in preference order (`h2`, `http/1.1`).
    pub alpn: Vec<Vec<u8>>,
    /// Stateless session tickets (resumption on any core); session IDs are always kept in a
    /// shared cache too.
    pub tickets: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            profile: Profile::Intermediate,
            min_version: TlsVersion::Tls12,
            suites: None,
            groups: None,
            alpn: vec![b"http/1.1".to_vec()],
            tickets: true,
        }
    }
}

/// The one crypto provider of the gateway (aws-lc-rs), for every rustls client and server it
/// builds: naming it everywhere keeps a second provider out of the binary and out of
/// rustls's process-wide default.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The cipher suites this build knows, by name.
pub fn suite_names() -> Vec<String> {
    aws_lc_rs::default_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

/// The key-exchange groups this build knows, by name.
pub fn group_names() -> Vec<String> {
    aws_lc_rs::default_provider()
        .kx_groups
        .iter()
        .map(|g| format!("{:?}", g.name()))
        .collect()
}

/// The items of `all` named by `names` (compared without case), in the order named.
fn pick<T: Copy>(
    all: &[T],
    names: &[String],
    name_of: impl Fn(&T) -> String,
    what: &str,
) -> Result<Vec<T>, TlsError> {
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|x| name_of(x).eq_ignore_ascii_case(n))
                .copied()
                .ok_or_else(|| {
                    let known: Vec<String> = all.iter().map(&name_of).collect();
                    TlsError::Config(format!("unknown {what} {n:?}: one of {}", known.join(", ")))
                })
        })
        .collect()
}

/// The provider for `opts`: the suites and groups named, in the order named.
fn provider(opts: &ServerOptions) -> Result<CryptoProvider, TlsError> {
    let mut p = aws_lc_rs::default_provider();
    if let Some(names) = &opts.suites {
        p.cipher_suites = pick(
            &p.cipher_suites,
            names,
            |s| format!("{:?}", s.suite()),
            "cipher suite",
        )?;
    }
    if let Some(names) = &opts.groups {
        p.kx_groups = pick(&p.kx_groups, names, |g| format!("{:?}", g.name()), "group")?;
    }
    Ok(p)
}

/// A server configuration serving `certs` with `opts`, asking for client certificates when
/// `clients` is given.
pub fn server_config(
    certs: Arc<dyn ResolvesServerCert>,
    opts: &ServerOptions,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let min = match opts.profile {
        Profile::Modern => TlsVersion::Tls13,
        Profile::Intermediate => opts.min_version,
    };
    let versions: &[&'static SupportedProtocolVersion] = match min {
        TlsVersion::Tls12 => &[&TLS13, &TLS12],
        TlsVersion::Tls13 => &[&TLS13],
    };
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider(opts)?))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(format!("these suites and versions do not fit: {e}")))?
        .with_client_cert_verifier(clients.unwrap_or_else(|| Arc::new(NoClientAuth)))
        .with_cert_resolver(certs);
    cfg.alpn_protocols = opts.alpn.clone();
    if opts.tickets {
        cfg.ticketer = aws_lc_rs::Ticketer::new()
            .map_err(|e| TlsError::Config(format!("session tickets: {e}")))?;
    }
    Ok(Arc::new(cfg))
}
