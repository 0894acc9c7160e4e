//! The queries behind `ringway logs`: scan the Parquet files under a directory, filter, group,
//! aggregate, render.
//!
//! Files are found recursively (`*.parquet`, skipping hidden files and directories such as the
//! writer's `.ringway-*.parquet.tmp`). Files whose Hive partition (`dt=`/`hour=`) lies outside
//! the time range are skipped without being opened, and so are row groups whose `ts`
//! statistics do; only the columns the query needs are decoded.
//!
//! Per group: request count, errors (see [`is_error`]) and their ratio, p50/p90/p99 of
//! `total_us` (an HDR histogram per group with 3 significant digits: nearest rank, reported as
//! the top of its bucket, at most 0.1% above the exact value; memory stays bounded however
//! many rows match), and request/response byte sums. Groups are ranked by count (ties by key); `top` keeps the first
//! N; `minute` groups are then listed in time order.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringArray};
use hdrhistogram::Histogram;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::statistics::Statistics;

use crate::civil::{parse_rfc3339, write_rfc3339, US_PER_HOUR, US_PER_MINUTE};
use crate::schema::{col, is_error, META_SCHEMA_VERSION, SCHEMA_VERSION};
use crate::{Error, Result};

/// A filter on the status sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this status.
    Exact(u16),
    /// This class: `5` for `5xx` (statuses 500..=599).
    Class(u8),
}

impl StatusFilter {
    /// Whether `status` passes.
    pub fn matches(self, status: u16) -> bool {
        match self {
            Self::Exact(s) => status == s,
            Self::Class(c) => status / 100 == u16::from(c) && status >= 100,
        }
    }
}

impl FromStr for StatusFilter {
    type Err = Error;

    /// `5xx` (any case) or an exact status such as `503` (100..=999).
    fn from_str(s: &str) -> Result<Self> {
        let err = || Error::Parse {
            what: "status",
            value: s.to_owned(),
            expected: "a class like 5xx or a status like 503",
        };
        let b = s.as_bytes();
        if b.len() == 3 && b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'9').contains(&b[0]) {
            return Ok(Self::Class(b[0] - b'0'));
        }
        match s.parse::<u16>() {
            Ok(n) if (100..=999).contains(&n) && b.len() == 3 => Ok(Self::Exact(n)),
            _ => Err(err()),
        }
    }
}

/// What to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// Route name (null: no route matched).
    #[default]
    Route,
    /// Exact status.
    Status,
    /// Client identity when authenticated, else client address.
    Client,
    /// Upstream group (null: none involved).
    Upstream,
    /// Minute of `ts` (UTC), listed in time order.
    Minute,
    /// One group with everything.
    None,
}

impl GroupBy {
    /// Every variant, in documentation order.
    pub const ALL: [GroupBy; 6] = [
        Self::Route,
        Self::Status,
        Self::Client,
        Self::Upstream,
        Self::Minute,
        Self::None,
    ];

    /// The CLI name, also the key column's header (`none` is headed `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::Status => "status",
            Self::Client => "client",
            Self::Upstream => "upstream",
            Self::Minute => "minute",
            Self::None => "none",
        }
    }

    fn key_header(self) -> &'static str {
        match self {
            Self::None => "all",
            other => other.as_str(),
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;

    /// `route`, `status`, `client`, `upstream`, `minute` or `none`.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| Error::Parse {
                what: "group",
                value: s.to_owned(),
                expected: "route, status, client, upstream, minute or none",
            })
    }
}

/// How [`QueryResult::render`] formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned text columns for a terminal.
    #[default]
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects, one per group.
    Json,
}

impl FromStr for OutputFormat {
    type Err = Error;

    /// `table`, `csv` or `json`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            _ => Err(Error::Parse {
                what: "format",
                value: s.to_owned(),
                expected: "table, csv or json",
            }),
        }
    }
}

/// Parses a duration such as `15m`, `2h`, `1h30m`, `45s`, `7d` or `500ms`: Ringway's one
/// duration grammar ([`ringway_core::parse_duration`]), as in configuration files.
pub fn parse_duration(s: &str) -> Result<Duration> {
    ringway_core::parse_duration(s).map_err(|_| Error::Parse {
        what: "duration",
        value: s.to_owned(),
        expected: "whole numbers with units (ms, s, m, h, d), largest first, e.g. 15m or 1h30m",
    })
}

