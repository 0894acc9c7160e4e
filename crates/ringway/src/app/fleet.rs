//! Store threads for fleet-wide limits (`rate_limits[].store`): one per limit, beside the
//! workers, exchanging token leases with Redis for the keys the cores ask for
//! ([`ringway_ratelimit::FleetLimiter::take_work`]), pipelined, each call bounded by the
//! store's timeout. The workers never wait on them: a key short of tokens runs on credit, then
//! is refused, until a lease arrives; a store down falls back as configured.
//!
//! The threads live as long as the process: a reload keeps each fleet-wide limit's host share
//! (and refuses to change one: that needs a restart), so its thread keeps serving it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ringway_policy::{FleetRt, Policies};
use ringway_ratelimit::{store_key, Ask, Give, LEASE_SCRIPT, RETURN_SCRIPT};

/// Idle keys are looked at for tokens to give back this often.
const IDLE_SCAN: Duration = Duration::from_millis(10);
/// The store thread's longest sleep when no core asked for anything.
const TICK: Duration = Duration::from_millis(1);

/// The store threads; stopped (and joined) when dropped.
pub(crate) struct StoreThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for StoreThreads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Starts one thread per fleet-wide limit of `policies`. A URL the client cannot use is an
/// error here, never a silent gap.
pub(crate) fn start(policies: &Arc<Policies>) -> anyhow::Result<StoreThreads> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (i, fleet) in policies.fleet_limits().into_iter().enumerate() {
        let client = redis::Client::open(fleet.store.url.as_str())
            .with_context(|| format!("the store of rate limit {}", fleet.name))?;
        let (stop, policies, f) = (Arc::clone(&stop), Arc::clone(policies), Arc::clone(&fleet));
        let thread = std::thread::Builder::new()
            .name(format!("ringway-store-{i}"))
            .spawn(move || Store::new(f, client).run(&policies, &stop))
            .context("starting a rate-limit store thread")?;
        fleet.serve_with(thread.thread().clone());
        threads.push(thread);
    }
    Ok(StoreThreads { stop, threads })
}

/// One limit's connection to its store.
struct Store {
    fleet: Arc<FleetRt>,
    client: redis::Client,
    conn: Option<Conn>,
    /// Emission interval and burst tolerance, µs (the scripts' units).
    t_us: u64,
    tol_us: u64,
    /// Store keys expire this long after their last write.
    ttl_ms: u64,
}

struct Conn {
    conn: redis::Connection,
    lease_sha: String,
    return_sha: String,
}

impl Store {
    fn new(fleet: Arc<FleetRt>, client: redis::Client) -> Self {
        let rate = fleet.limiter.rate();
        let t_us = (rate.interval_ns() / 1000).max(1);
        let tol_us = t_us.saturating_mul(rate.burst.max(1));
        Self {
            fleet,
            client,
            conn: None,
            t_us,
            tol_us,
            // The bucket is full again after the tolerance: the key can go then.
            ttl_ms: (tol_us / 1000).max(1000) + 1000,
        }
    }

    fn run(mut self, policies: &Policies, stop: &AtomicBool) {
        let fleet = Arc::clone(&self.fleet);
        let limiter = &fleet.limiter;
        let (mut deferred, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_scan = 0;
        while !stop.load(Ordering::Acquire) {
            if !limiter.has_work() {
                std::thread::park_timeout(TICK);
            }
            let now = policies.clock_ns(Instant::now());
            if !limiter.store_up() {
                if limiter.probe_due(now) {
                    match self.connection() {
                        Ok(_) => limiter.store_ok(),
                        Err(_) => limiter.store_failed(now),
                    }
                }
                continue;
            }
            let scan = now.saturating_sub(last_scan) >= IDLE_SCAN.as_nanos() as u64;
            if scan {
                last_scan = now;
            }
            limiter.take_work(now, scan, &mut deferred, &mut asks, &mut gives);
            if asks.is_empty() && gives.is_empty() {
                continue;
            }
            match self.exchange(&asks, &gives) {
                Ok(grants) => {
                    limiter.store_ok();
                    for (ask, (granted, next_us)) in asks.iter().zip(grants) {
                        limiter.granted(ask, granted, next_us.saturating_mul(1000), now);
                    }
                    limiter.returned(gives.iter().map(|g| g.tokens).sum());
                }
                Err(e) => {
                    tracing::debug!(limit = %self.fleet.name, error = %e, "rate-limit store call failed");
                    limiter.store_failed(now);
                    self.conn = None;
                }
            }
            asks.clear();
            gives.clear();
        }
    }

    /// The open connection, or a new one with the scripts loaded.
    fn connection(&mut self) -> redis::RedisResult<&mut Conn> {
        if self.conn.is_none() {
            let timeout = self.fleet.timeout();
            let mut conn = self.client.get_connection_with_timeout(timeout)?;
            conn.set_read_timeout(Some(timeout))?;
            conn.set_write_timeout(Some(timeout))?;
            let lease_sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(LEASE_SCRIPT)
                .query(&mut conn)?;
            let return_sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(RETURN_SCRIPT)
                .query(&mut conn)?;
            self.conn = Some(Conn {
                conn,
                lease_sha,
                return_sha,
            });
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Leases and returns in one pipeline: each lease's `(granted, µs to the next token)`.
    fn exchange(&mut self, asks: &[Ask], gives: &[Give]) -> redis::RedisResult<Vec<(u64, u64)>> {
        let (t_us, tol_us, ttl_ms) = (self.t_us, self.tol_us, self.ttl_ms);
        let fleet = Arc::clone(&self.fleet);
        let name = &fleet.name;
        fleet
            .limiter
            .stats
            .commands
            .fetch_add((asks.len() + gives.len()) as u64, Ordering::Relaxed);
        let c = self.connection()?;
        let mut pipe = redis::pipe();
        for a in asks {
            pipe.cmd("EVALSHA")
                .arg(&c.lease_sha)
                .arg(1)
                .arg(store_key(name, a.key))
                .arg(t_us)
                .arg(tol_us)
                .arg(a.want)
                .arg(ttl_ms);
        }
        for g in gives {
            pipe.cmd("EVALSHA")
                .arg(&c.return_sha)
                .arg(1)
                .arg(store_key(name, g.key))
                .arg(t_us)
                .arg(g.tokens)
                .arg(ttl_ms)
                .ignore();
        }
        pipe.query(&mut c.conn)
    }
}
