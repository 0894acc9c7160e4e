//! Scoring findings against the ground truth: precision, recall and detection delay.

use super::Label;
use crate::anomaly::Finding;

/// How well a set of findings matches the labels of a run (add runs up with [`Score::plus`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Score {
    /// Findings reported.
    pub findings: usize,
    /// Findings that match a label: one of its kinds, on its route, overlapping its window.
    pub correct: usize,
    /// Labels (injected anomalies).
    pub labels: usize,
    /// Labels matched by at least one finding.
    pub detected: usize,
    /// The longest time from a detected anomaly's start to its first matching finding, µs.
    pub max_delay_us: Option<i64>,
    /// The largest distance between a detected anomaly's end and the latest end of its
    /// matching findings, µs (how well episodes are bounded).
    pub max_end_error_us: Option<i64>,
}

impl Score {
    /// Correct findings over findings (1 when there are none).
    pub fn precision(&self) -> f64 {
        if self.findings == 0 {
            1.0
        } else {
            self.correct as f64 / self.findings as f64
        }
    }

    /// Detected labels over labels (1 when there are none).
    pub fn recall(&self) -> f64 {
        if self.labels == 0 {
            1.0
        } else {
            self.detected as f64 / self.labels as f64
        }
    }

    /// The sum of two scores (the worse delay).
    pub fn plus(self, o: Score) -> Score {
        Score {
            findings: self.findings + o.findings,
            correct: self.correct + o.correct,
            labels: self.labels + o.labels,
            detected: self.detected + o.detected,
            max_delay_us: worse(self.max_delay_us, o.max_delay_us),
            max_end_error_us: worse(self.max_end_error_us, o.max_end_error_us),
        }
    }
}

fn worse(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether `f` describes the anomaly of `label`.
pub fn matches(f: &Finding, label: &Label) -> bool {
    label.kinds.contains(&f.kind)
        && f.endpoint.route == label.route
        && f.start_us < label.end_us
        && f.end_us > label.start_us
}

/// Scores `findings` against `labels`.
pub fn score(labels: &[Label], findings: &[Finding]) -> Score {
    let mut s = Score {
        findings: findings.len(),
        correct: findings
            .iter()
            .filter(|f| labels.iter().any(|l| matches(f, l)))
            .count(),
        labels: labels.len(),
        ..Score::default()
    };
    for l in labels {
        let matching = || findings.iter().filter(|f| matches(f, l));
        if let (Some(first), Some(last)) = (
            matching().map(|f| f.detected_us).min(),
            matching().map(|f| f.end_us).max(),
        ) {
            s.detected += 1;
            s.max_delay_us = worse(s.max_delay_us, Some(first - l.start_us));
            s.max_end_error_us = worse(s.max_end_error_us, Some((last - l.end_us).abs()));
        }
    }
    s
}
