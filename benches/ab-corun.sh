#!/usr/bin/env bash
# A/B cost of a change, each side co-run against nginx on the same CPU (../shared/bench/
# compare.sh, CORUN gw:nginx at c=64), interleaved A, B, A, B... so drift on a shared machine
# hits both alike. The figure is nginx's CPU per request over the gateway's for each side;
# B/A of those ratios is the change's cost (below 1: B costs more).
#
#   benches/ab-corun.sh OLD_BINARY NEW_BINARY [ROUNDS=2] [EXTRA_PROXY_ARGS...]
#   e.g. benches/ab-corun.sh /tmp/ringway-old target/release/ringway 2 --logs /tmp/ab-logs
set -euo pipefail
a=$1 b=$2 rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
extra="$*"
compare=${COMPARE:-$(dirname "$0")/../../shared/bench/compare.sh}
out=${OUT:-target/ab-corun/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
for r in $(seq "$rounds"); do
    for side in a b; do
        bin=$a; [ "$side" = b ] && bin=$b
        logs="$out/logs-$side-$r"
        args=${extra//\/tmp\/ab-logs/$logs}
        GW_CMD="exec $bin proxy --listen \$GW_LISTEN --to \$GW_UPSTREAM --workers 1 $args" \
        CORUN="gw:nginx" CORUN_CONNS=64 CORUN_REPS=${REPS:-3} MATRIX_OFF=1 \
        OUT_DIR="$out/$side-$r" "$compare" > "$out/$side-$r.log" 2>&1
        rm -rf "$logs"
        echo "round $r side $side ($bin): $(grep -E '^(small|4k|64k) ' "$out/$side-$r/summary.txt" | tail -1)"
    done
done
