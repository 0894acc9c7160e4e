//! Traffic logs as the detectors' input: every Parquet file under a directory that carries
//! the [required columns](REQUIRED_COLUMNS), whoever wrote it (the gateway, DuckDB, Spark,
//! `ringway import`), read in time order.
//!
//! Order: files are sorted by their first timestamp and read one after the other; files whose
//! time ranges overlap by more than [`TOLERANCE_US`] are read together, and rows out of order
//! by more than that within a group are sorted (in memory, for that group only). Rows a little
//! out of order (the gateway logs a request when it completes) go to the detectors as they
//! are: they wait for late rows anyway.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::anomaly::Observation;
use crate::columns_in::{IntCol, TextCol, TsCol};
use crate::query::list_files;
use crate::schema::{col, META_SCHEMA_VERSION, READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION};
use crate::{Error, Result};

/// Columns a file must have: `ts` (a timestamp of any unit, or integer µs), `route` (text,
/// null when no route matched), `method` (text), `path` (text), `status` (an integer),
/// `total_us` (an integer).
pub const REQUIRED_COLUMNS: [&str; 6] = [
    col::TS,
    col::ROUTE,
    col::METHOD,
    col::PATH,
    col::STATUS,
    col::TOTAL_US,
];

/// Columns used when present: `client_id` (text; empty or null for anonymous clients) and
/// `client_ip` (text). Without them every request is one anonymous client, and the
/// per-client detectors (dominance, scanning, top clients) have nothing to go on.
pub const CLIENT_COLUMNS: [&str; 2] = [col::CLIENT_ID, col::CLIENT_IP];

/// Rows out of order by at most this much are read as they come.
pub const TOLERANCE_US: i64 = 1_000_000;

/// Rows per batch read.
const BATCH_ROWS: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct FileInfo {
    path: PathBuf,
    min_us: i64,
    max_us: i64,
    rows: u64,
    columns: Vec<&'static str>,
}

/// The log files of a directory, opened and checked; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Logs {
    files: Vec<FileInfo>,
    since_us: Option<i64>,
    until_us: Option<i64>,
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanStats {
    /// Files read.
    pub files: usize,
    /// Rows read from them.
    pub rows_read: u64,
    /// Rows passed on (in the time range, with a timestamp).
    pub rows: u64,
    /// Rows without a timestamp, skipped.
    pub rows_without_ts: u64,
    /// Groups of files or rows that had to be sorted.
    pub sorted_groups: usize,
}

impl Logs {
    /// The Parquet files under `dir` with rows in `[since, until)`. A file without the
    /// required columns, or written with a schema version this build does not read, is an
    /// error naming it.
    pub fn open(dir: &Path, since_us: Option<i64>, until_us: Option<i64>) -> Result<Logs> {
        let mut files = Vec::new();
        for path in list_files(dir)? {
            if let Some((start, end)) = crate::query::partition_range(dir, &path) {
                if since_us.is_some_and(|s| end <= s) || until_us.is_some_and(|u| start >= u) {
                    continue;
                }
            }
            if let Some(info) = inspect(&path)? {
                let outside = since_us.is_some_and(|s| info.max_us < s)
                    || until_us.is_some_and(|u| info.min_us >= u);
                if info.rows > 0 && !outside {
                    files.push(info);
                }
            }
        }
        files.sort_by(|a, b| (a.min_us, &a.path).cmp(&(b.min_us, &b.path)));
        Ok(Logs {
            files,
            since_us,
            until_us,
        })
    }

