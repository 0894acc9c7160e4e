//! GCRA and quota semantics on one shard with a fake clock: tables of (time, expected verdict).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::sync::Arc;
use std::time::Duration;

use ringway_ratelimit::{
    write_headers, Decision, Limiter, LimiterOptions, Quota, QuotaShard, QuotaSpec, Rate, Shard,
    Status, Window,
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn limiter(requests: u64, per: Duration, burst: u64) -> Arc<Limiter> {
    Limiter::new(
        Rate {
            requests,
            per,
            burst,
        },
        LimiterOptions::default(),
    )
}

/// `(allow, remaining, reset_secs, retry_after_secs)`
type Want = (bool, u64, u64, u64);

fn run(lim: &Arc<Limiter>, script: &[(u64, Want)]) {
    let mut shard = Shard::new(lim.clone());
    let key = lim.key(b"client");
    for (step, &(now, (allow, remaining, reset, retry))) in script.iter().enumerate() {
        let d = shard.check(key, now);
        let s = *d.status();
        assert_eq!(
            (d.is_allow(), s.remaining, s.reset_secs, s.retry_after_secs),
            (allow, remaining, reset, retry),
            "step {step} at {} ms: {d:?}",
            now / MS
        );
        assert_eq!(s.limit, lim.rate().requests);
    }
}

#[test]
fn burst_from_idle() {
    // 10/s (T = 100 ms), burst 5: five at once, then one per 100 ms; idle refills.
    let lim = limiter(10, Duration::from_secs(1), 5);
    assert_eq!(lim.lease_size(), 1);
    run(
        &lim,
        &[
            (0, (true, 4, 1, 0)),
            (0, (true, 3, 1, 0)),
            (0, (true, 2, 1, 0)),
            (0, (true, 1, 1, 0)),
            (0, (true, 0, 1, 0)),
            (0, (false, 0, 1, 1)),
            (50 * MS, (false, 0, 1, 1)),
            (100 * MS, (true, 0, 1, 0)),
            (150 * MS, (false, 0, 1, 1)),
            (1000 * MS, (true, 4, 1, 0)),
        ],
    );
}

#[test]
fn retry_after_is_exact_and_rounded_up() {
    // 1 per 10 s, burst 1.
    let lim = limiter(1, Duration::from_secs(10), 1);
    run(
        &lim,
        &[
            (0, (true, 0, 10, 0)),
            (S, (false, 0, 9, 9)),
            (9_500 * MS, (false, 0, 1, 1)),
            (9_999 * MS, (false, 0, 1, 1)),
            (10 * S, (true, 0, 10, 0)),
            (15 * S, (false, 0, 5, 5)),
            (19 * S + 1, (false, 0, 1, 1)),
            (20 * S, (true, 0, 10, 0)),
        ],
    );
}

#[test]
fn steady_rate_is_admitted_and_nothing_between() {
    // 100/s (T = 10 ms), burst 1: every request on the beat passes, every one between fails.
    let lim = limiter(100, Duration::from_secs(1), 1);
    let mut script = Vec::new();
    for i in 0..100 {
        script.push((i * 10 * MS, (true, 0, 1, 0)));
        script.push((i * 10 * MS + 5 * MS, (false, 0, 1, 1)));
    }
    run(&lim, &script);
}

#[test]
fn remaining_and_reset_count_the_bucket() {
    // 60/min (T = 1 s), burst 60.
    let lim = limiter(60, Duration::from_secs(60), 60);
    let mut script: Vec<(u64, Want)> = (1..=30).map(|i| (0, (true, 60 - i, i, 0))).collect();
    // At 10 s, 10 tokens came back: 40 available, 39 after this one; TAT = 31 s.
    script.push((10 * S, (true, 39, 21, 0)));
    // Full again at 31 s.
    script.push((31 * S, (true, 59, 1, 0)));
    run(&lim, &script);
    let mut shard = Shard::new(lim.clone());
    let s = *shard.check(1, 0).status();
    assert_eq!((s.limit, s.window_secs), (60, 60));
}

#[test]
fn window_secs_is_per_rounded_up_at_least_one() {
    for (per, w) in [
        (Duration::from_millis(1), 1),
        (Duration::from_millis(500), 1),
        (Duration::from_secs(1), 1),
        (Duration::from_millis(1500), 2),
        (Duration::from_secs(90), 90),
        (Duration::from_secs(3600), 3600),
    ] {
        let lim = limiter(10, per, 10);
        let mut shard = Shard::new(lim.clone());
        assert_eq!(shard.check(1, 0).status().window_secs, w, "{per:?}");
    }
}

#[test]
fn remaining_includes_locally_leased_tokens() {
    // 10,000/s, burst 100, one worker: leases of 20 tokens (2 ms at the full rate).
    let lim = limiter(10_000, Duration::from_secs(1), 100);
    assert_eq!(lim.lease_size(), 20);
    let mut shard = Shard::new(lim.clone());
    for i in 1..=100u64 {
        let d = shard.check(7, 0);
        assert!(d.is_allow(), "{i}");
        assert_eq!(d.status().remaining, 100 - i, "{i}");
    }
    assert!(!shard.check(7, 0).is_allow());
    assert_eq!(shard.leased_tokens(), 0);
    let st = shard.stats();
    assert_eq!(
        (st.leases, st.leased, st.allowed, st.denied),
        (5, 100, 100, 1)
    );
}

#[test]
fn leases_shrink_to_what_is_available() {
    // Burst 30, lease 20: the second lease gets the 10 that are left.
    let lim = limiter(10_000, Duration::from_secs(1), 30);
    let mut shard = Shard::new(lim.clone());
    assert!(shard.check(7, 0).is_allow());
    assert_eq!(shard.leased_tokens(), 19);
    for _ in 0..19 {
        assert!(shard.check(7, 0).is_allow());
    }
    assert!(shard.check(7, 0).is_allow());
    assert_eq!(shard.leased_tokens(), 9);
    assert_eq!(shard.stats().leased, 30);
}

#[test]
fn shared_halves_are_send_and_sync_shards_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Limiter>();
    send_sync::<Quota>();
    send::<Shard>();
    send::<QuotaShard>();
}

