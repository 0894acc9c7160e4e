//! [`Balancer`]: per-core endpoint choice for one upstream group.

use ringway_config::model::Balance;

use crate::hash::{hash64, point};
use crate::Rng;

/// Virtual nodes on the consistent-hash ring per unit of weight. An endpoint with `k` points
/// owns its share of keys to within about `1/sqrt(k)` (one standard deviation): 320 points
/// give about 6%.
const VNODES_PER_WEIGHT: u64 = 320;
/// Upper bound on ring points per group and core (12 bytes each: 768 KiB at most), reached
/// when the weights add up to more than 204. Past it, point counts are scaled down in
/// proportion (each endpoint keeps at least one), which costs some stability across reloads
/// that change the total weight.
const MAX_RING_POINTS: u64 = 1 << 16;
/// Upper bound on the work (steps x endpoints) spent moving a round robin to its seeded phase.
const MAX_WARMUP_WORK: u64 = 1 << 16;
/// Weighted draws tried by power of two choices before falling back to a linear scan over the
/// endpoints that are not excluded.
const REJECTION_TRIES: u32 = 4;

/// Per-core balancer for one upstream group.
///
/// Built once per core (and per configuration reload) from the group's policy and endpoint
/// weights; [`Balancer::pick`] is allocation-free. Endpoints are identified by their index in
/// the group's endpoint list.
#[derive(Debug, Clone)]
pub struct Balancer {
    /// Endpoint weights, each at least 1.
    weights: Box<[u32]>,
    /// Requests in flight per endpoint on this core ([`Balancer::start`] / [`Balancer::finish`]).
    inflight: Box<[u32]>,
    /// The policy and its state.
    algo: Algo,
}

/// A policy with its per-core state.
#[derive(Debug, Clone)]
enum Algo {
    /// Smooth weighted round robin.
    RoundRobin(Swrr),
    /// Fewest in-flight per weight; `next` is where the scan (and so the tie-break) starts.
    LeastRequest { next: usize },
    /// Two distinct weighted draws; the one with fewer in-flight wins.
    PowerOfTwo {
        /// `cumulative[i]` = sum of `weights[..=i]`.
        cumulative: Box<[u64]>,
        rng: Rng,
    },
    /// A weighted hash ring; without a key, smooth weighted round robin.
    ConsistentHash { ring: Ring, fallback: Swrr },
}

impl Balancer {
    /// A balancer for endpoints with weights `weights` (`weights[i]` is endpoint `i`'s weight;
    /// 0 is treated as 1). `seed` should differ per core so cores do not move in lockstep: it
    /// sets the round-robin phase (seed 0 starts nginx's canonical sequence), the least-request
    /// tie-break start and the power-of-two random draws. The consistent-hash ring does not
    /// depend on it: every core maps a key to the same endpoint.
    ///
    /// Ring points are derived from endpoint indices; use [`Balancer::with_ids`] so that keys
    /// stay put when endpoints are added, removed or reordered by a configuration reload.
    pub fn new(policy: &Balance, weights: &[u32], seed: u64) -> Self {
        Self::build(policy, weights, seed, |i| hash64(&(i as u64).to_le_bytes()))
    }

    /// Like [`Balancer::new`], but consistent-hash ring points are derived from `ids[i]`, a
    /// stable identity of endpoint `i` (its address text, say). A key then maps to the same
    /// endpoint across reloads as long as that endpoint is still configured, wherever it sits
    /// in the list; removing an endpoint remaps only the keys that mapped to it.
    ///
    /// # Panics
    ///
    /// If `ids` and `weights` differ in length.
    pub fn with_ids<I: AsRef<[u8]>>(
        policy: &Balance,
        weights: &[u32],
        ids: &[I],
        seed: u64,
    ) -> Self {
        assert_eq!(ids.len(), weights.len(), "one id per endpoint");
        Self::build(policy, weights, seed, |i| hash64(ids[i].as_ref()))
    }

