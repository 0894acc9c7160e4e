//! `ringway report`: the anomaly detectors over Parquet traffic logs (the same detectors, on
//! the same kind of input, as the live analytics thread), rendered as a self-contained HTML
//! page with charts, as Markdown, or as JSON.

use serde::Serialize;

use crate::anomaly::{Config, Detector, Endpoint, Finding, Point};
use crate::propose::{propose, Change, Proposal, Usage};
use crate::source::{Logs, ScanStats};
use crate::Result;

mod html;
mod markdown;
mod svg;

/// Points per chart over the report's range, about.
const CHART_POINTS: i64 = 600;

/// A stretch this long without a single row is a hole in the logs, not silence: the
/// detectors resume after it instead of reporting every endpoint's traffic as dropped.
pub const GAP_US: i64 = 15 * 60 * 1_000_000;

/// A report's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A self-contained HTML page with charts.
    Html,
    /// Markdown tables.
    Markdown,
    /// One JSON object.
    Json,
}

impl std::str::FromStr for Format {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "html" => Ok(Self::Html),
            "md" | "markdown" => Ok(Self::Markdown),
            "json" => Ok(Self::Json),
            _ => Err(crate::Error::Parse {
                what: "format",
                value: s.to_owned(),
                expected: "html, md or json",
            }),
        }
    }
}

/// An endpoint's series.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSeries {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Its points, in time order (points without requests are left out).
    pub points: Vec<Point>,
}

/// The findings over a stretch of logs, with the series of the endpoints they concern.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The version of Ringway that made it.
    pub generator: String,
    /// First and last request time, µs.
    pub range_us: Option<(i64, i64)>,
    /// What was read.
    pub scan: ScanStats,
    /// Endpoints seen.
    pub endpoints: usize,
    /// Holes in the logs (no row for at least [`GAP_US`]): `(last row before, first after)`.
    pub gaps: Vec<(i64, i64)>,
    /// Findings, in start order.
    pub findings: Vec<Finding>,
    /// Length of a chart point, µs.
    pub step_us: i64,
    /// The series of every endpoint with a finding, in the order of their first finding.
    pub series: Vec<EndpointSeries>,
    /// A proposed change per finding (same order).
    pub proposals: Vec<Proposal>,
}

impl Report {
    /// Runs the detectors with `cfg` over `logs`; `progress(rows done, rows)` as files are
    /// read.
    pub fn build(logs: &Logs, cfg: Config, progress: &mut dyn FnMut(u64, u64)) -> Result<Report> {
        Report::build_with(logs, cfg, progress, &mut |_| {})
    }

    /// [`Report::build`], also showing every row to `also` (in the same pass).
    pub fn build_with(
        logs: &Logs,
        cfg: Config,
        progress: &mut dyn FnMut(u64, u64),
        also: &mut dyn FnMut(&crate::anomaly::Observation<'_>),
    ) -> Result<Report> {
        let range_us = logs.time_range();
        let bucket = cfg.bucket_us;
        let step_us = range_us.map_or(bucket, |(a, b)| ((b - a) / CHART_POINTS).max(bucket));
        let mut usage = Usage::new(cfg.bucket_us);
        let mut d = Detector::new(cfg);
        d.keep_series(step_us);
        let mut last: Option<i64> = None;
        let mut gaps = Vec::new();
        let scan = logs.scan(progress, &mut |o| {
            if let Some(l) = last {
                if o.ts_us - l >= GAP_US {
                    d.resume_after_gap(o.ts_us);
                    gaps.push((l, o.ts_us));
                }
            }
            last = Some(last.map_or(o.ts_us, |l| l.max(o.ts_us)));
            d.observe(o);
            usage.observe(o);
            also(o);
        })?;
        let findings = d.finish();
        let all = d.series();
        let mut series: Vec<EndpointSeries> = Vec::new();
        for f in &findings {
            if series.iter().any(|s| s.endpoint == f.endpoint) {
                continue;
            }
            if let Some((endpoint, points)) = all.iter().find(|(e, _)| *e == f.endpoint) {
                series.push(EndpointSeries {
                    endpoint: endpoint.clone(),
                    points: points.clone(),
                });
            }
        }
        Ok(Report {
            generator: format!("ringway {}", env!("CARGO_PKG_VERSION")),
            range_us,
            scan,
            endpoints: d.endpoints(),
            gaps,
            step_us: d.series_step_us().unwrap_or(step_us),
            series,
            proposals: propose(&findings, &usage),
            findings,
        })
    }

    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Html => html::render(self),
            Format::Markdown => markdown::render(self),
            Format::Json => {
                // Plain data (strings, finite numbers): serialisation cannot fail.
                let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }
}

/// A time to the second, RFC 3339 in UTC.
pub(crate) fn time(us: i64) -> String {
    crate::civil::format_rfc3339(us - us.rem_euclid(1_000_000))
}

/// A duration as `1 h 5 min`, `40 s`.
pub(crate) fn human_duration(us: i64) -> String {
    let s = us / 1_000_000;
    match s {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

/// A proposal's change in one line.
pub(crate) fn change_text(p: &Proposal) -> String {
    match &p.change {
        Change::Deny { cidrs } => format!("deny {}", cidrs.join(", ")),
        Change::RateLimit {
            key,
            requests,
            per_s,
            ..
        } => format!("rate limit ({}): {requests} per {per_s} s", key.as_str()),
        Change::Advice { text } => text.clone(),
    }
}

/// A finding's evidence as one phrase.
pub(crate) fn evidence_text(f: &Finding) -> String {
    let e = &f.evidence;
    let num = |x: f64| {
        if x.abs() >= 100.0 || x == x.trunc() {
            format!("{x:.0}")
        } else if x.abs() >= 1.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.3}")
        }
    };
    format!(
        "{}: {} against {}",
        e.metric,
        num(e.observed),
        num(e.baseline)
    )
}
