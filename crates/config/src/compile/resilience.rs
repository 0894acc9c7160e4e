//! `upstreams.<name>.health_check`, `.outlier_detection`, `.circuit_breakers` and
//! `.panic_threshold`, compiled into the resilience crate's own settings.

use ringway_resilience::{
    AdaptiveSettings, BreakerLimits, HealthCheck, OutlierDetection, ProbeKind, StatusRanges,
};

use super::Compiler;
use crate::check;
use crate::error::index_path;
use crate::spec::{
    AdaptiveConcurrencySpec, CircuitBreakersSpec, HealthCheckSpec, OutlierDetectionSpec,
};

/// Largest health-check threshold (more probes in a row than this is a typo).
const MAX_THRESHOLD: u32 = 100;

impl Compiler {
    pub(super) fn health_check(&mut self, path: &str, spec: &HealthCheckSpec) -> HealthCheck {
        let interval = self.duration(&format!("{path}.interval"), &spec.interval, false);
        let timeout = self.duration(&format!("{path}.timeout"), &spec.timeout, false);
        if !timeout.is_zero() && timeout >= interval && !interval.is_zero() {
            self.error(
                format!("{path}.timeout"),
                "must be shorter than interval (a probe ends before the next starts)",
            );
        }
        let jitter = self.duration(&format!("{path}.jitter"), &spec.jitter, true);
        let mut threshold = |name: &str, value: u32| {
            if !(1..=MAX_THRESHOLD).contains(&value) {
                self.error(
                    format!("{path}.{name}"),
                    format!("{value} is outside 1..={MAX_THRESHOLD}"),
                );
            }
            value
        };
        let healthy_threshold = threshold("healthy_threshold", spec.healthy_threshold);
        let unhealthy_threshold = threshold("unhealthy_threshold", spec.unhealthy_threshold);
        let kind = match spec.kind.as_str() {
            "http" => {
                if !spec.path.starts_with('/') || spec.path.bytes().any(|b| b <= b' ' || b == 0x7f)
                {
                    self.error(
                        format!("{path}.path"),
                        format!(
                            "{:?} must start with / and hold no spaces or control bytes",
                            spec.path
                        ),
                    );
                }
                if let Some(host) = &spec.host {
                    if let Err(message) = check::authority(host) {
                        self.error(format!("{path}.host"), message);
                    }
                }
                let expected = match StatusRanges::parse(&spec.expected_statuses) {
                    Ok(r) => r,
                    Err((i, message)) => {
                        let p = format!("{path}.expected_statuses");
                        let p = if spec.expected_statuses.is_empty() {
                            p
                        } else {
                            index_path(&p, i)
                        };
                        self.error(p, message);
                        StatusRanges::default()
                    }
                };
                ProbeKind::Http {
                    path: spec.path.clone(),
                    host: spec.host.clone(),
                    expected,
                }
            }
            "tcp" => {
                let default = HealthCheckSpec::default();
                let set = [
                    ("path", spec.path != default.path),
                    ("host", spec.host.is_some()),
                    (
                        "expected_statuses",
                        spec.expected_statuses != default.expected_statuses,
                    ),
                ];
                for (name, _) in set.iter().filter(|(_, set)| *set) {
                    self.error(format!("{path}.{name}"), "only used with type: http");
                }
                ProbeKind::Tcp
            }
            other => {
                self.error(
                    format!("{path}.type"),
                    format!("{other:?} is not one of: http, tcp"),
                );
                ProbeKind::Tcp
            }
        };
        HealthCheck {
            kind,
            interval,
            timeout,
            jitter,
            healthy_threshold,
            unhealthy_threshold,
        }
    }

    pub(super) fn outlier(&mut self, path: &str, spec: &OutlierDetectionSpec) -> OutlierDetection {
        let base = self.duration(
            &format!("{path}.base_ejection_time"),
            &spec.base_ejection_time,
            false,
        );
        let max = self.duration(
            &format!("{path}.max_ejection_time"),
            &spec.max_ejection_time,
            false,
        );
        if max < base {
            self.error(
                format!("{path}.max_ejection_time"),
                "must be at least base_ejection_time",
            );
        }
        OutlierDetection {
            consecutive_local_failures: (spec.consecutive_local_failures > 0)
                .then_some(spec.consecutive_local_failures),
            consecutive_5xx: (spec.consecutive_5xx > 0).then_some(spec.consecutive_5xx),
            base_ejection_time: base,
            max_ejection_time: max,
            max_ejection_percent: self.percent(
                &format!("{path}.max_ejection_percent"),
                spec.max_ejection_percent,
            ),
            interval: self.duration(&format!("{path}.interval"), &spec.interval, false),
        }
    }

    pub(super) fn breakers(&mut self, path: &str, spec: &CircuitBreakersSpec) -> BreakerLimits {
        BreakerLimits {
            max_connections: self
                .positive(&format!("{path}.max_connections"), spec.max_connections),
            max_pending_requests: spec.max_pending_requests,
            max_requests: self.positive(&format!("{path}.max_requests"), spec.max_requests),
            max_retries: spec.max_retries,
            max_wait: self.duration(&format!("{path}.max_wait"), &spec.max_wait, true),
        }
    }

    pub(super) fn adaptive(
        &mut self,
        path: &str,
        spec: &AdaptiveConcurrencySpec,
    ) -> AdaptiveSettings {
        let min_limit = self.positive(&format!("{path}.min_limit"), spec.min_limit);
        if spec.max_limit < min_limit {
            self.error(format!("{path}.max_limit"), "must be at least min_limit");
        }
        AdaptiveSettings {
            sample_window: self.duration(
                &format!("{path}.sample_window"),
                &spec.sample_window,
                false,
            ),
            min_rtt_interval: self.duration(
                &format!("{path}.min_rtt_interval"),
                &spec.min_rtt_interval,
                false,
            ),
            min_rtt_samples: self
                .positive(&format!("{path}.min_rtt_samples"), spec.min_rtt_samples),
            min_limit,
            max_limit: spec.max_limit,
            buffer_percent: u32::from(
                self.percent(&format!("{path}.buffer_percent"), spec.buffer_percent),
            ),
        }
    }

    /// A percentage, 0..=100.
    pub(super) fn percent(&mut self, path: &str, value: u32) -> u8 {
        match u8::try_from(value) {
            Ok(p) if p <= 100 => p,
            _ => {
                self.error(path, format!("{value} is outside 0..=100"));
                100
            }
        }
    }
}
