//! [`ParquetSink`]: request records into Hive-partitioned Parquet files.
//!
//! Records are buffered column-wise in Arrow builders; every [`SinkConfig::batch_rows`] records
//! the buffer becomes one `RecordBatch` handed to an open Parquet `ArrowWriter`, which cuts row
//! groups of [`SinkConfig::row_group_rows`]. A file lives in the partition of its records' UTC
//! date and hour:
//!
//! ```text
//! <dir>/dt=2026-11-28/hour=06/ringway-1795845600123-0.parquet
//! ```
//!
//! It is written as `.ringway-<unix_ms>-<seq>.parquet.tmp` next to its final name (hidden, and
//! not ending in `.parquet`, so no reader's glob picks it up), synced, then renamed: readers see
//! whole files or nothing. A file is closed when a record for another hour arrives, when it is
//! [`SinkConfig::rotate_after`] old (checked on [`ParquetSink::push`] and
//! [`ParquetSink::tick`]), when it reaches [`SinkConfig::max_file_bytes`], and on
//! [`ParquetSink::close`].
//!
//! Time is injected: `now` is passed in (it names files and drives rotation); the partition
//! comes from each record's own timestamp.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::builder::{
    BinaryBuilder, PrimitiveBuilder, TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder,
    UInt64Builder, UInt8Builder,
};
use arrow_array::types::{ArrowPrimitiveType, UInt32Type, UInt8Type};
use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use ringway_telemetry::record::{RequestRecord, NONE};

use crate::civil::{civil_from_days, US_PER_HOUR};
use crate::schema::{
    col, schema, status_class_key, write_client_ip, Names, META_SCHEMA_VERSION, META_WRITER,
    SCHEMA_VERSION, STATUS_CLASSES, TIME_ZONE, WRITER_VERSION,
};
use crate::{Error, Result};

/// Compression of the Parquet pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Zstandard at `level` (1..=22; 3 is zstd's own default and a good trade-off).
    Zstd {
        /// Compression level, 1..=22.
        level: i32,
    },
    /// Snappy: faster, larger files.
    Snappy,
    /// No compression.
    None,
}

impl Default for Compression {
    /// Zstandard level 3.
    fn default() -> Self {
        Self::Zstd { level: 3 }
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// `zstd` (level 3), `zstd:<level>`, `snappy` or `none`.
    fn from_str(s: &str) -> Result<Self> {
        let err = || Error::Parse {
            what: "compression",
            value: s.to_owned(),
            expected: "zstd, zstd:<1-22>, snappy or none",
        };
        let c = match s {
            "zstd" => Self::default(),
            "snappy" => Self::Snappy,
            "none" => Self::None,
            _ => {
                let level = s.strip_prefix("zstd:").ok_or_else(err)?;
                Self::Zstd {
                    level: level.parse().map_err(|_| err())?,
                }
            }
        };
        c.to_parquet().map_err(|_| err())?;
        Ok(c)
    }
}

impl Compression {
    /// The Parquet codec (fails for a zstd level outside 1..=22).
    fn to_parquet(self) -> Result<parquet::basic::Compression> {
        Ok(match self {
            Self::Zstd { level } => {
                if !(1..=22).contains(&level) {
                    return Err(Error::Config(format!(
                        "zstd level {level} is outside 1..=22"
                    )));
                }
                parquet::basic::Compression::ZSTD(ZstdLevel::try_new(level)?)
            }
            Self::Snappy => parquet::basic::Compression::SNAPPY,
            Self::None => parquet::basic::Compression::UNCOMPRESSED,
        })
    }
}

/// Where and how [`ParquetSink`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Root directory of the partitions (created if missing).
    pub dir: PathBuf,
    /// Page compression. Default: zstd level 3.
    pub compression: Compression,
    /// Close a file this long after it was opened (by the `now` given to the sink).
    /// Default: 60 s. Must be non-zero.
    pub rotate_after: Duration,
    /// Close a file once its size reaches this many bytes (compressed bytes written plus the
    /// encoded estimate of the row group in progress; checked after each batch, so a file can
    /// exceed it by up to one batch). Default: 128 MiB. Must be non-zero.
    pub max_file_bytes: u64,
    /// Rows per Parquet row group (the unit of parallel and pruned reads). Default: 65 536.
    pub row_group_rows: usize,
    /// Records buffered before they are encoded into the open file as one Arrow batch.
    /// Default: 8 192. Must be non-zero.
    pub batch_rows: usize,
}

