//! Upstream health across cores: the shared [`Resilience`] state (the eligibility board and
//! the circuit breakers' slot pools), and the health thread that probes endpoints and decides
//! ejections.
//!
//! The health thread runs its own small monoio runtime: one task per probed endpoint, and a
//! task that every [`EVENT_TICK`] drains the failure streaks the cores queued, ends expired
//! ejections and publishes the result. Cores read the board at every pick (an atomic word),
//! so every core stops using an ejected endpoint as soon as it is published. Probes use the
//! same connect path as requests (TLS, HTTP/2 included) on the thread's own connections, and
//! never pass through breakers or concurrency limits.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringway_config::model::Config;
use ringway_resilience::{
    Board, Change, GroupHealth, HealthCheck, ProbeKind, SlotPool, EJECTED, UNHEALTHY,
};
use ringway_telemetry::metrics::{name, write_family, write_sample, Kind};

use crate::codec::{find_head_end, HeadLimits, ResponseHead};
use crate::stats::CoreStats;
use crate::upstream::Group;

/// How often queued failure streaks are read and ejections expire.
const EVENT_TICK: Duration = Duration::from_millis(5);
/// Limits on a probe's response head.
const PROBE_LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 0,
    max_head_bytes: 16 * 1024,
    max_headers: 100,
};
/// The health thread's "core" number (seeds its balancers apart from the workers').
const HEALTH_CORE: usize = 1 << 16;

/// A group's circuit-breaker pools.
#[derive(Debug)]
pub(crate) struct GroupPools {
    pub connections: Arc<SlotPool>,
    pub pending: Arc<SlotPool>,
    pub requests: Arc<SlotPool>,
    pub retries: Arc<SlotPool>,
}

/// Each core's adaptive limit and shed count for one group, published at its tick.
#[derive(Debug)]
struct AdaptiveGauges {
    limit: Box<[AtomicU32]>,
    shed: Box<[AtomicU64]>,
}

/// What every core and the health thread share about upstream health and load.
#[derive(Debug)]
pub struct Resilience {
    pub(crate) board: Board,
    pub(crate) pools: Vec<GroupPools>,
    /// Per group with adaptive concurrency.
    adaptive: Vec<Option<AdaptiveGauges>>,
    /// Group name and endpoint addresses, for metrics.
    names: Vec<(String, Vec<String>)>,
}

impl Resilience {
    /// The shared state for `cfg`'s groups after a reload from `old`'s configuration (same
    /// worker count): a group of the same name keeps its breaker pools when its limits are
    /// the same (slots held by requests still running count against the new limits), and
    /// each endpoint of the same address keeps its published health and counters.
    pub fn carry(cfg: &Config, workers: usize, old: &Resilience) -> Arc<Self> {
        let mut new = Self::new(cfg, workers);
        let this = Arc::get_mut(&mut new).expect("not shared yet");
        for (g, (name, endpoints)) in this.names.iter().enumerate() {
            let Some(og) = old.names.iter().position(|(n, _)| n == name) else {
                continue;
            };
            let (pools, before) = (&mut this.pools[g], &old.pools[og]);
            for (mine, theirs) in [
                (&mut pools.connections, &before.connections),
                (&mut pools.pending, &before.pending),
                (&mut pools.requests, &before.requests),
                (&mut pools.retries, &before.retries),
            ] {
                if mine.limit() == theirs.limit() {
                    *mine = Arc::clone(theirs);
                }
            }
            let old_endpoints = &old.names[og].1;
            this.board.group(g).carry_from(old.board.group(og), |i| {
                old_endpoints.iter().position(|e| *e == endpoints[i])
            });
        }
        new
    }

