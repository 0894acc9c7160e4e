//! Bytes per record on disk for a realistic mix (see `ringway_analytics::synth`), per column,
//! with the gateway's own request ids and with random ones. Run with `--nocapture` to see the
//! report; the asserts are the budget.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::fs::File;

use common::{all_files, at_us, TempDir, T0_US};
use parquet::file::reader::{FileReader, SerializedFileReader};
use ringway_analytics::synth::Synth;
use ringway_analytics::{Compression, ParquetSink, SinkConfig};

/// Records per measurement: one minute at ~1 700 requests/s, one file.
const N: usize = 100_000;

struct Measured {
    bytes_per_record: f64,
    /// (column, compressed bytes per record), largest first.
    columns: Vec<(String, f64)>,
}

impl Measured {
    fn column(&self, name: &str) -> f64 {
        self.columns.iter().find(|c| c.0 == name).unwrap().1
    }
}

fn measure(random_ids: bool, compression: Compression) -> Measured {
    let tmp = TempDir::new("size");
    let cfg = SinkConfig {
        compression,
        ..SinkConfig::new(tmp.path())
    };
    let mut sink = ParquetSink::new(cfg, Synth::names()).unwrap();
    for r in Synth::new(1, T0_US).random_request_ids(random_ids).take(N) {
        sink.push(&r, at_us(T0_US)).unwrap();
    }
    let stats = sink.close().unwrap();
    assert_eq!(stats.rows_written, N as u64);
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 1);
    let reader =
        SerializedFileReader::new(File::open(tmp.path().join(&files[0])).unwrap()).unwrap();
    let md = reader.metadata();
    let mut columns: Vec<(String, f64)> = (0..md.file_metadata().schema_descr().num_columns())
        .map(|c| {
            let bytes: i64 = md
                .row_groups()
                .iter()
                .map(|rg| rg.column(c).compressed_size())
                .sum();
            (
                md.file_metadata()
                    .schema_descr()
                    .column(c)
                    .name()
                    .to_owned(),
                bytes as f64 / N as f64,
            )
        })
        .collect();
    columns.sort_by(|a, b| b.1.total_cmp(&a.1));
    Measured {
        bytes_per_record: stats.bytes_written as f64 / N as f64,
        columns,
    }
}

fn report(label: &str, m: &Measured) {
    eprintln!("{label}: {:.2} bytes/record", m.bytes_per_record);
    for (c, b) in &m.columns {
        eprintln!("    {c:<15} {b:>6.2}");
    }
}

#[test]
fn bytes_per_record() {
    let gateway_ids = measure(false, Compression::default());
    report("zstd(3), gateway request ids", &gateway_ids);
    let random_ids = measure(true, Compression::default());
    report("zstd(3), random 32-hex request ids", &random_ids);
    let without_ids = random_ids.bytes_per_record - random_ids.column("request_id");
    eprintln!("zstd(3), without the request_id column: {without_ids:.2} bytes/record");
    let snappy = measure(false, Compression::Snappy);
    eprintln!(
        "snappy, gateway ids: {:.2} bytes/record",
        snappy.bytes_per_record
    );
    let none = measure(false, Compression::None);
    eprintln!(
        "uncompressed, gateway ids: {:.2} bytes/record",
        none.bytes_per_record
    );

    assert!(gateway_ids.bytes_per_record <= 25.0);
    assert!(without_ids <= 25.0);
    // 128 random bits cannot take less than 16 bytes.
    assert!(random_ids.column("request_id") >= 16.0);
}
