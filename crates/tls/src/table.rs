//! A listener's certificates, chosen per handshake by SNI and by the client's signature
//! schemes.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::certs::{CertInfo, KeyType, LoadedCert};
use crate::TlsError;

/// What happens to a client naming a host no certificate is for (or naming none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSni {
    /// Serve the default certificate.
    #[default]
    Default,
    /// Abort the handshake (an `unrecognized_name` alert): the listener does not say which
    /// names it serves to a client that does not know them.
    Reject,
}

type Entry = (KeyType, Arc<CertifiedKey>);

/// The certificates of a listener; see the [crate docs](crate).
#[derive(Debug, Default)]
pub struct CertTable {
    exact: HashMap<String, Vec<Entry>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Vec<Entry>>,
    default: Vec<Entry>,
    unknown_sni: UnknownSni,
    infos: Vec<CertInfo>,
}

/// ECDSA first (smaller, faster), then Ed25519, then RSA.
fn preference(k: KeyType) -> u8 {
    match k {
        KeyType::Ecdsa => 0,
        KeyType::Ed25519 => 1,
        KeyType::Rsa => 2,
    }
}

impl CertTable {
    /// A table of `certs`. The default certificate (for clients without SNI, or naming an
    /// unknown host when `unknown_sni` is [`UnknownSni::Default`]) is `certs[default]` and the
    /// others for exactly the same names (an ECDSA and an RSA one, say).
    pub fn new(
        certs: Vec<LoadedCert>,
        default: usize,
        unknown_sni: UnknownSni,
    ) -> Result<CertTable, TlsError> {
        let Some(first) = certs.get(default) else {
            return Err(TlsError::Config(format!(
                "no certificate {default} among {}",
                certs.len()
            )));
        };
        let default_names = first.info.names.clone();
        let mut t = CertTable {
            unknown_sni,
            ..CertTable::default()
        };
        for c in certs {
            let entry = (c.info.key_type, Arc::clone(&c.key));
            if c.info.names == default_names {
                t.default.push(entry.clone());
            }
            for name in &c.info.names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(parent) => (&mut t.wildcard, parent),
                    None => (&mut t.exact, name.as_str()),
                };
                map.entry(key.to_owned()).or_default().push(entry.clone());
            }
            t.infos.push(c.info);
        }
        for v in t
            .exact
            .values_mut()
            .chain(t.wildcard.values_mut())
            .chain(std::iter::once(&mut t.default))
        {
            v.sort_by_key(|(k, _)| preference(*k));
        }
        Ok(t)
    }

    /// What each certificate is (for `/config` and the expiry gauge).
    pub fn infos(&self) -> &[CertInfo] {
        &self.infos
    }

    /// The certificate for a client naming `sni` (none: `None`) and offering `schemes`; `None`
    /// refuses the handshake (an unknown name with [`UnknownSni::Reject`]).
    pub fn select(
        &self,
        sni: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let name = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        let found = name.as_deref().and_then(|n| {
            self.exact.get(n).or_else(|| {
                let parent = n.split_once('.')?.1;
                self.wildcard.get(parent)
            })
        });
        let candidates = match found {
            Some(c) => c,
            None if self.unknown_sni == UnknownSni::Default => &self.default,
            None => return None,
        };
        // None fitting the client's schemes: the preferred one all the same, so that rustls
        // ends the handshake with `handshake_failure` as other servers do (a resolver's `None`
        // becomes `access_denied`, which scanners such as sslyze do not expect).
        candidates
            .iter()
            .find(|(_, k)| k.key.choose_scheme(schemes).is_some())
            .or(candidates.first())
            .map(|(_, k)| Arc::clone(k))
    }
}

impl ResolvesServerCert for CertTable {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.select(hello.server_name(), hello.signature_schemes())
    }
}
