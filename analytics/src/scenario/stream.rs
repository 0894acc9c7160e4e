//! The generator: one second of background (and injected) traffic at a time.

use ringway_telemetry::record::{Inline, Outcome, RequestRecord, NONE};

use super::{Injection, Scenario, Timing, CLIENTS, DAY_US, ROUTES};

/// The daily shape of traffic, 0.1 at 03:00 to 1 at 15:00 UTC, and 70% on weekends.
fn rhythm(ts_us: i64) -> f64 {
    let day_frac = ts_us.rem_euclid(DAY_US) as f64 / DAY_US as f64;
    let s = ((std::f64::consts::TAU * (day_frac - 0.625)).cos() + 1.0) / 2.0;
    // 1970-01-01 was a Thursday: day 2 of the week counting from Monday = 0 is Saturday.
    let weekday = (ts_us.div_euclid(DAY_US) + 3).rem_euclid(7);
    let weekend = if weekday >= 5 { 0.7 } else { 1.0 };
    (0.1 + 0.9 * s * s) * weekend
}

/// A Poisson-distributed count with mean `m`.
fn poisson(rng: &mut fastrand::Rng, m: f64) -> u64 {
    if m <= 0.0 {
        return 0;
    }
    if m > 30.0 {
        // Normal approximation, continuity-corrected.
        let (u1, u2) = (1.0 - rng.f64(), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        return (m + z * m.sqrt() + 0.5).max(0.0) as u64;
    }
    let limit = (-m).exp();
    let (mut k, mut p) = (0, rng.f64());
    while p > limit {
        k += 1;
        p *= rng.f64();
    }
    k
}

/// A generated run: names, labels, and the records as an iterator in time order.
#[derive(Debug)]
pub struct Stream {
    scenario: Scenario,
    timing: Timing,
    rng: fastrand::Rng,
    /// Start of the next second to generate.
    next_second_us: i64,
    /// The current second's records, newest last, taken from the front.
    batch: std::collections::VecDeque<RequestRecord>,
    /// Cumulative background weights of the clients (Zipf-like).
    client_cdf: Vec<f64>,
    attackers: u32,
}

impl Stream {
    pub(super) fn new(scenario: Scenario, timing: Timing, seed: u64) -> Stream {
        let mut cdf = Vec::with_capacity(CLIENTS as usize);
        let mut total = 0.0;
        for i in 0..CLIENTS {
            total += 1.0 / f64::from(i + 10).powf(1.1);
            cdf.push(total);
        }
        Stream {
            scenario,
            timing,
            rng: fastrand::Rng::with_seed(seed),
            next_second_us: timing.start_us,
            batch: std::collections::VecDeque::new(),
            client_cdf: cdf,
            attackers: 0,
        }
    }

    fn injecting(&self, ts_us: i64) -> bool {
        let from = self.timing.start_us + self.timing.inject_at_us;
        match self.scenario.injection {
            Injection::None => false,
            Injection::NewRoute(_) => ts_us >= from,
            _ => (from..from + self.timing.inject_for_us).contains(&ts_us),
        }
    }

    fn background_client(&mut self) -> u32 {
        let total = *self.client_cdf.last().unwrap_or(&1.0);
        let x = self.rng.f64() * total;
        self.client_cdf.partition_point(|&c| c < x) as u32
    }

    /// Generates the next second of traffic into the batch.
    fn second(&mut self) {
        let t0 = self.next_second_us;
        self.next_second_us += 1_000_000;
        let mut recs: Vec<RequestRecord> = Vec::new();
        let base = self.timing.peak_rps * rhythm(t0);
        let inj = self.injecting(t0);
        for (route, r) in ROUTES.iter().enumerate() {
            let mut rate = base * r.share;
            let (mut lat_factor, mut err_share) = (1.0, r.err_share);
            if inj && self.scenario.route == r.name {
                match self.scenario.injection {
                    Injection::RateFactor(f) => rate *= f,
                    Injection::LatencyFactor(f) => lat_factor = f,
                    Injection::ErrorShare(s) => err_share = s,
                    Injection::NewRoute(rps) => rate = rps,
                    Injection::Attack { .. } | Injection::None => {}
                }
            }
            for _ in 0..poisson(&mut self.rng, rate) {
                let client = self.background_client();
                let status = {
                    let x = self.rng.f64();
                    if x < err_share {
                        503
                    } else if x < err_share + r.unauthorized_share {
                        401
                    } else if x < err_share + r.unauthorized_share + r.not_found_share {
                        404
                    } else {
                        200
                    }
                };
                let lat = (f64::from(r.latency_us)
                    * lat_factor
                    * (0.3 + 1.4 * self.rng.f64().powi(3))) as u32;
                let id = self.rng.u32(..50_000);
                recs.push(self.record(t0, route, status, lat, client, id, false));
            }
        }
        if inj {
            if let Injection::Attack {
                rps,
                clients,
                status,
                share,
                paths,
            } = self.scenario.injection
            {
                let route = ROUTES
                    .iter()
                    .position(|r| r.name == self.scenario.route)
                    .unwrap_or(0);
                for _ in 0..poisson(&mut self.rng, rps) {
                    let client = CLIENTS + self.attackers % clients.max(1);
                    self.attackers = self.attackers.wrapping_add(1);
                    let st = if self.rng.f64() < share { status } else { 200 };
                    let id = self.rng.u32(..50_000);
                    let lat = ROUTES[route].latency_us;
                    recs.push(self.record(t0, route, st, lat, client, id, paths));
                }
            }
        }
        recs.sort_by_key(|r| r.ts_us);
        self.batch.extend(recs);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        t0: i64,
        route: usize,
        status: u16,
        total_us: u32,
        client: u32,
        id: u32,
        unknown_path: bool,
    ) -> RequestRecord {
        let r = &ROUTES[route];
        let path = if unknown_path {
            const WORDS: [&str; 8] = [
                "admin", "backup", "config", "old", "test", "wp", "api", "debug",
            ];
            format!(
                "{}{}-{}.php",
                r.path,
                WORDS[self.rng.usize(..WORDS.len())],
                self.rng.u32(..1_000_000)
            )
        } else if r.path.ends_with('/') {
            format!("{}{id}", r.path)
        } else if r.path.ends_with('=') {
            format!("{}term{}", r.path, id % 500)
        } else {
            r.path.to_owned()
        };
        let ip = 0x6440_0000u32 + client; // 100.64.0.0 + n
        RequestRecord {
            ts_us: t0 + self.rng.i64(0..1_000_000),
            listener: 0,
            route: route as u16,
            upstream: if r.name == "health" {
                NONE
            } else {
                route as u16
            },
            endpoint: if r.name == "health" { NONE } else { 0 },
            method: r.method,
            http_version: 11,
            status,
            outcome: Outcome::Ok,
            total_us,
            upstream_us: total_us.saturating_sub(300),
            ttfb_us: total_us.saturating_sub(300),
            request_bytes: 200,
            response_bytes: 800,
            client_ip: std::net::Ipv4Addr::from(ip).to_ipv6_mapped().octets(),
            path: Inline::new(path.as_bytes()),
            ..RequestRecord::default()
        }
    }
}

impl Iterator for Stream {
    type Item = RequestRecord;

    fn next(&mut self) -> Option<RequestRecord> {
        let end = self.timing.start_us + self.timing.duration_us;
        while self.batch.is_empty() {
            if self.next_second_us >= end {
                return None;
            }
            self.second();
        }
        self.batch.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{scenario, MINUTE_US};

    #[test]
    fn streams_are_ordered_deterministic_and_carry_the_injection() {
        let timing = Timing {
            duration_us: 20 * MINUTE_US,
            inject_at_us: 10 * MINUTE_US,
            inject_for_us: 5 * MINUTE_US,
            ..Timing::standard()
        };
        let s = scenario("credential-stuffing").unwrap();
        let a: Vec<RequestRecord> = s.stream(timing, 1).collect();
        let b: Vec<RequestRecord> = s.stream(timing, 1).collect();
        assert_eq!(a.len(), b.len());
        assert!(a.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
        let label = &s.labels(&timing)[0];
        let in_attack = |r: &&RequestRecord| (label.start_us..label.end_us).contains(&r.ts_us);
        let failures = |rs: &[RequestRecord], during: bool| {
            rs.iter()
                .filter(|r| in_attack(r) == during && r.status == 401)
                .count()
        };
        // 25 a second for 5 minutes, against a few background failures.
        assert!(failures(&a, true) > 6_000, "{}", failures(&a, true));
        assert!(failures(&a, false) < 200, "{}", failures(&a, false));
        assert!(scenario("background").unwrap().labels(&timing).is_empty());
    }

    #[test]
    fn poisson_counts_have_their_mean() {
        let mut rng = fastrand::Rng::with_seed(3);
        for m in [0.5, 4.0, 80.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| poisson(&mut rng, m)).sum();
            let mean = sum as f64 / f64::from(n);
            assert!((mean - m).abs() < 0.05 * m + 0.02, "{m}: {mean}");
        }
    }
}
