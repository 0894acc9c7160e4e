//! [`ParquetSink`]: request records into Hive-partitioned Parquet files.
//!
//! Records are split into columns as they are pushed; every [`SinkConfig::row_group_rows`]
//! records the buffer is encoded as one row group of the open file (the encoding, done by hand
//! for speed, is described in the `columns` and `pages` modules and in
//! `docs/parquet-schema.md`; parquet-rs frames the file and compresses the pages). A file lives
//! in the partition of its records' UTC date and hour:
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

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::ZstdLevel;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;
use ringway_telemetry::record::RequestRecord;

use crate::civil::{civil_from_days, US_PER_HOUR};
use crate::columns::Columns;
use crate::journal::{self, Recovered, Segment};
use crate::schema::{
    schema, Names, META_SCHEMA_VERSION, META_WRITER, SCHEMA_VERSION, WRITER_VERSION,
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
    /// Close a file once its size reaches this many bytes (bytes written plus an estimate of
    /// the row group in progress; checked every [`batch_rows`](Self::batch_rows) records, so a
    /// file can exceed it by about that many records). Default: 128 MiB. Must be non-zero.
    pub max_file_bytes: u64,
    /// Rows per Parquet row group (the unit of parallel and pruned reads). Default: 65 536.
    /// The dictionary keys of a row group are buffered until it is written (64 bytes per row,
    /// plus the distinct texts); the other columns are encoded 16,384 rows at a time.
    pub row_group_rows: usize,
    /// How often, in records, the size of the open file is checked against
    /// [`max_file_bytes`](Self::max_file_bytes) (estimating the row group in progress from the
    /// file's bytes per row so far). Default: 8 192. Must be non-zero.
    pub batch_rows: usize,
    /// Keep a crash journal of the open file's records (see [`crate::journal`]): a crash then
    /// loses at most [`crate::journal::SYNC_EVERY`] of records, not the open file. Default: off.
    pub journal: bool,
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
            journal: false,
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
    props: WriterPropertiesPtr,
    parquet_schema: SchemaDescriptor,
    cols: Columns,
    file: Option<OpenFile>,
    seq: u64,
    stats: Stats,
    /// Records pushed since the file size was last checked.
    unchecked: usize,
    /// The open file's crash journal, when journaling.
    journal: Option<Segment>,
    /// The names table (written into each journal segment).
    names: Names,
}

