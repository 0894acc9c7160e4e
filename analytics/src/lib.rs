//! Ringway analytics: request records as Parquet files (through Arrow), and the queries behind
//! `ringway logs`.
//!
//! * [`schema`]: the versioned Arrow schema of the log files and the [`Names`] table that turns
//!   the record's configuration indices into route, upstream and endpoint names.
//! * [`writer`]: [`ParquetSink`], which splits [`RequestRecord`]s into columns, encodes each
//!   row group by hand (dictionary keys it already knows, no per-value hashing) and writes
//!   Hive-partitioned (`dt=YYYY-MM-DD/hour=HH`) Parquet files, renamed into place only when
//!   complete, rotated by age and size.
//! * [`query`]: scans a directory of those files with filters, grouping, latency quantiles and
//!   table/CSV/JSON output.
//! * [`civil`]: UTC calendar arithmetic (no `chrono`) shared by the writer and the query parser.
//! * [`synth`]: a deterministic generator of realistic records for tests, benches and demos.
//!
//! The column layout is documented with DuckDB equivalents in `docs/parquet-schema.md`.
//!
//! [`RequestRecord`]: ringway_telemetry::record::RequestRecord

pub mod access_log;
pub mod anomaly;
pub mod civil;
mod columns;
mod columns_in;
mod dict;
pub mod import;
pub mod journal;
mod pages;
pub mod propose;
pub mod query;
pub mod report;
pub mod scenario;
pub mod schema;
pub mod source;
pub mod synth;
pub mod writer;

use std::path::PathBuf;

pub use query::{run_query, GroupBy, GroupRow, OutputFormat, Query, QueryResult, StatusFilter};
pub use schema::{Names, SCHEMA_VERSION};
pub use writer::{Compression, ParquetSink, SinkConfig, Stats};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"create"`, `"rename"`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Parquet library failed (encoding, decoding, a corrupt file).
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow rejected an array or a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A configuration value is out of range.
    #[error("invalid config: {0}")]
    Config(String),
    /// A file does not have the columns or types this crate writes.
    #[error("{path}: {message}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// A command-line value could not be parsed.
    #[error("invalid {what} {value:?}: {expected}")]
    Parse {
        /// Which value (`"status"`, `"time"`, ...).
        what: &'static str,
        /// The text given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
