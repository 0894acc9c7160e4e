//! Fleet-wide rate limits (`rate_limits[].store`): the host side of leases from a shared store
//! ([`ringway_ratelimit::FleetLimiter`]), the decision a core makes with it, and what the store
//! thread (run by the binary) needs: [`Policies::fleet_limits`].

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use ringway_config::model::{LimitStore, StoreFailure};
use ringway_ratelimit::{Decision, FleetLimiter, FleetVerdict, Status};

use crate::build::Policies;

/// One fleet-wide limit: its host share, its store, and the store thread to wake.
#[derive(Debug)]
pub struct FleetRt {
    /// The limit's name (the store keys carry it).
    pub name: String,
    /// The host's share of the limit.
    pub limiter: FleetLimiter,
    /// Where the fleet's state lives, and what to do while it is down.
    pub store: LimitStore,
    thread: OnceLock<Thread>,
}

impl FleetRt {
    pub(crate) fn new(name: &str, limiter: FleetLimiter, store: LimitStore) -> Self {
        Self {
            name: name.to_owned(),
            limiter,
            store,
            thread: OnceLock::new(),
        }
    }

    /// Names the thread that serves this limit's store (woken when keys need tokens).
    pub fn serve_with(&self, thread: Thread) {
        let _ = self.thread.set(thread);
    }

    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Decides a request of `key` at `now_ns`: `None` when the store is down (or the key
    /// found no slot) and the limit falls back to each gateway's own count.
    pub(crate) fn check(&self, key: u64, now_ns: u64) -> Option<Decision> {
        let (verdict, wake) = self.limiter.check(key, now_ns);
        if wake {
            self.wake();
        }
        let rate = self.limiter.rate();
        let window_secs = rate.per.as_secs().max(1);
        let t = rate.interval_ns();
        match verdict {
            FleetVerdict::Allow { held } => Some(Decision::Allow(Status {
                limit: rate.requests,
                window_secs,
                remaining: held,
                reset_secs: 0,
                retry_after_secs: 0,
            })),
            FleetVerdict::Deny { retry_after_ns } => {
                let wait = retry_after_ns.max(t);
                Some(Decision::Deny(Status {
                    limit: rate.requests,
                    window_secs,
                    remaining: 0,
                    reset_secs: rate.burst.saturating_mul(t).div_ceil(1_000_000_000),
                    retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
                }))
            }
            FleetVerdict::StoreDown => None,
        }
    }

    /// Whether the limit refuses while its store is down.
    pub(crate) fn denies_when_down(&self) -> bool {
        self.store.on_failure == StoreFailure::Deny
    }

    /// The store's call timeout.
    pub fn timeout(&self) -> Duration {
        self.store.timeout
    }
}

impl Policies {
    /// `now` on the rate limits' clock (ns since the policies' origin, kept across reloads):
    /// the clock the store threads pass to [`FleetLimiter`].
    pub fn clock_ns(&self, now: std::time::Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The fleet-wide limits (route limits with a store), for the store threads.
    pub fn fleet_limits(&self) -> Vec<Arc<FleetRt>> {
        self.routes
            .iter()
            .flatten()
            .flat_map(|r| &r.limits)
            .filter_map(|l| l.fleet.clone())
            .collect()
    }
}