/// Parses a point in time for `--since`/`--until` into µs since the UNIX epoch: RFC 3339
/// (`2026-11-28T06:00:00Z`, offsets allowed, or a bare date), `now`, or a duration before
/// `now` (`15m`, `2h`, `1d`; see [`parse_duration`]).
pub fn parse_time(s: &str, now: SystemTime) -> Result<i64> {
    let now_us = unix_us(now);
    if s == "now" {
        return Ok(now_us);
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    match parse_duration(s) {
        Ok(d) => Ok(now_us - i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)),
        Err(_) => Err(Error::Parse {
            what: "time",
            value: s.to_owned(),
            expected: "RFC 3339 (2026-11-28T06:00:00Z), a date, now, or a duration ago (15m)",
        }),
    }
}

fn unix_us(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// A `ringway logs` query. [`Default`]: no filters, grouped by route, all groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only requests at or after this time (µs since the UNIX epoch).
    pub since_us: Option<i64>,
    /// Only requests before this time (µs since the UNIX epoch).
    pub until_us: Option<i64>,
    /// Only this route name.
    pub route: Option<String>,
    /// Only these statuses.
    pub status: Option<StatusFilter>,
    /// Only this client: matches the client address text or the client identity.
    pub client: Option<String>,
    /// Only this method (case-insensitive, e.g. `GET`).
    pub method: Option<String>,
    /// The grouping.
    pub group_by: GroupBy,
    /// Keep only the N groups with most requests.
    pub top: Option<usize>,
}

/// One output row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// The group's key as text (`None` for the null group, e.g. requests without a route).
    pub key: Option<String>,
    /// Requests.
    pub count: u64,
    /// Requests that are errors (see [`is_error`]).
    pub errors: u64,
    /// Median `total_us`.
    pub p50_us: u32,
    /// 90th percentile of `total_us`.
    pub p90_us: u32,
    /// 99th percentile of `total_us`.
    pub p99_us: u32,
    /// Sum of `request_bytes`.
    pub request_bytes: u64,
    /// Sum of `response_bytes`.
    pub response_bytes: u64,
}

impl GroupRow {
    /// `errors / count` (0 for an empty group).
    pub fn error_ratio(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }
}

