//! [`Detector`]: observations in, findings out. Time is the observations' own (and what
//! [`Detector::advance`] is told), never a clock read, so a live stream and a replay of the
//! same logs give the same findings.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use super::baseline::{History, Stats, MIN_BUCKET_REQUESTS};
use super::bucket::{Bucket, ClientId};
use super::detect::{judge, Judgement, Signal, Window};
use super::endpoint::{template, Endpoint, Observation, NOT_FOUND, UNROUTED};
use super::finding::{ClientShare, Evidence, Finding, Kind, Severity};
use super::series::{Point, SeriesAcc};
use super::{Config, Map};

/// Clients named one by one; later ones share one entry (memory stays bounded over weeks of
/// logs with millions of addresses).
const MAX_CLIENT_NAMES: usize = 1 << 22;
/// The name of the shared entry.
const OTHER_CLIENTS: &str = "(others)";

/// Clients remembered per episode for its top-clients list.
const EPISODE_CLIENTS: usize = 256;

/// An anomaly in progress.
#[derive(Debug, Clone)]
struct Episode {
    start_us: i64,
    /// Stream time when it was first reported.
    detected_us: i64,
    last_fire_end_us: i64,
    quiet: usize,
    severity: Severity,
    peak: Evidence,
    requests: u64,
    clients: Map<ClientId, u64>,
    /// Clients dropped because the map was full (still counted as distinct).
    overflow: u64,
}

/// One endpoint's state.
#[derive(Debug)]
struct EndpointState {
    key: Endpoint,
    /// Bucket index when first seen.
    first_bucket: i64,
    /// Buckets still open (index, counts), at most two (the current one and a late one).
    open: VecDeque<(i64, Bucket)>,
    /// The last closed buckets, oldest first (the judged window).
    window: VecDeque<Bucket>,
    history: History,
    episodes: [Option<Episode>; Kind::ALL.len()],
    /// When the last episode of each kind stopped firing, µs.
    ended_us: [Option<i64>; Kind::ALL.len()],
    /// The endpoint's series for charts, when kept.
    series: Option<SeriesAcc>,
}

/// The streaming detector; see the [module docs](super).
#[derive(Debug)]
pub struct Detector {
    cfg: Config,
    endpoints: Vec<EndpointState>,
    /// Endpoint index by `route \0 method \0 template`.
    index: Map<String, usize>,
    /// Client ids by name, and names by id.
    client_ids: Map<Box<str>, ClientId>,
    client_names: Vec<Box<str>>,
    /// Buckets up to and including this index are closed.
    closed_through: Option<i64>,
    /// The first bucket the detector saw.
    first_bucket: Option<i64>,
    closed: Vec<Finding>,
    scratch_template: String,
    scratch_key: String,
    hasher: foldhash::fast::RandomState,
    /// Observations older than the open buckets, dropped.
    late: u64,
    /// The stream time of the last [`Detector::advance`].
    now_us: i64,
    /// Point length of the series kept per endpoint, if any.
    series_step_us: Option<i64>,
    /// Episodes opened so far, per kind.
    opened: [u64; Kind::ALL.len()],
}

impl Detector {
    /// A detector with this configuration.
    pub fn new(cfg: Config) -> Detector {
        Detector {
            cfg,
            endpoints: Vec::new(),
            index: Map::default(),
            client_ids: Map::default(),
            client_names: Vec::new(),
            closed_through: None,
            first_bucket: None,
            closed: Vec::new(),
            scratch_template: String::new(),
            scratch_key: String::new(),
            hasher: foldhash::fast::RandomState::default(),
            late: 0,
            now_us: i64::MIN,
            series_step_us: None,
            opened: [0; Kind::ALL.len()],
        }
    }

    /// Keeps a series per endpoint with points of `step_us` (rounded up to whole buckets),
    /// for [`Detector::series`]. Call before the first observation.
    pub fn keep_series(&mut self, step_us: i64) {
        let b = self.cfg.bucket_us;
        self.series_step_us = Some((step_us.max(b) + b - 1) / b * b);
    }

    /// The point length of the series kept, if any.
    pub fn series_step_us(&self) -> Option<i64> {
        self.series_step_us
    }

    /// The series kept per endpoint (empty unless [`Detector::keep_series`] was called), up to
    /// the last closed bucket, in the order endpoints were first seen.
    pub fn series(&mut self) -> Vec<(Endpoint, Vec<Point>)> {
        self.endpoints
            .iter_mut()
            .filter_map(|ep| {
                let s = ep.series.as_mut()?;
                s.flush();
                Some((ep.key.clone(), s.points.clone()))
            })
            .collect()
    }

    /// Episodes opened so far, per kind (in [`Kind::ALL`] order).
    pub fn opened(&self) -> [u64; Kind::ALL.len()] {
        self.opened
    }

