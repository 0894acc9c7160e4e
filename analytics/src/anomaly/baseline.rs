//! An endpoint's history and the baselines drawn from it: a robust short-term level (the
//! median of the last few minutes' buckets) and, once days of history exist, a time-of-day and
//! then day-of-week profile. Buckets that belonged to an anomaly are left out of the
//! baselines of that anomaly's kind, so a long episode does not become its own baseline.

use std::collections::VecDeque;

use super::finding::Kind;
use super::stats::median;

/// The summary of one closed bucket kept for baselines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) requests: u32,
    pub(crate) errors_5xx: u32,
    pub(crate) auth_failures: u32,
    pub(crate) rate_limited: u32,
    /// p99 latency (µs); NaN when the bucket had too few requests to say.
    pub(crate) p99_us: f32,
    /// The top client's share of requests; NaN when too few requests.
    pub(crate) top_share: f32,
    /// Bit `k` set: the bucket belonged to an episode of kind `k`.
    pub(crate) mask: u16,
    /// The bucket's start, s since the epoch.
    pub(crate) start_s: i64,
}

impl Stats {
    /// Whether the bucket belonged to any episode: an anomalous bucket distorts every
    /// baseline (a storm of refused logins inflates the request count and flattens the
    /// latency), so it is kept out of all of them.
    pub(crate) fn masked(&self) -> bool {
        self.mask != 0
    }
}

/// Buckets below this many requests say nothing about latency or client shares.
pub(crate) const MIN_BUCKET_REQUESTS: u32 = 10;

/// Slot length of the seasonal profiles.
const SLOT_SECS: i64 = 600;
const DAY_SLOTS: usize = (86_400 / SLOT_SECS) as usize;
const WEEK_SLOTS: usize = DAY_SLOTS * 7;
/// Buckets a slot needs before it is trusted.
const SLOT_MIN_BUCKETS: u32 = 30;
/// The profile weighs about this many buckets of a slot (three days' worth of a 10-minute slot
/// at 10 s buckets), so it follows slow changes.
const SLOT_MEMORY: u32 = 180;

/// A running mean.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    mean: f32,
    n: u32,
}

impl Slot {
    fn add(&mut self, x: f32) {
        self.n = self.n.saturating_add(1);
        let w = 1.0 / self.n.min(SLOT_MEMORY) as f32;
        self.mean += (x - self.mean) * w;
    }
}

/// An endpoint's history.
#[derive(Debug, Clone)]
pub(crate) struct History {
    /// The last buckets, oldest first.
    recent: VecDeque<Stats>,
    capacity: usize,
    /// Requests per bucket by 10-minute slot of the day, and of the week.
    day: Box<[Slot]>,
    week: Box<[Slot]>,
    /// Buckets recorded so far.
    pub(crate) buckets: u64,
    /// How many of the newest buckets can still be marked (the judged window): they enter
    /// the seasonal profiles only once their marks are final.
    settle: usize,
}

/// Seconds from the Unix epoch (a Thursday) to the first Monday, so week slots start Monday.
const MONDAY_OFFSET: i64 = 4 * 86_400;

impl History {
    pub(crate) fn new(capacity: usize, settle: usize) -> Self {
        Self {
            settle,
            recent: VecDeque::with_capacity(capacity),
            capacity,
            day: vec![Slot::default(); DAY_SLOTS].into_boxed_slice(),
            week: vec![Slot::default(); WEEK_SLOTS].into_boxed_slice(),
            buckets: 0,
        }
    }

    /// Records a closed bucket.
    pub(crate) fn push(&mut self, s: Stats) {
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(s);
        self.buckets += 1;
        // The bucket that just left the judged window has its final marks.
        let settled = self.recent.len().checked_sub(self.settle + 1);
        if let Some(s) = settled.map(|i| self.recent[i]) {
            if !s.masked() {
                let x = s.requests as f32;
                self.day[day_slot(s.start_s)].add(x);
                self.week[week_slot(s.start_s)].add(x);
            }
        }
    }

    /// Marks the last `n` buckets as part of an episode of `kind`, which keeps them out of
    /// the baselines. A new endpoint's traffic is not kept out: it is what its baselines
    /// are learning.
    pub(crate) fn mark_last(&mut self, n: usize, kind: Kind) {
        if kind == Kind::NewEndpoint {
            return;
        }
        let bits = 1u16 << kind.index();
        let len = self.recent.len();
        for s in self.recent.range_mut(len.saturating_sub(n)..) {
            s.mask |= bits;
        }
    }

