//! Queries over the gateway's Parquet logs with DuckDB (the Python package), as a user would.

use std::process::Command;

/// Runs `sql` in DuckDB and returns its rows, one line each, values joined by `|`. Panics with
/// DuckDB's message when the query fails.
pub fn duckdb_rows(sql: &str) -> String {
    crate::ensure_python(&["duckdb"]);
    let out = Command::new("python3")
        .args([
            "-c",
            "import duckdb, sys; [print('|'.join(map(str, r))) for r in duckdb.sql(sys.argv[1]).fetchall()]",
            sql,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "DuckDB: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
