//! One endpoint's counts over one bucket (10 s by default), and the merge of a few of them into
//! the window the detectors judge.

use super::Map;

/// A client, interned by the detector (its name is in the detector's table).
pub(crate) type ClientId = u32;

/// Latency bins: four per power of two of µs (bin `i` holds up to 2^(i/4) µs), up to 2^32 µs.
const LAT_BINS: usize = 129;

fn lat_bin(us: u32) -> usize {
    if us <= 1 {
        return 0;
    }
    // log2 in quarter steps: the exponent and the two bits below the leading one.
    let lz = us.leading_zeros();
    let exp = 31 - lz;
    let frac = if exp >= 2 {
        (us >> (exp - 2)) & 0b11
    } else {
        (us << (2 - exp)) & 0b11
    };
    ((exp * 4 + frac) as usize + 1).min(LAT_BINS - 1)
}

/// The upper bound (µs) of latency bin `i`.
fn lat_bin_upper(i: usize) -> f64 {
    if i == 0 {
        return 1.0;
    }
    let i = i - 1;
    let exp = (i / 4) as i32;
    let frac = (i % 4) as f64;
    2f64.powi(exp) * (1.0 + (frac + 1.0) / 4.0)
}

/// Most clients tracked one by one per bucket; the rest are counted together.
const MAX_CLIENTS: usize = 1024;
/// Most distinct 404 paths remembered per client per bucket.
const MAX_PATHS: usize = 64;

/// One client's share of a bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientCounts {
    pub(crate) requests: u32,
    pub(crate) auth_failures: u32,
    pub(crate) rate_limited: u32,
    pub(crate) not_found: u32,
    /// Hashes of the distinct paths that got 404 (at most [`MAX_PATHS`]).
    pub(crate) not_found_paths: Vec<u64>,
}

/// One endpoint over one bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) requests: u32,
    pub(crate) errors_5xx: u32,
    pub(crate) auth_failures: u32,
    pub(crate) rate_limited: u32,
    pub(crate) not_found: u32,
    lat: Box<[u32; LAT_BINS]>,
    pub(crate) clients: Map<ClientId, ClientCounts>,
    /// Requests of clients beyond [`MAX_CLIENTS`].
    pub(crate) untracked: u32,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            requests: 0,
            errors_5xx: 0,
            auth_failures: 0,
            rate_limited: 0,
            not_found: 0,
            lat: Box::new([0; LAT_BINS]),
            clients: Map::default(),
            untracked: 0,
        }
    }
}

impl Bucket {
    /// An empty bucket with room for `clients` clients.
    pub(crate) fn with_clients(clients: usize) -> Self {
        let mut b = Bucket::default();
        b.clients.reserve(clients.min(MAX_CLIENTS));
        b
    }

    /// Counts one request.
    pub(crate) fn add(&mut self, status: u16, total_us: u32, client: ClientId, path_hash: u64) {
        self.requests += 1;
        let auth = status == 401 || status == 403;
        let nf = status == 404;
        match status {
            500..=599 => self.errors_5xx += 1,
            401 | 403 => self.auth_failures += 1,
            429 => self.rate_limited += 1,
            404 => self.not_found += 1,
            _ => {}
        }
        self.lat[lat_bin(total_us)] += 1;
        if !self.clients.contains_key(&client) {
            if self.clients.len() >= MAX_CLIENTS {
                self.untracked += 1;
                return;
            }
            self.clients.insert(client, ClientCounts::default());
        }
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        c.requests += 1;
        if auth {
            c.auth_failures += 1;
        }
        if status == 429 {
            c.rate_limited += 1;
        }
        if nf {
            c.not_found += 1;
            if c.not_found_paths.len() < MAX_PATHS && !c.not_found_paths.contains(&path_hash) {
                c.not_found_paths.push(path_hash);
            }
        }
    }