#[test]
fn keys_are_independent() {
    let lim = limiter(1, Duration::from_secs(60), 2);
    let mut shard = Shard::new(lim.clone());
    let (a, b) = (lim.key(b"a"), lim.key(b"b"));
    assert!(shard.check(a, 0).is_allow());
    assert!(shard.check(a, 0).is_allow());
    assert!(!shard.check(a, 0).is_allow());
    assert!(shard.check(b, 0).is_allow());
    assert!(shard.check(lim.key_global(), 0).is_allow());
}

const NEW_YEAR_2024_MS: u64 = 1_704_067_200_000;

fn quota(limit: u64, window: Window, workers: usize) -> Arc<Quota> {
    Quota::new(
        QuotaSpec { limit, window },
        LimiterOptions {
            workers,
            ..LimiterOptions::default()
        },
    )
}

#[test]
fn quota_counts_down_within_the_window() {
    let q = quota(5, Window::Day, 1);
    let mut shard = QuotaShard::new(q.clone());
    let key = q.key(b"consumer");
    let noon = NEW_YEAR_2024_MS + 12 * 3_600_000;
    // (now, allow, remaining, reset, retry)
    let script = [
        (noon, true, 4, 43_200, 0),
        (noon + 1, true, 3, 43_200, 0),
        (noon + 1000, true, 2, 43_199, 0),
        (noon + 1000, true, 1, 43_199, 0),
        (noon + 1000, true, 0, 43_199, 0),
        (noon + 1000, false, 0, 43_199, 43_199),
        (noon + 43_199_500, false, 0, 1, 1),
        (noon + 43_200_000, true, 4, 86_400, 0),
    ];
    for (i, (now, allow, remaining, reset, retry)) in script.into_iter().enumerate() {
        let d = shard.check(key, now);
        let s = *d.status();
        assert_eq!(
            (d.is_allow(), s.remaining, s.reset_secs, s.retry_after_secs),
            (allow, remaining, reset, retry),
            "step {i}: {d:?}"
        );
        assert_eq!((s.limit, s.window_secs), (5, 86_400));
    }
}

