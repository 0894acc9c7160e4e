//! Line charts as inline SVG: no script and no network, so the page renders anywhere.

use std::fmt::Write as _;

use crate::civil::UtcDateTime;

const W: f64 = 760.0;
const H: f64 = 150.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 22.0;

/// One chart: a named series over `[from, to]` µs.
pub(crate) struct Chart<'a> {
    /// What the values are (`requests per point`); also the `data-series` attribute.
    pub(crate) name: &'a str,
    /// `(time µs, value)` in time order; `None` breaks the line.
    pub(crate) values: Vec<(i64, Option<f64>)>,
    pub(crate) from: i64,
    pub(crate) to: i64,
    /// Where the value is zero for lack of points (requests), rather than unknown.
    pub(crate) step_us: i64,
    pub(crate) zero_fill: bool,
    /// Holes in the logs: no line across them.
    pub(crate) gaps: &'a [(i64, i64)],
    /// Windows to shade: `(start, end, label)`.
    pub(crate) shades: Vec<(i64, i64, String)>,
    pub(crate) format: fn(f64) -> String,
}

fn esc(s: &str) -> String {
    super::html::escape(s)
}

fn short_time(us: i64) -> String {
    let t = UtcDateTime::from_unix_us(us);
    format!("{:02}-{:02} {:02}:{:02}", t.month, t.day, t.hour, t.minute)
}

impl Chart<'_> {
    fn x(&self, t: i64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        LEFT + (t - self.from) as f64 / span * (W - LEFT - RIGHT)
    }

    /// Appends the chart's `<svg>`.
    pub(crate) fn write(&self, out: &mut String) {
        // With zero filling, a gap of more than one step is zero traffic.
        let mut pts: Vec<(i64, Option<f64>)> = Vec::with_capacity(self.values.len() + 8);
        for &(t, v) in &self.values {
            if let Some(&(prev, _)) = pts.last() {
                if self.gaps.iter().any(|&(a, b)| a < t && b > prev) {
                    pts.push((prev + self.step_us, None));
                } else if self.zero_fill && t - prev > self.step_us {
                    pts.push((prev + self.step_us, Some(0.0)));
                    pts.push((t - self.step_us, Some(0.0)));
                }
            }
            pts.push((t, v));
        }
        let max = pts
            .iter()
            .filter_map(|p| p.1)
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let y = |v: f64| TOP + (1.0 - v / max) * (H - TOP - BOTTOM);
        let _ = write!(
            out,
            r#"<svg class="chart" data-series="{name}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{name}">"#,
            name = esc(self.name)
        );
        let _ = write!(
            out,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="#fafafa" stroke="#ddd"/>"##,
            W - LEFT - RIGHT,
            H - TOP - BOTTOM
        );
        for (a, b) in self.gaps {
            let (xa, xb) = (self.x((*a).max(self.from)), self.x((*b).min(self.to)));
            let _ = write!(
                out,
                r##"<rect class="gap" x="{xa:.1}" y="{TOP}" width="{:.1}" height="{}" fill="#9ca3af" fill-opacity="0.25"><title>no logs</title></rect>"##,
                (xb - xa).max(1.5),
                H - TOP - BOTTOM,
            );
        }
        for (a, b, label) in &self.shades {
            let (xa, xb) = (self.x((*a).max(self.from)), self.x((*b).min(self.to)));
            let _ = write!(
                out,
                r##"<rect class="anomaly" x="{xa:.1}" y="{TOP}" width="{:.1}" height="{}" fill="#f59e0b" fill-opacity="0.25"><title>{}</title></rect>"##,
                (xb - xa).max(1.5),
                H - TOP - BOTTOM,
                esc(label)
            );
        }
        let mut d = String::new();
        let mut pen_down = false;
        for (t, v) in &pts {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        self.x(*t),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                out,
                r##"<path class="line" d="{}" fill="none" stroke="#2563eb" stroke-width="1.3"/>"##,
                d.trim_end()
            );
        }
        // Axes: the top value, zero, and five times.
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#555">{}</text><text x="{}" y="{}" font-size="10" text-anchor="end" fill="#555">0</text>"##,
            LEFT - 4.0,
            TOP + 8.0,
            esc(&(self.format)(max)),
            LEFT - 4.0,
            H - BOTTOM
        );
        for i in 0..5 {
            let t = self.from + (self.to - self.from) * i / 4;
            let anchor = match i {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="{anchor}" fill="#555">{}</text>"##,
                self.x(t),
                H - 6.0,
                short_time(t)
            );
        }
        out.push_str("</svg>");
    }
}
