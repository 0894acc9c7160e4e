//! Rendering a [`QueryResult`] as a table, CSV or JSON.

use std::fmt::Write as _;

use super::{GroupRow, OutputFormat, QueryResult};

/// Column headers after the key column.
const HEADERS: [&str; 8] = [
    "count",
    "errors",
    "error_ratio",
    "p50_us",
    "p90_us",
    "p99_us",
    "request_bytes",
    "response_bytes",
];

impl QueryResult {
    /// The result as text in `format`, ending with a newline.
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => self.render_table(),
            OutputFormat::Csv => self.render_csv(),
            OutputFormat::Json => self.render_json(),
        }
    }

    fn number_cells(r: &GroupRow, ratio: String) -> [String; 8] {
        [
            r.count.to_string(),
            r.errors.to_string(),
            ratio,
            r.p50_us.to_string(),
            r.p90_us.to_string(),
            r.p99_us.to_string(),
            r.request_bytes.to_string(),
            r.response_bytes.to_string(),
        ]
    }

    fn render_table(&self) -> String {
        let mut cells: Vec<Vec<String>> = Vec::with_capacity(self.rows.len() + 1);
        let mut header = vec![self.group_by.key_header().to_owned()];
        header.extend(HEADERS.iter().map(|h| (*h).to_owned()));
        cells.push(header);
        for r in &self.rows {
            let mut row = vec![r.key.clone().unwrap_or_else(|| "-".to_owned())];
            let ratio = format!("{:.2}%", r.error_ratio() * 100.0);
            row.extend(Self::number_cells(r, ratio));
            cells.push(row);
        }
        let mut widths = vec![0usize; HEADERS.len() + 1];
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for row in &cells {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
                let pad = w - c.chars().count();
                if i == 0 {
                    line.push_str(c);
                    line.extend(std::iter::repeat_n(' ', pad));
                } else {
                    line.push_str("  ");
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(c);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn render_csv(&self) -> String {
        let mut out = String::new();
        out.push_str(self.group_by.key_header());
        for h in HEADERS {
            out.push(',');
            out.push_str(h);
        }
        out.push('\n');
        for r in &self.rows {
            if let Some(k) = &r.key {
                csv_field(&mut out, k);
            }
            for c in Self::number_cells(r, format!("{:.6}", r.error_ratio())) {
                out.push(',');
                out.push_str(&c);
            }
            out.push('\n');
        }
        out
    }

    fn render_json(&self) -> String {
        let mut out = String::from("[");
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
            json_string(&mut out, self.group_by.key_header());
            out.push(':');
            match &r.key {
                Some(k) => json_string(&mut out, k),
                None => out.push_str("null"),
            }
            let ratio = format!("{:.6}", r.error_ratio());
            for (h, c) in HEADERS.iter().zip(Self::number_cells(r, ratio)) {
                let _ = write!(out, ",\"{h}\":{c}");
            }
            out.push('}');
        }
        out.push_str(if self.rows.is_empty() { "]\n" } else { "\n]\n" });
        out
    }
}

/// Appends `s` as one CSV field, quoted when it contains a comma, quote or line break.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Appends `s` as a JSON string literal.
pub(super) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