#[test]
fn quota_windows_are_utc_aligned() {
    // (window, now) -> (window_secs, reset_secs)
    let cases = [
        (Window::Minute, NEW_YEAR_2024_MS + 30_500, (60, 30)),
        (Window::Minute, NEW_YEAR_2024_MS + 59_999, (60, 1)),
        (Window::Minute, NEW_YEAR_2024_MS, (60, 60)),
        (Window::Hour, NEW_YEAR_2024_MS + 3_599_000, (3_600, 1)),
        (Window::Hour, NEW_YEAR_2024_MS + 1_800_000, (3_600, 1_800)),
        (Window::Day, NEW_YEAR_2024_MS - 500, (86_400, 1)),
        (Window::Day, NEW_YEAR_2024_MS, (86_400, 86_400)),
        (Window::Day, NEW_YEAR_2024_MS + 86_399_001, (86_400, 1)),
    ];
    for (window, now, (w, reset)) in cases {
        let q = quota(10, window, 1);
        let mut shard = QuotaShard::new(q.clone());
        let s = *shard.check(1, now).status();
        assert_eq!(
            (s.window_secs, s.reset_secs),
            (w, reset),
            "{window:?} {now}"
        );
    }
}

#[test]
fn quota_resets_at_utc_midnight() {
    let q = quota(3, Window::Day, 2);
    let mut shards = [QuotaShard::new(q.clone()), QuotaShard::new(q.clone())];
    let before = NEW_YEAR_2024_MS - 1;
    let mut allowed = 0;
    for i in 0..10 {
        allowed += usize::from(shards[i % 2].check(9, before - 10 + i as u64).is_allow());
    }
    assert_eq!(allowed, 3, "exact on 31 Dec");
    let d = shards[0].check(9, before);
    assert_eq!((d.is_allow(), d.status().retry_after_secs), (false, 1));
    // 00:00:00.000 UTC on 1 Jan: a new day.
    let mut allowed = 0;
    for i in 0..10 {
        allowed += usize::from(
            shards[i % 2]
                .check(9, NEW_YEAR_2024_MS + i as u64)
                .is_allow(),
        );
    }
    assert_eq!(allowed, 3, "exact on 1 Jan");
}

#[test]
fn quota_is_exact_near_the_limit_across_shards() {
    // (limit, workers) -> exactly `limit` admitted, round robin over the shards.
    for (limit, workers) in [(1, 1), (1, 4), (7, 4), (100, 4), (1_000, 16), (10_000, 64)] {
        let q = quota(limit, Window::Minute, workers);
        let mut shards: Vec<_> = (0..workers).map(|_| QuotaShard::new(q.clone())).collect();
        let mut allowed = 0;
        for i in 0..(limit as usize * 3) {
            allowed += u64::from(shards[i % workers].check(5, NEW_YEAR_2024_MS).is_allow());
        }
        let held: u64 = shards.iter().map(|s| s.leased_units()).sum();
        assert_eq!(
            allowed + held,
            limit,
            "{limit}/{workers}: nothing over, nothing lost"
        );
        assert!(held < workers as u64, "{limit}/{workers}: held {held}");
    }
}

#[test]
fn quota_zero_denies_everything() {
    let q = quota(0, Window::Hour, 1);
    let mut shard = QuotaShard::new(q);
    let d = shard.check(1, NEW_YEAR_2024_MS);
    assert_eq!(
        d,
        Decision::Deny(Status {
            limit: 0,
            window_secs: 3600,
            remaining: 0,
            reset_secs: 3600,
            retry_after_secs: 3600
        })
    );
}

#[test]
fn headers_for_decisions() {
    let lim = limiter(1, Duration::from_secs(10), 1);
    let mut shard = Shard::new(lim);
    let mut out = Vec::new();
    write_headers("per-client", &shard.check(1, 0), &mut out);
    write_headers("per-client", &shard.check(1, 4 * S), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "RateLimit-Policy: \"per-client\";q=1;w=10\r\nRateLimit: \"per-client\";r=0;t=10\r\n\
         RateLimit-Policy: \"per-client\";q=1;w=10\r\nRateLimit: \"per-client\";r=0;t=6\r\n\
         Retry-After: 6\r\n"
    );
}
