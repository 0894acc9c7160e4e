//! The bounded structures: the shared table when full (local fallback) and when slots are
//! reclaimed, and the per-core local map.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::time::Duration;

use ringway_ratelimit::{
    Limiter, LimiterOptions, Quota, QuotaShard, QuotaSpec, Rate, Shard, Window,
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn small(rate: Rate, capacity: usize) -> std::sync::Arc<Limiter> {
    Limiter::new(
        rate,
        LimiterOptions {
            capacity,
            ..LimiterOptions::default()
        },
    )
}

#[test]
fn table_full_falls_back_to_local_gcra_and_recovers() {
    // 1 per minute, burst 1; 8 slots, all probed by every key.
    let lim = small(
        Rate {
            requests: 1,
            per: Duration::from_secs(60),
            burst: 1,
        },
        8,
    );
    assert_eq!(lim.capacity(), 8);
    let mut shard = Shard::new(lim.clone());
    for k in 1..=8u64 {
        assert!(shard.check(k, 0).is_allow());
    }
    assert_eq!(shard.stats().table_full, 0);
    // Key 9 finds no slot: decided locally, counted.
    let d = shard.check(9, 0);
    assert!(d.is_allow());
    assert_eq!(
        d.status().reset_secs,
        60,
        "the local GCRA has the same rate"
    );
    let d = shard.check(9, 10 * MS);
    assert!(!d.is_allow());
    assert_eq!(d.status().retry_after_secs, 60);
    let st = shard.stats();
    assert_eq!((st.table_full, st.local), (1, 2));
    // Still full after the lease TTL: one more miss, local state kept (still denied).
    assert!(!shard.check(9, 30 * MS).is_allow());
    assert_eq!(shard.stats().table_full, 2);
    // At 60 s the 8 keys are idle: key 9 takes a slot, carrying its local debt (none by now).
    assert!(shard.check(9, 60 * S).is_allow());
    assert!(!shard.check(9, 60 * S + 1).is_allow());
    let st = shard.stats();
    assert_eq!((st.table_full, st.local), (2, 3));
    // A second core sees key 9 in the shared table: exact again.
    let mut other = Shard::new(lim.clone());
    assert!(!other.check(9, 61 * S).is_allow());
}

#[test]
fn local_debt_is_carried_into_the_shared_table() {
    // 1 per 30 s, burst 1, 8 slots kept busy until 30 s.
    let lim = small(
        Rate {
            requests: 1,
            per: Duration::from_secs(30),
            burst: 1,
        },
        8,
    );
    let mut shard = Shard::new(lim.clone());
    for k in 1..=8u64 {
        shard.check(k, 0);
    }
    // Key 9 admitted locally at 10 s: next at 40 s.
    assert!(shard.check(9, 10 * S).is_allow());
    // At 35 s the table has room; the local TAT (40 s) comes along, so another core denies.
    let mut other = Shard::new(lim.clone());
    assert!(
        other.check(1, 35 * S).is_allow(),
        "slot 1 is idle and reused"
    );
    assert!(!shard.check(9, 35 * S).is_allow());
    assert!(!other.check(9, 35 * S).is_allow());
    assert!(other.check(9, 40 * S).is_allow());
}

#[test]
fn reclaimed_slot_is_not_credited_by_old_key_returns() {
    // 10,000/s, burst 100, one worker: leases of 20. 8 slots.
    let lim = small(Rate::per_second(10_000, 100), 8);
    assert_eq!(lim.lease_size(), 20);
    let mut a = Shard::new(lim.clone());
    let x = 1000;
    assert!(a.check(x, 0).is_allow());
    assert_eq!(a.leased_tokens(), 19, "x's TAT is 2 ms");
    // At 100 ms x is idle; 7 other keys and then y fill the table, y taking x's slot. (The
    // local map of this shard is made larger than the table so that it evicts nothing.)
    let mut c = Shard::with_capacity(lim.clone(), 64);
    for k in 1..=7u64 {
        assert!(c.check(k, 100 * MS).is_allow());
    }
    let y = 2000;
    assert!(c.check(y, 100 * MS).is_allow());
    assert!(
        c.check(3000, 100 * MS).is_allow(),
        "the table is full now..."
    );
    assert_eq!(c.stats().table_full, 1, "...so this one went local");
    // a's lease of x expired at 20 ms: the sweep returns 19 tokens for x, which has no slot.
    a.sweep(100 * MS);
    assert_eq!(a.leased_tokens(), 0);
    // y's TAT is still 102 ms: 80 tokens in the shared bucket, not 99.
    let mut b = Shard::new(lim.clone());
    let d = b.check(y, 100 * MS);
    assert_eq!(d.status().remaining, 19 + 60);
}

#[test]
fn local_map_is_bounded_and_returns_what_it_evicts() {
    // 10,000/s, burst 100: each key leases 20 tokens and keeps 19.
    let lim = Limiter::new(Rate::per_second(10_000, 100), LimiterOptions::default());
    let mut shard = Shard::with_capacity(lim.clone(), 64);
    assert_eq!(shard.local_capacity(), 64);
    for k in 1..=10_000u64 {
        assert!(shard
            .check(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), k)
            .is_allow());
    }
    let st = shard.stats();
    assert!(st.keys <= 64 && st.keys >= 48, "{}", st.keys);
    assert_eq!(st.evictions + st.keys, 10_000);
    assert_eq!(
        st.returns, st.evictions,
        "every evicted key gave its tokens back"
    );
    assert_eq!(st.leased_tokens, st.keys * 19);
    assert_eq!(st.leased, st.allowed + st.returned + st.leased_tokens);
    // The evicted keys' tokens went back: each evicted key has 99 available again.
    let mut other = Shard::new(lim.clone());
    let d = other.check(0x9E37_79B9_7F4A_7C15, 20_000);
    assert_eq!(d.status().remaining, 19 + 79);
    // A sweep after the TTL returns the rest.
    shard.sweep(30 * MS);
    assert_eq!(shard.leased_tokens(), 0);
}

#[test]
fn quota_table_full_counts_locally() {
    let q = Quota::new(
        QuotaSpec {
            limit: 2,
            window: Window::Hour,
        },
        LimiterOptions {
            capacity: 8,
            ..LimiterOptions::default()
        },
    );
    let mut shard = QuotaShard::new(q);
    let t = 1_704_067_200_000;
    for k in 1..=8u64 {
        assert!(shard.check(k, t).is_allow());
    }
    assert!(shard.check(9, t).is_allow());
    assert!(shard.check(9, t).is_allow());
    assert!(!shard.check(9, t).is_allow());
    let st = shard.stats();
    assert_eq!(
        (st.table_full, st.local, st.allowed, st.denied),
        (1, 3, 10, 1)
    );
    // Next hour every slot is idle: key 9 is counted in the table again.
    assert!(shard.check(9, t + 3_600_000).is_allow());
    assert_eq!(shard.stats().table_full, 1);
}
