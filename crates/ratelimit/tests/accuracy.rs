//! Cross-core accuracy with a fake clock: N shards over one limiter (N = 2, 4, 16, 64), one
//! client at 2× and 10× its rate for a simulated 10 s, its requests (a) all on one shard,
//! (b) round robin, (c) at random, (d) moving from one shard to another half way. Every shard is
//! swept every 10 ms, as the data plane does.
//!
//! Checked for each case:
//! * never over: admitted <= burst + ⌊(t_last - t_first) / T⌋ (the GCRA bound from idle);
//! * within ±5% of `rate · 10 s + burst`;
//! * at most `workers · lease` tokens short of an exact single GCRA fed the same requests,
//!   and exactly those tokens are the ones still held in leases (nothing lost).
//!
//! `cargo test -p ringway-ratelimit --test accuracy -- --nocapture` prints the table.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::time::Duration;

use ringway_ratelimit::{
    Limiter, LimiterOptions, Quota, QuotaShard, QuotaSpec, Rate, Shard, Window,
};

const MS: u64 = 1_000_000;
const WINDOW: u64 = 10_000 * MS;
const SWEEP: u64 = 10 * MS;

#[derive(Clone, Copy, Debug)]
enum Pattern {
    OneShard,
    RoundRobin,
    Random,
    Shift,
}

const PATTERNS: [Pattern; 4] = [
    Pattern::OneShard,
    Pattern::RoundRobin,
    Pattern::Random,
    Pattern::Shift,
];

/// The workspace's seeded generator.
struct Rng(fastrand::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
}

fn pick(p: Pattern, i: u64, now: u64, end: u64, n: usize, rng: &mut Rng) -> usize {
    match p {
        Pattern::OneShard => 0,
        Pattern::RoundRobin => (i % n as u64) as usize,
        Pattern::Random => rng.below(n),
        Pattern::Shift => {
            if now < end / 2 {
                0
            } else {
                n - 1
            }
        }
    }
}

struct Outcome {
    admitted: u64,
    exact: u64,
    bound: u64,
    held: u64,
    lease: u64,
}

fn simulate(rate: Rate, workers: usize, pattern: Pattern, overload: u64) -> Outcome {
    let lim = Limiter::new(
        rate,
        LimiterOptions {
            workers,
            ..LimiterOptions::default()
        },
    );
    let t = rate.interval_ns();
    assert_eq!(t % overload, 0, "arrivals on whole ns");
    let tau = rate.burst * t;
    let gap = t / overload;
    let mut shards: Vec<Shard> = (0..workers).map(|_| Shard::new(lim.clone())).collect();
    let key = lim.key(b"client");
    let mut rng = Rng(fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15));
    let (mut admitted, mut exact_tat, mut exact) = (0, 0u64, 0);
    let mut next_sweep = SWEEP;
    let mut last = 0;
    for i in 0..WINDOW / gap {
        let now = i * gap;
        while next_sweep <= now {
            shards.iter_mut().for_each(|s| s.sweep(next_sweep));
            next_sweep += SWEEP;
        }
        let s = pick(pattern, i, now, WINDOW, workers, &mut rng);
        admitted += u64::from(shards[s].check(key, now).is_allow());
        // The reference: one exact GCRA.
        if exact_tat.max(now) + t <= now + tau {
            exact_tat = exact_tat.max(now) + t;
            exact += 1;
        }
        last = now;
    }
    let held = shards.iter().map(|s| s.leased_tokens()).sum();
    let stats: Vec<_> = shards.iter().map(|s| s.stats()).collect();
    let leased: u64 = stats.iter().map(|s| s.leased).sum();
    let returned: u64 = stats.iter().map(|s| s.returned).sum();
    assert_eq!(leased, admitted + returned + held, "token conservation");
    assert_eq!(stats.iter().map(|s| s.table_full).sum::<u64>(), 0);
    Outcome {
        admitted,
        exact,
        bound: rate.burst + last / t,
        held,
        lease: lim.lease_size(),
    }
}

