//! [`Split`]: weighted random choice between the upstream groups of a route.

use crate::Rng;

/// Weighted choice between the upstream groups of a route (a canary split).
///
/// Each pick is an independent weighted random draw, so traffic converges on the configured
/// shares without any per-core pattern. Weights may be 0: such a group is never chosen by
/// [`Split::pick`]; it is reachable only when the caller forces it (the route's force header).
#[derive(Debug, Clone)]
pub struct Split {
    /// `cumulative[i]` = sum of `weights[..=i]`.
    cumulative: Box<[u64]>,
    rng: Rng,
}

impl Split {
    /// A split over groups with weights `weights` (`weights[i]` is group `i`'s share; zeros
    /// allowed). `seed` should differ per core.
    pub fn new(weights: &[u32], seed: u64) -> Self {
        Self {
            cumulative: weights
                .iter()
                .scan(0u64, |sum, &w| {
                    *sum += u64::from(w);
                    Some(*sum)
                })
                .collect(),
            rng: crate::hash::seeded(seed),
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// The index of the chosen group, with probability `weights[i] / sum(weights)`. Returns 0
    /// when every weight is 0 (or there are no groups); a single positive-weight group is
    /// returned without drawing a random number.
    pub fn pick(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        if self.cumulative.len() == 1 {
            return 0;
        }
        let r = self.rng.u64(..total);
        self.cumulative.partition_point(|&c| c <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions() {
        // (weights, seed): shares within 1 percentage point over 20,000 picks.
        let table: &[(&[u32], u64)] = &[
            (&[90, 10], 1),
            (&[90, 10], 2),
            (&[10, 90], 3),
            (&[1, 1], 4),
            (&[0, 5, 0, 5], 5),
            (&[1000, 1], 6),
            (&[50, 25, 25, 0], 7),
        ];
        let picks = 20_000;
        for &(weights, seed) in table {
            let mut split = Split::new(weights, seed);
            let mut counts = vec![0usize; weights.len()];
            for _ in 0..picks {
                counts[split.pick()] += 1;
            }
            let total: u32 = weights.iter().sum();
            for (i, &c) in counts.iter().enumerate() {
                let share = c as f64 / picks as f64;
                let expected = f64::from(weights[i]) / f64::from(total);
                assert!(
                    (share - expected).abs() <= 0.01,
                    "weights {weights:?}: group {i} got {share}, expected {expected}"
                );
                if weights[i] == 0 {
                    assert_eq!(c, 0, "weights {weights:?}: zero-weight group {i} picked");
                }
            }
        }
    }

    #[test]
    fn degenerate_splits() {
        for weights in [&[][..], &[0], &[0, 0, 0], &[7]] {
            let mut split = Split::new(weights, 0);
            for _ in 0..10 {
                assert_eq!(split.pick(), 0, "{weights:?}");
            }
        }
        let mut split = Split::new(&[0, 0, 3], 0);
        for _ in 0..100 {
            assert_eq!(split.pick(), 2);
        }
        assert_eq!(split.len(), 3);
        assert!(!split.is_empty());
    }

    #[test]
    fn seeds_decorrelate_cores() {
        let (mut a, mut b) = (Split::new(&[1, 1], 1), Split::new(&[1, 1], 2));
        let same = (0..1000).filter(|_| a.pick() == b.pick()).count();
        assert!((400..600).contains(&same), "{same}");
    }
}