    /// The shared state for `cfg`'s groups, with breakers split over `workers` cores.
    pub fn new(cfg: &Config, workers: usize) -> Arc<Self> {
        let board = Board::new(
            &cfg.upstreams
                .iter()
                .map(|g| {
                    (
                        g.endpoints.len(),
                        g.outlier.consecutive_local_failures,
                        g.outlier.consecutive_5xx,
                    )
                })
                .collect::<Vec<_>>(),
        );
        let pools = cfg
            .upstreams
            .iter()
            .map(|g| GroupPools {
                connections: SlotPool::new(g.breakers.max_connections, workers),
                pending: SlotPool::new(g.breakers.max_pending_requests, workers),
                requests: SlotPool::new(g.breakers.max_requests, workers),
                retries: SlotPool::new(g.breakers.max_retries, workers),
            })
            .collect();
        let names = cfg
            .upstreams
            .iter()
            .map(|g| {
                let eps = g.endpoints.iter().map(|e| e.addr.to_string()).collect();
                (g.name.clone(), eps)
            })
            .collect();
        let adaptive = cfg
            .upstreams
            .iter()
            .map(|g| {
                g.adaptive.map(|_| AdaptiveGauges {
                    limit: (0..workers.max(1)).map(|_| AtomicU32::new(0)).collect(),
                    shed: (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect(),
                })
            })
            .collect();
        Arc::new(Self {
            board,
            pools,
            adaptive,
            names,
        })
    }

    /// A core's adaptive limit and shed count for group `g` (at its tick).
    pub(crate) fn publish_adaptive(&self, g: usize, core: usize, limit: u32, shed: u64) {
        if let Some(Some(a)) = self.adaptive.get(g) {
            if let (Some(l), Some(s)) = (a.limit.get(core), a.shed.get(core)) {
                l.store(limit, Ordering::Relaxed);
                s.store(shed, Ordering::Relaxed);
            }
        }
    }

    /// Appends the health and breaker metrics to `/metrics` text.
    pub fn render_prometheus(&self, out: &mut String) {
        let endpoints = || {
            self.names.iter().enumerate().flat_map(|(g, (group, eps))| {
                eps.iter()
                    .enumerate()
                    .map(move |(i, ep)| (g, i, group.as_str(), ep.as_str()))
            })
        };
        let gauges: [(&str, &str, u8); 2] = [
            (
                name::ENDPOINT_HEALTHY,
                "1 when the endpoint's active health check passes (or none is configured).",
                UNHEALTHY,
            ),
            (
                name::ENDPOINT_EJECTED,
                "1 while the endpoint is ejected by outlier detection.",
                EJECTED,
            ),
        ];
        for (metric, help, bit) in gauges {
            write_family(out, metric, Kind::Gauge, help);
            for (g, i, group, ep) in endpoints() {
                let set = self.board.group(g).status(i) & bit != 0;
                // "healthy" is the absence of the unhealthy bit.
                let value = if bit == UNHEALTHY { !set } else { set };
                let labels = [(name::UPSTREAM, group), (name::ENDPOINT, ep)];
                write_sample(out, metric, &labels, u64::from(value));
            }
        }
        write_family(
            out,
            name::OUTLIER_EJECTIONS_TOTAL,
            Kind::Counter,
            "Outlier ejections of the endpoint.",
        );
        for (g, i, group, ep) in endpoints() {
            let labels = [(name::UPSTREAM, group), (name::ENDPOINT, ep)];
            let n = self.board.group(g).ejections(i);
            write_sample(out, name::OUTLIER_EJECTIONS_TOTAL, &labels, n);
        }
        write_family(
            out,
            name::PANIC_PICKS_TOTAL,
            Kind::Counter,
            "Endpoint picks made in panic mode (too few healthy endpoints: all were used).",
        );
        for (g, (group, _)) in self.names.iter().enumerate() {
            let n = self.board.group(g).panic_picks();
            write_sample(out, name::PANIC_PICKS_TOTAL, &[(name::UPSTREAM, group)], n);
        }
        write_family(
            out,
            name::OVERLOADED_TOTAL,
            Kind::Counter,
            "Requests refused or not retried because a circuit breaker was at its limit.",
        );
        for (((group, _), p), a) in self.names.iter().zip(&self.pools).zip(&self.adaptive) {
            for (limit, pool) in [
                ("max_connections", &p.connections),
                ("max_pending_requests", &p.pending),
                ("max_requests", &p.requests),
                ("max_retries", &p.retries),
            ] {
                let labels = [(name::UPSTREAM, group.as_str()), (name::LIMIT, limit)];
                write_sample(out, name::OVERLOADED_TOTAL, &labels, pool.refused());
            }
            if let Some(a) = a {
                let shed = a.shed.iter().map(|s| s.load(Ordering::Relaxed)).sum();
                let limit = "adaptive_concurrency";
                let labels = [(name::UPSTREAM, group.as_str()), (name::LIMIT, limit)];
                write_sample(out, name::OVERLOADED_TOTAL, &labels, shed);
            }
        }
        write_family(
            out,
            name::ADAPTIVE_LIMIT,
            Kind::Gauge,
            "Adaptive concurrency limit of each core (requests in flight to the group).",
        );
        for ((group, _), a) in self.names.iter().zip(&self.adaptive) {
            let Some(a) = a else { continue };
            for (core, l) in a.limit.iter().enumerate() {
                let core = core.to_string();
                let labels = [
                    (name::UPSTREAM, group.as_str()),
                    (name::CORE, core.as_str()),
                ];
                write_sample(
                    out,
                    name::ADAPTIVE_LIMIT,
                    &labels,
                    u64::from(l.load(Ordering::Relaxed)),
                );
            }
        }
    }
}

/// What a health thread knew when it stopped, per group: name, endpoint addresses, state.
/// The next configuration's thread starts from it (a reload keeps ejections and verdicts).
pub(crate) type Handover = Vec<(String, Vec<std::net::SocketAddr>, GroupHealth)>;

/// Starts the health thread, from `handover` when a reload replaces one; it stops when
/// `stop` is set and returns what it knew.
pub(crate) fn spawn(
    cfg: Arc<Config>,
    shared: Arc<Resilience>,
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    stop: Arc<AtomicBool>,
    handover: Handover,
) -> io::Result<JoinHandle<Handover>> {
    std::thread::Builder::new()
        .name("ringway-health".into())
        .spawn(move || {
            let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build();
            match rt {
                Ok(mut rt) => rt.block_on(run(cfg, shared, tls, stop, handover)),
                Err(e) => {
                    tracing::error!(error = %e, "Health thread could not start");
                    Vec::new()
                }
            }
        })
}

type States = Rc<RefCell<Vec<GroupHealth>>>;

async fn run(
    cfg: Arc<Config>,
    shared: Arc<Resilience>,
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    stop: Arc<AtomicBool>,
    handover: Handover,
) -> Handover {
    let now = Instant::now();
    let states: States = Rc::new(RefCell::new(
        cfg.upstreams
            .iter()
            .map(|g| {
                let thresholds = g
                    .health_check
                    .as_ref()
                    .map_or((1, 1), |h| (h.healthy_threshold, h.unhealthy_threshold));
                GroupHealth::new(
                    g.endpoints.len(),
                    g.outlier,
                    thresholds,
                    g.panic_threshold,
                    now,
                )
            })
            .collect(),
    ));
    {
        // What the previous configuration's thread knew, by group name and endpoint address.
        let mut states = states.borrow_mut();
        for (gi, g) in cfg.upstreams.iter().enumerate() {
            if let Some((_, addrs, before)) = handover.iter().find(|(n, _, _)| *n == g.name) {
                for (ep, e) in g.endpoints.iter().enumerate() {
                    if let Some(from) = addrs.iter().position(|a| *a == e.addr) {
                        states[gi].adopt(ep, before, from, g.health_check.is_some());
                    }
                }
            }
            states[gi].publish(shared.board.group(gi));
        }
    }
    let groups: Rc<Vec<Group>> = Rc::new(
        cfg.upstreams
            .iter()
            .enumerate()
            .map(|(gi, g)| Group::new(g, gi, HEALTH_CORE, tls[gi].as_ref(), &shared, false))
            .collect(),
    );
    for (gi, g) in cfg.upstreams.iter().enumerate() {
        let Some(check) = &g.health_check else {
            continue;
        };
        for ep in 0..g.endpoints.len() {
            monoio::spawn(probe_loop(
                Rc::clone(&groups),
                Rc::clone(&states),
                Arc::clone(&shared),
                gi,
                ep,
                check.clone(),
            ));
        }
    }
    while !stop.load(Ordering::Acquire) {
        monoio::time::sleep(EVENT_TICK).await;
        let now = Instant::now();
        let mut states = states.borrow_mut();
        let mut changed = vec![false; states.len()];
        while let Some(event) = shared.board.next_event() {
            let (g, ep) = (event.group, event.endpoint);
            shared.board.group(g).reset_streaks(ep);
            if let Some(change) = states[g].on_streak(ep, event.kind, now) {
                note(&cfg, &shared, g, change);
                changed[g] = true;
            }
        }
        for (g, state) in states.iter_mut().enumerate() {
            for change in state.tick(now) {
                note(&cfg, &shared, g, change);
                changed[g] = true;
            }
            if changed[g] {
                state.publish(shared.board.group(g));
            }
        }
    }
    let states = states.borrow();
    cfg.upstreams
        .iter()
        .zip(states.iter())
        .map(|(g, s)| {
            let addrs = g.endpoints.iter().map(|e| e.addr).collect();
            (g.name.clone(), addrs, s.clone())
        })
        .collect()
}

/// Probes one endpoint forever: at once, then every interval (plus jitter).
async fn probe_loop(
    groups: Rc<Vec<Group>>,
    states: States,
    shared: Arc<Resilience>,
    g: usize,
    ep: usize,
    check: HealthCheck,
) {
    let mut rng = fastrand::Rng::with_seed((g as u64) << 32 | ep as u64);
    let group = &groups[g];
    let stats = CoreStats::default();
    loop {
        let ok = monoio::time::timeout(check.timeout, probe(group, ep, &check, &stats))
            .await
            .unwrap_or(false);
        {
            let mut states = states.borrow_mut();
            let changes = states[g].on_probe(ep, ok, Instant::now());
            if !changes.is_empty() {
                for change in changes {
                    tracing::info!(
                        upstream = %group.spec.name,
                        endpoint = %group.spec.endpoints[ep].addr,
                        ?change,
                        "Health check"
                    );
                }
                states[g].publish(shared.board.group(g));
            }
        }
        let jitter = check.jitter.mul_f64(rng.f64());
        monoio::time::sleep(check.interval + jitter).await;
    }
}

/// One probe: a connect (and TLS handshake), then for `http` a GET whose status must be
/// expected.
async fn probe(group: &Group, ep: usize, check: &HealthCheck, stats: &CoreStats) -> bool {
    let Ok(mut up) = group.connect(ep, false, stats).await else {
        return false;
    };
    let ProbeKind::Http {
        path,
        host,
        expected,
    } = &check.kind
    else {
        return true;
    };
    let host = host
        .as_deref()
        .map_or(&group.authorities[ep][..], str::as_bytes);
    let mut out = Vec::with_capacity(128 + path.len());
    for part in [
        b"GET ".as_slice(),
        path.as_bytes(),
        b" HTTP/1.1\r\nhost: ",
        host,
        b"\r\nuser-agent: ringway-health-check\r\nconnection: close\r\n\r\n",
    ] {
        out.extend_from_slice(part);
    }
    if up.conn.send(&mut out, check.timeout).await.is_err() {
        return false;
    }
    let deadline = Instant::now() + check.timeout;
    let mut scanned = 0;
    let mut head = ResponseHead::default();
    loop {
        match find_head_end(up.conn.buffered(), &mut scanned, &PROBE_LIMITS) {
            Err(_) => return false,
            Ok(Some(end)) => {
                let parsed =
                    head.parse(&up.conn.buffered()[..end], false, PROBE_LIMITS.max_headers);
                match parsed {
                    Ok(()) if (100..200).contains(&head.status) => {
                        up.conn.consume(end);
                        scanned = 0;
                        continue;
                    }
                    Ok(()) => return expected.contains(head.status),
                    Err(_) => return false,
                }
            }
            Ok(None) => {}
        }
        if up.conn.fill(deadline).await.is_err() {
            return false;
        }
    }
}

/// Logs a change and counts ejections.
fn note(cfg: &Config, shared: &Resilience, g: usize, change: Change) {
    let group = &cfg.upstreams[g];
    let (ep, what) = match change {
        Change::Ejected(ep, _) => {
            shared.board.group(g).count_ejection(ep);
            (ep, "ejected")
        }
        Change::EjectionRefused(ep) => (ep, "not ejected: max_ejection_percent reached"),
        Change::Returned(ep) => (ep, "returned"),
        Change::Unhealthy(ep) => (ep, "unhealthy"),
        Change::Healthy(ep) => (ep, "healthy"),
    };
    tracing::info!(
        upstream = %group.name,
        endpoint = %group.endpoints[ep].addr,
        ?change,
        "Outlier detection: {what}"
    );
}