fn check_rate(rate: Rate) {
    let expected = rate.requests * 10 + rate.burst;
    println!(
        "rate {}/s burst {}: expected rate·10s + burst = {expected}",
        rate.requests, rate.burst
    );
    println!("workers pattern    load admitted exact  bound  held lease  error");
    for workers in [2, 4, 16, 64] {
        for pattern in PATTERNS {
            for overload in [2, 10] {
                let o = simulate(rate, workers, pattern, overload);
                let err = (o.admitted as f64 - expected as f64) / expected as f64;
                println!(
                    "{workers:>7} {:<10} {overload:>3}× {:>8} {:>6} {:>6} {:>5} {:>5} {:>+6.3}%",
                    format!("{pattern:?}"),
                    o.admitted,
                    o.exact,
                    o.bound,
                    o.held,
                    o.lease,
                    err * 100.0
                );
                let case = format!("{workers} workers, {pattern:?}, {overload}×");
                assert!(o.admitted <= o.bound, "{case}: over the GCRA bound");
                assert!(err.abs() <= 0.05, "{case}: {err}");
                assert!(
                    o.admitted + workers as u64 * o.lease >= o.exact,
                    "{case}: more than workers × lease short of exact"
                );
                assert!(o.held <= workers as u64 * o.lease, "{case}");
            }
        }
    }
}

#[test]
fn rate_1000_per_s_burst_50() {
    // T = 1 ms; lease 1 for every worker count: exact per-request accounting.
    check_rate(Rate::per_second(1_000, 50));
}

#[test]
fn rate_20000_per_s_burst_640() {
    // T = 50 µs; leases of 20, 10, 2 and 1 tokens for 2, 4, 16 and 64 workers.
    check_rate(Rate::per_second(20_000, 640));
}

#[test]
fn under_the_rate_everything_passes() {
    let rate = Rate::per_second(1_000, 10);
    for workers in [2, 16, 64] {
        for pattern in PATTERNS {
            // Half the rate: every request is admitted.
            let lim = Limiter::new(
                rate,
                LimiterOptions {
                    workers,
                    ..LimiterOptions::default()
                },
            );
            let mut shards: Vec<Shard> = (0..workers).map(|_| Shard::new(lim.clone())).collect();
            let mut rng = Rng(fastrand::Rng::with_seed(7));
            for i in 0..10_000u64 {
                let now = i * 2 * MS;
                if now.is_multiple_of(SWEEP) {
                    shards.iter_mut().for_each(|s| s.sweep(now));
                }
                let s = pick(pattern, i, now, 20_000 * MS, workers, &mut rng);
                assert!(
                    shards[s].check(3, now).is_allow(),
                    "{workers} {pattern:?} {i}"
                );
            }
        }
    }
}

#[test]
fn returned_tokens_follow_a_client_to_another_core() {
    // Burst 200 over 2 workers: leases of 10, usable for 5 ms. The client takes 5 on core 0 and
    // moves to core 1.
    let lim = Limiter::new(
        Rate {
            requests: 10_000,
            per: Duration::from_secs(1),
            burst: 200,
        },
        LimiterOptions {
            workers: 2,
            lease_ttl: Duration::from_millis(5),
            ..LimiterOptions::default()
        },
    );
    assert_eq!(lim.lease_size(), 10);
    let (mut a, mut b) = (Shard::new(lim.clone()), Shard::new(lim.clone()));
    for _ in 0..5 {
        assert!(a.check(1, 0).is_allow());
    }
    assert_eq!(a.leased_tokens(), 5);
    let drain = |b: &mut Shard, now| (0..).take_while(|_| b.check(1, now).is_allow()).count();
    assert_eq!(drain(&mut b, 0), 190, "5 used and 5 held by core 0");
    a.sweep(4 * MS);
    assert_eq!(a.leased_tokens(), 5, "not expired yet");
    // At 5 ms: 50 tokens of refill, and the 5 core 0 gives back.
    a.sweep(5 * MS);
    assert_eq!(a.leased_tokens(), 0);
    assert_eq!(drain(&mut b, 5 * MS), 55);
    let st = a.stats();
    assert_eq!(
        (st.leased, st.allowed, st.returns, st.returned),
        (10, 5, 1, 5)
    );
}

