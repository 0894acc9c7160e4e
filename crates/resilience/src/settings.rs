//! What a group is configured to do. The config crate builds these from YAML (with paths in
//! its errors); defaults follow Envoy's where Envoy has one.

use std::time::Duration;

/// An active health check of every endpoint of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What a probe does.
    pub kind: ProbeKind,
    /// Time between probes of one endpoint.
    pub interval: Duration,
    /// A probe not answered within this failed.
    pub timeout: Duration,
    /// Each wait is `interval` plus a random part of this, so probes spread out.
    pub jitter: Duration,
    /// Consecutive passing probes that make an unhealthy endpoint healthy.
    pub healthy_threshold: u32,
    /// Consecutive failing probes that make a healthy endpoint unhealthy.
    pub unhealthy_threshold: u32,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    /// Connect (and finish the TLS handshake, for a TLS group); nothing is sent.
    Tcp,
    /// `GET path` with `Host: host`; passes when the status is in `expected`.
    Http {
        /// Request target, starting with `/`.
        path: String,
        /// The `Host` sent; `None`: the endpoint's `ip:port`.
        host: Option<String>,
        /// Statuses that pass.
        expected: StatusRanges,
    },
}

/// A set of status codes, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<(u16, u16)>);

impl StatusRanges {
    /// Ranges parsed from `200`, `200-399` items; each in 100..=599, low before high.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, (usize, String)> {
        let mut ranges = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let text = item.as_ref();
            let (lo, hi) = match text.split_once('-') {
                Some((a, b)) => (status(a), status(b)),
                None => (status(text), status(text)),
            };
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => ranges.push((lo, hi)),
                (Some(_), Some(_)) => {
                    return Err((
                        i,
                        format!("{text:?}: the range's low end is above its high"),
                    ))
                }
                _ => {
                    return Err((
                        i,
                        format!("{text:?} is not a status (100..=599) or a range like 200-399"),
                    ))
                }
            }
        }
        if ranges.is_empty() {
            return Err((0, "at least one status is required".to_owned()));
        }
        Ok(Self(ranges))
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl Default for StatusRanges {
    /// 200 to 399: an answer that is not an error.
    fn default() -> Self {
        Self(vec![(200, 399)])
    }
}

fn status(text: &str) -> Option<u16> {
    let t = text.trim();
    if t.len() != 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|c| (100..=599).contains(c))
}

/// Passive outlier detection (Envoy's `outlier_detection`): endpoints that fail in a row are
/// ejected for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierDetection {
    /// Connect errors and timeouts in a row that eject (`None`: off). Default 5.
    pub consecutive_local_failures: Option<u32>,
    /// 5xx responses in a row that eject (`None`: off, the default).
    pub consecutive_5xx: Option<u32>,
    /// The first ejection's length; the n-th lasts n times this, up to the maximum.
    pub base_ejection_time: Duration,
    /// Longest ejection.
    pub max_ejection_time: Duration,
    /// At most this share of the group is ejected at once; one endpoint always may be.
    pub max_ejection_percent: u8,
    /// Each interval without an ejection takes one off an endpoint's ejection count.
    pub interval: Duration,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_local_failures: Some(5),
            consecutive_5xx: None,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            interval: Duration::from_secs(10),
        }
    }
}

/// A group's circuit breakers (Envoy's thresholds; defaults 1024, 1024, 1024, 3), summed over
/// every core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerLimits {
    /// Upstream connections open (pooled ones included).
    pub max_connections: u32,
    /// Requests waiting for a connection when `max_connections` are open.
    pub max_pending_requests: u32,
    /// Requests in flight to the group.
    pub max_requests: u32,
    /// Retries in flight to the group.
    pub max_retries: u32,
    /// How long a pending request waits for a connection before it is refused.
    pub max_wait: Duration,
}

impl Default for BreakerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
            max_wait: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges_parse_codes_and_ranges() {
        let r = StatusRanges::parse(&["204", "300-399"]).unwrap();
        assert!(r.contains(204) && r.contains(300) && r.contains(399));
        assert!(!r.contains(200) && !r.contains(400));
        for bad in ["2xx", "99", "600", "399-300", "20", "+200", "200-", ""] {
            assert!(StatusRanges::parse(&[bad]).is_err(), "{bad:?} accepted");
        }
        assert!(StatusRanges::parse::<&str>(&[]).is_err());
        assert!(StatusRanges::default().contains(302));
    }
}
