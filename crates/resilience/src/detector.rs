//! The health thread's decisions for one group (Envoy's outlier detection and health-check
//! semantics), with time passed in:
//!
//! - Endpoints start healthy. An active check makes one unhealthy after
//!   `unhealthy_threshold` failing probes in a row, healthy again after `healthy_threshold`
//!   passing ones.
//! - A failure streak reported by the cores ejects the endpoint for
//!   `base_ejection_time × n` (its n-th ejection), at most `max_ejection_time`, unless that
//!   would eject more than `max_ejection_percent` of the group (one endpoint always may be).
//!   Each `interval` an endpoint spends not ejected takes one off `n`. A passing probe ends an
//!   ejection early.
//! - An endpoint is excluded when it is unhealthy or ejected. When fewer than
//!   `panic_threshold` percent of the endpoints are left, the group is in panic: every
//!   endpoint is used (a sick group answers something rather than nothing).

use std::time::{Duration, Instant};

use crate::board::{GroupBoard, Outcome, EJECTED, UNHEALTHY};
use crate::settings::OutlierDetection;

/// A change of an endpoint's state (logged and counted by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Ejected for this long.
    Ejected(usize, Duration),
    /// Not ejected: the group already has its maximum ejected.
    EjectionRefused(usize),
    /// The ejection ended (time up, or a passing probe).
    Returned(usize),
    /// The active check marked it unhealthy.
    Unhealthy(usize),
    /// The active check marked it healthy.
    Healthy(usize),
}

#[derive(Debug, Clone, Copy)]
struct Endpoint {
    /// Active-check verdict.
    healthy: bool,
    /// Probes in a row that disagree with `healthy`.
    streak: u32,
    ejected_until: Option<Instant>,
    /// Ejections counted towards the next one's length.
    times_ejected: u32,
    /// When `times_ejected` was last lowered (or the endpoint returned).
    decayed_at: Instant,
}

/// One group's health and ejection state (the health thread's, not shared).
#[derive(Debug, Clone)]
pub struct GroupHealth {
    outlier: OutlierDetection,
    /// Active-check thresholds (healthy, unhealthy).
    thresholds: (u32, u32),
    panic_threshold: u8,
    eps: Vec<Endpoint>,
}

impl GroupHealth {
    /// `n` endpoints, all healthy and not ejected at `now`. `thresholds` are the active
    /// check's (healthy, unhealthy) thresholds; `panic_threshold` is a percentage (0: never).
    pub fn new(
        n: usize,
        outlier: OutlierDetection,
        thresholds: (u32, u32),
        panic_threshold: u8,
        now: Instant,
    ) -> Self {
        Self {
            outlier,
            thresholds: (thresholds.0.max(1), thresholds.1.max(1)),
            panic_threshold,
            eps: vec![
                Endpoint {
                    healthy: true,
                    streak: 0,
                    ejected_until: None,
                    times_ejected: 0,
                    decayed_at: now,
                };
                n
            ],
        }
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.eps.len()
    }

    /// Makes `ep`'s state that of `other`'s endpoint `from` (the same endpoint in the
    /// previous configuration, after a reload): ejection and its count, and the active check's
    /// verdict when `checked` (the new configuration still probes it; else it is healthy).
    pub fn adopt(&mut self, ep: usize, other: &GroupHealth, from: usize, checked: bool) {
        if let (Some(e), Some(o)) = (self.eps.get_mut(ep), other.eps.get(from)) {
            *e = *o;
            if !checked {
                e.healthy = true;
                e.streak = 0;
            }
        }
    }

    /// Whether the group has no endpoints.
    pub fn is_empty(&self) -> bool {
        self.eps.is_empty()
    }

    /// A failure streak of `kind` reached its threshold on `ep`.
    pub fn on_streak(&mut self, ep: usize, _kind: Outcome, now: Instant) -> Option<Change> {
        let ejected = self
            .eps
            .iter()
            .filter(|e| e.ejected_until.is_some())
            .count();
        let e = self.eps.get(ep)?;
        if e.ejected_until.is_some() {
            return None;
        }
        let cap = self.eps.len() * usize::from(self.outlier.max_ejection_percent) / 100;
        if ejected > 0 && ejected + 1 > cap {
            return Some(Change::EjectionRefused(ep));
        }
        let e = &mut self.eps[ep];
        e.times_ejected = e.times_ejected.saturating_add(1);
        let base = self.outlier.base_ejection_time;
        let length = base
            .saturating_mul(e.times_ejected)
            .min(self.outlier.max_ejection_time.max(base));
        e.ejected_until = Some(now + length);
        Some(Change::Ejected(ep, length))
    }