/// What [`run_query`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// The grouping (names the key column).
    pub group_by: GroupBy,
    /// The groups, ranked (see the [module docs](self)).
    pub rows: Vec<GroupRow>,
    /// Groups before `top` was applied.
    pub groups_total: usize,
    /// Parquet files found.
    pub files_total: usize,
    /// Files skipped without reading rows (partition outside the time range, or deleted
    /// since the listing).
    pub files_skipped: usize,
    /// Rows decoded.
    pub rows_scanned: u64,
    /// Rows that passed the filters.
    pub rows_matched: u64,
}

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
fn json_string(out: &mut String, s: &str) {
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

/// The Parquet files under `dir`, recursively, in path order; hidden entries (names starting
/// with `.`, like the writer's temporary files) and other extensions are skipped.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io("read directory", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read directory", &d, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The time range `[start, end)` (µs) of a file's Hive partition (`dt=YYYY-MM-DD`, optionally
/// `hour=HH`), if its path has one below `root`.
fn partition_range(root: &Path, file: &Path) -> Option<(i64, i64)> {
    let rel = file.strip_prefix(root).ok()?;
    let mut day = None;
    let mut hour = None;
    for c in rel.components() {
        let c = c.as_os_str().to_str()?;
        if let Some(d) = c.strip_prefix("dt=") {
            day = Some(parse_rfc3339(d).filter(|_| d.len() == 10)?);
        } else if let Some(h) = c.strip_prefix("hour=") {
            hour = Some(h.parse::<i64>().ok().filter(|h| (0..24).contains(h))?);
        }
    }
    match (day, hour) {
        (Some(d), Some(h)) => Some((d + h * US_PER_HOUR, d + (h + 1) * US_PER_HOUR)),
        (Some(d), None) => Some((d, d + 24 * US_PER_HOUR)),
        _ => None,
    }
}

/// Whether `[start, end)` can hold rows for the query's time range.
fn overlaps(q: &Query, start: i64, end_exclusive: i64) -> bool {
    q.since_us.is_none_or(|s| end_exclusive > s) && q.until_us.is_none_or(|u| start < u)
}

/// Runs `q` over the Parquet files under `dir`, calling `progress(files_done, files_total)`
/// once before the first file and after each one.
pub fn run_query(
    dir: &Path,
    q: &Query,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<QueryResult> {
    let files = list_files(dir)?;
    let total = files.len();
    let mut groups = Groups::new(q.group_by);
    let mut result = QueryResult {
        group_by: q.group_by,
        rows: Vec::new(),
        groups_total: 0,
        files_total: total,
        files_skipped: 0,
        rows_scanned: 0,
        rows_matched: 0,
    };
    progress(0, total);
    for (i, path) in files.iter().enumerate() {
        let in_range =
            partition_range(dir, path).is_none_or(|(start, end)| overlaps(q, start, end));
        if !in_range || !scan_file(path, q, &mut groups, &mut result)? {
            result.files_skipped += 1;
        }
        progress(i + 1, total);
    }
    result.groups_total = groups.accs.len();
    result.rows = groups.finish(q.top);
    Ok(result)
}

/// Reads one file into `groups`; `false` if it vanished before it could be opened.
fn scan_file(path: &Path, q: &Query, groups: &mut Groups, res: &mut QueryResult) -> Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let schema_err = |message: String| Error::Schema {
        path: path.to_path_buf(),
        message,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let kv = builder.metadata().file_metadata().key_value_metadata();
    if let Some(v) = kv
        .into_iter()
        .flatten()
        .find(|kv| kv.key == META_SCHEMA_VERSION)
        .and_then(|kv| kv.value.as_deref())
    {
        if v != SCHEMA_VERSION {
            return Err(schema_err(format!(
                "schema version {v} is not supported (this build reads {SCHEMA_VERSION})"
            )));
        }
    }

    // Projection: only what the query needs.
    let mut cols = vec![
        col::TS,
        col::STATUS,
        col::OUTCOME,
        col::TOTAL_US,
        col::REQUEST_BYTES,
        col::RESPONSE_BYTES,
    ];
    if q.route.is_some() || q.group_by == GroupBy::Route {
        cols.push(col::ROUTE);
    }
    if q.client.is_some() || q.group_by == GroupBy::Client {
        cols.extend([col::CLIENT_IP, col::CLIENT_ID]);
    }
    if q.method.is_some() {
        cols.push(col::METHOD);
    }
    if q.group_by == GroupBy::Upstream {
        cols.push(col::UPSTREAM);
    }
    let pq_schema = builder.parquet_schema();
    for c in &cols {
        if !pq_schema.columns().iter().any(|d| d.name() == *c) {
            return Err(schema_err(format!("no column {c}")));
        }
    }
    let mask = ProjectionMask::columns(pq_schema, cols.iter().copied());

    // Row groups whose ts statistics miss the time range are not read.
    let ts_leaf = pq_schema.columns().iter().position(|d| d.name() == col::TS);
    let row_groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, rg)| {
            let Some(Statistics::Int64(s)) = ts_leaf.and_then(|i| rg.column(i).statistics()) else {
                return true;
            };
            match (s.min_opt(), s.max_opt()) {
                (Some(&min), Some(&max)) => overlaps(q, min, max.saturating_add(1)),
                _ => true,
            }
        })
        .map(|(i, _)| i)
        .collect();

    let reader = builder
        .with_projection(mask)
        .with_row_groups(row_groups)
        .with_batch_size(64 * 1024)
        .build()?;
    for batch in reader {
        let batch = batch.map_err(Error::Arrow)?;
        scan_batch(&batch, q, groups, res).map_err(schema_err)?;
    }
    Ok(true)
}

/// A text column, plain or dictionary-encoded.
enum TextCol<'a> {
    Plain(&'a StringArray),
    Dict {
        keys: Vec<usize>,
        key_array: &'a dyn Array,
        values: &'a StringArray,
    },
}

impl<'a> TextCol<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))?;
        if let Some(s) = a.as_string_opt::<i32>() {
            return Ok(Self::Plain(s));
        }
        if let Some(d) = a.as_any_dictionary_opt() {
            if let Some(values) = d.values().as_string_opt::<i32>() {
                return Ok(Self::Dict {
                    keys: d.normalized_keys(),
                    key_array: d.keys(),
                    values,
                });
            }
        }
        Err(format!(
            "column {name} has type {}, expected text",
            a.data_type()
        ))
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Plain(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Dict {
                keys,
                key_array,
                values,
            } => {
                if key_array.is_null(i) {
                    None
                } else {
                    Some(values.value(keys[i]))
                }
            }
        }
    }
}

/// Row `i` of an optional text column.
fn get<'a>(c: &Option<TextCol<'a>>, i: usize) -> Option<&'a str> {
    c.as_ref().and_then(|c| c.get(i))
}