    /// Files with rows in range.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Rows in those files (some may fall outside the range).
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The time range of the rows, clamped to the one asked for: `[first, last]` µs.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.files.iter().map(|f| f.min_us).min()?;
        let max = self.files.iter().map(|f| f.max_us).max()?;
        let min = self.since_us.map_or(min, |s| min.max(s));
        let max = self.until_us.map_or(max, |u| max.min(u - 1));
        Some((min, max))
    }

    /// Feeds every row in range to `f`, in time order (within [`TOLERANCE_US`]), calling
    /// `progress(rows done, rows in all files)` after each file group.
    pub fn scan(
        &self,
        progress: &mut dyn FnMut(u64, u64),
        f: &mut dyn FnMut(&Observation<'_>),
    ) -> Result<ScanStats> {
        let total = self.rows();
        let mut stats = ScanStats::default();
        let mut done = 0;
        let mut i = 0;
        while i < self.files.len() {
            // A group: files overlapping the first by more than the tolerance, transitively.
            let mut end = i + 1;
            let mut max = self.files[i].max_us;
            while end < self.files.len() && self.files[end].min_us < max - TOLERANCE_US {
                max = max.max(self.files[end].max_us);
                end += 1;
            }
            let group = &self.files[i..end];
            let mut batches = Vec::new();
            for (k, info) in group.iter().enumerate() {
                read_file(info, k, &mut batches)?;
            }
            stats.files += group.len();
            self.feed(&batches, group, &mut stats, f)
                .map_err(|message| Error::Schema {
                    path: group[0].path.clone(),
                    message,
                })?;
            done += group.iter().map(|f| f.rows).sum::<u64>();
            progress(done, total);
            i = end;
        }
        Ok(stats)
    }

    /// Feeds a group's rows in time order.
    fn feed(
        &self,
        batches: &[(usize, RecordBatch)],
        group: &[FileInfo],
        stats: &mut ScanStats,
        f: &mut dyn FnMut(&Observation<'_>),
    ) -> std::result::Result<(), String> {
        let cols = batches
            .iter()
            .map(|(file, b)| Cols::of(b, &group[*file].columns))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        // In order (within the tolerance) as read?
        let mut running = i64::MIN;
        let mut ordered = true;
        'check: for (c, (_, b)) in cols.iter().zip(batches) {
            for r in 0..b.num_rows() {
                if let Some(t) = c.ts.get(r) {
                    if t < running.saturating_sub(TOLERANCE_US) {
                        ordered = false;
                        break 'check;
                    }
                    running = running.max(t);
                }
            }
        }
        let mut client = String::new();
        let mut emit = |c: &Cols<'_>, r: usize, stats: &mut ScanStats| {
            stats.rows_read += 1;
            let Some(ts_us) = c.ts.get(r) else {
                stats.rows_without_ts += 1;
                return;
            };
            if self.since_us.is_some_and(|s| ts_us < s) || self.until_us.is_some_and(|u| ts_us >= u)
            {
                return;
            }
            stats.rows += 1;
            client.clear();
            match c.client_id.as_ref().and_then(|a| a.get(r)) {
                Some(id) if !id.is_empty() => client.push_str(id),
                _ => client.push_str(c.client_ip.as_ref().and_then(|a| a.get(r)).unwrap_or("")),
            }
            f(&Observation {
                ts_us,
                route: c.route.get(r).unwrap_or(""),
                method: c.method.get(r).unwrap_or("-"),
                path: c.path.get(r).unwrap_or("/").as_bytes(),
                status: c
                    .status
                    .get(r)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0),
                total_us: c
                    .total_us
                    .get(r)
                    .map_or(0, |t| u32::try_from(t.max(0)).unwrap_or(u32::MAX)),
                client: &client,
            });
        };
        if ordered {
            for (c, (_, b)) in cols.iter().zip(batches) {
                for r in 0..b.num_rows() {
                    emit(c, r, stats);
                }
            }
        } else {
            stats.sorted_groups += 1;
            let mut order: Vec<(i64, u32, u32)> = Vec::new();
            for (bi, (c, (_, b))) in cols.iter().zip(batches).enumerate() {
                for r in 0..b.num_rows() {
                    order.push((c.ts.get(r).unwrap_or(i64::MIN), bi as u32, r as u32));
                }
            }
            order.sort_by_key(|&(t, _, _)| t);
            for (_, bi, r) in order {
                emit(&cols[bi as usize], r as usize, stats);
            }
        }
        Ok(())
    }
}

/// The accessors of one batch.
struct Cols<'a> {
    ts: TsCol<'a>,
    route: TextCol<'a>,
    method: TextCol<'a>,
    path: TextCol<'a>,
    status: IntCol<'a>,
    total_us: IntCol<'a>,
    client_id: Option<TextCol<'a>>,
    client_ip: Option<TextCol<'a>>,
}

impl<'a> Cols<'a> {
    fn of(b: &'a RecordBatch, present: &[&str]) -> std::result::Result<Self, String> {
        let opt = |name: &str| {
            present
                .contains(&name)
                .then(|| TextCol::of(b, name))
                .transpose()
        };
        Ok(Cols {
            ts: TsCol::of(b, col::TS)?,
            route: TextCol::of(b, col::ROUTE)?,
            method: TextCol::of(b, col::METHOD)?,
            path: TextCol::of(b, col::PATH)?,
            status: IntCol::of(b, col::STATUS)?,
            total_us: IntCol::of(b, col::TOTAL_US)?,
            client_id: opt(col::CLIENT_ID)?,
            client_ip: opt(col::CLIENT_IP)?,
        })
    }
}