    /// Adds another bucket's counts (for a window).
    pub(crate) fn merge(&mut self, o: &Bucket) {
        self.merge_counts(o);
        self.untracked += o.untracked;
        for (k, v) in &o.clients {
            let c = self.clients.entry(*k).or_default();
            c.requests += v.requests;
            c.auth_failures += v.auth_failures;
            c.rate_limited += v.rate_limited;
            c.not_found += v.not_found;
            for h in &v.not_found_paths {
                if c.not_found_paths.len() < MAX_PATHS && !c.not_found_paths.contains(h) {
                    c.not_found_paths.push(*h);
                }
            }
        }
    }

    /// Adds another bucket's counts and latencies, not its clients.
    pub(crate) fn merge_counts(&mut self, o: &Bucket) {
        self.requests += o.requests;
        self.errors_5xx += o.errors_5xx;
        self.auth_failures += o.auth_failures;
        self.rate_limited += o.rate_limited;
        self.not_found += o.not_found;
        for (a, b) in self.lat.iter_mut().zip(o.lat.iter()) {
            *a += b;
        }
    }

    /// The `q` quantile of latency (µs, the upper bound of its bin; 0 without requests).
    pub(crate) fn latency_quantile(&self, q: f64) -> f64 {
        let total: u64 = self.lat.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.lat.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return lat_bin_upper(i);
            }
        }
        lat_bin_upper(LAT_BINS - 1)
    }

    /// The client with the most requests and its count (ties: the first seen).
    pub(crate) fn top_client(&self) -> Option<(ClientId, u32)> {
        self.clients
            .iter()
            .max_by(|a, b| a.1.requests.cmp(&b.1.requests).then(b.0.cmp(a.0)))
            .map(|(k, v)| (*k, v.requests))
    }

    /// The client with the most of `measure` and its count, if any has some (ties: the first
    /// seen).
    pub(crate) fn top_by(&self, measure: impl Fn(&ClientCounts) -> u32) -> Option<(ClientId, u32)> {
        self.clients
            .iter()
            .map(|(k, c)| (*k, measure(c)))
            .filter(|(_, n)| *n > 0)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    }

    /// Clients with some of `measure`, and how much.
    pub(crate) fn with<'a>(
        &'a self,
        measure: impl Fn(&ClientCounts) -> u32 + 'a,
    ) -> impl Iterator<Item = (ClientId, u32)> + 'a {
        self.clients
            .iter()
            .map(move |(k, c)| (*k, measure(c)))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_bins_bound_their_values() {
        for us in [
            0u32,
            1,
            2,
            3,
            5,
            7,
            100,
            999,
            1000,
            1024,
            25_000,
            1_000_000,
            u32::MAX,
        ] {
            let i = lat_bin(us);
            assert!(
                lat_bin_upper(i) >= f64::from(us),
                "{us}: bin {i} ≤ {}",
                lat_bin_upper(i)
            );
            // Within a quarter octave above the value.
            assert!(lat_bin_upper(i) <= f64::from(us.max(1)) * 1.5 + 1.0, "{us}");
        }
        let mut b = Bucket::default();
        for us in 1..=100u32 {
            b.add(200, us * 1000, 1, 0);
        }
        let p99 = b.latency_quantile(0.99);
        assert!((99_000.0..=124_000.0).contains(&p99), "{p99}");
        let p50 = b.latency_quantile(0.5);
        assert!((50_000.0..=63_000.0).contains(&p50), "{p50}");
    }

    #[test]
    fn clients_and_distinct_404_paths() {
        let (scanner, alice) = (7, 9);
        let mut b = Bucket::default();
        for i in 0..100u64 {
            b.add(404, 100, scanner, i % 80);
        }
        b.add(200, 100, alice, 1);
        b.add(401, 100, alice, 1);
        assert_eq!(b.top_client(), Some((scanner, 100)));
        assert_eq!(b.clients[&scanner].not_found_paths.len(), MAX_PATHS);
        assert_eq!(b.top_by(|c| c.auth_failures), Some((alice, 1)));
        assert_eq!(
            b.with(|c| c.auth_failures).collect::<Vec<_>>(),
            [(alice, 1)]
        );
        let mut w = Bucket::default();
        w.merge(&b);
        w.merge(&b);
        assert_eq!((w.requests, w.not_found, w.auth_failures), (204, 200, 2));
        assert_eq!(w.clients[&alice].requests, 4);
    }
}