    fn build(policy: &Balance, weights: &[u32], seed: u64, id: impl Fn(usize) -> u64) -> Self {
        let weights: Box<[u32]> = weights.iter().map(|&w| w.max(1)).collect();
        let n = weights.len();
        let algo = match policy {
            Balance::RoundRobin => Algo::RoundRobin(Swrr::new(&weights, seed)),
            Balance::LeastRequest => Algo::LeastRequest {
                next: if n == 0 {
                    0
                } else {
                    (seed % n as u64) as usize
                },
            },
            Balance::PowerOfTwo => Algo::PowerOfTwo {
                cumulative: weights
                    .iter()
                    .scan(0u64, |sum, &w| {
                        *sum += u64::from(w);
                        Some(*sum)
                    })
                    .collect(),
                rng: crate::hash::seeded(seed),
            },
            Balance::ConsistentHash(_) => Algo::ConsistentHash {
                ring: Ring::new(&weights, id),
                fallback: Swrr::new(&weights, seed),
            },
        };
        Self {
            inflight: vec![0; n].into_boxed_slice(),
            weights,
            algo,
        }
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the group has no endpoints (then [`Balancer::pick`] always returns `None`).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Whether the policy uses the `key` of [`Balancer::pick`] (consistent hashing). When it
    /// does not, the caller need not extract one.
    pub fn uses_key(&self) -> bool {
        matches!(self.algo, Algo::ConsistentHash { .. })
    }

    /// Requests in flight to `endpoint` on this core (0 for an unknown index).
    pub fn inflight(&self, endpoint: usize) -> u32 {
        self.inflight.get(endpoint).copied().unwrap_or(0)
    }

    /// Picks an endpoint.
    ///
    /// `key`: the consistent-hash key bytes (header or cookie value, client IP text) when the
    /// policy needs one; `None` falls back to round robin. Other policies ignore it.
    /// `exclude(i)` returns true for endpoints that must not be chosen: already tried by this
    /// request (so a retry goes elsewhere) or known to be down. It must answer consistently
    /// during one call. Returns `None` if every endpoint is excluded (or there are none).
    pub fn pick<F: Fn(usize) -> bool>(&mut self, key: Option<&[u8]>, exclude: F) -> Option<usize> {
        match self.weights.len() {
            0 => return None,
            1 => return (!exclude(0)).then_some(0),
            _ => {}
        }
        match &mut self.algo {
            Algo::RoundRobin(swrr) => swrr.pick(&self.weights, &exclude),
            Algo::LeastRequest { next } => {
                let picked = least_request(&self.weights, &self.inflight, *next, &exclude)?;
                *next = if picked + 1 == self.weights.len() {
                    0
                } else {
                    picked + 1
                };
                Some(picked)
            }
            Algo::PowerOfTwo { cumulative, rng } => {
                let first = weighted_draw(&self.weights, cumulative, rng, None, &exclude)?;
                match weighted_draw(&self.weights, cumulative, rng, Some(first), &exclude) {
                    Some(second) if self.inflight[second] < self.inflight[first] => Some(second),
                    _ => Some(first),
                }
            }
            Algo::ConsistentHash { ring, fallback } => match key {
                Some(key) => ring.pick(hash64(key), self.weights.len(), &exclude),
                None => fallback.pick(&self.weights, &exclude),
            },
        }
    }

    /// Counts a request to `endpoint` as in flight (call before sending it). Used by least
    /// request and power of two choices; harmless for the other policies. Unknown indices are
    /// ignored.
    pub fn start(&mut self, endpoint: usize) {
        debug_assert!(
            endpoint < self.inflight.len(),
            "endpoint {endpoint} out of range"
        );
        if let Some(n) = self.inflight.get_mut(endpoint) {
            *n = n.saturating_add(1);
        }
    }

    /// Ends a request counted by [`Balancer::start`] (call once the exchange ends, whatever
    /// its outcome). Never goes below zero; unknown indices are ignored.
    pub fn finish(&mut self, endpoint: usize) {
        debug_assert!(
            endpoint < self.inflight.len(),
            "endpoint {endpoint} out of range"
        );
        if let Some(n) = self.inflight.get_mut(endpoint) {
            *n = n.saturating_sub(1);
        }
    }
}

/// nginx's smooth weighted round robin: each pick adds every candidate's weight to its
/// `current`, chooses the largest `current` (first on ties) and subtracts the candidates' total
/// weight from it. Weights 5,1,1 give `a a b a c a a`, repeating. Excluded endpoints take no
/// part in the round.
#[derive(Debug, Clone)]
struct Swrr {
    current: Box<[i64]>,
}

impl Swrr {
    /// Starts at phase `seed mod total weight` of the cycle (bounded warm-up work).
    fn new(weights: &[u32], seed: u64) -> Self {
        let mut swrr = Self {
            current: vec![0; weights.len()].into_boxed_slice(),
        };
        let n = weights.len() as u64;
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if n > 1 {
            let span = total.min((MAX_WARMUP_WORK / n).max(1));
            for _ in 0..seed % span {
                swrr.pick(weights, &|_| false);
            }
        }
        swrr
    }