impl SinkConfig {
    /// Defaults for everything but the directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            compression: Compression::default(),
            rotate_after: Duration::from_secs(60),
            max_file_bytes: 128 * 1024 * 1024,
            row_group_rows: 64 * 1024,
            batch_rows: 8 * 1024,
        }
    }

    /// Checks every value; all problems are reported together.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.dir.as_os_str().is_empty() {
            problems.push("dir is empty".to_owned());
        }
        if let Err(e) = self.compression.to_parquet() {
            problems.push(e.to_string());
        }
        if self.rotate_after.is_zero() {
            problems.push("rotate_after must be > 0".to_owned());
        }
        if self.max_file_bytes == 0 {
            problems.push("max_file_bytes must be > 0".to_owned());
        }
        if self.row_group_rows == 0 {
            problems.push("row_group_rows must be > 0".to_owned());
        }
        if self.batch_rows == 0 {
            problems.push("batch_rows must be > 0".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }
}

/// Counters of a [`ParquetSink`] since it was created (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files completed and renamed into place.
    pub files_written: u64,
    /// Rows in those files.
    pub rows_written: u64,
    /// Bytes of those files.
    pub bytes_written: u64,
    /// Rows lost because writing their file failed (the error was returned at the time).
    pub rows_dropped: u64,
}

/// Writes [`RequestRecord`]s as Parquet files; see the [module docs](self).
///
/// Not thread-safe by design: one sink per writer thread. Dropping a sink without
/// [`close`](Self::close) still tries to complete the open file (errors are then lost).
#[derive(Debug)]
pub struct ParquetSink {
    cfg: SinkConfig,
    props: WriterProperties,
    cols: Columns,
    file: Option<OpenFile>,
    seq: u64,
    stats: Stats,
}