    /// The end of the last bucket judged, µs (`None` before the first).
    pub fn judged_until_us(&self) -> Option<i64> {
        self.closed_through.map(|b| (b + 1) * self.cfg.bucket_us)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Observations that came after their bucket had closed (dropped).
    pub fn late_observations(&self) -> u64 {
        self.late
    }

    /// Endpoints tracked.
    pub fn endpoints(&self) -> usize {
        self.endpoints.len()
    }

    /// Counts one request. Buckets that ended before it (plus the lateness allowance) are
    /// closed and judged first.
    pub fn observe(&mut self, o: &Observation<'_>) {
        self.advance(o.ts_us);
        let b = o.ts_us.div_euclid(self.cfg.bucket_us);
        if self.closed_through.is_some_and(|c| b <= c) {
            self.late += 1;
            return;
        }
        self.first_bucket.get_or_insert(b);
        let e = self.endpoint_of(o, b);
        let path_hash = if o.status == 404 {
            self.hasher.hash_one(o.path)
        } else {
            0
        };
        let client = self.client_id(o.client);
        let ep = &mut self.endpoints[e];
        let bucket = match ep.open.iter().position(|(i, _)| *i == b) {
            Some(p) => &mut ep.open[p].1,
            None => {
                // Sized like the last bucket: no rehashing as its clients arrive.
                let clients = ep.window.back().map_or(0, |w| w.clients.len());
                ep.open.push_back((b, Bucket::with_clients(clients)));
                ep.open.make_contiguous().sort_by_key(|(i, _)| *i);
                let p = ep.open.iter().position(|(i, _)| *i == b).unwrap_or(0);
                &mut ep.open[p].1
            }
        };
        bucket.add(o.status, o.total_us, client, path_hash);
    }

    /// The id of a client, named on first sight (up to [`MAX_CLIENT_NAMES`]).
    fn client_id(&mut self, name: &str) -> ClientId {
        if let Some(&id) = self.client_ids.get(name) {
            return id;
        }
        let full = self.client_names.len() >= MAX_CLIENT_NAMES;
        let name = if full { OTHER_CLIENTS } else { name };
        if let Some(&id) = self.client_ids.get(name) {
            return id;
        }
        let id = self.client_names.len() as ClientId;
        self.client_names.push(name.into());
        self.client_ids.insert(name.into(), id);
        id
    }

    /// The endpoint of an observation, added if new (up to the configured number; later ones
    /// share an `{other}` endpoint per route and method).
    fn endpoint_of(&mut self, o: &Observation<'_>, bucket: i64) -> usize {
        let route = if o.route.is_empty() { "-" } else { o.route };
        if o.route.is_empty() {
            self.scratch_template.clear();
            self.scratch_template.push_str(UNROUTED);
        } else if o.status == 404 {
            self.scratch_template.clear();
            self.scratch_template.push_str(NOT_FOUND);
        } else {
            template(o.path, &mut self.scratch_template);
        }
        self.scratch_key.clear();
        self.scratch_key.push_str(route);
        self.scratch_key.push('\0');
        self.scratch_key.push_str(o.method);
        self.scratch_key.push('\0');
        self.scratch_key.push_str(&self.scratch_template);
        if let Some(&e) = self.index.get(self.scratch_key.as_str()) {
            return e;
        }
        if self.endpoints.len() >= self.cfg.max_endpoints {
            self.scratch_template.clear();
            self.scratch_template.push_str("{other}");
            self.scratch_key.truncate(route.len() + o.method.len() + 2);
            self.scratch_key.push_str("{other}");
            if let Some(&e) = self.index.get(self.scratch_key.as_str()) {
                return e;
            }
        }
        let e = self.endpoints.len();
        self.endpoints.push(EndpointState {
            key: Endpoint {
                route: route.to_owned(),
                method: o.method.to_owned(),
                template: self.scratch_template.clone(),
            },
            first_bucket: bucket,
            open: VecDeque::with_capacity(2),
            window: VecDeque::with_capacity(self.cfg.window_buckets),
            history: History::new(self.cfg.history_buckets, self.cfg.window_buckets),
            episodes: Default::default(),
            ended_us: [None; Kind::ALL.len()],
            series: self.series_step_us.map(SeriesAcc::new),
        });
        self.index.insert(self.scratch_key.clone(), e);
        e
    }

    /// Closes and judges every bucket that ended at least the lateness allowance before
    /// `now_us`. Call it as time passes even without traffic: a silent endpoint is a drop.
    pub fn advance(&mut self, now_us: i64) {
        self.now_us = self.now_us.max(now_us);
        let Some(first) = self.first_bucket else {
            return;
        };
        let last_closable = (now_us - self.cfg.lateness_us).div_euclid(self.cfg.bucket_us) - 1;
        let mut next = self.closed_through.map_or(first, |c| c + 1);
        while next <= last_closable {
            self.close(next);
            self.closed_through = Some(next);
            next += 1;
        }
    }

    /// Resumes at `now_us` after a stretch without a single record that means *missing
    /// logs*, not absent traffic (`ringway report` over files with a hole): the buckets up to
    /// the last record are judged, open episodes end where they last fired, and the buckets
    /// of the hole are neither judged nor learned from.
    pub fn resume_after_gap(&mut self, now_us: i64) {
        let Some(closed) = self.closed_through else {
            return;
        };
        // Judge what arrived before the hole.
        let last = self
            .endpoints
            .iter()
            .filter_map(|ep| ep.open.back().map(|(b, _)| *b))
            .max()
            .unwrap_or(closed);
        self.advance((last + 1) * self.cfg.bucket_us + self.cfg.lateness_us);
        for ep in &mut self.endpoints {
            for kind in Kind::ALL {
                if let Some(e) = ep.episodes[kind.index()].take() {
                    ep.ended_us[kind.index()] = Some(e.last_fire_end_us);
                    self.closed
                        .push(finding(&ep.key, kind, e, false, &self.client_names));
                }
            }
            ep.window.clear();
            ep.open.clear();
        }
        let resume = now_us.div_euclid(self.cfg.bucket_us) - 1;
        if self.closed_through.is_none_or(|c| c < resume) {
            self.closed_through = Some(resume);
        }
    }

    /// Closes bucket `b` on every endpoint and judges it.
    fn close(&mut self, b: i64) {
        let cfg = self.cfg.clone();
        let start_us = b * cfg.bucket_us;
        let end_us = start_us + cfg.bucket_us;
        let warm = self
            .first_bucket
            .is_some_and(|f| b - f >= cfg.warmup_buckets as i64);
        for ep in &mut self.endpoints {
            if b < ep.first_bucket {
                continue;
            }
            let bucket = match ep.open.front() {
                Some((i, _)) if *i == b => ep.open.pop_front().map(|(_, k)| k).unwrap_or_default(),
                _ => Bucket::default(),
            };
            let stats = Stats {
                requests: bucket.requests,
                errors_5xx: bucket.errors_5xx,
                auth_failures: bucket.auth_failures,
                rate_limited: bucket.rate_limited,
                p99_us: if bucket.requests >= MIN_BUCKET_REQUESTS {
                    bucket.latency_quantile(0.99) as f32
                } else {
                    f32::NAN
                },
                top_share: match bucket.top_client() {
                    Some((_, top)) if bucket.requests >= MIN_BUCKET_REQUESTS => {
                        top as f32 / bucket.requests as f32
                    }
                    _ => f32::NAN,
                },
                mask: 0,
                start_s: start_us.div_euclid(1_000_000),
            };
            if ep.window.len() == cfg.window_buckets {
                ep.window.pop_front();
            }
            if let Some(s) = &mut ep.series {
                s.add(start_us, &bucket);
            }
            ep.window.push_back(bucket);
            ep.history.push(stats);

            let mut merged = Bucket::default();
            for w in &ep.window {
                merged.merge(w);
            }
            let age = b - ep.first_bucket;
            let history_before = ep.history.buckets.saturating_sub(ep.window.len() as u64);
            let window = Window {
                merged: &merged,
                buckets: ep.window.len(),
                start_s: start_us.div_euclid(1_000_000),
                judged: warm && history_before >= cfg.warmup_buckets as u64,
                new_endpoint: warm
                    && self
                        .first_bucket
                        .is_some_and(|f| ep.first_bucket - f >= cfg.warmup_buckets as i64)
                    && age < cfg.new_endpoint_buckets as i64,
                not_found: ep.key.template == NOT_FOUND,
                open: Kind::ALL
                    .iter()
                    .filter(|k| ep.episodes[k.index()].is_some())
                    .fold(0, |m, k| m | 1 << k.index()),
                since_episode: ep.ended_us.map(|e| {
                    e.map_or(usize::MAX, |e| {
                        ((end_us - e) / cfg.bucket_us).max(0) as usize
                    })
                }),
            };
            let mut judgement = if warm {
                judge(&cfg, &window, &ep.history)
            } else {
                Judgement::default()
            };
            let mut signals = std::mem::take(&mut judgement.signals);
            // One client refused (auth, rate limit) or walking missing paths is reported as
            // that, not also as the client dominating the endpoint, for as long as it lasts.
            let specific = [
                Kind::Scanning,
                Kind::AuthFailureStorm,
                Kind::RateLimitSaturation,
            ];
            if specific
                .iter()
                .any(|k| ep.episodes[k.index()].is_some() || signals.iter().any(|s| s.kind == *k))
            {
                signals.retain(|s| {
                    s.kind != Kind::SingleClientDominance && s.kind != Kind::TrafficSurge
                });
            }
            let newest = ep.window.back().cloned().unwrap_or_default();
            let max_masked_us = cfg.max_masked_buckets as i64 * cfg.bucket_us;
            for kind in Kind::ALL {
                let signal = signals.iter().find(|s| s.kind == kind);
                let slot = &mut ep.episodes[kind.index()];
                match (slot.as_mut(), signal) {
                    (None, None) => {}
                    (None, Some(s)) => {
                        let span = s.span.max(ep.window.len());
                        let mut e = Episode {
                            start_us: start_us - (span as i64 - 1) * cfg.bucket_us,
                            detected_us: self.now_us.max(end_us),
                            last_fire_end_us: end_us,
                            quiet: 0,
                            severity: s.severity,
                            peak: s.evidence.clone(),
                            requests: 0,
                            clients: Map::default(),
                            overflow: 0,
                        };
                        account(&mut e, &merged, s);
                        *slot = Some(e);
                        self.opened[kind.index()] += 1;
                        ep.history.mark_last(span, kind);
                    }
                    (Some(e), Some(s)) => {
                        e.last_fire_end_us = end_us;
                        e.quiet = 0;
                        if s.severity >= e.severity {
                            e.severity = s.severity;
                            e.peak = s.evidence.clone();
                        }
                        account(e, &newest, s);
                        if end_us - e.start_us <= max_masked_us {
                            ep.history.mark_last(1, kind);
                        }
                    }
                    (Some(e), None) => {
                        if judgement.was_judged(kind) {
                            e.quiet += 1;
                        }
                        let gap = (end_us - e.last_fire_end_us) / cfg.bucket_us;
                        if e.quiet >= cfg.quiet_buckets || gap >= cfg.max_gap_buckets as i64 {
                            if let Some(e) = slot.take() {
                                ep.ended_us[kind.index()] = Some(e.last_fire_end_us);
                                self.closed.push(finding(
                                    &ep.key,
                                    kind,
                                    e,
                                    false,
                                    &self.client_names,
                                ));
                            }
                        } else if end_us - e.start_us <= max_masked_us {
                            // Still inside the episode's hysteresis: keep it out of baselines.
                            ep.history.mark_last(1, kind);
                        }
                    }
                }
            }
        }
    }

    /// The findings closed since the last call.
    pub fn take_closed(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.closed)
    }

