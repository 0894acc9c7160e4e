#!/usr/bin/env bash
# `ringway report` against DuckDB on the same Parquet files, in the same run, interleaved.
#
# Writes ROWS of labelled scenario traffic (a week of credential-stuffing scenario at a peak
# rate chosen for ROWS) with `ringway scenario`, then alternates, REPS times each:
#   * ringway report --logs DIR --format json (the detectors, chart series and proposals);
#   * DuckDB with one thread (SET threads = 1): the per-endpoint 10 s aggregation the
#     detectors start from — route, method, path template (ids collapsed), 10 s bucket:
#     requests, 5xx, 401/403 and 429 counts, approximate p99 of total_us.
# Wall time and CPU time (user + system) of each; the summary gives medians and ratios.
#
#   target/release/ringway must exist (cargo build --release -p ringway); python3 with duckdb
#   (pip install duckdb). Knobs: ROWS [10000000] REPS [3] KEEP [unset: remove the files].
set -euo pipefail

ROWS=${ROWS:-10000000}
REPS=${REPS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/ringway}
[[ -x $BIN ]] || { echo "build first: cargo build --release -p ringway" >&2; exit 1; }
python3 -c "import duckdb" 2>/dev/null || { echo "needs python3 -m pip install duckdb" >&2; exit 1; }

WORK=$(mktemp -d -t ringway-report-bench.XXXXXX)
cleanup() { [[ -n ${KEEP:-} ]] || rm -rf "$WORK"; }
trap cleanup EXIT

# A week at the default shape holds about 242,000 requests per unit of peak rate.
PEAK=$(python3 -c "print(max(1.0, $ROWS / 242000))")
echo "writing about $ROWS rows (7 days, peak $PEAK requests/s) to $WORK/logs"
"$BIN" scenario credential-stuffing --duration 7d --peak-rps "$PEAK" --out "$WORK/logs" >/dev/null

cat > "$WORK/duck.py" <<'PY'
import os, resource, sys, time
import duckdb
logs = sys.argv[1]
con = duckdb.connect()
con.execute("SET threads = 1")
q = f"""
SELECT count(*) FROM (
  SELECT route, method,
         regexp_replace(split_part(path, '?', 1), '/([0-9]+|[0-9a-fA-F-]{{8,}})', '/{{id}}', 'g') AS template,
         time_bucket(INTERVAL 10 SECOND, ts) AS bucket,
         count(*) AS requests,
         count(*) FILTER (WHERE status >= 500) AS errors_5xx,
         count(*) FILTER (WHERE status IN (401, 403)) AS auth_failures,
         count(*) FILTER (WHERE status = 429) AS rate_limited,
         approx_quantile(total_us, 0.99) AS p99_us
  FROM read_parquet('{logs}/**/*.parquet', hive_partitioning = false)
  GROUP BY ALL)
"""
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
groups = con.execute(q).fetchone()[0]
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(f"{wall:.3f} {cpu:.3f} {groups}")
PY

ours=() theirs=()
for i in $(seq "$REPS"); do
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$WORK/time" "$BIN" report --logs "$WORK/logs" --format json > "$WORK/report.json" 2>/dev/null
  t1=$(date +%s.%N)
  read -r u s < "$WORK/time"
  wall=$(python3 -c "print(f'{$t1 - $t0:.3f}')"); cpu=$(python3 -c "print(f'{$u + $s:.2f}')")
  rows=$(python3 -c "import json; r = json.load(open('$WORK/report.json')); print(r['scan']['rows'], len(r['findings']))")
  echo "rep $i ringway report: wall ${wall}s cpu ${cpu}s (rows, findings: $rows)"
  ours+=("$wall $cpu")
  read -r dwall dcpu groups < <(python3 "$WORK/duck.py" "$WORK/logs")
  echo "rep $i duckdb (1 thread): wall ${dwall}s cpu ${dcpu}s ($groups groups)"
  theirs+=("$dwall $dcpu")
done

python3 - "${ours[@]}" -- "${theirs[@]}" <<'PY'
import statistics, sys
args = sys.argv[1:]
cut = args.index("--")
ours = [tuple(map(float, a.split())) for a in args[:cut]]
theirs = [tuple(map(float, a.split())) for a in args[cut + 1:]]
ow = statistics.median(w for w, _ in ours); oc = statistics.median(c for _, c in ours)
tw = statistics.median(w for w, _ in theirs); tc = statistics.median(c for _, c in theirs)
print(f"median wall: ringway {ow:.2f}s, duckdb {tw:.2f}s, ratio {ow / tw:.2f}")
print(f"median cpu:  ringway {oc:.2f}s, duckdb {tc:.2f}s, ratio {oc / tc:.2f}")
PY
