//! Load-balancing benches: the per-request cost of choosing an endpoint, without I/O.
//!
//! * `pick_8` / `pick_64`: one [`Balancer::pick`] per iteration for each policy over 8 or 64
//!   weighted endpoints, with nothing excluded (a first attempt) and with one endpoint
//!   excluded (a retry). Least request and power of two choices also do the in-flight
//!   accounting (`start` + `finish`) a real request does. Compared with a naive balancer that
//!   collects the usable endpoints into a fresh `Vec` and draws by weight, and (for consistent
//!   hashing) with a `BTreeMap` ring keyed by std's SipHash.
//! * `split`: one canary [`Split::pick`] (90/10).
//! * `retry_budget`: one `record_request` and one `try_retry` per request at 1 ms intervals.
//!
//! Balancers, keys, rings and instants are built outside the timed closures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ringway_balance::{Balancer, RetryBudget, Rng, Split};
use ringway_config::model::{Balance, HashKey};

/// Distinct consistent-hash keys, cycled through.
const KEYS: usize = 1024;

/// The naive baseline: every pick filters the usable endpoints into a new `Vec`, then draws
/// one by weight with a linear scan.
fn naive_pick(weights: &[u32], rng: &mut Rng, exclude: &dyn Fn(usize) -> bool) -> Option<usize> {
    let usable: Vec<(usize, u32)> = weights
        .iter()
        .copied()
        .enumerate()
        .filter(|&(i, _)| !exclude(i))
        .collect();
    let total: u64 = usable.iter().map(|&(_, w)| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.u64(..total);
    for (i, w) in usable {
        if r < u64::from(w) {
            return Some(i);
        }
        r -= u64::from(w);
    }
    None
}

/// The naive consistent-hash baseline: a `BTreeMap` ring (160 points per unit of weight)
/// searched with `range`, keys hashed with SipHash.
fn naive_ring(weights: &[u32]) -> BTreeMap<u64, usize> {
    let mut ring = BTreeMap::new();
    for (i, &w) in weights.iter().enumerate() {
        for r in 0..w * 160 {
            let mut h = DefaultHasher::new();
            (i, r).hash(&mut h);
            ring.insert(h.finish(), i);
        }
    }
    ring
}

fn naive_ring_pick(ring: &BTreeMap<u64, usize>, key: &[u8]) -> Option<usize> {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    let h = h.finish();
    ring.range(h..)
        .next()
        .or_else(|| ring.iter().next())
        .map(|(_, &i)| i)
}

fn bench_pick(c: &mut Criterion, n: usize) {
    let weights: Vec<u32> = (0..n as u32).map(|i| 1 + i % 4).collect();
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("user-{i}").into_bytes())
        .collect();
    let policies = [
        ("round_robin", Balance::RoundRobin),
        ("least_request", Balance::LeastRequest),
        ("power_of_two", Balance::PowerOfTwo),
        (
            "consistent_hash",
            Balance::ConsistentHash(HashKey::ClientIp),
        ),
    ];
    let mut group = c.benchmark_group(format!("pick_{n}"));
    group.throughput(Throughput::Elements(1));
    for (attempt, excluded) in [("first", None), ("retry", Some(n / 2))] {
        let exclude = move |i: usize| Some(i) == excluded;
        for (name, policy) in &policies {
            let mut balancer = Balancer::new(policy, &weights, 1);
            let mut k = 0;
            group.bench_function(format!("{name}/{attempt}"), |b| {
                b.iter(|| {
                    k = (k + 1) % KEYS;
                    let i = balancer.pick(Some(black_box(&keys[k])), exclude).unwrap();
                    balancer.start(i);
                    balancer.finish(i);
                    black_box(i)
                })
            });
        }
        let mut rng = Rng::with_seed(1);
        group.bench_function(format!("naive_vec_weighted/{attempt}"), |b| {
            b.iter(|| black_box(naive_pick(black_box(&weights), &mut rng, &exclude)))
        });
        if excluded.is_none() {
            let ring = naive_ring(&weights);
            let mut k = 0;
            group.bench_function("naive_btreemap_ring/first", |b| {
                b.iter(|| {
                    k = (k + 1) % KEYS;
                    black_box(naive_ring_pick(&ring, black_box(&keys[k])))
                })
            });
        }
    }
    group.finish();
}

fn bench_split(c: &mut Criterion) {
    let mut group = c.benchmark_group("split");
    group.throughput(Throughput::Elements(1));
    let mut split = Split::new(&[90, 10], 1);
    group.bench_function("90_10", |b| b.iter(|| black_box(split.pick())));
    group.finish();
}

fn bench_retry_budget(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_budget");
    group.throughput(Throughput::Elements(1));
    let base = Instant::now();
    let instants: Vec<Instant> = (0..100_000u32)
        .map(|i| base + Duration::from_millis(u64::from(i)))
        .collect();
    let mut budget = RetryBudget::new(20, 3, Duration::from_secs(10));
    let mut t = 0;
    group.bench_function("request_and_retry_at_1ms", |b| {
        b.iter(|| {
            // Instants only move forward; wrapping back counts as "now" for the budget.
            t = (t + 1) % instants.len();
            let now = instants[t];
            budget.record_request(now);
            black_box(budget.try_retry(now))
        })
    });
    group.finish();
}

/// Runs every group with this file's defaults; command-line flags (`--quick`, filters, times)
/// override them, as with `criterion_main!`.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_pick(&mut c, 8);
    bench_pick(&mut c, 64);
    bench_split(&mut c);
    bench_retry_budget(&mut c);
    c.final_summary();
}
