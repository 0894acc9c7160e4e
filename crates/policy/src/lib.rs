//! The policy pipeline of the gateway, as pure logic: a request view in, an [`Identity`] or a
//! typed [`Refusal`] out. No sockets, no clock reads (time comes with the request), no file
//! reads after [`KeyMaterial::load`]; the data plane calls it per request and the binary wires
//! its side threads.
//!
//! Order, as in the design: client address (trusted proxies, [`Policies::client_ip`]) -> global
//! IP filter ([`Policies::global_denies`], before routing) -> route IP filter ->
//! authentication (JWT or API key) -> authorization (scopes, claims) -> route rate limits ->
//! the consumer's plan rate limit -> plan quotas ([`CorePolicy::check`]).
//!
//! [`Policies`] is built once per configuration and shared by every core (key sets, IP sets,
//! the shared rate-limit tables). [`CorePolicy`] is one core's own state (its verified-token
//! cache and rate-limit shards), used without locks from that core only.
//!
//! ```
//! use std::time::Instant;
//! use ringway_policy::{KeyMaterial, Policies, Request, RouteId, Secrets, System};
//!
//! let cfg = ringway_config::from_yaml_str(r#"
//! upstreams: { u: { endpoints: [{ address: "127.0.0.1:9001" }] } }
//! listeners:
//!   - name: l
//!     listen: 127.0.0.1:0
//!     routes:
//!       - name: r
//!         proxy: { upstream: u }
//!         rate_limits: [{ key: client_ip, requests: 1, per: 1m, burst: 1 }]
//! "#).unwrap();
//! let keys = KeyMaterial::load(&cfg, &System, Secrets::Required).unwrap().keys;
//! let policies = std::sync::Arc::new(Policies::new(&cfg, keys, 1).unwrap());
//! let core = policies.core(0);
//! let headers: [(&str, &str); 0] = [];
//! let req = Request {
//!     headers: &headers,
//!     query: b"",
//!     client_ip: "192.0.2.1".parse().unwrap(),
//!     now_unix_us: 1_700_000_000_000_000,
//!     client_cert: None,
//!     now: Instant::now(),
//! };
//! let route = RouteId { listener: 0, route: 0 };
//! assert!(core.check(route, &req).is_ok());
//! let refused = core.check(route, &req).unwrap_err();
//! assert_eq!(refused.kind.error_kind().status(), 429);
//! ```

mod build;
mod carry;
mod check;
mod fleet;
mod jwks;
mod keys;
mod metrics;
mod refusal;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ringway_auth::jwt::Claims;

pub use build::Policies;
pub use carry::Adopted;
pub use check::CorePolicy;
pub use fleet::FleetRt;
pub use jwks::{JwksEvent, JwksRefresher};
pub use keys::{KeyMaterial, Loaded, Secrets, Sources, System, MIN_HMAC_SECRET_BYTES};
pub use refusal::{Challenge, LimitHit, OAuthError, Refusal, RefusalKind, REALM};
pub use ringway_tls::ClientCert;

/// A route of the configuration: `listeners[listener].routes[route]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId {
    /// Index of the listener.
    pub listener: usize,
    /// Index of the route within the listener.
    pub route: usize,
}

/// What the policy stage needs of a request, borrowed from the parsed head.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, H: ?Sized> {
    /// The header fields, in order.
    pub headers: &'a H,
    /// The query string (after `?`), possibly empty.
    pub query: &'a [u8],
    /// The client's address (after trusted proxies).
    pub client_ip: IpAddr,
    /// Wall-clock time of the request, µs since the Unix epoch (token validity, quotas).
    pub now_unix_us: i64,
    /// Monotonic time of the request (rate limits).
    pub now: Instant,
    /// The verified client certificate of the connection, if any (mTLS).
    pub client_cert: Option<&'a ClientCert>,
}

/// Who a request was authenticated as.
#[derive(Debug, Clone, Default)]
pub enum Identity {
    /// No credential was required.
    #[default]
    Anonymous,
    /// An API-key consumer: its index in the configuration's consumers.
    Consumer(usize),
    /// A verified token of a JWT provider (its index), with its claims.
    Token {
        /// Index of the provider.
        provider: usize,
        /// The token's claims (shared with the core's token cache).
        claims: Arc<Claims>,
    },
}
