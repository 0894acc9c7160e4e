//! Store threads for fleet-wide limits (`rate_limits[].store`): one per limit, beside the
//! workers, exchanging token leases with Redis for the keys the cores ask for
//! ([`ringway_ratelimit::FleetLimiter::take_work`]), pipelined, each call bounded by the
//! store's timeout. The workers never wait on them: a key short of tokens runs on credit, then
//! is refused, until a lease arrives; a store down falls back as configured.
//!
//! A limit in the approximate sync mode (`store.mode: sync`) is served on its interval
//! instead: the counts its cores took are flushed in one pipeline
//! ([`ringway_ratelimit::FleetLimiter::take_sync`]) and the fleet's state comes back.
//!
//! The threads live as long as the process: a reload keeps each fleet-wide limit's host share
//! (and refuses to change one: that needs a restart), so its thread keeps serving it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ringway_policy::{FleetRt, Policies};
use ringway_ratelimit::{
    store_key, Ask, FleetKind, Flush, Give, LEASE_SCRIPT, QUOTA_RETURN_SCRIPT, QUOTA_SCRIPT,
    QUOTA_SYNC_SCRIPT, RETURN_SCRIPT, SYNC_SCRIPT,
};

/// Idle keys are looked at for tokens to give back this often.
const IDLE_SCAN: Duration = Duration::from_millis(10);
/// The store thread's longest sleep when no core asked for anything (cores wake it when a
/// key runs short; this paces deferred asks and probes).
const TICK: Duration = Duration::from_millis(2);

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
    kind: FleetKind,
    /// The lease script's arguments after the units wanted: a rate's emission interval and
    /// burst tolerance (µs), or a quota's limit; then the TTL (ms).
    lease_args: Vec<u64>,
    /// The return script's arguments before the units: a rate's emission interval (µs).
    return_args: Vec<u64>,
    /// Store keys expire this long after their last write.
    ttl_ms: u64,
}

struct Conn {
    conn: redis::Connection,
    /// The lease script's, or in the sync mode the flush script's.
    lease_sha: String,
    /// The return script's (leases only).
    return_sha: String,
}

impl Store {
    fn new(fleet: Arc<FleetRt>, client: redis::Client) -> Self {
        let kind = fleet.limiter.kind();
        let (lease_args, return_args, ttl_ms) = match kind {
            FleetKind::Rate(rate) => {
                let t_us = (rate.interval_ns() / 1000).max(1);
                let tol_us = t_us.saturating_mul(rate.burst.max(1));
                // The bucket is full again after the tolerance: the key can go then.
                (
                    vec![t_us, tol_us],
                    vec![t_us],
                    (tol_us / 1000).max(1000) + 1000,
                )
            }
            // A window's count outlives its window by a minute (a late return finds it).
            FleetKind::Quota(q) => (vec![q.limit], vec![], q.window.secs() * 1000 + 60_000),
        };
        // The sync mode dates a flush back by up to two intervals: the TAT must outlive that.
        let ttl_ms = ttl_ms
            + fleet
                .limiter
                .sync_interval()
                .map_or(0, |i| 2 * i.as_millis() as u64);
        Self {
            fleet,
            client,
            conn: None,
            kind,
            lease_args,
            return_args,
            ttl_ms,
        }
    }

    fn run(self, policies: &Policies, stop: &AtomicBool) {
        match self.fleet.limiter.sync_interval() {
            Some(interval) => self.run_sync(interval, policies, stop),
            None => self.run_leases(policies, stop),
        }
    }

    /// A down store is probed with backoff (the cores fall back meanwhile).
    fn probe(&mut self, now: u64) {
        let limiter = &Arc::clone(&self.fleet).limiter;
        if limiter.probe_due(now) {
            match self.connection() {
                Ok(_) => limiter.store_ok(),
                Err(_) => limiter.store_failed(now),
            }
        }
    }

    fn failed(&mut self, e: &redis::RedisError, now: u64) {
        tracing::debug!(limit = %self.fleet.name, error = %e, "rate-limit store call failed");
        self.fleet.limiter.store_failed(now);
        self.conn = None;
    }

