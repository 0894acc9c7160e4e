"""Opens every Parquet file the end-to-end telemetry test wrote with two independent readers
(pyarrow and DuckDB) and checks the documented schema, its version and the row count."""

import pathlib
import sys

import duckdb
import pyarrow.parquet as pq

COLUMNS = [
    "ts", "core", "listener", "route", "upstream", "endpoint", "method", "http_version",
    "status", "status_class", "outcome", "cache", "retries", "total_us", "upstream_us",
    "ttfb_us", "request_bytes", "response_bytes", "client_ip", "client_id", "request_id",
    "path", "user_agent", "tls_version", "tls_session", "alpn", "sni", "grpc_status",
    "trace_id", "parent_id",
]

root = pathlib.Path(sys.argv[1])
expected = int((root / "expected_rows.txt").read_text())
files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))
assert files, f"no Parquet files under {root}"
rows = 0
for f in files:
    meta = pq.read_metadata(f)
    kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
    assert kv.get("ringway.schema_version") == "5", (f, kv)
    table = pq.read_table(f)
    missing = [c for c in COLUMNS if c not in table.column_names]
    assert not missing, (f, missing)
    rows += table.num_rows
assert rows == expected, f"pyarrow read {rows} rows, expected {expected}"
con = duckdb.connect()
glob = str(root / "**" / "*.parquet")
(n,) = con.execute(f"select count(*) from read_parquet('{glob}', hive_partitioning = true)").fetchone()
assert n == expected, f"DuckDB read {n} rows, expected {expected}"
by_route = dict(con.execute(
    f"select coalesce(route, '-'), count(*) from read_parquet('{glob}', hive_partitioning = true) group by 1"
).fetchall())
(traced, bad) = con.execute(
    f"select count(trace_id), count(*) filter (where trace_id is not null and "
    f"not regexp_full_match(trace_id, '[0-9a-f]{{32}}')) "
    f"from read_parquet('{glob}', hive_partitioning = true)"
).fetchone()
assert traced > 0 and bad == 0, f"trace ids: {traced} present, {bad} malformed"
print(f"parquet: {len(files)} files, {rows} rows; pyarrow and DuckDB agree; by route: {by_route}")