/// The file being written.
struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    hour: i64,
    opened_at: SystemTime,
    rows: u64,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("tmp_path", &self.tmp_path)
            .field("hour", &self.hour)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ParquetSink {
    /// A sink writing under `cfg.dir` (created if missing), resolving indices with `names`.
    /// No file is created before the first record.
    pub fn new(cfg: SinkConfig, names: Names) -> Result<Self> {
        cfg.validate()?;
        fs::create_dir_all(&cfg.dir).map_err(|e| Error::io("create directory", &cfg.dir, e))?;
        let props = writer_properties(&cfg)?;
        let cols = Columns::new(cfg.batch_rows, &names);
        Ok(Self {
            cfg,
            props,
            cols,
            file: None,
            seq: 0,
            stats: Stats::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SinkConfig {
        &self.cfg
    }

    /// Buffers one record. May encode the buffer into the open file, close the file (another
    /// hour, age, size) and open the next one. On error the record and the rows of the failed
    /// file are counted in [`Stats::rows_dropped`]; the next push starts a fresh file.
    pub fn push(&mut self, rec: &RequestRecord, now: SystemTime) -> Result<()> {
        let hour = rec.ts_us.div_euclid(US_PER_HOUR);
        if self.file.as_ref().is_some_and(|f| f.hour != hour) || self.is_old(now) {
            self.finish_file()
                .inspect_err(|_| self.stats.rows_dropped += 1)?;
        }
        if self.file.is_none() {
            self.open_file(hour, now)
                .inspect_err(|_| self.stats.rows_dropped += 1)?;
        }
        self.cols.push(rec);
        if self.cols.len >= self.cfg.batch_rows {
            self.write_batch()?;
            if self.file_bytes() >= self.cfg.max_file_bytes {
                self.finish_file()?;
            }
        }
        Ok(())
    }

    /// Closes the open file if it is [`SinkConfig::rotate_after`] old. Call it periodically
    /// (e.g. every second) so files complete when traffic stops.
    pub fn tick(&mut self, now: SystemTime) -> Result<()> {
        if self.is_old(now) {
            self.finish_file()?;
        }
        Ok(())
    }

    /// Replaces the names table (after a configuration reload). Rows buffered so far are
    /// encoded with the old table first.
    pub fn set_names(&mut self, names: &Names) -> Result<()> {
        if self.cols.len > 0 {
            self.write_batch()?;
        }
        self.cols.set_names(names);
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Rows accepted but not yet in a completed file.
    pub fn pending_rows(&self) -> u64 {
        self.cols.len as u64 + self.file.as_ref().map_or(0, |f| f.rows)
    }

    /// Writes everything buffered and completes the open file (for shutdown: every record
    /// pushed before is then on disk under its final name).
    pub fn close(mut self) -> Result<Stats> {
        self.finish_file()?;
        Ok(self.stats)
    }

    fn is_old(&self, now: SystemTime) -> bool {
        self.file.as_ref().is_some_and(|f| {
            now.duration_since(f.opened_at).unwrap_or(Duration::ZERO) >= self.cfg.rotate_after
        })
    }

    fn file_bytes(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| {
            (f.writer.bytes_written() + f.writer.in_progress_size()) as u64
        })
    }

    fn open_file(&mut self, hour: i64, now: SystemTime) -> Result<()> {
        let (y, m, d) = civil_from_days(hour.div_euclid(24));
        let dir = self.cfg.dir.join(format!(
            "dt={y:04}-{m:02}-{d:02}/hour={:02}",
            hour.rem_euclid(24)
        ));
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let unix_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // A name is taken if either form exists (another sink, a restart in the same ms).
        let (file, tmp_path, final_path) = loop {
            let name = format!("ringway-{unix_ms}-{}.parquet", self.seq);
            self.seq += 1;
            let final_path = dir.join(&name);
            let tmp_path = dir.join(format!(".{name}.tmp"));
            if final_path.exists() {
                continue;
            }
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_path)
            {
                Ok(f) => break (f, tmp_path, final_path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create", &tmp_path, e)),
            }
        };
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(256 * 1024, file),
            schema(),
            Some(self.props.clone()),
        );
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(e.into());
            }
        };
        self.file = Some(OpenFile {
            writer,
            tmp_path,
            final_path,
            hour,
            opened_at: now,
            rows: 0,
        });
        Ok(())
    }

    /// Encodes the buffered rows into the open file.
    fn write_batch(&mut self) -> Result<()> {
        let rows = self.cols.len as u64;
        if rows == 0 {
            return Ok(());
        }
        let batch = self.cols.finish();
        let Some(file) = self.file.as_mut() else {
            // Not reached: rows are only buffered while a file is open.
            self.stats.rows_dropped += rows;
            return Ok(());
        };
        match batch.and_then(|b| file.writer.write(&b).map_err(Error::from)) {
            Ok(()) => {
                file.rows += rows;
                Ok(())
            }
            Err(e) => {
                self.stats.rows_dropped += rows;
                self.abandon_file();
                Err(e)
            }
        }
    }

    /// Writes the buffer, completes the open file and renames it into place.
    fn finish_file(&mut self) -> Result<()> {
        self.write_batch()?;
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let OpenFile {
            writer,
            tmp_path,
            final_path,
            rows,
            ..
        } = file;
        match complete(writer, &tmp_path, &final_path) {
            Ok(bytes) => {
                self.stats.files_written += 1;
                self.stats.rows_written += rows;
                self.stats.bytes_written += bytes;
                Ok(())
            }
            Err(e) => {
                self.stats.rows_dropped += rows;
                let _ = fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    fn abandon_file(&mut self) {
        if let Some(f) = self.file.take() {
            self.stats.rows_dropped += f.rows;
            drop(f.writer);
            let _ = fs::remove_file(&f.tmp_path);
        }
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        // `close` leaves nothing to do; otherwise complete what we can.
        let _ = self.finish_file();
    }
}

/// Finishes the Parquet footer, syncs, renames; returns the file size.
fn complete(
    writer: ArrowWriter<BufWriter<File>>,
    tmp_path: &Path,
    final_path: &Path,
) -> Result<u64> {
    let buf = writer.into_inner()?;
    let file = buf
        .into_inner()
        .map_err(|e| Error::io("write", tmp_path, e.into_error()))?;
    file.sync_all()
        .map_err(|e| Error::io("sync", tmp_path, e))?;
    let bytes = file
        .metadata()
        .map_err(|e| Error::io("stat", tmp_path, e))?
        .len();
    drop(file);
    fs::rename(tmp_path, final_path).map_err(|e| Error::io("rename", tmp_path, e))?;
    Ok(bytes)
}

/// Parquet properties: compression, row groups, key-value metadata, and per-column encodings
/// chosen for size (measured on the `synth` mix; see `docs/parquet-schema.md`).
fn writer_properties(cfg: &SinkConfig) -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(cfg.compression.to_parquet()?)
        .set_max_row_group_row_count(Some(cfg.row_group_rows))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned()),
            KeyValue::new(META_WRITER.to_owned(), WRITER_VERSION.to_owned()),
        ]));
    // Monotonic timestamps: deltas of ~1 ms pack into a few bits each.
    b = b
        .set_column_dictionary_enabled(ColumnPath::from(col::TS), false)
        .set_column_encoding(ColumnPath::from(col::TS), Encoding::DELTA_BINARY_PACKED);
    // Unique per request: a dictionary would only be built to be thrown away. Lengths apart
    // from the bytes (DELTA_LENGTH_BYTE_ARRAY) compress better than PLAIN's interleaved
    // length prefixes: -0.2 bytes/record for the gateway's ids, -1.8 for random ones.
    b = b
        .set_column_dictionary_enabled(ColumnPath::from(col::REQUEST_ID), false)
        .set_column_encoding(
            ColumnPath::from(col::REQUEST_ID),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
        );
    // Text min/max prunes nothing here (every route, method, client... appears in every row
    // group; row groups are cut by time) and costs a string comparison per value: text
    // columns get no statistics. Numbers keep them (`ts` prunes time ranges).
    for c in [
        col::LISTENER,
        col::ROUTE,
        col::UPSTREAM,
        col::ENDPOINT,
        col::METHOD,
        col::STATUS_CLASS,
        col::OUTCOME,
        col::CACHE,
        col::CLIENT_IP,
        col::CLIENT_ID,
        col::REQUEST_ID,
        col::PATH,
        col::USER_AGENT,
    ] {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    Ok(b.build())
}