    fn run_leases(mut self, policies: &Policies, stop: &AtomicBool) {
        let fleet = Arc::clone(&self.fleet);
        let limiter = &fleet.limiter;
        let (mut deferred, mut asks, mut gives) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_scan = 0;
        while !stop.load(Ordering::Acquire) {
            // Down, the queue is left alone (the cores fall back): sleep, do not spin on it.
            if !limiter.store_up() || !limiter.has_work() {
                std::thread::park_timeout(TICK);
            }
            let now = policies.clock_ns(Instant::now());
            if !limiter.store_up() {
                self.probe(now);
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
                        let next_ns = match self.kind {
                            FleetKind::Rate(_) => next_us.saturating_mul(1000),
                            // A spent quota has units again when its window ends.
                            FleetKind::Quota(_) => limiter.window_left_ns(unix_ms()),
                        };
                        limiter.granted(ask, granted, next_ns, now);
                    }
                    limiter.returned(gives.iter().map(|g| g.tokens).sum());
                }
                Err(e) => self.failed(&e, now),
            }
            asks.clear();
            gives.clear();
        }
    }

    /// The sync mode: every `interval`, the counts taken since are flushed and the fleet's
    /// state goes back to the slots.
    fn run_sync(mut self, interval: Duration, policies: &Policies, stop: &AtomicBool) {
        let fleet = Arc::clone(&self.fleet);
        let limiter = &fleet.limiter;
        let mut flushes = Vec::new();
        let mut next = Instant::now() + interval;
        while !stop.load(Ordering::Acquire) {
            if !limiter.store_up() {
                std::thread::park_timeout(TICK);
                self.probe(policies.clock_ns(Instant::now()));
                continue;
            }
            let wait = next.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::park_timeout(wait);
                continue;
            }
            next = (next + interval).max(Instant::now());
            let now = policies.clock_ns(Instant::now());
            limiter.take_sync(now, &mut flushes);
            if flushes.is_empty() {
                continue;
            }
            match self.flush(&flushes) {
                Ok(states) => {
                    limiter.store_ok();
                    // Dated when the counts were taken: the store answered after that, so
                    // the view errs by a round trip toward admitting, not toward refusing a
                    // gateway alone at the rate.
                    for (f, state) in flushes.iter().zip(states) {
                        let state = match self.kind {
                            FleetKind::Rate(_) => state.saturating_mul(1000),
                            FleetKind::Quota(_) => state,
                        };
                        limiter.synced(f, state, now);
                    }
                }
                Err(e) => self.failed(&e, now),
            }
            flushes.clear();
        }
    }

    /// The open connection, or a new one with the scripts loaded.
    fn connection(&mut self) -> redis::RedisResult<&mut Conn> {
        if self.conn.is_none() {
            let timeout = self.fleet.timeout();
            let mut conn = self.client.get_connection_with_timeout(timeout)?;
            conn.set_read_timeout(Some(timeout))?;
            conn.set_write_timeout(Some(timeout))?;
            let sync = self.fleet.limiter.sync_interval().is_some();
            let (lease, give) = match (self.kind, sync) {
                (FleetKind::Rate(_), false) => (LEASE_SCRIPT, Some(RETURN_SCRIPT)),
                (FleetKind::Quota(_), false) => (QUOTA_SCRIPT, Some(QUOTA_RETURN_SCRIPT)),
                (FleetKind::Rate(_), true) => (SYNC_SCRIPT, None),
                (FleetKind::Quota(_), true) => (QUOTA_SYNC_SCRIPT, None),
            };
            let lease_sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(lease)
                .query(&mut conn)?;
            let return_sha: String = match give {
                Some(give) => redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(give)
                    .query(&mut conn)?,
                None => String::new(),
            };
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
        let fleet = Arc::clone(&self.fleet);
        let name = &fleet.name;
        fleet
            .limiter
            .stats
            .commands
            .fetch_add((asks.len() + gives.len()) as u64, Ordering::Relaxed);
        let (kind, ttl_ms) = (self.kind, self.ttl_ms);
        let (lease_args, return_args) = (self.lease_args.clone(), self.return_args.clone());
        let c = self.connection()?;
        let mut pipe = redis::pipe();
        for a in asks {
            // GCRA: interval, tolerance, wanted, TTL; a count: limit, wanted, TTL.
            pipe.cmd("EVALSHA")
                .arg(&c.lease_sha)
                .arg(1)
                .arg(store_key(name, a.key, kind, a.window))
                .arg(&lease_args)
                .arg(a.want)
                .arg(ttl_ms);
        }
        for g in gives {
            pipe.cmd("EVALSHA")
                .arg(&c.return_sha)
                .arg(1)
                .arg(store_key(name, g.key, kind, g.window))
                .arg(&return_args)
                .arg(g.tokens)
                .arg(ttl_ms)
                .ignore();
        }
        pipe.query(&mut c.conn)
    }

    /// The sync mode's flushes in one pipeline: each key's fleet state (a rate's debt in µs,
    /// a quota's count).
    fn flush(&mut self, flushes: &[Flush]) -> redis::RedisResult<Vec<u64>> {
        let fleet = Arc::clone(&self.fleet);
        fleet
            .limiter
            .stats
            .commands
            .fetch_add(flushes.len() as u64, Ordering::Relaxed);
        let (kind, ttl_ms) = (self.kind, self.ttl_ms);
        let c = self.connection()?;
        let mut pipe = redis::pipe();
        for f in flushes {
            let cmd = pipe.cmd("EVALSHA").arg(&c.lease_sha).arg(1).arg(store_key(
                &fleet.name,
                f.key,
                kind,
                f.window,
            ));
            match kind {
                // Interval µs, requests, µs since the first, TTL.
                FleetKind::Rate(rate) => cmd
                    .arg((rate.interval_ns() / 1000).max(1))
                    .arg(f.count)
                    .arg(f.age_ns / 1000)
                    .arg(ttl_ms),
                FleetKind::Quota(_) => cmd.arg(f.count).arg(ttl_ms),
            };
        }
        pipe.query(&mut c.conn)
    }
}

/// Unix time in ms (quota windows are UTC-aligned).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