/// The file being written.
struct OpenFile {
    writer: SerializedFileWriter<BufWriter<File>>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    hour: i64,
    /// When the file is [`SinkConfig::rotate_after`] old (a comparison per record is cheaper
    /// than a subtraction).
    /// `None` if that is beyond what `SystemTime` represents.
    close_at: Option<SystemTime>,
    /// Rows in completed row groups.
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
        let mut props = writer_properties();
        add_encoded_arrow_schema_to_metadata(&schema(), &mut props);
        let parquet_schema = ArrowSchemaConverter::new().convert(&schema())?;
        let cols = Columns::new(
            cfg.row_group_rows,
            parquet_schema.columns().to_vec(),
            &names,
            cfg.compression.to_parquet()?,
        );
        Ok(Self {
            cfg,
            props: Arc::new(props),
            parquet_schema,
            cols,
            file: None,
            seq: 0,
            stats: Stats::default(),
            unchecked: 0,
            journal: None,
            names,
        })
    }

    /// Writes the records of crash-journal segments left under `cfg.dir` by a sink that did not
    /// finish (a crash) as Parquet files, each with the names it was written with, and removes
    /// the segments. Run it before a journaling sink starts there.
    pub fn recover_journal(cfg: &SinkConfig, now: SystemTime) -> Result<Recovered> {
        journal::recover(&cfg.dir, |names, records| {
            let cfg = SinkConfig {
                journal: false,
                ..cfg.clone()
            };
            let mut sink = ParquetSink::new(cfg, names.clone())?;
            for rec in records {
                sink.push(rec, now)?;
            }
            sink.close().map(|_| ())
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
        if let Some(j) = &mut self.journal {
            j.append(rec)?;
            j.sync_if_due(now)?;
        }
        self.cols.push(rec);
        if self.cols.page_due() {
            if let Err(e) = self.cols.write_values_page() {
                self.abandon_file();
                return Err(e);
            }
        }
        self.unchecked += 1;
        let group_full = self.cols.len() >= self.cfg.row_group_rows;
        if group_full || self.unchecked >= self.cfg.batch_rows {
            self.unchecked = 0;
            if group_full {
                self.write_group()?;
            }
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
        if let Some(j) = &mut self.journal {
            j.sync_if_due(now)?;
        }
        Ok(())
    }

    /// Replaces the names table (after a configuration reload). Rows buffered so far are
    /// encoded with the old table first (their row group is closed).
    pub fn set_names(&mut self, names: &Names) -> Result<()> {
        if self.journal.is_some() {
            // The open file's journal carries the old names: the file ends here.
            self.finish_file()?;
        } else {
            self.write_group()?;
        }
        self.cols.set_names(names);
        self.names = names.clone();
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Rows accepted but not yet in a completed file.
    pub fn pending_rows(&self) -> u64 {
        self.cols.len() as u64 + self.file.as_ref().map_or(0, |f| f.rows)
    }

    /// Writes everything buffered and completes the open file (for shutdown: every record
    /// pushed before is then on disk under its final name).
    pub fn close(mut self) -> Result<Stats> {
        self.finish_file()?;
        Ok(self.stats)
    }

    fn is_old(&self, now: SystemTime) -> bool {
        self.file
            .as_ref()
            .is_some_and(|f| f.close_at.is_some_and(|t| now >= t))
    }

    /// Bytes written plus an estimate of the row group in progress.
    fn file_bytes(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| {
            let written = f.writer.bytes_written() as u64;
            let per_row = (f.rows > 0).then(|| written as f64 / f.rows as f64);
            written + self.cols.estimated_bytes(per_row)
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
        let writer = SerializedFileWriter::new(
            BufWriter::with_capacity(256 * 1024, file),
            self.parquet_schema.root_schema_ptr(),
            self.props.clone(),
        );
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(e.into());
            }
        };
        if self.cfg.journal {
            match Segment::create(&self.cfg.dir, &final_path, &self.names, now) {
                Ok(seg) => self.journal = Some(seg),
                Err(e) => {
                    let _ = fs::remove_file(&tmp_path);
                    return Err(e);
                }
            }
        }
        self.file = Some(OpenFile {
            writer,
            tmp_path,
            final_path,
            hour,
            close_at: now.checked_add(self.cfg.rotate_after),
            rows: 0,
        });
        Ok(())
    }

    /// Writes the buffered rows as a row group of the open file.
    fn write_group(&mut self) -> Result<()> {
        let rows = self.cols.len();
        if rows == 0 {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            // Not reached: rows are only buffered while a file is open.
            self.stats.rows_dropped += rows as u64;
            self.cols.discard();
            return Ok(());
        };
        match self.cols.write_group(&mut file.writer) {
            Ok(()) => {
                file.rows += rows as u64;
                Ok(())
            }
            Err(e) => {
                self.stats.rows_dropped += rows as u64;
                self.abandon_file();
                Err(e)
            }
        }
    }

    /// Writes the buffer, completes the open file and renames it into place.
    fn finish_file(&mut self) -> Result<()> {
        self.write_group()?;
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
        // Its records are in the file now, or (on failure) only in the journal, which then
        // stays for the next start to recover.
        let journal = self.journal.take();
        match complete(writer, &tmp_path, &final_path) {
            Ok(bytes) => {
                self.stats.files_written += 1;
                self.stats.rows_written += rows;
                self.stats.bytes_written += bytes;
                journal.map_or(Ok(()), Segment::remove)
            }
            Err(e) => {
                self.stats.rows_dropped += rows;
                let _ = fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    /// Drops the open file and every row buffered for it.
    fn abandon_file(&mut self) {
        self.stats.rows_dropped += self.cols.len() as u64;
        self.cols.discard();
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
    writer: SerializedFileWriter<BufWriter<File>>,
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

/// Parquet file properties: format version and key-value metadata. (Encodings, compression
/// and statistics are chosen per column chunk by [`Columns`], which encodes the pages itself.)
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned()),
            KeyValue::new(META_WRITER.to_owned(), WRITER_VERSION.to_owned()),
        ]))
        .build()
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
}