/// A dictionary of names for one index column; the key of a known index is fixed when the
/// table is set, unknown indices get placeholder values appended.
#[derive(Debug)]
struct NameDict {
    kind: &'static str,
    /// Whether indices are per parent (routes per listener, endpoints per upstream).
    nested: bool,
    values: Vec<String>,
    /// `base[p]..base[p + 1]` are the keys of parent `p`'s names.
    base: Vec<u32>,
    unknown: HashMap<(u16, u16), u32>,
    array: ArrayRef,
    dirty: bool,
}

impl NameDict {
    fn flat(kind: &'static str, names: &[String]) -> Self {
        Self::build(kind, false, std::slice::from_ref(&names.to_vec()))
    }

    fn nested(kind: &'static str, names: &[Vec<String>]) -> Self {
        Self::build(kind, true, names)
    }

    fn build(kind: &'static str, nested: bool, groups: &[Vec<String>]) -> Self {
        let mut values = Vec::new();
        let mut base = vec![0u32];
        for g in groups {
            values.extend(g.iter().cloned());
            base.push(values.len() as u32);
        }
        let array: ArrayRef = Arc::new(StringArray::from_iter_values(&values));
        Self {
            kind,
            nested,
            values,
            base,
            unknown: HashMap::new(),
            array,
            dirty: false,
        }
    }

