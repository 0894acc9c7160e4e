//! Adaptive concurrency, one controller per core and group (Envoy's `adaptive_concurrency`
//! gradient controller is the model), with time passed in.
//!
//! The controller learns the upstream's unloaded latency (`min_rtt`): for a measuring phase the
//! limit is pinned to `min_limit` and the median latency of `min_rtt_samples` requests becomes
//! `min_rtt`; measuring starts at once and again every `min_rtt_interval`. In between, at the
//! end of each `sample_window` that saw responses, the median latency of the window (`sample`)
//! moves the limit:
//!
//! ```text
//! gradient  = clamp(min_rtt × (1 + buffer) / sample, 0.5, 2.0)
//! limit     = clamp(limit × gradient + √(limit × gradient), min_limit, max_limit)
//! ```
//!
//! so the limit grows while latency stays near `min_rtt` and halves per window when it rises.
//! A request over the limit is shed (the caller answers 503).

use std::time::{Duration, Instant};

/// A group's adaptive-concurrency settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveSettings {
    /// Each window's median latency moves the limit.
    pub sample_window: Duration,
    /// How often `min_rtt` is measured again.
    pub min_rtt_interval: Duration,
    /// Requests whose median latency is `min_rtt`.
    pub min_rtt_samples: u32,
    /// The lowest limit (and the limit while measuring).
    pub min_limit: u32,
    /// The highest limit.
    pub max_limit: u32,
    /// Latency above `min_rtt` tolerated before the limit shrinks, percent.
    pub buffer_percent: u32,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        Self {
            sample_window: Duration::from_millis(100),
            min_rtt_interval: Duration::from_secs(60),
            min_rtt_samples: 50,
            min_limit: 3,
            max_limit: 1000,
            buffer_percent: 25,
        }
    }
}

#[derive(Debug, Clone)]
enum Phase {
    /// Limit pinned to `min_limit`; latencies collected for `min_rtt`.
    Measuring { saved_limit: f64 },
    /// Windows move the limit; measuring again at `next`.
    Running {
        next: Instant,
        window_start: Instant,
    },
}

/// One core's controller for one group.
#[derive(Debug, Clone)]
pub struct Gradient {
    s: AdaptiveSettings,
    limit: f64,
    in_flight: u32,
    min_rtt: Option<Duration>,
    /// Latencies (µs) of the current window or measuring phase.
    samples: Vec<u32>,
    phase: Phase,
    shed: u64,
}

