//! Finding the files a query needs and decoding only the columns and row groups it reads.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{PrimitiveArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::statistics::Statistics;

use super::groups::Groups;
use super::{GroupBy, Query, QueryResult};
use crate::civil::{parse_rfc3339, US_PER_HOUR, US_PER_MINUTE};
use crate::columns_in::TextCol;
use crate::schema::{col, is_error, META_SCHEMA_VERSION, READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION};
use crate::{Error, Result};

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
pub(crate) fn partition_range(root: &Path, file: &Path) -> Option<(i64, i64)> {
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
pub(super) fn overlaps(q: &Query, start: i64, end_exclusive: i64) -> bool {
    q.since_us.is_none_or(|s| end_exclusive > s) && q.until_us.is_none_or(|u| start < u)
}

/// Reads one file into `groups`; `false` if it vanished before it could be opened.
pub(super) fn scan_file(
    path: &Path,
    q: &Query,
    groups: &mut Groups,
    res: &mut QueryResult,
) -> Result<bool> {
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
        if !READABLE_SCHEMA_VERSIONS.contains(&v) {
            return Err(schema_err(format!(
                "schema version {v} is not supported (this build reads 1 to {SCHEMA_VERSION})"
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
