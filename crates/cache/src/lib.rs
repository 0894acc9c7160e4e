//! Ringway's edge cache logic (RFC 9111), pure with time passed in; `crates/proxy` drives it
//! per core.
//!
//! - [`control`]: `Cache-Control` of requests and responses, parsed strictly (a bad or
//!   conflicting value makes a response stale rather than trusted).
//! - [`freshness`]: what a shared cache may store, freshness lifetime (`s-maxage` >
//!   `max-age` > `Expires`; heuristic only when configured), age, and whether a stored
//!   response may answer a request (fresh, `stale-while-revalidate`, `stale-if-error`).
//! - [`key`]: primary keys (scheme, host, exact target, extras) and `Vary` selection.
//! - [`store`]: one core's byte-budgeted store, evicted by S3-FIFO.
//! - [`status`]: the `Cache-Status` field (RFC 9211).

pub mod control;
pub mod freshness;
pub mod key;
pub mod status;
pub mod store;

pub use control::{RequestControl, ResponseControl};
pub use freshness::{storable, usable, NotStored, Policy, ResponseFacts, Timing, Use};
pub use key::{vary_names, vary_values, Keys, PrimaryKey};
pub use status::{cache_status, Forward, Handled};
pub use store::{Store, StoreStats};
