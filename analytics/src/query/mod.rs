//! The queries behind `ringway logs`: scan the Parquet files under a directory, filter, group,
//! aggregate, render.
//!
//! Files are found recursively (`*.parquet`, skipping hidden files and directories such as the
//! writer's `.ringway-*.parquet.tmp`). Files whose Hive partition (`dt=`/`hour=`) lies outside
//! the time range are skipped without being opened, and so are row groups whose `ts`
//! statistics do; only the columns the query needs are decoded.
//!
//! Per group: request count, errors (see [`is_error`](crate::schema::is_error)) and their ratio, p50/p90/p99 of
//! `total_us` (an HDR histogram per group with 3 significant digits: nearest rank, reported as
//! the top of its bucket, at most 0.1% above the exact value; memory stays bounded however
//! many rows match), and request/response byte sums. Groups are ranked by count (ties by key); `top` keeps the first
//! N; `minute` groups are then listed in time order.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::civil::parse_rfc3339;
use crate::{Error, Result};

mod groups;
mod render;
mod scan;

use groups::Groups;
pub use scan::list_files;
pub(crate) use scan::partition_range;
use scan::{overlaps, scan_file};

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
    /// Requests that are errors (see [`is_error`](crate::schema::is_error)).
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

#[cfg(test)]
mod tests {
    use super::render::json_string;
    use super::*;
    use crate::civil::hour_start_us;
    use crate::civil::US_PER_HOUR;

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