    fn pick(&mut self, weights: &[u32], exclude: &impl Fn(usize) -> bool) -> Option<usize> {
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, (current, &weight)) in self.current.iter_mut().zip(weights).enumerate() {
            if exclude(i) {
                continue;
            }
            *current += i64::from(weight);
            total += i64::from(weight);
            if best.is_none_or(|(_, b)| *current > b) {
                best = Some((i, *current));
            }
        }
        let (i, _) = best?;
        self.current[i] -= total;
        Some(i)
    }
}

/// The endpoint with the smallest `(inflight + 1) / weight`, scanning from `start` so that the
/// first in scan order wins ties.
fn least_request(
    weights: &[u32],
    inflight: &[u32],
    start: usize,
    exclude: &impl Fn(usize) -> bool,
) -> Option<usize> {
    let n = weights.len();
    let mut best: Option<usize> = None;
    for k in 0..n {
        let i = if start + k >= n {
            start + k - n
        } else {
            start + k
        };
        if exclude(i) {
            continue;
        }
        let better = best.is_none_or(|b| {
            // (inflight[i] + 1) / weights[i] < (inflight[b] + 1) / weights[b], exactly.
            (u64::from(inflight[i]) + 1) * u64::from(weights[b])
                < (u64::from(inflight[b]) + 1) * u64::from(weights[i])
        });
        if better {
            best = Some(i);
        }
    }
    best
}

/// A random endpoint chosen with probability proportional to its weight among those neither
/// excluded nor `skip`.
fn weighted_draw(
    weights: &[u32],
    cumulative: &[u64],
    rng: &mut Rng,
    skip: Option<usize>,
    exclude: &impl Fn(usize) -> bool,
) -> Option<usize> {
    let total = *cumulative.last()?;
    // Fast path: draw over every endpoint, reject unusable ones a few times.
    for _ in 0..REJECTION_TRIES {
        let r = rng.u64(..total);
        let i = cumulative.partition_point(|&c| c <= r);
        if Some(i) != skip && !exclude(i) {
            return Some(i);
        }
    }
    // Slow path (many endpoints excluded): draw over the usable ones only.
    let usable = |i: usize| Some(i) != skip && !exclude(i);
    let available: u64 = (0..weights.len())
        .filter(|&i| usable(i))
        .map(|i| u64::from(weights[i]))
        .sum();
    if available == 0 {
        return None;
    }
    let mut r = rng.u64(..available);
    for (i, &w) in weights.iter().enumerate() {
        if !usable(i) {
            continue;
        }
        if r < u64::from(w) {
            return Some(i);
        }
        r -= u64::from(w);
    }
    None
}

/// A weighted consistent-hash ring (ketama style): each endpoint owns a number of pseudo-random
/// points proportional to its weight; a key belongs to the first point at or after its hash,
/// clockwise. Points and owners are kept in two sorted parallel arrays (binary search over a
/// dense `u64` array).
#[derive(Debug, Clone)]
struct Ring {
    points: Box<[u64]>,
    owners: Box<[u32]>,
}

