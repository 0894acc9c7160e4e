//! Upstream resilience, as pure logic with time passed in:
//!
//! - [`settings`]: what a group's health checks, outlier detection and circuit breakers are
//!   configured to do (built by the config crate, read here).
//! - [`board`]: the state shared by every core and the health thread: which endpoints are
//!   excluded (an atomic bitset read on every pick, no lock), the panic flag, and the
//!   failure streaks cores count on the request path.
//! - [`detector`]: the health thread's decisions per group: active-check thresholds,
//!   ejections that grow with repeats, max ejection percent, panic mode (Envoy's outlier
//!   detection semantics).
//! - [`breaker`]: circuit-breaker limits enforced across cores by leasing slots in chunks,
//!   as the rate limiter leases tokens, so a request does not touch a shared atomic.
//! - [`adaptive`]: a per-core gradient controller that sheds when upstream latency rises.

pub mod adaptive;
pub mod board;
pub mod breaker;
pub mod detector;
pub mod settings;

pub use adaptive::{AdaptiveSettings, Gradient};
pub use board::{Board, Eligibility, Event, GroupBoard, Outcome, EJECTED, UNHEALTHY};
pub use breaker::{Lease, SlotPool};
pub use detector::{Change, GroupHealth};
pub use settings::{BreakerLimits, HealthCheck, OutlierDetection, ProbeKind, StatusRanges};