    /// The key of `idx` under `parent` (`parent` is 0 for flat tables); `None` for [`NONE`].
    #[inline]
    fn key(&mut self, parent: u16, idx: u16) -> Option<u32> {
        if idx == NONE {
            return None;
        }
        let p = usize::from(parent);
        if p + 1 < self.base.len() {
            let k = self.base[p] + u32::from(idx);
            if k < self.base[p + 1] {
                return Some(k);
            }
        }
        Some(self.unknown_key(parent, idx))
    }

    #[cold]
    fn unknown_key(&mut self, parent: u16, idx: u16) -> u32 {
        if let Some(&k) = self.unknown.get(&(parent, idx)) {
            return k;
        }
        let k = self.values.len() as u32;
        self.values.push(if self.nested {
            format!("{}#{parent}.{idx}", self.kind)
        } else {
            format!("{}#{idx}", self.kind)
        });
        self.unknown.insert((parent, idx), k);
        self.dirty = true;
        k
    }

    fn values(&mut self) -> ArrayRef {
        if self.dirty {
            self.array = Arc::new(StringArray::from_iter_values(&self.values));
            self.dirty = false;
        }
        self.array.clone()
    }
}

/// A dictionary for a `#[repr(u8)]` enum column, filled lazily from the discriminant and
/// `as_str()`, so a variant added to the telemetry enums needs no change here.
#[derive(Debug)]
struct EnumDict {
    names: Vec<&'static str>,
    array: ArrayRef,
    dirty: bool,
}

impl EnumDict {
    fn new() -> Self {
        Self {
            names: Vec::new(),
            array: Arc::new(StringArray::from_iter_values([""; 0])),
            dirty: false,
        }
    }

    fn with_values(values: &[&'static str]) -> Self {
        Self {
            names: values.to_vec(),
            array: Arc::new(StringArray::from_iter_values(values)),
            dirty: false,
        }
    }

    /// The key of a variant: its discriminant. A variant's name is learnt once (an enum's
    /// `as_str` never changes), so the hot path compares no strings.
    #[inline]
    fn key(&mut self, discriminant: u8, name: &'static str) -> u8 {
        let i = usize::from(discriminant);
        if self.names.get(i).is_none_or(|n| n.is_empty()) {
            self.learn(i, name);
        }
        discriminant
    }

    #[cold]
    fn learn(&mut self, i: usize, name: &'static str) {
        if self.names.len() <= i {
            self.names.resize(i + 1, "");
        }
        self.names[i] = name;
        self.dirty = true;
    }

    fn values(&mut self) -> ArrayRef {
        if self.dirty {
            self.array = Arc::new(StringArray::from_iter_values(&self.names));
            self.dirty = false;
        }
        self.array.clone()
    }
}

/// A text column being built: bytes and offsets, checked as UTF-8 once per batch.
#[derive(Debug)]
struct TextBuilder {
    b: BinaryBuilder,
    /// Value bytes of the last batch, to size the next one.
    last_bytes: usize,
}

impl TextBuilder {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            b: BinaryBuilder::with_capacity(rows, bytes),
            last_bytes: bytes,
        }
    }

    /// Appends bytes as text: null when empty and `null_if_empty`; invalid UTF-8 (raw header
    /// bytes, a truncation inside a character) gets U+FFFD replacements. ASCII, the usual
    /// case, is copied as is and validated with the whole batch in [`finish`](Self::finish).
    #[inline]
    fn push(&mut self, bytes: &[u8], null_if_empty: bool) {
        if bytes.is_empty() && null_if_empty {
            self.b.append_null();
        } else if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
            self.b.append_value(bytes);
        } else {
            self.b
                .append_value(String::from_utf8_lossy(bytes).as_bytes());
        }
    }

    /// The column so far; the builder starts again with the same capacity.
    fn finish(&mut self, rows: usize) -> Result<StringArray> {
        let bytes = self.b.values_slice().len();
        let cap = bytes.max(self.last_bytes);
        self.last_bytes = bytes;
        let mut b = std::mem::replace(&mut self.b, BinaryBuilder::with_capacity(rows, cap));
        Ok(StringArray::try_from_binary(b.finish())?)
    }
}

