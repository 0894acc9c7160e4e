#!/usr/bin/env bash
# CPU per request of a fleet-wide rate limit (leases from Redis for every request's key)
# against the same limit counted locally, in the same run, interleaved; and the Redis commands
# per second the store-backed gateway sent at that load. nginx (a plain proxy) runs in the
# same co-run as the peer, as in compare.sh.
#
# Method as benches/policy-cost.sh: nginx upstream, redis-server and wrk pinned to LOAD_CPU;
# each gateway (one worker) and the nginx proxy pinned to PROXY_CPU; CPU time from /proc over
# the requests wrk completed. The limit (requests/s per client) is above the load, so every
# request is admitted and the leases are what the store sees.
#
#   target/release/ringway must exist (cargo build --release -p ringway).
#   Knobs: DURATION [10s] REPS [3] CONNS [64] LIMIT [100000] LOAD_CPU [0] PROXY_CPU [1]
#          BASE_PORT [19180] MODE [lease] (the store's mode: lease, or sync for the
#          approximate mode flushing every 100 ms)
# Needs nginx, wrk, redis-server, curl. Only the processes this script started are stopped.
set -euo pipefail

DURATION=${DURATION:-10s}
REPS=${REPS:-3}
CONNS=${CONNS:-64}
LIMIT=${LIMIT:-100000}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19180}
MODE=${MODE:-lease}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/ringway
[[ -x $BIN ]] || { echo "build first: cargo build --release -p ringway" >&2; exit 1; }
for t in nginx wrk redis-server curl; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done

WORK=$(mktemp -d -t ringway-fleet.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)

UP=127.0.0.1:$BASE_PORT
NGINX_PORT=$((BASE_PORT + 3))
REDIS_PORT=$((BASE_PORT + 9))
mkdir -p "$WORK/origin/logs" "$WORK/proxy/logs"
printf '%s\n' \
  "worker_processes 1; daemon off; error_log $WORK/origin/error.log; pid $WORK/origin/nginx.pid;" \
  "events { worker_connections 4096; }" \
  "http { access_log off; keepalive_requests 1000000;" \
  "  server { listen $UP; location / { return 200 \"hello, world\\n\"; } } }" >"$WORK/origin.conf"
printf '%s\n' \
  "worker_processes 1; master_process off; daemon off; error_log $WORK/proxy/error.log;" \
  "pid $WORK/proxy/nginx.pid;" \
  "events { worker_connections 4096; }" \
  "http { access_log off; keepalive_requests 1000000;" \
  "  upstream up { server $UP; keepalive 64; }" \
  "  server { listen 127.0.0.1:$NGINX_PORT; location / { proxy_pass http://up;" \
  "    proxy_http_version 1.1; proxy_set_header Connection \"\"; } } }" >"$WORK/proxy.conf"
taskset -c "$LOAD_CPU" nginx -p "$WORK/origin" -c "$WORK/origin.conf" & PIDS+=($!)
taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy" -c "$WORK/proxy.conf" & PIDS+=($!); NGINX_PID=$!
taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
  --appendonly no >/dev/null & PIDS+=($!)

config() {  # name port admin-port store(yes|no)
  local store=""
  [[ $4 == yes ]] && store=", store: { url: \"redis://127.0.0.1:$REDIS_PORT\", mode: $MODE }"
  printf '%s\n' \
    "admin: { listen: \"127.0.0.1:$3\" }" \
    "upstreams:" \
    "  up: { endpoints: [{ address: \"$UP\" }] }" \
    "listeners:" \
    "  - name: main" \
    "    listen: 127.0.0.1:$2" \
    "    routes:" \
    "      - name: all" \
    "        proxy: { upstream: up }" \
    "        rate_limits: [{ name: limit, key: client_ip, requests: $LIMIT, per: 1s$store }]" \
    >"$WORK/$1.yaml"
}
config local $((BASE_PORT + 1)) $((BASE_PORT + 5)) no
config fleet $((BASE_PORT + 2)) $((BASE_PORT + 6)) yes
sleep 0.5
taskset -c "$PROXY_CPU" "$BIN" run --config "$WORK/local.yaml" --workers 1 >/dev/null 2>&1 & PIDS+=($!); LOCAL_PID=$!
taskset -c "$PROXY_CPU" "$BIN" run --config "$WORK/fleet.yaml" --workers 1 >/dev/null 2>&1 & PIDS+=($!); FLEET_PID=$!
sleep 1
for p in $((BASE_PORT + 1)) $((BASE_PORT + 2)) $NGINX_PORT; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/")
  [[ $code == 200 ]] || { echo "port $p answered $code" >&2; exit 1; }
done

ticks() { local s; s=$(cat /proc/"$1"/stat); s=${s##*) }; read -ra f <<<"$s"; echo $((f[11] + f[12])); }
store_commands() {
  curl -s "http://127.0.0.1:$((BASE_PORT + 6))/metrics" |
    awk '/^ringway_ratelimit_store_commands_total/ {print $2}'
}
run() {  # name pid port -> "cpu_us_per_req rps"
  local t0 t1 out req
  t0=$(ticks "$2")
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$3/")
  t1=$(ticks "$2")
  req=$(awk '/requests in/{print $1}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx responses (limit below the load?)" >&2; exit 1; fi
  awk -v t=$((t1 - t0)) -v r="$req" -v hz="$CLK_TCK" -v d="${DURATION%s}" \
    'BEGIN { printf "%.2f %.0f\n", t / hz * 1e6 / r, r / d }'
}
declare -a LOCAL FLEET NGINX CMDS
for rep in $(seq 1 "$REPS"); do
  for p in $((BASE_PORT + 1)) $((BASE_PORT + 2)) $NGINX_PORT; do
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$p/" >/dev/null
  done
  read -r n rn < <(run nginx "$NGINX_PID" $NGINX_PORT)
  read -r a ra < <(run local "$LOCAL_PID" $((BASE_PORT + 1)))
  c0=$(store_commands)
  read -r b rb < <(run fleet "$FLEET_PID" $((BASE_PORT + 2)))
  c1=$(store_commands)
  cps=$(awk -v c=$((c1 - c0)) -v d="${DURATION%s}" 'BEGIN{printf "%.1f", c / d}')
  LOCAL+=("$a"); FLEET+=("$b"); NGINX+=("$n"); CMDS+=("$cps")
  echo "rep $rep: nginx $n CPU-us/req ($rn rps); local limit $a ($ra rps); fleet limit $b ($rb rps, $cps Redis commands/s); fleet/local $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b/a}')"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mn=$(median "${NGINX[@]}"); ma=$(median "${LOCAL[@]}"); mb=$(median "${FLEET[@]}"); mc=$(median "${CMDS[@]}")
echo "median ($MODE): nginx $mn, local limit $ma, fleet limit $mb CPU-us/req; fleet/local $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", b/a}'); nginx/fleet $(awk -v n="$mn" -v b="$mb" 'BEGIN{printf "%.3f", n/b}'); $mc Redis commands/s"