#[test]
fn leases_held_on_idle_cores_come_back() {
    // 20,000/s, burst 640, 16 workers: leases of 2. For 5 s the client sends at half the rate
    // over all 16 cores (each keeps a lease), then at 10× the rate on core 0 alone. Against an
    // exact GCRA fed the same requests it is never more than the held tokens (16 × 2) apart:
    // short while other cores hold them, ahead by those that were out on lease while the bucket
    // refilled (the burst after idle is up to burst + held; see the crate docs).
    let rate = Rate::per_second(20_000, 640);
    let workers = 16;
    let lim = Limiter::new(
        rate,
        LimiterOptions {
            workers,
            ..LimiterOptions::default()
        },
    );
    assert_eq!(lim.lease_size(), 2);
    let t = rate.interval_ns();
    let tau = rate.burst * t;
    let mut shards: Vec<Shard> = (0..workers).map(|_| Shard::new(lim.clone())).collect();
    let (mut admitted, mut exact, mut exact_tat) = (0u64, 0u64, 0u64);
    let (mut short, mut ahead) = (0i64, 0i64);
    let mut now = 0;
    let mut i = 0u64;
    let mut next_sweep = SWEEP;
    while now < WINDOW {
        while next_sweep <= now {
            shards.iter_mut().for_each(|s| s.sweep(next_sweep));
            next_sweep += SWEEP;
        }
        let (s, gap) = if now < WINDOW / 2 {
            ((i % workers as u64) as usize, 2 * t)
        } else {
            (0, t / 10)
        };
        admitted += u64::from(shards[s].check(9, now).is_allow());
        if exact_tat.max(now) + t <= now + tau {
            exact_tat = exact_tat.max(now) + t;
            exact += 1;
        }
        short = short.max(exact as i64 - admitted as i64);
        ahead = ahead.max(admitted as i64 - exact as i64);
        now += gap;
        i += 1;
    }
    let held: u64 = shards.iter().map(|s| s.leased_tokens()).sum();
    println!(
        "ramp: admitted {admitted}, exact {exact}, most short {short}, most ahead {ahead}, \
         held {held}"
    );
    let h = workers as u64 * lim.lease_size();
    assert!(short <= h as i64 && ahead <= h as i64, "{short} {ahead}");
    assert!(held <= h);
    assert!(admitted <= rate.burst + now / t);
}

fn quota_sim(limit: u64, workers: usize, pattern: Pattern, overload: u64) -> (u64, u64) {
    const NEW_YEAR_2024_MS: u64 = 1_704_067_200_000;
    let q = Quota::new(
        QuotaSpec {
            limit,
            window: Window::Minute,
        },
        LimiterOptions {
            workers,
            ..LimiterOptions::default()
        },
    );
    let mut shards: Vec<QuotaShard> = (0..workers).map(|_| QuotaShard::new(q.clone())).collect();
    let mut rng = Rng(fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D));
    let n = limit * overload;
    let mut admitted = 0;
    let mut next_sweep = 10;
    for i in 0..n {
        let ms = i * 60_000 / n;
        while next_sweep <= ms {
            shards
                .iter_mut()
                .for_each(|s| s.sweep(NEW_YEAR_2024_MS + next_sweep));
            next_sweep += 10;
        }
        let s = pick(pattern, i, ms, 60_000, workers, &mut rng);
        admitted += u64::from(shards[s].check(7, NEW_YEAR_2024_MS + ms).is_allow());
    }
    (admitted, shards.iter().map(|s| s.leased_units()).sum())
}

#[test]
fn quota_is_exact_across_cores() {
    let limit = 10_000;
    println!("quota {limit}/minute");
    println!("workers pattern    load admitted held");
    for workers in [2, 4, 16, 64] {
        for pattern in PATTERNS {
            for overload in [2, 10] {
                let (admitted, held) = quota_sim(limit, workers, pattern, overload);
                println!(
                    "{workers:>7} {:<10} {overload:>3}× {admitted:>8} {held:>4}",
                    format!("{pattern:?}")
                );
                let case = format!("{workers} workers, {pattern:?}, {overload}×");
                assert_eq!(admitted + held, limit, "{case}: every unit used or held");
                assert!(held <= workers as u64, "{case}: held {held}");
            }
        }
    }
}