impl Gradient {
    /// A controller that starts by measuring `min_rtt`.
    pub fn new(s: AdaptiveSettings) -> Self {
        let min = f64::from(s.min_limit.max(1));
        Self {
            s,
            limit: min,
            in_flight: 0,
            min_rtt: None,
            samples: Vec::with_capacity(64),
            phase: Phase::Measuring { saved_limit: min },
            shed: 0,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        match self.phase {
            Phase::Measuring { .. } => self.s.min_limit.max(1),
            Phase::Running { .. } => self.limit as u32,
        }
    }

    /// The learnt unloaded latency, once measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Requests shed so far.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Admits a request (`true`) unless the limit is reached.
    pub fn try_start(&mut self) -> bool {
        if self.in_flight >= self.limit() {
            self.shed += 1;
            return false;
        }
        self.in_flight += 1;
        true
    }

    /// An admitted request ended without a latency worth learning from (an error).
    pub fn cancel(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// An admitted request got its response after `rtt`.
    pub fn finish(&mut self, rtt: Duration, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        if let Phase::Running { next, window_start } = self.phase {
            // A window ends at the first response after it: what finished inside it counts.
            if now.duration_since(window_start) >= self.s.sample_window && !self.samples.is_empty()
            {
                self.end_window(next, now);
            }
        }
        self.samples.push(us);
        if let Phase::Measuring { saved_limit } = self.phase {
            if self.samples.len() >= self.s.min_rtt_samples.max(1) as usize {
                let median = median(&mut self.samples);
                self.min_rtt = Some(Duration::from_micros(u64::from(median)));
                self.samples.clear();
                self.limit = saved_limit;
                self.phase = Phase::Running {
                    next: now + self.s.min_rtt_interval,
                    window_start: now,
                };
            }
        }
    }

    fn end_window(&mut self, next: Instant, now: Instant) {
        let sample = f64::from(median(&mut self.samples).max(1));
        self.samples.clear();
        let min_rtt = self.min_rtt.map_or(sample, |d| d.as_micros() as f64);
        let buffered = min_rtt * (1.0 + f64::from(self.s.buffer_percent) / 100.0);
        let gradient = (buffered / sample).clamp(0.5, 2.0);
        let scaled = self.limit * gradient;
        let floor = f64::from(self.s.min_limit.max(1));
        let ceiling = f64::from(self.s.max_limit).max(floor);
        self.limit = (scaled + scaled.sqrt()).clamp(floor, ceiling);
        self.phase = if now >= next {
            Phase::Measuring {
                saved_limit: self.limit,
            }
        } else {
            Phase::Running {
                next,
                window_start: now,
            }
        };
    }
}

fn median(v: &mut [u32]) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable(mid).1
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> AdaptiveSettings {
        AdaptiveSettings {
            min_rtt_samples: 5,
            min_rtt_interval: Duration::from_secs(3600),
            ..AdaptiveSettings::default()
        }
    }

    /// Runs windows of `n` requests of latency `rtt`, each window 100ms long.
    fn windows(g: &mut Gradient, t: &mut Instant, count: usize, n: usize, rtt: Duration) {
        for _ in 0..count {
            *t += 100 * MS;
            for _ in 0..n {
                if g.try_start() {
                    g.finish(rtt, *t);
                }
            }
        }
    }

    #[test]
    fn measures_min_rtt_pinned_then_grows_and_halves_when_latency_rises() {
        let mut g = Gradient::new(settings());
        let mut t = Instant::now();
        assert_eq!(g.limit(), 3, "pinned while measuring");
        for _ in 0..3 {
            assert!(g.try_start());
        }
        assert!(!g.try_start(), "over the pinned limit: shed");
        assert_eq!(g.shed(), 1);
        for _ in 0..3 {
            g.finish(10 * MS, t);
        }
        for _ in 0..2 {
            assert!(g.try_start());
            g.finish(10 * MS, t);
        }
        assert_eq!(g.min_rtt(), Some(10 * MS));
        // Latency at min_rtt: the limit grows by about its square root per window.
        windows(&mut g, &mut t, 30, 5, 10 * MS);
        let grown = g.limit();
        assert!(grown > 100, "{grown}");
        // Latency 10× min_rtt: the gradient is 0.5 and the limit falls towards the floor.
        windows(&mut g, &mut t, 2, 1, 100 * MS);
        assert!(g.limit() < grown * 6 / 10, "{} vs {grown}", g.limit());
        windows(&mut g, &mut t, 30, 1, 100 * MS);
        assert!(g.limit() <= 5, "{}", g.limit());
        // Back to normal: it grows again.
        windows(&mut g, &mut t, 20, 3, 10 * MS);
        assert!(g.limit() > 50, "{}", g.limit());
    }

    #[test]
    fn min_rtt_is_measured_again_and_cancel_frees_the_slot() {
        let s = AdaptiveSettings {
            min_rtt_interval: Duration::from_secs(1),
            ..settings()
        };
        let mut g = Gradient::new(s);
        let mut t = Instant::now();
        for _ in 0..5 {
            assert!(g.try_start());
            g.finish(10 * MS, t);
        }
        windows(&mut g, &mut t, 10, 1, 10 * MS);
        assert_eq!(g.limit(), 3, "measuring again after min_rtt_interval");
        for _ in 0..4 {
            assert!(g.try_start());
            g.finish(20 * MS, t);
        }
        assert_eq!(g.min_rtt(), Some(20 * MS));
        assert!(
            g.limit() > 3,
            "the limit from before the measurement is back"
        );
        let limit = g.limit();
        for _ in 0..limit {
            assert!(g.try_start());
        }
        assert!(!g.try_start());
        g.cancel();
        assert!(g.try_start());
    }
}
