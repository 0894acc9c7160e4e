//! Rate-limit benches: the per-request cost of [`Shard::check`], without I/O.
//!
//! * `check/hot_key_allowed`: one client under its limit (1 M requests/s of simulated time
//!   against 10 M/s, 4 workers): local tokens, one lease CAS per 32 requests.
//! * `check/10k_keys_allowed`: 10,000 clients in turn, same limit: a local-map lookup over a
//!   map of 10k keys, a lease per key every 32 of its requests.
//! * `check/hot_key_denied`: one client over its limit (1 per hour, exhausted): the cached
//!   denial, no shared memory touched.
//! * `check/quota_hot_key_allowed`: one consumer under a 1 G/day quota.
//! * `key/api_key_32b`: [`Limiter::key`] of a 32-byte API key (SipHash-1-3, seeded).
//!
//! Each is compared with a naive limiter: a `Mutex<HashMap<u64, TokenBucket>>` (std SipHash,
//! f64 token bucket), the same scenario, the same clock. Limiters, shards, keys and the clock
//! are built (and the 10k keys warmed) outside the timed closures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "the naive Mutex baselines the benches measure against"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ringway_ratelimit::{
    Limiter, LimiterOptions, Quota, QuotaShard, QuotaSpec, Rate, Shard, Window,
};

/// Simulated time between two requests: 1 µs.
const STEP_NS: u64 = 1_000;
const KEYS: usize = 10_000;

/// The naive baseline's bucket.
struct TokenBucket {
    tokens: f64,
    last_ns: u64,
}

/// The naive baseline: one lock and one SipHash map lookup per request.
struct NaiveLimiter {
    per_ns: f64,
    burst: f64,
    buckets: Mutex<HashMap<u64, TokenBucket>>,
}

impl NaiveLimiter {
    fn new(rate: Rate) -> Self {
        NaiveLimiter {
            per_ns: rate.requests as f64 / rate.per.as_nanos() as f64,
            burst: rate.burst as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key: u64, now_ns: u64) -> bool {
        let mut map = self.buckets.lock().unwrap();
        let b = map.entry(key).or_insert(TokenBucket {
            tokens: self.burst,
            last_ns: now_ns,
        });
        let elapsed = now_ns.saturating_sub(b.last_ns) as f64;
        b.tokens = (b.tokens + elapsed * self.per_ns).min(self.burst);
        b.last_ns = now_ns;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn options() -> LimiterOptions {
    LimiterOptions {
        workers: 4,
        ..LimiterOptions::default()
    }
}

fn bench_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(1));

    let under = Rate::per_second(10_000_000, 100_000);
    let over = Rate {
        requests: 1,
        per: Duration::from_secs(3600),
        burst: 1,
    };

    // One hot key, under its limit.
    {
        let lim = Limiter::new(under, options());
        let key = lim.key(b"client-0");
        let mut shard = Shard::new(lim.clone());
        let mut now = 0;
        group.bench_function("hot_key_allowed", |b| {
            b.iter(|| {
                now += STEP_NS;
                black_box(shard.check(black_box(key), now))
            })
        });
        assert_eq!(shard.stats().denied, 0);
        let naive = NaiveLimiter::new(under);
        let mut now = 0;
        group.bench_function("naive_mutex_hashmap/hot_key_allowed", |b| {
            b.iter(|| {
                now += STEP_NS;
                black_box(naive.check(black_box(key), now))
            })
        });
    }

    // 10k keys in turn, each under its limit.
    {
        let lim = Limiter::new(under, options());
        let keys: Vec<u64> = (0..KEYS)
            .map(|i| lim.key(format!("client-{i}").as_bytes()))
            .collect();
        let mut shard = Shard::new(lim.clone());
        let naive = NaiveLimiter::new(under);
        let mut now = 0;
        for &k in &keys {
            now += STEP_NS;
            shard.check(k, now);
            naive.check(k, now);
        }
        let (mut i, mut t) = (0, now);
        group.bench_function("10k_keys_allowed", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                t += STEP_NS;
                black_box(shard.check(black_box(keys[i]), t))
            })
        });
        assert_eq!(shard.stats().denied, 0);
        let (mut i, mut t) = (0, now);
        group.bench_function("naive_mutex_hashmap/10k_keys_allowed", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                t += STEP_NS;
                black_box(naive.check(black_box(keys[i]), t))
            })
        });
    }

    // One hot key, over its limit: every request denied.
    {
        let lim = Limiter::new(over, options());
        let key = lim.key(b"abuser");
        let mut shard = Shard::new(lim.clone());
        assert!(shard.check(key, 0).is_allow());
        let mut now = 0;
        group.bench_function("hot_key_denied", |b| {
            b.iter(|| {
                now += STEP_NS;
                black_box(shard.check(black_box(key), now))
            })
        });
        assert_eq!(shard.stats().allowed, 1);
        let naive = NaiveLimiter::new(over);
        naive.check(key, 0);
        let mut now = 0;
        group.bench_function("naive_mutex_hashmap/hot_key_denied", |b| {
            b.iter(|| {
                now += STEP_NS;
                black_box(naive.check(black_box(key), now))
            })
        });
    }

    // One consumer under a daily quota.
    {
        let q = Quota::new(
            QuotaSpec {
                limit: 1_000_000_000,
                window: Window::Day,
            },
            options(),
        );
        let key = q.key(b"consumer");
        let mut shard = QuotaShard::new(q.clone());
        let mut now_ms = 1_704_067_200_000u64;
        let mut n = 0u64;
        group.bench_function("quota_hot_key_allowed", |b| {
            b.iter(|| {
                // 1,000 requests per ms of wall clock.
                n += 1;
                if n.is_multiple_of(1000) {
                    now_ms += 1;
                }
                black_box(shard.check(black_box(key), now_ms))
            })
        });
    }
    group.finish();
}

fn bench_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("key");
    group.throughput(Throughput::Elements(1));
    let lim = Limiter::new(Rate::per_second(1, 1), LimiterOptions::default());
    let api_key = *b"rw_live_4f9c2a7e1b3d8c6f0a5e9b2d";
    group.bench_function("api_key_32b", |b| {
        b.iter(|| black_box(lim.key(black_box(&api_key))))
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
    bench_check(&mut c);
    bench_key(&mut c);
    c.final_summary();
}