fn prim<'a, T: arrow_array::ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a PrimitiveArray<T>, String> {
    let a = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name}"))?;
    a.as_primitive_opt::<T>().ok_or_else(|| {
        format!(
            "column {name} has type {}, expected {}",
            a.data_type(),
            T::DATA_TYPE
        )
    })
}

fn scan_batch(
    batch: &RecordBatch,
    q: &Query,
    groups: &mut Groups,
    res: &mut QueryResult,
) -> Result<(), String> {
    let ts = prim::<TimestampMicrosecondType>(batch, col::TS)?;
    let status = prim::<UInt16Type>(batch, col::STATUS)?;
    let total = prim::<UInt32Type>(batch, col::TOTAL_US)?;
    let req_bytes = prim::<UInt64Type>(batch, col::REQUEST_BYTES)?;
    let resp_bytes = prim::<UInt64Type>(batch, col::RESPONSE_BYTES)?;
    let outcome = TextCol::of(batch, col::OUTCOME)?;
    let opt = |cond: bool, name: &str| cond.then(|| TextCol::of(batch, name)).transpose();
    let route = opt(
        q.route.is_some() || q.group_by == GroupBy::Route,
        col::ROUTE,
    )?;
    let needs_client = q.client.is_some() || q.group_by == GroupBy::Client;
    let client_ip = opt(needs_client, col::CLIENT_IP)?;
    let client_id = opt(needs_client, col::CLIENT_ID)?;
    let method = opt(q.method.is_some(), col::METHOD)?;
    let upstream = opt(q.group_by == GroupBy::Upstream, col::UPSTREAM)?;

    res.rows_scanned += batch.num_rows() as u64;
    for i in 0..batch.num_rows() {
        let t = ts.value(i);
        if q.since_us.is_some_and(|s| t < s) || q.until_us.is_some_and(|u| t >= u) {
            continue;
        }
        let st = status.value(i);
        if q.status.is_some_and(|f| !f.matches(st)) {
            continue;
        }
        if let Some(want) = &q.route {
            if get(&route, i) != Some(want.as_str()) {
                continue;
            }
        }
        if let Some(want) = &q.method {
            if !get(&method, i).is_some_and(|m| m.eq_ignore_ascii_case(want)) {
                continue;
            }
        }
        if let Some(want) = &q.client {
            let want = Some(want.as_str());
            if get(&client_ip, i) != want && get(&client_id, i) != want {
                continue;
            }
        }
        res.rows_matched += 1;
        let acc = match q.group_by {
            GroupBy::None => groups.null_or_all(),
            GroupBy::Route => groups.text(get(&route, i)),
            GroupBy::Upstream => groups.text(get(&upstream, i)),
            GroupBy::Client => groups.text(get(&client_id, i).or_else(|| get(&client_ip, i))),
            GroupBy::Status => groups.int(i64::from(st)),
            GroupBy::Minute => groups.int(t.div_euclid(US_PER_MINUTE)),
        };
        acc.count += 1;
        acc.errors += u64::from(is_error(st, outcome.get(i).unwrap_or("")));
        acc.record_latency(total.value(i));
        acc.request_bytes = acc.request_bytes.saturating_add(req_bytes.value(i));
        acc.response_bytes = acc.response_bytes.saturating_add(resp_bytes.value(i));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Null,
    Int(i64),
    Text(String),
}

#[derive(Debug)]
struct Acc {
    count: u64,
    errors: u64,
    total_us: Histogram<u64>,
    request_bytes: u64,
    response_bytes: u64,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            total_us: latency_histogram(),
            request_bytes: 0,
            response_bytes: 0,
        }
    }
}

impl Acc {
    fn record_latency(&mut self, us: u32) {
        self.total_us.saturating_record(u64::from(us));
    }
}

/// A histogram of `total_us` values (any `u32`), 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    // 1 µs to u32::MAX µs at 3 significant digits are valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, u64::from(u32::MAX), 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// The nearest-rank `p` quantile of a latency histogram (0 when empty).
fn quantile(h: &Histogram<u64>, p: f64) -> u32 {
    if h.is_empty() {
        return 0;
    }
    u32::try_from(h.value_at_quantile(p)).unwrap_or(u32::MAX)
}

/// Accumulators by key; lookups by borrowed text allocate only for a new group.
struct Groups {
    by: GroupBy,
    text: HashMap<String, usize>,
    int: HashMap<i64, usize>,
    null: Option<usize>,
    keys: Vec<Key>,
    accs: Vec<Acc>,
}