/// Finishes a primitive builder and puts a fresh one with `cap` slots in its place (so the
/// next batch does not grow its buffers by doubling).
fn take<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    cap: usize,
) -> arrow_array::PrimitiveArray<T> {
    std::mem::replace(b, PrimitiveBuilder::with_capacity(cap)).finish()
}

/// The column builders of the batch being buffered.
#[derive(Debug)]
struct Columns {
    len: usize,
    cap: usize,
    ts: TimestampMicrosecondBuilder,
    core: UInt16Builder,
    listener: UInt32Builder,
    route: UInt32Builder,
    upstream: UInt32Builder,
    endpoint: UInt32Builder,
    method: UInt8Builder,
    http_version: UInt8Builder,
    status: UInt16Builder,
    status_class: UInt8Builder,
    outcome: UInt8Builder,
    cache: UInt8Builder,
    retries: UInt8Builder,
    total_us: UInt32Builder,
    upstream_us: UInt32Builder,
    ttfb_us: UInt32Builder,
    request_bytes: UInt64Builder,
    response_bytes: UInt64Builder,
    client_ip: TextBuilder,
    client_id: TextBuilder,
    request_id: TextBuilder,
    path: TextBuilder,
    user_agent: TextBuilder,
    listeners: NameDict,
    routes: NameDict,
    upstreams: NameDict,
    endpoints: NameDict,
    methods: EnumDict,
    status_classes: EnumDict,
    outcomes: EnumDict,
    caches: EnumDict,
    scratch: String,
}

impl Columns {
    fn new(cap: usize, names: &Names) -> Self {
        Self {
            len: 0,
            cap,
            ts: TimestampMicrosecondBuilder::with_capacity(cap).with_timezone(TIME_ZONE),
            core: PrimitiveBuilder::with_capacity(cap),
            listener: PrimitiveBuilder::with_capacity(cap),
            route: PrimitiveBuilder::with_capacity(cap),
            upstream: PrimitiveBuilder::with_capacity(cap),
            endpoint: PrimitiveBuilder::with_capacity(cap),
            method: PrimitiveBuilder::with_capacity(cap),
            http_version: PrimitiveBuilder::with_capacity(cap),
            status: PrimitiveBuilder::with_capacity(cap),
            status_class: PrimitiveBuilder::with_capacity(cap),
            outcome: PrimitiveBuilder::with_capacity(cap),
            cache: PrimitiveBuilder::with_capacity(cap),
            retries: PrimitiveBuilder::with_capacity(cap),
            total_us: PrimitiveBuilder::with_capacity(cap),
            upstream_us: PrimitiveBuilder::with_capacity(cap),
            ttfb_us: PrimitiveBuilder::with_capacity(cap),
            request_bytes: PrimitiveBuilder::with_capacity(cap),
            response_bytes: PrimitiveBuilder::with_capacity(cap),
            client_ip: TextBuilder::with_capacity(cap, cap * 14),
            client_id: TextBuilder::with_capacity(cap, cap * 8),
            request_id: TextBuilder::with_capacity(cap, cap * 32),
            path: TextBuilder::with_capacity(cap, cap * 24),
            user_agent: TextBuilder::with_capacity(cap, cap * 32),
            listeners: NameDict::flat("listener", &names.listeners),
            routes: NameDict::nested("route", &names.routes),
            upstreams: NameDict::flat("upstream", &names.upstreams),
            endpoints: NameDict::nested("endpoint", &names.endpoints),
            methods: EnumDict::new(),
            status_classes: EnumDict::with_values(&STATUS_CLASSES),
            outcomes: EnumDict::new(),
            caches: EnumDict::new(),
            scratch: String::with_capacity(64),
        }
    }

