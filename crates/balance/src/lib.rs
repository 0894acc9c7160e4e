//! Ringway load balancing: pure, allocation-free per pick, clock-injected.
//!
//! The data plane is thread-per-core, so every type here is owned by one core and mutated
//! through `&mut self`: no atomics, no locks. Each core builds its own instances with its own
//! seed so that cores do not move in lockstep.
//!
//! - [`Balancer`]: picks an endpoint of one upstream group (smooth weighted round robin, least
//!   request, power of two choices, consistent hashing), skipping excluded endpoints so that a
//!   retry goes elsewhere.
//! - [`Split`]: weighted choice between the upstream groups of a route (canary split).
//! - [`RetryBudget`] and [`backoff`]: how many retries are allowed, and how long to wait.
//! - [`Rng`]: the small seedable generator behind the random choices.
//!
//! Nothing here reads a clock: time is always a parameter.

mod balancer;
mod budget;
mod hash;
mod split;

pub use balancer::Balancer;
pub use budget::{backoff, RetryBudget};
/// The seeded generator behind the random choices (fastrand's wyrand: small, fast, not
/// cryptographic; it only decorrelates balancing choices).
pub use fastrand::Rng;
pub use split::Split;
