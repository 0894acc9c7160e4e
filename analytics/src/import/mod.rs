//! `ringway import`: access logs of other servers (nginx/Apache combined format, nginx JSON
//! lines) into Parquet files with the [columns `ringway report` reads](crate::source), so a
//! team can run the report over its history before it switches gateways.
//!
//! Access logs have no route: the caller names one per request (the gateway's own router
//! over a configuration, or the first path segment). Latency comes from a request time when
//! the line has one, else it is 0 (the latency detector then has nothing to judge). A line
//! that does not parse is counted with the first few reasons, never fatal.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{StringBuilder, UInt16Builder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::schema::col;
use crate::{Error, Result};

mod parse;

pub use parse::{parse_clf_time, parse_combined, parse_json, LogLine};

/// Rows per output file.
const FILE_ROWS: usize = 1 << 20;
/// Rows per batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;
/// Reasons kept for the summary.
const EXAMPLES: usize = 10;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// nginx/Apache combined, optionally followed by a request time in seconds.
    Combined,
    /// One JSON object per line, nginx variable names.
    Json,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "combined" => Ok(Self::Combined),
            "json" | "nginx-json" => Ok(Self::Json),
            _ => Err(Error::Parse {
                what: "format",
                value: s.to_owned(),
                expected: "combined or json",
            }),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    /// Lines read (blank lines not counted).
    pub lines: u64,
    /// Rows written.
    pub rows: u64,
    /// Lines that did not parse.
    pub bad_lines: u64,
    /// Files written.
    pub files: u64,
    /// The first bad lines: `file:line: reason`.
    pub examples: Vec<String>,
}

/// The output schema: the report's required columns, the client and a little more.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            col::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(col::ROUTE, DataType::Utf8, true),
        Field::new(col::METHOD, DataType::Utf8, false),
        Field::new(col::PATH, DataType::Utf8, false),
        Field::new(col::STATUS, DataType::UInt16, false),
        Field::new(col::TOTAL_US, DataType::UInt32, false),
        Field::new(col::RESPONSE_BYTES, DataType::UInt64, false),
        Field::new(col::CLIENT_IP, DataType::Utf8, false),
        Field::new(col::USER_AGENT, DataType::Utf8, false),
    ]))
}

/// Writes parsed lines into Parquet files `import-NNNNN.parquet` under a directory.
pub struct Importer {
    dir: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    rows_in_file: usize,
    buf: Columns,
    /// What was done so far.
    pub stats: ImportStats,
}

#[derive(Default)]
struct Columns {
    ts: Vec<i64>,
    route: StringBuilder,
    method: StringBuilder,
    path: StringBuilder,
    status: UInt16Builder,
    total: UInt32Builder,
    bytes: UInt64Builder,
    client: StringBuilder,
    ua: StringBuilder,
}

impl Importer {
    /// An importer writing under `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Importer> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        Ok(Importer {
            dir: dir.to_path_buf(),
            schema: schema(),
            writer: None,
            rows_in_file: 0,
            buf: Columns::default(),
            stats: ImportStats::default(),
        })
    }

    /// Reads every line of `path` in `format`, naming each request's route with `route`.
    pub fn import_file(
        &mut self,
        path: &Path,
        format: Format,
        route: &mut dyn FnMut(&LogLine) -> Option<String>,
    ) -> Result<()> {
        use std::io::BufRead;
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut raw = Vec::new();
        let mut n = 0u64;
        loop {
            raw.clear();
            let read = reader
                .read_until(b'\n', &mut raw)
                .map_err(|e| Error::io("read", path, e))?;
            if read == 0 {
                break;
            }
            n += 1;
            let line = String::from_utf8_lossy(&raw);
            if line.trim().is_empty() {
                continue;
            }
            self.stats.lines += 1;
            let parsed = match format {
                Format::Combined => parse_combined(&line).map_err(str::to_owned),
                Format::Json => parse_json(&line),
            };
            match parsed {
                Ok(l) => {
                    let r = route(&l);
                    self.push(&l, r.as_deref())?;
                }
                Err(why) => {
                    self.stats.bad_lines += 1;
                    if self.stats.examples.len() < EXAMPLES {
                        self.stats
                            .examples
                            .push(format!("{}:{n}: {why}", path.display()));
                    }
                }
            }
        }
        Ok(())
    }

    fn push(&mut self, l: &LogLine, route: Option<&str>) -> Result<()> {
        let b = &mut self.buf;
        b.ts.push(l.ts_us);
        b.route.append_option(route);
        b.method.append_value(&l.method);
        b.path.append_value(&l.path);
        b.status.append_value(l.status);
        b.total.append_value(l.total_us.unwrap_or(0));
        b.bytes.append_value(l.bytes);
        b.client.append_value(&l.client_ip);
        b.ua.append_value(&l.user_agent);
        if b.ts.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let b = &mut self.buf;
        let rows = b.ts.len();
        if rows == 0 {
            return Ok(());
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from(std::mem::take(&mut b.ts)).with_timezone("UTC"),
            ),
            Arc::new(b.route.finish()),
            Arc::new(b.method.finish()),
            Arc::new(b.path.finish()),
            Arc::new(b.status.finish()),
            Arc::new(b.total.finish()),
            Arc::new(b.bytes.finish()),
            Arc::new(b.client.finish()),
            Arc::new(b.ua.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), cols)?;
        if self.writer.is_none() {
            let path = self
                .dir
                .join(format!("import-{:05}.parquet", self.stats.files));
            let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
                .build();
            self.writer = Some(ArrowWriter::try_new(
                file,
                Arc::clone(&self.schema),
                Some(props),
            )?);
            self.stats.files += 1;
        }
        if let Some(w) = &mut self.writer {
            w.write(&batch)?;
        }
        self.stats.rows += rows as u64;
        self.rows_in_file += rows;
        if self.rows_in_file >= FILE_ROWS {
            self.close_file()?;
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        self.rows_in_file = 0;
        Ok(())
    }

    /// Writes what is buffered and closes the last file.
    pub fn finish(mut self) -> Result<ImportStats> {
        self.flush()?;
        self.close_file()?;
        Ok(self.stats)
    }
}

/// The first path segment as a route name (`/users/7` → `users`, `/` → `root`): the
/// default when no gateway configuration names routes.
pub fn first_segment(path: &str) -> String {
    let p = path.split(['?', '#']).next().unwrap_or("");
    match p.trim_start_matches('/').split('/').next() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "root".to_owned(),
    }
}