fn builder(path: &Path) -> Result<Option<ParquetRecordBatchReaderBuilder<File>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        // Rotated away (or deleted) since it was listed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map(Some)
        .map_err(|e| named(path, e))
}

/// A Parquet error with the file it happened in.
fn named(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Schema {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Checks a file's columns and reads its time range from the `ts` column.
fn inspect(path: &Path) -> Result<Option<FileInfo>> {
    let schema_err = |message: String| Error::Schema {
        path: path.to_path_buf(),
        message,
    };
    let Some(b) = builder(path)? else {
        return Ok(None);
    };
    let version = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == META_SCHEMA_VERSION)
        .and_then(|kv| kv.value.clone());
    if let Some(v) = version.filter(|v| !READABLE_SCHEMA_VERSIONS.contains(&v.as_str())) {
        return Err(schema_err(format!(
            "schema version {v} is not supported (this build reads 1 to {SCHEMA_VERSION})"
        )));
    }
    let names: Vec<String> = b
        .parquet_schema()
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let has = |c: &str| names.iter().any(|n| n == c);
    let missing: Vec<&str> = REQUIRED_COLUMNS.into_iter().filter(|c| !has(c)).collect();
    if !missing.is_empty() {
        return Err(schema_err(format!(
            "missing required column{} {} (traffic logs need {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            REQUIRED_COLUMNS.join(", ")
        )));
    }
    let mut columns: Vec<&'static str> = REQUIRED_COLUMNS.to_vec();
    columns.extend(CLIENT_COLUMNS.into_iter().filter(|c| has(c)));
    if let Some((min_us, max_us, rows)) = range_from_statistics(&b) {
        return Ok(Some(FileInfo {
            path: path.to_path_buf(),
            min_us,
            max_us,
            rows,
            columns,
        }));
    }
    let mask = ProjectionMask::columns(b.parquet_schema(), [col::TS]);
    let reader = b
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()?;
    let (mut min_us, mut max_us, mut rows) = (i64::MAX, i64::MIN, 0u64);
    for batch in reader {
        let batch = batch?;
        let ts = TsCol::of(&batch, col::TS).map_err(schema_err)?;
        for r in 0..batch.num_rows() {
            if let Some(t) = ts.get(r) {
                min_us = min_us.min(t);
                max_us = max_us.max(t);
            }
        }
        rows += batch.num_rows() as u64;
    }
    Ok(Some(FileInfo {
        path: path.to_path_buf(),
        min_us,
        max_us,
        rows,
        columns,
    }))
}

/// The time range and rows of a file from its footer: the `ts` column's row-group statistics
/// in the unit its Arrow type says; `None` when a row group has none (then `ts` is read).
fn range_from_statistics(b: &ParquetRecordBatchReaderBuilder<File>) -> Option<(i64, i64, u64)> {
    use arrow_schema::{DataType, TimeUnit};
    use parquet::file::statistics::Statistics;
    let scale: fn(i64) -> i64 = match b.schema().field_with_name(col::TS).ok()?.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => |v| v,
        DataType::Timestamp(TimeUnit::Millisecond, _) => |v| v.saturating_mul(1_000),
        DataType::Timestamp(TimeUnit::Second, _) => |v| v.saturating_mul(1_000_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => |v| v / 1_000,
        _ => return None,
    };
    let leaf = b
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == col::TS)?;
    let (mut min, mut max, mut rows) = (i64::MAX, i64::MIN, 0u64);
    for rg in b.metadata().row_groups() {
        rows += u64::try_from(rg.num_rows()).ok()?;
        let Some(Statistics::Int64(st)) = rg.column(leaf).statistics() else {
            return None;
        };
        // A row group of nulls only has no min/max and adds nothing.
        if st.null_count_opt() == Some(rg.num_rows() as u64) {
            continue;
        }
        min = min.min(scale(*st.min_opt()?));
        max = max.max(scale(*st.max_opt()?));
    }
    Some((min, max, rows))
}

/// Reads a file's columns of interest, tagging each batch with `index`, the file's place in
/// its group.
fn read_file(info: &FileInfo, index: usize, out: &mut Vec<(usize, RecordBatch)>) -> Result<()> {
    let Some(b) = builder(&info.path)? else {
        return Ok(());
    };
    let mask = ProjectionMask::columns(b.parquet_schema(), info.columns.iter().copied());
    for batch in b
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()?
    {
        out.push((index, batch?));
    }
    Ok(())
}
