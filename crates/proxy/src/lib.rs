//! Ringway's data plane: a thread-per-core HTTP/1.1 reverse proxy on monoio.
//!
//! Each worker is a pinned OS thread with its own monoio runtime (io_uring, or epoll when
//! io_uring is unavailable or `MONOIO_FORCE_LEGACY_DRIVER=1`), its own `SO_REUSEPORT`
//! listeners, route tables and upstream pools; nothing on the request path is shared between
//! workers. [`Server::start`] runs a compiled [`ringway_config::model::Config`].

pub mod admin;
mod cache;
pub mod codec;
mod config;
mod framing;
mod generation;
mod h2;
mod health;
mod io;
mod per_core;
mod session;
mod signal;
mod stats;
mod upstream;
mod worker;

pub use cache::CacheBus;
pub use config::{RunOptions, Services, TelemetryHooks};
pub use health::Resilience;
pub use stats::WorkerStats;
pub use worker::{driver_name, Reloader, Server};