    /// An active probe of `ep` passed (`ok`) or failed.
    pub fn on_probe(&mut self, ep: usize, ok: bool, now: Instant) -> Vec<Change> {
        let (healthy_after, unhealthy_after) = self.thresholds;
        let mut changes = Vec::new();
        let Some(e) = self.eps.get_mut(ep) else {
            return changes;
        };
        if ok && e.ejected_until.take().is_some() {
            e.decayed_at = now;
            changes.push(Change::Returned(ep));
        }
        if ok == e.healthy {
            e.streak = 0;
            return changes;
        }
        e.streak += 1;
        if ok && e.streak >= healthy_after {
            e.healthy = true;
            e.streak = 0;
            changes.push(Change::Healthy(ep));
        } else if !ok && e.streak >= unhealthy_after {
            e.healthy = false;
            e.streak = 0;
            changes.push(Change::Unhealthy(ep));
        }
        changes
    }

    /// Ends the ejections whose time is up and lowers ejection counts.
    pub fn tick(&mut self, now: Instant) -> Vec<Change> {
        let interval = self.outlier.interval;
        let mut changes = Vec::new();
        for (i, e) in self.eps.iter_mut().enumerate() {
            match e.ejected_until {
                Some(until) if now >= until => {
                    e.ejected_until = None;
                    e.decayed_at = now;
                    changes.push(Change::Returned(i));
                }
                Some(_) => {}
                None if e.times_ejected > 0 && now.duration_since(e.decayed_at) >= interval => {
                    e.times_ejected -= 1;
                    e.decayed_at = now;
                }
                None => {}
            }
        }
        changes
    }

    /// Whether `ep` is unhealthy or ejected.
    pub fn excluded(&self, ep: usize) -> bool {
        self.eps
            .get(ep)
            .is_some_and(|e| !e.healthy || e.ejected_until.is_some())
    }

    /// Whether `ep` is ejected now.
    pub fn ejected(&self, ep: usize) -> bool {
        self.eps.get(ep).is_some_and(|e| e.ejected_until.is_some())
    }

    /// Whether `ep`'s active check passes.
    pub fn healthy(&self, ep: usize) -> bool {
        self.eps.get(ep).is_some_and(|e| e.healthy)
    }

    /// Whether too few endpoints are left: below the panic threshold, all are used.
    pub fn panic(&self) -> bool {
        let n = self.eps.len();
        let usable = (0..n).filter(|&i| !self.excluded(i)).count();
        n > 0 && usable * 100 < n * usize::from(self.panic_threshold)
    }