    /// The findings still open, as of the last closed bucket.
    pub fn open_findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for ep in &self.endpoints {
            for kind in Kind::ALL {
                if let Some(e) = &ep.episodes[kind.index()] {
                    out.push(finding(&ep.key, kind, e.clone(), true, &self.client_names));
                }
            }
        }
        out
    }

    /// Closes every episode (the end of the input) and returns every finding not taken yet,
    /// in start order.
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut out = std::mem::take(&mut self.closed);
        for ep in &mut self.endpoints {
            for kind in Kind::ALL {
                if let Some(e) = ep.episodes[kind.index()].take() {
                    out.push(finding(&ep.key, kind, e, false, &self.client_names));
                }
            }
        }
        out.sort_by(|a, b| {
            (a.start_us, a.kind, &a.endpoint).cmp(&(b.start_us, b.kind, &b.endpoint))
        });
        out
    }
}

/// Adds a bucket's requests and clients of concern to an episode.
fn account(e: &mut Episode, b: &Bucket, s: &Signal) {
    e.requests += u64::from(b.requests);
    // Most first, so a full map keeps the clients that matter.
    let mut ranked: Vec<(ClientId, u32)> = b.with(s.concern).collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (client, n) in ranked {
        if let Some(c) = e.clients.get_mut(&client) {
            *c += u64::from(n);
        } else if e.clients.len() < EPISODE_CLIENTS {
            e.clients.insert(client, u64::from(n));
        } else {
            e.overflow += 1;
        }
    }
}

fn finding(key: &Endpoint, kind: Kind, e: Episode, open: bool, names: &[Box<str>]) -> Finding {
    let name = |c: ClientId| names.get(c as usize).map_or("", |n| &**n);
    let mut clients: Vec<(&str, u64)> = e.clients.iter().map(|(c, n)| (name(*c), *n)).collect();
    clients.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Finding {
        kind,
        endpoint: key.clone(),
        start_us: e.start_us,
        detected_us: e.detected_us,
        end_us: e.last_fire_end_us,
        open,
        severity: e.severity,
        evidence: e.peak,
        requests: e.requests,
        top_clients: clients
            .into_iter()
            .take(5)
            .map(|(c, n)| ClientShare {
                client: c.to_owned(),
                requests: n,
            })
            .collect(),
        distinct_clients: e.clients.len() as u64 + e.overflow,
    }
}
