//! Retry budget and backoff: how many retries the group can afford, and how long to wait
//! before each. Time is always passed in.

use std::time::{Duration, Instant};

/// Buckets of the sliding window; the window slides one bucket (a tenth of it) at a time.
const BUCKETS: usize = 10;

/// Requests and retries seen during one bucket of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    requests: u64,
    retries: u64,
}

/// Retry budget (as in Envoy and linkerd): a retry is allowed while the retries in the sliding
/// window stay within `percent`% of the requests in it, plus a floor of `min_per_sec` retries
/// per second of window so that low traffic can still retry.
///
/// With `percent` 20, `min_per_sec` 3 and a 10 s window, 100 requests/s afford 20 retries/s
/// plus 3 x 10 = 30 per window: 23/s on average. The floor is granted per window, so an idle
/// group may spend its 30 in a burst. Call [`RetryBudget::record_request`] for original
/// requests only. The window is kept as ten buckets in place (no allocation), so it slides in
/// steps of a tenth of its length.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    percent: u64,
    /// `min_per_sec` x window, in hundredths of a retry.
    floor_centi: u128,
    /// Length of one bucket in nanoseconds (at least 1).
    bucket_nanos: u128,
    /// Time of the first event: bucket `t` covers `[epoch + t*len, epoch + (t+1)*len)`.
    epoch: Option<Instant>,
    /// Bucket number of `now` at the latest event.
    head: u64,
    buckets: [Bucket; BUCKETS],
    /// Sums over `buckets`.
    requests: u64,
    retries: u64,
}

impl RetryBudget {
    /// The usual sliding window (Envoy's and linkerd's default).
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
    /// The usual floor of retries per second, so that low traffic can still retry.
    pub const DEFAULT_MIN_PER_SEC: u32 = 3;

    /// A budget allowing retries up to `percent`% of recent requests plus `min_per_sec`
    /// retries per second, over a sliding `window` (10 s is usual; a zero window is treated
    /// as the shortest one possible).
    pub fn new(percent: u32, min_per_sec: u32, window: Duration) -> Self {
        Self {
            percent: u64::from(percent),
            floor_centi: u128::from(min_per_sec) * window.as_millis() / 10,
            bucket_nanos: (window.as_nanos() / BUCKETS as u128).max(1),
            epoch: None,
            head: 0,
            buckets: [Bucket::default(); BUCKETS],
            requests: 0,
            retries: 0,
        }
    }

    /// Counts one original request (not a retry) at time `now`.
    pub fn record_request(&mut self, now: Instant) {
        let bucket = self.advance(now);
        self.buckets[bucket].requests += 1;
        self.requests += 1;
    }

    /// Whether a retry may be sent at time `now`; if so, it is counted against the budget.
    pub fn try_retry(&mut self, now: Instant) -> bool {
        let bucket = self.advance(now);
        let allowance_centi =
            u128::from(self.requests) * u128::from(self.percent) + self.floor_centi;
        if (u128::from(self.retries) + 1) * 100 > allowance_centi {
            return false;
        }
        self.buckets[bucket].retries += 1;
        self.retries += 1;
        true
    }

    /// Slides the window to `now` (an earlier `now` than seen before counts as the latest
    /// bucket) and returns the index of the current bucket.
    fn advance(&mut self, now: Instant) -> usize {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch).as_nanos();
        let tick = u64::try_from(elapsed / self.bucket_nanos).unwrap_or(u64::MAX);
        if tick > self.head {
            let expired = tick - self.head;
            if expired >= BUCKETS as u64 {
                self.buckets = [Bucket::default(); BUCKETS];
                self.requests = 0;
                self.retries = 0;
            } else {
                for t in self.head + 1..=tick {
                    let old = std::mem::take(&mut self.buckets[(t % BUCKETS as u64) as usize]);
                    self.requests -= old.requests;
                    self.retries -= old.retries;
                }
            }
            self.head = tick;
        }
        (self.head % BUCKETS as u64) as usize
    }
}