    /// Publishes the state to the cores.
    pub fn publish(&self, board: &GroupBoard) {
        board.publish(
            |i| {
                let e = &self.eps[i];
                let mut s = 0;
                if !e.healthy {
                    s |= UNHEALTHY;
                }
                if e.ejected_until.is_some() {
                    s |= EJECTED;
                }
                s
            },
            self.panic(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlier() -> OutlierDetection {
        OutlierDetection {
            base_ejection_time: Duration::from_secs(1),
            max_ejection_time: Duration::from_secs(3),
            max_ejection_percent: 50,
            interval: Duration::from_secs(10),
            ..OutlierDetection::default()
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ejections_grow_with_repeats_up_to_the_cap_and_decay() {
        let t0 = Instant::now();
        let mut g = GroupHealth::new(4, outlier(), (2, 3), 0, t0);
        let mut t = t0;
        for want in [1, 2, 3, 3] {
            assert_eq!(
                g.on_streak(0, Outcome::LocalFailure, t),
                Some(Change::Ejected(0, want * S))
            );
            assert!(g.excluded(0));
            assert_eq!(
                g.on_streak(0, Outcome::LocalFailure, t),
                None,
                "already out"
            );
            t += want * S;
            assert_eq!(g.tick(t), vec![Change::Returned(0)]);
            assert!(!g.excluded(0));
        }
        // Four ejections; thirty seconds without one take three off, so the next is the
        // second: 2 × base.
        for k in 1..=3 {
            g.tick(t + k * 10 * S);
        }
        assert_eq!(
            g.on_streak(0, Outcome::ServerError, t + 30 * S),
            Some(Change::Ejected(0, 2 * S))
        );
    }

    #[test]
    fn a_reload_keeps_an_endpoints_ejection_and_its_count() {
        let t = Instant::now();
        let mut old = GroupHealth::new(3, outlier(), (2, 3), 0, t);
        old.on_streak(2, Outcome::LocalFailure, t);
        // The new configuration lists endpoint 2 first and adds one.
        let mut new = GroupHealth::new(2, outlier(), (2, 3), 0, t);
        new.adopt(0, &old, 2, true);
        assert!(new.ejected(0) && !new.ejected(1));
        // An active verdict is dropped where the new configuration no longer probes.
        for _ in 0..3 {
            old.on_probe(1, false, t);
        }
        let mut unprobed = GroupHealth::new(1, outlier(), (2, 3), 0, t);
        unprobed.adopt(0, &old, 1, false);
        assert!(!old.healthy(1) && unprobed.healthy(0));
        let mut probed = GroupHealth::new(1, outlier(), (2, 3), 0, t);
        probed.adopt(0, &old, 1, true);
        assert!(!probed.healthy(0));
        // Its ejection ends when it would have, and the next one is the second: 2 × base.
        assert_eq!(new.tick(t + S), vec![Change::Returned(0)]);
        assert_eq!(
            new.on_streak(0, Outcome::LocalFailure, t + S),
            Some(Change::Ejected(0, 2 * S))
        );
    }

    #[test]
    fn max_ejection_percent_always_allows_one() {
        let t = Instant::now();
        let mut few = OutlierDetection {
            max_ejection_percent: 10,
            ..outlier()
        };
        let mut g = GroupHealth::new(4, few, (1, 1), 0, t);
        assert!(matches!(
            g.on_streak(1, Outcome::LocalFailure, t),
            Some(Change::Ejected(1, _))
        ));
        assert_eq!(
            g.on_streak(2, Outcome::LocalFailure, t),
            Some(Change::EjectionRefused(2))
        );
        few.max_ejection_percent = 50;
        let mut g = GroupHealth::new(4, few, (1, 1), 0, t);
        for ep in [0, 1] {
            assert!(matches!(
                g.on_streak(ep, Outcome::LocalFailure, t),
                Some(Change::Ejected(..))
            ));
        }
        assert_eq!(
            g.on_streak(2, Outcome::LocalFailure, t),
            Some(Change::EjectionRefused(2))
        );
    }

    #[test]
    fn probes_follow_thresholds_and_a_pass_ends_an_ejection() {
        let t = Instant::now();
        let mut g = GroupHealth::new(2, outlier(), (2, 3), 0, t);
        assert!(g.on_probe(0, false, t).is_empty());
        assert!(g.on_probe(0, false, t).is_empty());
        assert!(
            g.on_probe(0, true, t).is_empty(),
            "a pass breaks the failing streak"
        );
        g.on_probe(0, false, t);
        g.on_probe(0, false, t);
        assert_eq!(g.on_probe(0, false, t), vec![Change::Unhealthy(0)]);
        assert!(g.excluded(0));
        assert!(g.on_probe(0, true, t).is_empty());
        assert_eq!(g.on_probe(0, true, t), vec![Change::Healthy(0)]);
        assert!(!g.excluded(0));

        g.on_streak(1, Outcome::LocalFailure, t);
        assert!(g.excluded(1));
        assert_eq!(g.on_probe(1, true, t), vec![Change::Returned(1)]);
        assert!(!g.excluded(1));
    }

    #[test]
    fn panic_below_the_threshold_uses_everything() {
        let t = Instant::now();
        let board = crate::Board::new(&[(4, None, None)]);
        let mut g = GroupHealth::new(4, outlier(), (1, 1), 50, t);
        g.on_probe(0, false, t);
        g.on_probe(1, false, t);
        assert!(!g.panic(), "2 of 4 left is 50%: not below");
        g.publish(board.group(0));
        let e = board.group(0).eligibility();
        assert!(e.excluded(0) && e.excluded(1) && !e.excluded(2));
        g.on_probe(2, false, t);
        assert!(g.panic());
        g.publish(board.group(0));
        let e = board.group(0).eligibility();
        assert!(e.panic() && (0..4).all(|i| !e.excluded(i)));
        let never = GroupHealth::new(1, outlier(), (1, 1), 0, t);
        assert!(!never.panic());
    }
}
