//! How clients use each route, gathered during a report's scan: every client's peak requests
//! in one bucket per route, and each route's requests per bucket over time. Proposed limits
//! are derived from these distributions (the peak-rate approach of volumetric abuse
//! detection: most clients never come near their peak, so a limit above the peaks of
//! nearly all of them stops the outliers alone).

use crate::anomaly::{Map, Observation};

/// Most (route, client) pairs tracked; later pairs are not (their peaks are unknown, so the
/// distribution is of the first ones seen).
const MAX_PAIRS: usize = 1 << 20;

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    bucket: i64,
    count: u32,
    peak: u32,
}

impl Run {
    fn add(&mut self, bucket: i64) {
        if bucket != self.bucket {
            self.bucket = bucket;
            self.count = 0;
        }
        self.count += 1;
        self.peak = self.peak.max(self.count);
    }
}

/// Per-route usage: clients' peaks and the route's requests per bucket.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    bucket_us: i64,
    routes: Map<String, RouteUsage>,
    pairs: usize,
}

#[derive(Debug, Clone, Default)]
struct RouteUsage {
    clients: Map<String, Run>,
    /// `(bucket, requests)` in time order.
    per_bucket: Vec<(i64, u32)>,
}

impl Usage {
    /// Usage counted in buckets of `bucket_us`.
    pub fn new(bucket_us: i64) -> Usage {
        Usage {
            bucket_us,
            ..Usage::default()
        }
    }

    /// The bucket length, µs.
    pub fn bucket_us(&self) -> i64 {
        self.bucket_us
    }

    /// Counts one request.
    pub fn observe(&mut self, o: &Observation<'_>) {
        let bucket = o.ts_us.div_euclid(self.bucket_us);
        let r = match self.routes.get_mut(o.route) {
            Some(r) => r,
            None => self.routes.entry(o.route.to_owned()).or_default(),
        };
        match r.per_bucket.last_mut() {
            Some((b, n)) if *b == bucket => *n += 1,
            // Rows a little out of order land in the newest bucket: close enough for a rate.
            Some((b, n)) if *b > bucket => *n += 1,
            _ => r.per_bucket.push((bucket, 1)),
        }
        match r.clients.get_mut(o.client) {
            Some(run) => run.add(bucket),
            None if self.pairs < MAX_PAIRS => {
                self.pairs += 1;
                let mut run = Run::default();
                run.add(bucket);
                r.clients.insert(o.client.to_owned(), run);
            }
            None => {}
        }
    }

    /// The peaks (requests in one bucket) of the clients of `route`, except `excluded`.
    pub fn client_peaks(&self, route: &str, excluded: &[&str]) -> Vec<u32> {
        self.routes.get(route).map_or_else(Vec::new, |r| {
            r.clients
                .iter()
                .filter(|(c, _)| !excluded.contains(&c.as_str()))
                .map(|(_, run)| run.peak)
                .collect()
        })
    }

    /// The requests per bucket of `route`, buckets without any included as zeros, leaving
    /// out the buckets inside `excluded` windows (µs).
    pub fn route_rates(&self, route: &str, excluded: &[(i64, i64)]) -> Vec<u32> {
        let Some(r) = self.routes.get(route) else {
            return Vec::new();
        };
        let (Some(first), Some(last)) = (r.per_bucket.first(), r.per_bucket.last()) else {
            return Vec::new();
        };
        let inside = |b: i64| {
            let (s, e) = (b * self.bucket_us, (b + 1) * self.bucket_us);
            excluded.iter().any(|&(a, z)| s < z && e > a)
        };
        let mut out = Vec::with_capacity((last.0 - first.0 + 1) as usize);
        let mut next = first.0;
        for &(b, n) in &r.per_bucket {
            while next < b {
                if !inside(next) {
                    out.push(0);
                }
                next += 1;
            }
            if !inside(b) {
                out.push(n);
            }
            next = b + 1;
        }
        out
    }
}

/// The `q` quantile (nearest rank) of `v`, 0 for none.
pub fn quantile(v: &mut [u32], q: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs<'a>(ts_s: i64, route: &'a str, client: &'a str) -> Observation<'a> {
        Observation {
            ts_us: ts_s * 1_000_000,
            route,
            method: "GET",
            path: b"/",
            status: 200,
            total_us: 1,
            client,
        }
    }

    #[test]
    fn peaks_per_client_and_rates_per_bucket_with_gaps_and_exclusions() {
        let mut u = Usage::new(10_000_000);
        for (t, c) in [
            (0, "a"),
            (1, "a"),
            (2, "b"),
            (11, "a"),
            (35, "a"),
            (36, "a"),
            (37, "a"),
        ] {
            u.observe(&obs(t, "r", c));
        }
        let mut peaks = u.client_peaks("r", &[]);
        peaks.sort_unstable();
        assert_eq!(peaks, [1, 3]);
        assert_eq!(u.client_peaks("r", &["a"]), [1]);
        // Buckets 0, 1, 2 (empty), 3.
        assert_eq!(u.route_rates("r", &[]), [3, 1, 0, 3]);
        // Leaving out 10 s..20 s.
        assert_eq!(u.route_rates("r", &[(10_000_000, 20_000_000)]), [3, 0, 3]);
        assert!(u.route_rates("other", &[]).is_empty());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&mut v, 0.99), 99);
        assert_eq!(quantile(&mut v, 0.999), 100);
        assert_eq!(quantile(&mut [], 0.5), 0);
    }
}
