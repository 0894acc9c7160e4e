//! Ringway's authentication policies: pure logic, no sockets, no clock reads.
//!
//! The data plane applies them in this order (see the design notes): the [`ip`] filter
//! (after [`ip::TrustedProxies`] has found the client address), then authentication with a
//! JWT ([`jwt`]) or an API key ([`apikey`]), then authorization ([`jwt::Requirement`]). A
//! refusal is answered with a `WWW-Authenticate` value from [`www`].
//!
//! Every time-dependent function takes the current time as an argument (`now_unix_secs`
//! for token validity, an [`std::time::Instant`] for the JWKS refresh schedule); nothing in
//! this crate reads a clock.
//!
//! Cryptography is jsonwebtoken's pure-Rust RustCrypto backend (no C toolchain); the crate
//! is re-exported as [`jsonwebtoken`] so that tests and benches can sign tokens with the same
//! version, and [`serde_json`] (the type of [`jwt::Claims::all`]) is re-exported too.

pub mod apikey;
pub mod ip;
pub mod jwt;
pub mod www;

pub use jsonwebtoken;
pub use serde_json;
