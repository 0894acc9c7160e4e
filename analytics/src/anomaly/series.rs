//! Per-endpoint time series at chart resolution (requests, 5xx/refusal counts, p99), kept by
//! the detector when asked ([`Detector::keep_series`](super::Detector::keep_series)) for the
//! report's charts. Points are coarser than buckets over long ranges so memory stays small:
//! one point is 24 bytes, a few hundred per endpoint.

use serde::Serialize;

use super::bucket::Bucket;

/// One point of an endpoint's series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Start of the point, µs since the epoch.
    pub start_us: i64,
    /// Requests.
    pub requests: u32,
    /// 5xx responses.
    pub errors_5xx: u32,
    /// 401/403 responses.
    pub auth_failures: u32,
    /// 429 responses.
    pub rate_limited: u32,
    /// p99 latency, µs (0 without requests).
    pub p99_us: f32,
}

/// An endpoint's series being built: closed points and the one filling.
#[derive(Debug, Clone)]
pub(crate) struct SeriesAcc {
    step_us: i64,
    pub(crate) points: Vec<Point>,
    current: Option<(i64, Bucket)>,
}

impl SeriesAcc {
    pub(crate) fn new(step_us: i64) -> Self {
        Self {
            step_us,
            points: Vec::new(),
            current: None,
        }
    }

    /// Adds a closed bucket that started at `start_us` (buckets come in time order).
    pub(crate) fn add(&mut self, start_us: i64, b: &Bucket) {
        let p = start_us.div_euclid(self.step_us) * self.step_us;
        if self.current.as_ref().is_some_and(|(s, _)| *s != p) {
            self.flush();
        }
        if b.requests == 0 && self.current.is_none() {
            return;
        }
        let cur = &mut self.current.get_or_insert_with(|| (p, Bucket::default())).1;
        cur.merge_counts(b);
    }

    /// Closes the point filling.
    pub(crate) fn flush(&mut self) {
        if let Some((start_us, b)) = self.current.take() {
            if b.requests > 0 {
                self.points.push(Point {
                    start_us,
                    requests: b.requests,
                    errors_5xx: b.errors_5xx,
                    auth_failures: b.auth_failures,
                    rate_limited: b.rate_limited,
                    p99_us: b.latency_quantile(0.99) as f32,
                });
            }
        }
    }
}
