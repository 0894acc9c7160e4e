//! The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

use std::fmt::Write as _;

use super::svg::Chart;
use super::time;
use super::{change_text, evidence_text, human_duration, Report};
use crate::anomaly::Finding;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#111;padding:0 12px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:22px 0 6px}\
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e5e5e5;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#f5f5f5}.meta{color:#555}.sev-critical{color:#b91c1c;font-weight:600}.sev-high{color:#c2410c;font-weight:600}\
.sev-medium{color:#a16207}.sev-low{color:#555}code{font-size:12px}svg.chart{display:block;margin:4px 0 10px;max-width:100%;height:auto}\
.caption{font-size:12px;color:#555;margin:0}";

/// `s` with the five HTML-special characters escaped (endpoint templates and client ids come
/// from the traffic).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clients(f: &Finding) -> String {
    f.top_clients
        .iter()
        .map(|c| format!("{} ({})", escape(&c.client), c.requests))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the page.
pub(crate) fn render(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Ringway anomaly report</title><style>{STYLE}</style></head><body>\n<h1>Anomaly report</h1>\n"
    );
    let range = r.range_us.map_or("no requests".to_owned(), |(a, b)| {
        format!("{} to {} ({})", time(a), time(b), human_duration(b - a))
    });
    let _ = writeln!(
        o,
        "<p class=\"meta\">{range}; {} requests from {} files; {} endpoints; {}.</p>",
        r.scan.rows,
        r.scan.files,
        r.endpoints,
        escape(&r.generator)
    );
    for (a, b) in &r.gaps {
        let _ = writeln!(
            o,
            "<p class=\"meta\">No logs from {} to {} ({}): the detectors resumed after it.</p>",
            time(*a),
            time(*b),
            human_duration(b - a)
        );
    }
    let _ = writeln!(
        o,
        "<h2 id=\"findings\">Findings ({})</h2>",
        r.findings.len()
    );
    if r.findings.is_empty() {
        o.push_str("<p>None: nothing in these logs stood out from its own baseline.</p>\n");
    } else {
        o.push_str("<table><thead><tr><th>kind</th><th>endpoint</th><th>start (UTC)</th><th>lasted</th><th>severity</th><th>evidence at its peak</th><th>requests</th><th>top clients</th></tr></thead><tbody>\n");
        for f in &r.findings {
            let ep = r
                .series
                .iter()
                .position(|s| s.endpoint == f.endpoint)
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "<tr class=\"finding\"><td>{}</td><td><a href=\"#ep-{ep}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                f.kind.as_str(),
                escape(&f.endpoint.to_string()),
                time(f.start_us),
                human_duration(f.end_us - f.start_us),
                escape(&evidence_text(f)),
                f.requests,
                clients(f),
                sev = f.severity.as_str(),
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.proposals.is_empty() {
        o.push_str("<h2 id=\"proposals\">Proposed changes</h2>\n");
        for p in &r.proposals {
            let Some(f) = r.findings.get(p.finding) else {
                continue;
            };
            let _ = writeln!(
                o,
                "<div class=\"proposal\"><p><b>{}</b> on <code>{}</code>: {} — {}.</p>",
                f.kind.as_str(),
                escape(&f.endpoint.to_string()),
                escape(&change_text(p)),
                escape(&p.why)
            );
            let snippet = p.snippet();
            if !snippet.is_empty() {
                let _ = writeln!(o, "<pre><code>{}</code></pre>", escape(&snippet));
            }
            o.push_str("</div>\n");
        }
    }
    if !r.series.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Flagged endpoints</h2><p class=\"caption\">One point per {}; shaded: the findings' windows.</p>",
            human_duration(r.step_us)
        );
    }
    let (from, to) = r.range_us.unwrap_or((0, 1));
    for (i, s) in r.series.iter().enumerate() {
        let _ = writeln!(
            o,
            "<section class=\"endpoint\" id=\"ep-{i}\"><h3><code>{}</code></h3>",
            escape(&s.endpoint.to_string())
        );
        let shades: Vec<(i64, i64, String)> = r
            .findings
            .iter()
            .filter(|f| f.endpoint == s.endpoint)
            .map(|f| {
                (
                    f.start_us,
                    f.end_us,
                    format!("{} from {}", f.kind.as_str(), time(f.start_us)),
                )
            })
            .collect();
        let chart = |name, values, zero_fill, format: fn(f64) -> String| Chart {
            name,
            values,
            from,
            to,
            step_us: r.step_us,
            zero_fill,
            gaps: &r.gaps,
            shades: shades.clone(),
            format,
        };
        let charts = [
            chart(
                "requests per point",
                s.points
                    .iter()
                    .map(|p| (p.start_us, Some(f64::from(p.requests))))
                    .collect(),
                true,
                |v| format!("{v:.0}"),
            ),
            chart(
                "error share (5xx, 401/403, 429)",
                s.points
                    .iter()
                    .map(|p| {
                        let bad = p.errors_5xx + p.auth_failures + p.rate_limited;
                        (p.start_us, Some(f64::from(bad) / f64::from(p.requests)))
                    })
                    .collect(),
                false,
                |v| format!("{:.0}%", v * 100.0),
            ),
            chart(
                "p99 latency",
                s.points
                    .iter()
                    .map(|p| (p.start_us, Some(f64::from(p.p99_us))))
                    .collect(),
                false,
                |v| format!("{:.0} ms", v / 1000.0),
            ),
        ];
        for c in &charts {
            let _ = write!(o, "<p class=\"caption\">{}</p>", escape(c.name));
            c.write(&mut o);
            o.push('\n');
        }
        o.push_str("</section>\n");
    }
    o.push_str("</body></html>\n");
    o
}