    fn set_names(&mut self, names: &Names) {
        self.listeners = NameDict::flat("listener", &names.listeners);
        self.routes = NameDict::nested("route", &names.routes);
        self.upstreams = NameDict::flat("upstream", &names.upstreams);
        self.endpoints = NameDict::nested("endpoint", &names.endpoints);
    }

    fn push(&mut self, r: &RequestRecord) {
        self.len += 1;
        self.ts.append_value(r.ts_us);
        self.core.append_value(r.core);
        let listener = self.listeners.key(0, r.listener);
        self.listener.append_option(listener);
        // Routes are per listener; a listener of NONE makes any route an unknown one.
        let route = self.routes.key(r.listener, r.route);
        self.route.append_option(route);
        self.upstream
            .append_option(self.upstreams.key(0, r.upstream));
        self.endpoint.append_option(if r.endpoint == NONE {
            None
        } else {
            self.endpoints.key(r.upstream, r.endpoint)
        });
        self.method
            .append_value(self.methods.key(r.method as u8, r.method.as_str()));
        self.http_version.append_value(r.http_version);
        self.status.append_value(r.status);
        self.status_class.append_option(status_class_key(r.status));
        self.outcome
            .append_value(self.outcomes.key(r.outcome as u8, r.outcome.as_str()));
        self.cache
            .append_value(self.caches.key(r.cache as u8, r.cache.as_str()));
        self.retries.append_value(r.retries);
        self.total_us.append_value(r.total_us);
        if r.upstream == NONE {
            self.upstream_us.append_null();
            self.ttfb_us.append_null();
        } else {
            self.upstream_us.append_value(r.upstream_us);
            self.ttfb_us.append_value(r.ttfb_us);
        }
        self.request_bytes.append_value(r.request_bytes);
        self.response_bytes.append_value(r.response_bytes);
        self.scratch.clear();
        write_client_ip(&mut self.scratch, &r.client_ip);
        self.client_ip.push(self.scratch.as_bytes(), false);
        self.client_id.push(r.client_id.as_bytes(), true);
        self.request_id.push(r.request_id.as_bytes(), false);
        self.path.push(r.path.as_bytes(), false);
        self.user_agent.push(r.user_agent.as_bytes(), true);
    }