impl Groups {
    fn new(by: GroupBy) -> Self {
        Self {
            by,
            text: HashMap::new(),
            int: HashMap::new(),
            null: None,
            keys: Vec::new(),
            accs: Vec::new(),
        }
    }

    fn add(&mut self, key: Key) -> usize {
        self.keys.push(key);
        self.accs.push(Acc::default());
        self.accs.len() - 1
    }

    fn null_or_all(&mut self) -> &mut Acc {
        let i = match self.null {
            Some(i) => i,
            None => {
                let i = self.add(Key::Null);
                self.null = Some(i);
                i
            }
        };
        &mut self.accs[i]
    }

    fn text(&mut self, key: Option<&str>) -> &mut Acc {
        let Some(k) = key else {
            return self.null_or_all();
        };
        let i = match self.text.get(k) {
            Some(&i) => i,
            None => {
                let i = self.add(Key::Text(k.to_owned()));
                self.text.insert(k.to_owned(), i);
                i
            }
        };
        &mut self.accs[i]
    }

    fn int(&mut self, key: i64) -> &mut Acc {
        let i = match self.int.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.add(Key::Int(key));
                self.int.insert(key, i);
                i
            }
        };
        &mut self.accs[i]
    }

    fn finish(self, top: Option<usize>) -> Vec<GroupRow> {
        let by = self.by;
        let mut all: Vec<(Key, Acc)> = self.keys.into_iter().zip(self.accs).collect();
        all.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        if let Some(n) = top {
            all.truncate(n);
        }
        if by == GroupBy::Minute {
            all.sort_by(|a, b| a.0.cmp(&b.0));
        }
        all.into_iter()
            .map(|(key, acc)| {
                let q = |p: f64| quantile(&acc.total_us, p);
                GroupRow {
                    key: match key {
                        Key::Null if by == GroupBy::None => Some("all".to_owned()),
                        Key::Null => None,
                        Key::Text(s) => Some(s),
                        Key::Int(m) if by == GroupBy::Minute => {
                            let mut s = String::with_capacity(20);
                            write_rfc3339(&mut s, m * US_PER_MINUTE);
                            Some(s)
                        }
                        Key::Int(n) => Some(n.to_string()),
                    },
                    count: acc.count,
                    errors: acc.errors,
                    p50_us: q(0.50),
                    p90_us: q(0.90),
                    p99_us: q(0.99),
                    request_bytes: acc.request_bytes,
                    response_bytes: acc.response_bytes,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::hour_start_us;

    #[test]
    fn parses_cli_values() {
        assert_eq!(
            "5xx".parse::<StatusFilter>().unwrap(),
            StatusFilter::Class(5)
        );
        assert_eq!(
            "4XX".parse::<StatusFilter>().unwrap(),
            StatusFilter::Class(4)
        );
        assert_eq!(
            "503".parse::<StatusFilter>().unwrap(),
            StatusFilter::Exact(503)
        );
        for bad in ["", "5x", "0xx", "xx5", "99", "1000", "+50", "5xxx"] {
            assert!(bad.parse::<StatusFilter>().is_err(), "{bad}");
        }
        assert!(StatusFilter::Class(5).matches(599));
        assert!(!StatusFilter::Class(5).matches(600));
        assert!(!StatusFilter::Class(0).matches(0));
        for g in GroupBy::ALL {
            assert_eq!(g.as_str().parse::<GroupBy>().unwrap(), g);
        }
        assert!("path".parse::<GroupBy>().is_err());
        assert_eq!("json".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
        assert!("xml".parse::<OutputFormat>().is_err());
    }

    #[test]
    fn parses_durations_and_times() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "15", "m", "15x", "1.5h", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let now = UNIX_EPOCH + Duration::from_secs(1_795_845_600);
        let now_us = 1_795_845_600 * 1_000_000;
        assert_eq!(parse_time("now", now).unwrap(), now_us);
        assert_eq!(parse_time("15m", now).unwrap(), now_us - 900_000_000);
        assert_eq!(parse_time("2026-11-28T06:00:00Z", now).unwrap(), now_us);
        assert!(parse_time("yesterday", now).is_err());
        assert_eq!(hour_start_us(2026, 11, 28, 6), now_us);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let of = |values: &[u32]| {
            let mut acc = Acc::default();
            for &v in values {
                acc.record_latency(v);
            }
            acc.total_us
        };
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&of(&v), 0.5), 50);
        assert_eq!(quantile(&of(&v), 0.9), 90);
        assert_eq!(quantile(&of(&v), 0.99), 99);
        assert_eq!(quantile(&of(&[7]), 0.99), 7);
        assert_eq!(quantile(&of(&[]), 0.5), 0);
        assert_eq!(quantile(&of(&[1, 2, 3]), 0.5), 2);
        // Large values: the top of their bucket, within 0.1% above the exact value.
        let big = quantile(&of(&[123_456_789]), 0.5);
        assert!(
            (123_456_789..=123_456_789 + 123_457).contains(&big),
            "{big}"
        );
        assert!(quantile(&of(&[0, u32::MAX]), 1.0) >= u32::MAX - u32::MAX / 1000);
    }

    #[test]
    fn partitions_prune_by_time() {
        let root = Path::new("/logs");
        let f = Path::new("/logs/dt=2026-11-28/hour=06/ringway-1-0.parquet");
        let start = hour_start_us(2026, 11, 28, 6);
        assert_eq!(partition_range(root, f), Some((start, start + US_PER_HOUR)));
        assert_eq!(partition_range(root, Path::new("/logs/x/a.parquet")), None);
        let q = |since, until| Query {
            since_us: since,
            until_us: until,
            ..Query::default()
        };
        assert!(overlaps(&q(None, None), start, start + US_PER_HOUR));
        assert!(overlaps(
            &q(Some(start + 5), None),
            start,
            start + US_PER_HOUR
        ));
        assert!(!overlaps(
            &q(Some(start + US_PER_HOUR), None),
            start,
            start + US_PER_HOUR
        ));
        assert!(!overlaps(&q(None, Some(start)), start, start + US_PER_HOUR));
        assert!(overlaps(
            &q(None, Some(start + 1)),
            start,
            start + US_PER_HOUR
        ));
    }

    fn sample() -> QueryResult {
        QueryResult {
            group_by: GroupBy::Route,
            rows: vec![
                GroupRow {
                    key: Some("users, \"v2\"".to_owned()),
                    count: 3,
                    errors: 1,
                    p50_us: 10,
                    p90_us: 20,
                    p99_us: 30,
                    request_bytes: 100,
                    response_bytes: 2000,
                },
                GroupRow {
                    key: None,
                    count: 1,
                    errors: 0,
                    p50_us: 5,
                    p90_us: 5,
                    p99_us: 5,
                    request_bytes: 7,
                    response_bytes: 8,
                },
            ],
            groups_total: 2,
            files_total: 1,
            files_skipped: 0,
            rows_scanned: 4,
            rows_matched: 4,
        }
    }

    #[test]
    fn renders_csv() {
        assert_eq!(
            sample().render(OutputFormat::Csv),
            "route,count,errors,error_ratio,p50_us,p90_us,p99_us,request_bytes,response_bytes\n\
             \"users, \"\"v2\"\"\",3,1,0.333333,10,20,30,100,2000\n\
             ,1,0,0.000000,5,5,5,7,8\n"
        );
    }

    #[test]
    fn renders_json() {
        assert_eq!(
            sample().render(OutputFormat::Json),
            "[\n  {\"route\":\"users, \\\"v2\\\"\",\"count\":3,\"errors\":1,\
             \"error_ratio\":0.333333,\"p50_us\":10,\"p90_us\":20,\"p99_us\":30,\
             \"request_bytes\":100,\"response_bytes\":2000},\n  {\"route\":null,\"count\":1,\
             \"errors\":0,\"error_ratio\":0.000000,\"p50_us\":5,\"p90_us\":5,\"p99_us\":5,\
             \"request_bytes\":7,\"response_bytes\":8}\n]\n"
        );
        let mut s = String::new();
        json_string(&mut s, "a\u{1}\t\\é");
        assert_eq!(s, "\"a\\u0001\\t\\\\é\"");
        let empty = QueryResult {
            rows: vec![],
            ..sample()
        };
        assert_eq!(empty.render(OutputFormat::Json), "[]\n");
    }

    #[test]
    fn renders_aligned_table() {
        let t = sample().render(OutputFormat::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "route        count  errors  error_ratio  p50_us  p90_us  p99_us  request_bytes  response_bytes"
        );
        assert_eq!(
            lines[1],
            "users, \"v2\"      3       1       33.33%      10      20      30            100            2000"
        );
        assert_eq!(
            lines[2],
            "-                1       0        0.00%       5       5       5              7               8"
        );
    }
}