impl Ring {
    /// `id(i)` is endpoint `i`'s identity hash. Endpoint `i` gets points `0..count` of a
    /// sequence that depends only on `id(i)`, and `count` only on its own weight (below the
    /// size cap), so adding, removing or reordering other endpoints never moves its points.
    fn new(weights: &[u32], id: impl Fn(usize) -> u64) -> Self {
        let units: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let per_endpoint = |w: u32| -> u64 {
            let w = u64::from(w);
            if units * VNODES_PER_WEIGHT <= MAX_RING_POINTS {
                w * VNODES_PER_WEIGHT
            } else {
                (w * MAX_RING_POINTS / units).max(1)
            }
        };
        let mut ring: Vec<(u64, u32)> = Vec::new();
        for (i, &w) in weights.iter().enumerate() {
            let id = id(i);
            let count = per_endpoint(w) as u32;
            ring.extend((0..count).map(|r| (point(id, r), i as u32)));
        }
        ring.sort_unstable();
        Self {
            points: ring.iter().map(|&(p, _)| p).collect(),
            owners: ring.iter().map(|&(_, o)| o).collect(),
        }
    }

    /// The owner of the first point clockwise from `hash` that is not excluded. `n` is the
    /// number of endpoints; with at most 128 of them, the walk stops as soon as all are known
    /// to be excluded, and asks `exclude` at most once per endpoint.
    fn pick(&self, hash: u64, n: usize, exclude: &impl Fn(usize) -> bool) -> Option<usize> {
        let len = self.points.len();
        let start = self.points.partition_point(|&p| p < hash);
        let tracked = n <= 128;
        let mut excluded: u128 = 0;
        let mut excluded_count = 0usize;
        for k in 0..len {
            let idx = if start + k >= len {
                start + k - len
            } else {
                start + k
            };
            let owner = self.owners[idx] as usize;
            if tracked && excluded & (1 << owner) != 0 {
                continue;
            }
            if !exclude(owner) {
                return Some(owner);
            }
            if tracked {
                excluded |= 1 << owner;
                excluded_count += 1;
                if excluded_count == n {
                    return None;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use ringway_config::model::HashKey;

    use super::*;

    const ALL: [Balance; 4] = [
        Balance::RoundRobin,
        Balance::LeastRequest,
        Balance::PowerOfTwo,
        Balance::ConsistentHash(HashKey::ClientIp),
    ];

    fn none(_: usize) -> bool {
        false
    }

    fn counts(b: &mut Balancer, picks: usize) -> Vec<usize> {
        let mut counts = vec![0; b.len()];
        for _ in 0..picks {
            counts[b.pick(None, none).unwrap()] += 1;
        }
        counts
    }

    fn letters(b: &mut Balancer, picks: usize, exclude: impl Fn(usize) -> bool) -> String {
        (0..picks)
            .map(|_| (b'a' + b.pick(None, &exclude).unwrap() as u8) as char)
            .collect()
    }

    fn key(i: usize) -> Vec<u8> {
        format!("user-{i}").into_bytes()
    }

    #[test]
    fn smooth_weighted_round_robin_sequences() {
        // (weights, seed, expected picks)
        let table: &[(&[u32], u64, &str)] = &[
            (&[5, 1, 1], 0, "aabacaaaabacaa"),
            (&[1, 1, 1], 0, "abcabc"),
            (&[2, 1], 0, "abaaba"),
            (&[1, 2], 0, "babbab"),
            (&[3, 0], 0, "aabaaaba"), // weight 0 is treated as 1
            (&[4], 0, "aaaa"),
            // Other seeds start at another phase of the same cycle.
            (&[5, 1, 1], 1, "abacaaa"),
            (&[5, 1, 1], 3, "acaaaab"),
            (&[5, 1, 1], 7, "aabacaa"),
            (&[1, 1, 1], 2, "cabcab"),
        ];
        for &(weights, seed, expected) in table {
            let mut b = Balancer::new(&Balance::RoundRobin, weights, seed);
            let got = letters(&mut b, expected.len(), none);
            assert_eq!(got, expected, "weights {weights:?} seed {seed}");
        }
    }

    #[test]
    fn round_robin_exact_proportions() {
        for seed in [0, 1, 12345, u64::MAX] {
            let mut b = Balancer::new(&Balance::RoundRobin, &[5, 1, 1], seed);
            assert_eq!(counts(&mut b, 7000), [5000, 1000, 1000], "seed {seed}");
        }
        let mut b = Balancer::new(&Balance::RoundRobin, &[1000, 1, 999], 99);
        assert_eq!(counts(&mut b, 2000 * 3), [3000, 3, 2997]);
    }

    #[test]
    fn round_robin_skips_excluded() {
        let mut b = Balancer::new(&Balance::RoundRobin, &[5, 1, 1], 0);
        assert_eq!(letters(&mut b, 6, |i| i == 0), "bcbcbc");
        assert_eq!(letters(&mut b, 4, |i| i == 2), "aaab");
    }

    #[test]
    fn least_request_rotates_among_idle_endpoints() {
        let mut b = Balancer::new(&Balance::LeastRequest, &[1, 1, 1], 0);
        assert_eq!(letters(&mut b, 6, none), "abcabc");
        let mut b = Balancer::new(&Balance::LeastRequest, &[1, 1, 1], 2);
        assert_eq!(letters(&mut b, 3, none), "cab");
    }

    #[test]
    fn least_request_prefers_idle_endpoints() {
        let mut b = Balancer::new(&Balance::LeastRequest, &[1, 1, 1], 0);
        b.start(0);
        b.start(1);
        for _ in 0..5 {
            assert_eq!(b.pick(None, none), Some(2));
        }
        b.start(2);
        b.start(2);
        assert_eq!(b.pick(None, none), Some(0));
        assert_eq!(b.pick(None, none), Some(1));
        b.finish(0);
        assert_eq!(b.inflight(0), 0);
        assert_eq!(b.pick(None, none), Some(0));
        // Finishing more than started never underflows.
        b.finish(0);
        assert_eq!(b.inflight(0), 0);
    }

    #[test]
    fn least_request_respects_weights() {
        // Requests that never finish pile up in proportion to the weights.
        let table: &[(&[u32], usize, &[u32])] = &[
            (&[3, 1], 400, &[300, 100]),
            (&[1, 1, 1], 300, &[100, 100, 100]),
            (&[5, 3, 2], 1000, &[500, 300, 200]),
            (&[3, 1], 8, &[6, 2]),
        ];
        for &(weights, picks, expected) in table {
            let mut b = Balancer::new(&Balance::LeastRequest, weights, 0);
            for _ in 0..picks {
                let i = b.pick(None, none).unwrap();
                b.start(i);
            }
            let inflight: Vec<u32> = (0..b.len()).map(|i| b.inflight(i)).collect();
            assert_eq!(inflight, expected, "weights {weights:?}");
        }
    }

    #[test]
    fn power_of_two_distribution_follows_weights_when_idle() {
        let table: &[(&[u32], u64)] = &[(&[3, 1], 1), (&[1, 1, 1], 2), (&[5, 3, 2], 3)];
        let picks = 40_000;
        for &(weights, seed) in table {
            let mut b = Balancer::new(&Balance::PowerOfTwo, weights, seed);
            let counts = counts(&mut b, picks);
            let total: u32 = weights.iter().sum();
            for (i, &c) in counts.iter().enumerate() {
                let share = c as f64 / picks as f64;
                let expected = f64::from(weights[i]) / f64::from(total);
                assert!(
                    (share - expected).abs() < 0.02,
                    "weights {weights:?}: endpoint {i} got {share}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn power_of_two_prefers_less_loaded() {
        let mut b = Balancer::new(&Balance::PowerOfTwo, &[1, 1, 1], 7);
        for _ in 0..5 {
            b.start(0);
        }
        let counts = counts(&mut b, 3000);
        assert_eq!(
            counts[0], 0,
            "the loaded endpoint is always paired with an idle one"
        );
        assert!(counts[1] > 1200 && counts[2] > 1200, "{counts:?}");

        // Under sustained load (40 in flight, oldest finishes first), in-flight stays balanced.
        let mut b = Balancer::new(&Balance::PowerOfTwo, &[1, 1, 1, 1], 11);
        let mut open = std::collections::VecDeque::new();
        for _ in 0..10_000 {
            let i = b.pick(None, none).unwrap();
            b.start(i);
            open.push_back(i);
            if open.len() > 40 {
                b.finish(open.pop_front().unwrap());
            }
            // About 10 per endpoint; two choices keep the busiest close to that.
            let max = (0..4).map(|i| b.inflight(i)).max().unwrap();
            assert!(max <= 14, "an endpoint reached {max} in flight");
        }
    }

    #[test]
    fn power_of_two_with_most_endpoints_excluded() {
        let weights = [1000, 1, 1, 1];
        let mut b = Balancer::new(&Balance::PowerOfTwo, &weights, 5);
        for _ in 0..100 {
            assert_eq!(b.pick(None, |i| i != 3), Some(3));
            let i = b.pick(None, |i| i == 0 || i == 3).unwrap();
            assert!(i == 1 || i == 2);
        }
    }

    #[test]
    fn consistent_hash_same_key_same_endpoint() {
        let policy = Balance::ConsistentHash(HashKey::Header("x-user".into()));
        let mut a = Balancer::new(&policy, &[1, 2, 3], 1);
        let mut b = Balancer::new(&policy, &[1, 2, 3], 2); // another core
        assert!(a.uses_key());
        for i in 0..1000 {
            let k = key(i);
            let first = a.pick(Some(&k), none).unwrap();
            for _ in 0..3 {
                assert_eq!(a.pick(Some(&k), none), Some(first));
            }
            assert_eq!(b.pick(Some(&k), none), Some(first), "cores agree");
        }
    }

    #[test]
    fn consistent_hash_distribution_follows_weights() {
        let policy = Balance::ConsistentHash(HashKey::ClientIp);
        let keys = 10_000;
        for weights in [
            &[1u32, 1, 1][..],
            &[3, 1],
            &[300, 100],
            &[2, 1, 1],
            &[1, 2, 3, 4],
            &[1; 5],
        ] {
            let mut b = Balancer::new(&policy, weights, 0);
            let mut counts = vec![0usize; weights.len()];
            for i in 0..keys {
                counts[b.pick(Some(&key(i)), none).unwrap()] += 1;
            }
            let total: u32 = weights.iter().sum();
            for (i, &c) in counts.iter().enumerate() {
                let expected = keys as f64 * f64::from(weights[i]) / f64::from(total);
                let ratio = c as f64 / expected;
                assert!(
                    (0.85..=1.15).contains(&ratio),
                    "weights {weights:?}: endpoint {i} got {c}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn consistent_hash_exclusion_remaps_only_excluded_keys() {
        let policy = Balance::ConsistentHash(HashKey::Cookie("session".into()));
        let mut b = Balancer::new(&policy, &[1, 1, 1, 2], 0);
        for excluded in 0..4 {
            let mut moved = 0;
            for i in 0..5000 {
                let k = key(i);
                let before = b.pick(Some(&k), none).unwrap();
                let after = b.pick(Some(&k), |e| e == excluded).unwrap();
                assert_ne!(after, excluded);
                if before == excluded {
                    moved += 1;
                } else {
                    assert_eq!(after, before, "key {i} moved off a healthy endpoint");
                }
            }
            assert!(moved > 500, "endpoint {excluded} owned {moved} keys");
        }
    }

    #[test]
    fn consistent_hash_removing_an_endpoint_by_id_remaps_only_its_keys() {
        let policy = Balance::ConsistentHash(HashKey::ClientIp);
        let ids = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"];
        let mut all = Balancer::with_ids(&policy, &[1, 1, 1, 1], &ids, 0);
        // Reload without 10.0.0.2, and the rest in another order.
        let reloaded_ids = ["10.0.0.4:80", "10.0.0.1:80", "10.0.0.3:80"];
        let mut reloaded = Balancer::with_ids(&policy, &[1, 1, 1], &reloaded_ids, 0);
        for i in 0..5000 {
            let k = key(i);
            let before = ids[all.pick(Some(&k), none).unwrap()];
            let after = reloaded_ids[reloaded.pick(Some(&k), none).unwrap()];
            if before != "10.0.0.2:80" {
                assert_eq!(after, before, "key {i}");
            }
        }
        // Adding an endpoint only takes keys for itself.
        let grown_ids = [
            "10.0.0.5:80",
            "10.0.0.1:80",
            "10.0.0.2:80",
            "10.0.0.3:80",
            "10.0.0.4:80",
        ];
        let mut grown = Balancer::with_ids(&policy, &[1; 5], &grown_ids, 0);
        let mut taken = 0;
        for i in 0..5000 {
            let k = key(i);
            let before = ids[all.pick(Some(&k), none).unwrap()];
            let after = grown_ids[grown.pick(Some(&k), none).unwrap()];
            if after == "10.0.0.5:80" {
                taken += 1;
            } else {
                assert_eq!(after, before, "key {i}");
            }
        }
        assert!(
            (800..1200).contains(&taken),
            "new endpoint took {taken} of 5000 keys"
        );
    }

    #[test]
    fn consistent_hash_without_key_falls_back_to_round_robin() {
        let policy = Balance::ConsistentHash(HashKey::Header("x-user".into()));
        let mut b = Balancer::new(&policy, &[5, 1, 1], 0);
        assert_eq!(letters(&mut b, 7, none), "aabacaa");
    }

    #[test]
    fn large_weights_keep_the_ring_bounded() {
        let weights: Vec<u32> = (0..100).map(|i| 1000 - i).collect();
        let b = Balancer::new(&Balance::ConsistentHash(HashKey::ClientIp), &weights, 0);
        let Algo::ConsistentHash { ring, .. } = &b.algo else {
            unreachable!()
        };
        assert!(ring.points.len() as u64 <= MAX_RING_POINTS);
        assert!(ring.points.len() > 60_000);
        let b = Balancer::new(&Balance::ConsistentHash(HashKey::ClientIp), &[3, 1], 0);
        let Algo::ConsistentHash { ring, .. } = &b.algo else {
            unreachable!()
        };
        assert_eq!(ring.points.len() as u64, 4 * VNODES_PER_WEIGHT);
    }

    #[test]
    fn retries_go_to_a_different_endpoint() {
        for policy in &ALL {
            for seed in 0..20 {
                let mut b = Balancer::new(policy, &[1, 2, 3, 4], seed);
                let k = key(seed as usize);
                let mut tried: Vec<usize> = Vec::new();
                for _ in 0..4 {
                    let i = b
                        .pick(Some(&k), |i| tried.contains(&i))
                        .expect("an untried endpoint remains");
                    assert!(!tried.contains(&i), "{policy:?} repeated endpoint {i}");
                    tried.push(i);
                }
                assert_eq!(b.pick(Some(&k), |i| tried.contains(&i)), None);
            }
        }
    }

    #[test]
    fn exclude_all_or_no_endpoints_gives_none() {
        for policy in &ALL {
            for weights in [&[][..], &[1], &[1, 1], &[3, 1, 2]] {
                let mut b = Balancer::new(policy, weights, 3);
                assert_eq!(b.pick(Some(b"k"), |_| true), None, "{policy:?} {weights:?}");
                assert_eq!(b.pick(None, |_| true), None, "{policy:?} {weights:?}");
            }
            let mut b = Balancer::new(policy, &[], 0);
            assert!(b.is_empty());
            assert_eq!(b.pick(None, none), None);
        }
        // More endpoints than the ring walk tracks: still terminates with None.
        let mut b = Balancer::new(&Balance::ConsistentHash(HashKey::ClientIp), &[1; 200], 0);
        assert_eq!(b.pick(Some(b"k"), |_| true), None);
        assert_eq!(b.pick(Some(b"k"), |i| i != 150), Some(150));
    }

    #[test]
    fn single_endpoint() {
        for policy in &ALL {
            let mut b = Balancer::new(policy, &[7], 9);
            assert_eq!(b.len(), 1);
            assert_eq!(b.pick(Some(b"k"), none), Some(0));
            assert_eq!(b.pick(None, |_| true), None);
        }
    }

    #[test]
    fn only_consistent_hash_uses_the_key() {
        for policy in &ALL {
            let b = Balancer::new(policy, &[1, 1], 0);
            assert_eq!(
                b.uses_key(),
                matches!(policy, Balance::ConsistentHash(_)),
                "{policy:?}"
            );
        }
    }
}