    /// The buckets before the last `skip` (the window being judged), newest last, at most
    /// `take` of them, leaving out those of episodes.
    fn before(&self, skip: usize, take: usize) -> impl Iterator<Item = &Stats> + '_ {
        let end = self.recent.len().saturating_sub(skip);
        self.recent
            .range(..end)
            .rev()
            .filter(|s| !s.masked())
            .take(take)
    }

    /// Buckets held.
    pub(crate) fn len(&self) -> usize {
        self.recent.len()
    }

    /// A measure summed over the last `span` buckets, marked or not (a span being judged).
    pub(crate) fn sum_last(&self, span: usize, measure: impl Fn(&Stats) -> u32) -> u64 {
        let len = self.recent.len();
        self.recent
            .range(len.saturating_sub(span)..)
            .map(|s| u64::from(measure(s)))
            .sum()
    }

    /// How many unmarked buckets are there before the window.
    pub(crate) fn usable(&self, skip: usize) -> usize {
        self.before(skip, usize::MAX).count()
    }

    /// The median requests per bucket over the last `take` unmarked buckets before the window.
    pub(crate) fn short_rate(&self, skip: usize, take: usize) -> f64 {
        let mut v: Vec<f64> = self
            .before(skip, take)
            .map(|s| f64::from(s.requests))
            .collect();
        median(&mut v)
    }

    /// The seasonal requests per bucket for the bucket starting at `start_s`: the
    /// day-of-week profile after two weeks of history, the time-of-day profile after two
    /// days, none before.
    pub(crate) fn seasonal_rate(&self, start_s: i64, bucket_s: i64) -> Option<f64> {
        let age_s = self.buckets as i64 * bucket_s;
        let week = self.week[week_slot(start_s)];
        if age_s >= 14 * 86_400 && week.n >= SLOT_MIN_BUCKETS {
            return Some(f64::from(week.mean));
        }
        let day = self.day[day_slot(start_s)];
        (age_s >= 2 * 86_400 && day.n >= SLOT_MIN_BUCKETS).then_some(f64::from(day.mean))
    }

    /// `(events, requests)` summed over the last `take` unmarked buckets before the window,
    /// for share baselines.
    pub(crate) fn share_counts(
        &self,
        skip: usize,
        take: usize,
        events: impl Fn(&Stats) -> u32,
    ) -> (u64, u64) {
        self.before(skip, take).fold((0, 0), |(e, n), s| {
            (e + u64::from(events(s)), n + u64::from(s.requests))
        })
    }

    /// The median of a per-bucket measure over the last `take` buckets before the window
    /// that have it (not NaN) and are not marked; `None` with fewer than `min`.
    pub(crate) fn median_of(
        &self,
        skip: usize,
        take: usize,
        min: usize,
        measure: impl Fn(&Stats) -> f32,
    ) -> Option<f64> {
        let mut v: Vec<f64> = self
            .before(skip, take)
            .map(|s| f64::from(measure(s)))
            .filter(|x| !x.is_nan())
            .collect();
        (v.len() >= min).then(|| median(&mut v))
    }
}

fn day_slot(start_s: i64) -> usize {
    (start_s.rem_euclid(86_400) / SLOT_SECS) as usize
}

fn week_slot(start_s: i64) -> usize {
    ((start_s - MONDAY_OFFSET).rem_euclid(7 * 86_400) / SLOT_SECS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(start_s: i64, requests: u32) -> Stats {
        Stats {
            start_s,
            requests,
            p99_us: f32::NAN,
            top_share: f32::NAN,
            ..Stats::default()
        }
    }

    #[test]
    fn the_short_rate_is_a_median_that_skips_marked_buckets() {
        let mut h = History::new(100, 1);
        for i in 0..20 {
            h.push(stats(i * 10, 10 + (i % 3) as u32));
        }
        h.push(stats(200, 500));
        h.mark_last(1, Kind::TrafficSurge);
        h.push(stats(210, 11));
        // The window is the last bucket; the surge bucket before it is left out.
        assert_eq!(h.short_rate(1, 60), 11.0);
        assert_eq!(h.usable(1), 20);
        // An episode of any kind keeps its buckets out of every baseline.
        h.push(stats(220, 10));
        h.mark_last(1, Kind::LatencyRegression);
        h.push(stats(230, 10));
        assert_eq!(h.usable(1), 21);
        assert!(h.median_of(1, 60, 1, |s| s.requests as f32) == Some(11.0));
    }

    #[test]
    fn seasonal_profiles_need_days_of_history() {
        let mut h = History::new(10, 0);
        // Two days of 10 s buckets: 100 requests per bucket at 12:00-12:10, 10 otherwise.
        let noon = 12 * 3600;
        for b in 0..(2 * 8640) {
            let start = b * 10;
            let busy = (start % 86_400) / 600 == noon / 600;
            h.push(stats(start, if busy { 100 } else { 10 }));
        }
        let day3_noon = 2 * 86_400 + noon;
        let r = h.seasonal_rate(day3_noon, 10).unwrap();
        assert!((r - 100.0).abs() < 1.0, "{r}");
        let r = h.seasonal_rate(day3_noon + 3600, 10).unwrap();
        assert!((r - 10.0).abs() < 1.0, "{r}");
        assert!(History::new(10, 0).seasonal_rate(noon, 10).is_none());
    }
}