/// Exponential backoff with full jitter: attempt 1 waits up to `base`, attempt `n` up to
/// `min(base * 2^(n-1), max)`; the wait is that cap times `rand`, a uniform number in `[0, 1)`
/// (for example [`crate::Rng::f64`]). Attempt 0 (the original request) waits nothing.
/// Out-of-range `rand` is clamped (NaN counts as 0); the result is below the cap unless the
/// cap is zero. Never panics or overflows.
pub fn backoff(attempt: u32, base: Duration, max: Duration, rand: f64) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let cap = match 1u32.checked_shl(attempt - 1) {
        Some(factor) => base.checked_mul(factor).map_or(max, |d| d.min(max)),
        None => max,
    };
    // rand as a 53-bit fixed-point fraction, strictly below 1.
    const ONE: f64 = (1u64 << 53) as f64;
    let fraction = if rand > 0.0 {
        (rand * ONE).min(ONE - 1.0) as u128
    } else {
        0 // also NaN
    };
    // cap * fraction / 2^53 without overflowing u128: split cap at bit 53.
    let cap = cap.as_nanos();
    let nanos = (cap >> 53) * fraction + (((cap & ((1 << 53) - 1)) * fraction) >> 53);
    Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn budget_at_twenty_percent_and_100_requests_per_second() {
        let base = Instant::now();
        let mut budget = RetryBudget::new(
            20,
            RetryBudget::DEFAULT_MIN_PER_SEC,
            RetryBudget::DEFAULT_WINDOW,
        );
        // One request every 10 ms for 30 s, each followed by a retry attempt.
        let mut allowed_per_sec = vec![0u32; 30];
        for i in 0..3000u32 {
            let now = base + 10 * MS * i;
            budget.record_request(now);
            if budget.try_retry(now) {
                allowed_per_sec[(i / 100) as usize] += 1;
            }
        }
        // Cold start: the floor (3/s x 10 s) is available at once, then 20% of requests.
        assert_eq!(allowed_per_sec[0], 30 + 20);
        // Steady state: 20/s from the percentage every second, plus the floor of 3/s x 10 s
        // once per window (it was first spent at the cold start): 23/s on average.
        let steady: u32 = allowed_per_sec[10..].iter().sum();
        assert_eq!(steady, 2 * (200 + 30), "{allowed_per_sec:?}");
        assert!(
            allowed_per_sec.iter().all(|&n| n >= 20),
            "{allowed_per_sec:?}"
        );
        for window in allowed_per_sec.windows(10) {
            assert!(window.iter().sum::<u32>() <= 230, "{allowed_per_sec:?}");
        }
    }

    #[test]
    fn budget_window_slides() {
        let base = Instant::now();
        let mut budget = RetryBudget::new(20, 3, 10 * SEC);
        for _ in 0..1000 {
            budget.record_request(base);
        }
        let count = |budget: &mut RetryBudget, at: Duration, tries: u32| {
            (0..tries).filter(|_| budget.try_retry(base + at)).count()
        };
        // (time since base, retry attempts, expected allowed)
        let table = [
            (Duration::ZERO, 300, 200 + 30),
            (5 * SEC, 10, 0),
            (9900 * MS, 10, 0),
            // The burst's bucket and its retries have left the window: only the floor.
            (10 * SEC, 100, 30),
            (15 * SEC, 10, 0),
            // A long silence clears everything at once.
            (1000 * SEC, 100, 30),
        ];
        for (at, tries, expected) in table {
            assert_eq!(count(&mut budget, at, tries), expected, "at {at:?}");
        }
    }

    #[test]
    fn budget_edge_cases() {
        let base = Instant::now();
        // (percent, min_per_sec, window, requests, expected retries allowed)
        let table = [
            (0, 0, 10 * SEC, 1000, 0),
            (100, 0, 10 * SEC, 50, 50),
            (10, 0, 10 * SEC, 9, 0),
            (10, 0, 10 * SEC, 10, 1),
            (0, 3, 10 * SEC, 0, 30),
            (0, 1, 500 * MS, 0, 0),
            (0, 2, 500 * MS, 0, 1),
            (50, 0, Duration::ZERO, 10, 5),
        ];
        for (percent, min_per_sec, window, requests, expected) in table {
            let mut budget = RetryBudget::new(percent, min_per_sec, window);
            for _ in 0..requests {
                budget.record_request(base);
            }
            let allowed = (0..2000).filter(|_| budget.try_retry(base)).count();
            assert_eq!(allowed, expected, "{percent}% {min_per_sec}/s {window:?}");
        }
        // A clock that goes backwards counts as the latest bucket.
        let mut budget = RetryBudget::new(100, 0, 10 * SEC);
        budget.record_request(base + SEC);
        assert!(budget.try_retry(base));
        assert!(!budget.try_retry(base));
    }

    #[test]
    fn backoff_table() {
        let base = 100 * MS;
        let max = SEC;
        // (attempt, rand, expected)
        let table = [
            (0, 0.5, Duration::ZERO),
            (1, 0.0, Duration::ZERO),
            (1, 0.5, 50 * MS),
            (2, 0.5, 100 * MS),
            (3, 0.5, 200 * MS),
            (4, 0.5, 400 * MS),
            (5, 0.5, 500 * MS), // 1.6 s capped at 1 s
            (33, 0.5, 500 * MS),
            (u32::MAX, 0.5, 500 * MS),
            (1, -1.0, Duration::ZERO),
            (1, f64::NAN, Duration::ZERO),
        ];
        for (attempt, rand, expected) in table {
            assert_eq!(
                backoff(attempt, base, max, rand),
                expected,
                "attempt {attempt} rand {rand}"
            );
        }
    }

    #[test]
    fn backoff_stays_below_its_cap() {
        let mut rng = crate::Rng::with_seed(1);
        for (base, max) in [
            (100 * MS, SEC),
            (SEC, 100 * MS),
            (Duration::MAX, Duration::MAX),
        ] {
            for attempt in 1..=70 {
                let cap = base.saturating_mul(1 << (attempt - 1).min(31)).min(max);
                for rand in [0.0, 0.999_999_999, 1.0, 7.0, rng.f64()] {
                    let d = backoff(attempt, base, max, rand);
                    assert!(d < cap, "attempt {attempt} rand {rand}: {d:?} >= {cap:?}");
                }
            }
        }
        assert_eq!(backoff(3, Duration::ZERO, SEC, 0.9), Duration::ZERO);
    }
}
