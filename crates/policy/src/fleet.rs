//! Fleet-wide rate limits (`rate_limits[].store`): the host side of leases from a shared store
//! ([`ringway_ratelimit::FleetLimiter`]), the decision a core makes with it, and what the store
//! thread (run by the binary) needs: [`Policies::fleet_limits`].

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use ringway_config::model::{LimitStore, StoreFailure};
use ringway_ratelimit::{Decision, FleetKind, FleetLimiter, FleetOptions, FleetVerdict, Status};

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
    pub(crate) fn new(name: &str, kind: FleetKind, store: LimitStore) -> Self {
        let opts = FleetOptions {
            sync: store.sync,
            ..FleetOptions::default()
        };
        Self {
            name: name.to_owned(),
            limiter: FleetLimiter::new(name, kind, opts),
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

    /// Decides a request of `key` at `now_ns` (monotonic) and `now_ms` (unix): `None` when
    /// the store is down (or the key found no slot) and the limit falls back to each
    /// gateway's own count.
    pub(crate) fn check(&self, key: u64, now_ns: u64, now_ms: u64) -> Option<Decision> {
        let (verdict, wake) = self.limiter.check(key, now_ns, now_ms);
        if wake {
            self.wake();
        }
        let kind = self.limiter.kind();
        let (limit, window_secs) = kind.limit_and_window();
        let secs = |ns: u64| ns.div_ceil(1_000_000_000);
        match verdict {
            FleetVerdict::Allow { held } => Some(Decision::Allow(Status {
                limit,
                window_secs,
                remaining: held,
                reset_secs: 0,
                retry_after_secs: 0,
            })),
            FleetVerdict::Deny { retry_after_ns } => {
                // A rate's bucket is full again after its burst; a quota's resets with its
                // window.
                let (reset_ns, min_wait) = match kind {
                    FleetKind::Rate(_) => {
                        let (t, tol) = self.limiter.rate_ns();
                        (tol, t)
                    }
                    FleetKind::Quota(_) => (self.limiter.window_left_ns(now_ms), 1),
                };
                Some(Decision::Deny(Status {
                    limit,
                    window_secs,
                    remaining: 0,
                    reset_secs: secs(reset_ns),
                    retry_after_secs: secs(retry_after_ns.max(min_wait)).max(1),
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

    /// The fleet-wide limits (route and plan limits, plan quotas with a store), for the store
    /// threads.
    pub fn fleet_limits(&self) -> Vec<Arc<FleetRt>> {
        self.routes
            .iter()
            .flatten()
            .flat_map(|r| &r.limits)
            .chain(self.plans.iter().filter_map(|p| p.limit.as_ref()))
            .filter_map(|l| l.fleet.clone())
            .chain(
                self.plans
                    .iter()
                    .flat_map(|p| p.fleet_quotas.iter().cloned()),
            )
            .collect()
    }
}