    /// The buffered rows as a batch; the builders start again.
    fn finish(&mut self) -> Result<RecordBatch> {
        let rows = self.len;
        let cap = self.cap;
        self.len = 0;
        let name_col = |keys: &mut UInt32Builder, dict: &mut NameDict| -> Result<ArrayRef> {
            Ok(Arc::new(DictionaryArray::<UInt32Type>::try_new(
                take(keys, cap),
                dict.values(),
            )?))
        };
        let enum_col = |keys: &mut UInt8Builder, dict: &mut EnumDict| -> Result<ArrayRef> {
            Ok(Arc::new(DictionaryArray::<UInt8Type>::try_new(
                take(keys, cap),
                dict.values(),
            )?))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                std::mem::replace(
                    &mut self.ts,
                    TimestampMicrosecondBuilder::with_capacity(cap).with_timezone(TIME_ZONE),
                )
                .finish(),
            ),
            Arc::new(take(&mut self.core, cap)),
            name_col(&mut self.listener, &mut self.listeners)?,
            name_col(&mut self.route, &mut self.routes)?,
            name_col(&mut self.upstream, &mut self.upstreams)?,
            name_col(&mut self.endpoint, &mut self.endpoints)?,
            enum_col(&mut self.method, &mut self.methods)?,
            Arc::new(take(&mut self.http_version, cap)),
            Arc::new(take(&mut self.status, cap)),
            enum_col(&mut self.status_class, &mut self.status_classes)?,
            enum_col(&mut self.outcome, &mut self.outcomes)?,
            enum_col(&mut self.cache, &mut self.caches)?,
            Arc::new(take(&mut self.retries, cap)),
            Arc::new(take(&mut self.total_us, cap)),
            Arc::new(take(&mut self.upstream_us, cap)),
            Arc::new(take(&mut self.ttfb_us, cap)),
            Arc::new(take(&mut self.request_bytes, cap)),
            Arc::new(take(&mut self.response_bytes, cap)),
            Arc::new(self.client_ip.finish(rows)?),
            Arc::new(self.client_id.finish(rows)?),
            Arc::new(self.request_id.finish(rows)?),
            Arc::new(self.path.finish(rows)?),
            Arc::new(self.user_agent.finish(rows)?),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_parses() {
        assert_eq!(
            "zstd".parse::<Compression>().unwrap(),
            Compression::default()
        );
        assert_eq!(
            "zstd:9".parse::<Compression>().unwrap(),
            Compression::Zstd { level: 9 }
        );
        assert_eq!(
            "snappy".parse::<Compression>().unwrap(),
            Compression::Snappy
        );
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        for bad in ["", "gzip", "zstd:", "zstd:0", "zstd:23", "zstd:x"] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
    }

    #[test]
    fn config_rejects_each_bad_value() {
        let ok = SinkConfig::new("/tmp/x");
        ok.validate().unwrap();
        let cases: [(&str, SinkConfig); 6] = [
            ("dir", SinkConfig::new("")),
            (
                "zstd level",
                SinkConfig {
                    compression: Compression::Zstd { level: 0 },
                    ..ok.clone()
                },
            ),
            (
                "rotate_after",
                SinkConfig {
                    rotate_after: Duration::ZERO,
                    ..ok.clone()
                },
            ),
            (
                "max_file_bytes",
                SinkConfig {
                    max_file_bytes: 0,
                    ..ok.clone()
                },
            ),
            (
                "row_group_rows",
                SinkConfig {
                    row_group_rows: 0,
                    ..ok.clone()
                },
            ),
            (
                "batch_rows",
                SinkConfig {
                    batch_rows: 0,
                    ..ok.clone()
                },
            ),
        ];
        for (what, cfg) in cases {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn name_dict_keys() {
        let mut d = NameDict::nested("route", &[vec!["a".into(), "b".into()], vec!["c".into()]]);
        assert_eq!(d.key(0, 0), Some(0));
        assert_eq!(d.key(0, 1), Some(1));
        assert_eq!(d.key(1, 0), Some(2));
        assert_eq!(d.key(1, NONE), None);
        assert_eq!(d.key(1, 1), Some(3));
        assert_eq!(d.key(7, 0), Some(4));
        assert_eq!(d.key(1, 1), Some(3));
        let v = d.values();
        let v = v.as_any().downcast_ref::<StringArray>().unwrap();
        let v: Vec<&str> = v.iter().map(|s| s.unwrap()).collect();
        assert_eq!(v, ["a", "b", "c", "route#1.1", "route#7.0"]);

        let mut f = NameDict::flat("upstream", &["x".into()]);
        assert_eq!(f.key(0, 0), Some(0));
        assert_eq!(f.key(0, 2), Some(1));
        assert_eq!(f.values().len(), 2);
    }
}
