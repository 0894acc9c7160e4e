//! A listener's certificate table that can be replaced while handshakes run: each handshake
//! reads the current table without a lock (`arc-swap`), a reload swaps in a new one that was
//! fully built and checked first.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::CertTable;

/// The certificates a listener serves now.
#[derive(Debug)]
pub struct LiveCerts(ArcSwap<CertTable>);

impl LiveCerts {
    /// Serves `table` until the next [`LiveCerts::replace`].
    pub fn new(table: CertTable) -> Self {
        Self(ArcSwap::from_pointee(table))
    }

    /// The table handshakes use now.
    pub fn current(&self) -> Arc<CertTable> {
        self.0.load_full()
    }

    /// Serves `table` from the next handshake on; handshakes under way finish with the table
    /// they started with.
    pub fn replace(&self, table: CertTable) {
        self.0.store(Arc::new(table));
    }
}

impl ResolvesServerCert for LiveCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0
            .load()
            .select(hello.server_name(), hello.signature_schemes())
    }
}
