//! The report as Markdown: the summary and the findings table (the charts are HTML only).

use std::fmt::Write as _;

use super::time;
use super::{change_text, evidence_text, human_duration, Report};

/// A table cell: pipes escaped, line breaks removed.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Renders the Markdown.
pub(crate) fn render(r: &Report) -> String {
    let mut o = String::new();
    o.push_str("# Anomaly report\n\n");
    match r.range_us {
        Some((a, b)) => {
            let _ = writeln!(
                o,
                "{} to {} ({}): {} requests from {} files, {} endpoints ({}).\n",
                time(a),
                time(b),
                human_duration(b - a),
                r.scan.rows,
                r.scan.files,
                r.endpoints,
                r.generator
            );
        }
        None => o.push_str("No requests in range.\n\n"),
    }
    for (a, b) in &r.gaps {
        let _ = writeln!(
            o,
            "No logs from {} to {} ({}): the detectors resumed after it.\n",
            time(*a),
            time(*b),
            human_duration(b - a)
        );
    }
    let _ = writeln!(o, "## Findings ({})\n", r.findings.len());
    if r.findings.is_empty() {
        o.push_str("None: nothing in these logs stood out from its own baseline.\n");
        return o;
    }
    o.push_str("| kind | endpoint | start (UTC) | lasted | severity | evidence at its peak | requests | top clients |\n");
    o.push_str("|---|---|---|---|---|---|---|---|\n");
    for f in &r.findings {
        let clients = f
            .top_clients
            .iter()
            .map(|c| format!("{} ({})", c.client, c.requests))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
            f.kind.as_str(),
            cell(&f.endpoint.to_string()).replace('`', "'"),
            time(f.start_us),
            human_duration(f.end_us - f.start_us),
            f.severity.as_str(),
            cell(&evidence_text(f)),
            f.requests,
            cell(&clients),
        );
    }
    o.push_str("\n## Proposed changes\n\n");
    for p in &r.proposals {
        let Some(f) = r.findings.get(p.finding) else {
            continue;
        };
        let _ = writeln!(
            o,
            "- **{}** on `{}`: {} — {}.",
            f.kind.as_str(),
            f.endpoint,
            change_text(p),
            p.why
        );
        let snippet = p.snippet();
        if !snippet.is_empty() {
            let _ = writeln!(o, "\n  ```yaml");
            for line in snippet.lines() {
                let _ = writeln!(o, "  {line}");
            }
            let _ = writeln!(o, "  ```");
        }
    }
    o
}
