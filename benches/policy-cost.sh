#!/usr/bin/env bash
# CPU per request of the gateway with policies (JWT + rate limit on every request) against the
# same gateway without them, in the same run, interleaved: the cost of the policy stage.
#
# compare.sh cannot send credentials (its wrk sends no headers), so this script mirrors its
# method for the one thing it cannot do: nginx as the upstream pinned to LOAD_CPU, the gateway
# (one worker) pinned to PROXY_CPU, wrk (one thread, c=$CONNS, --latency) pinned to LOAD_CPU,
# CPU time of the gateway process from /proc divided by the requests wrk completed.
#
#   target/release/ringway must exist (cargo build --release -p ringway).
#   Knobs: DURATION [10s] REPS [3] CONNS [64] LOAD_CPU [0] PROXY_CPU [1] BASE_PORT [19080]
# Output: one line per run and a summary with medians and the with/without ratio.
# Only the processes this script started are stopped.
set -euo pipefail

DURATION=${DURATION:-10s}
REPS=${REPS:-3}
CONNS=${CONNS:-64}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/ringway
[[ -x $BIN ]] || { echo "build first: cargo build --release -p ringway" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 1; }

WORK=$(mktemp -d -t ringway-policy.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)

UP=127.0.0.1:$BASE_PORT
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1; daemon off; error_log $WORK/nginx/error.log; pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen $UP; location / { return 200 "hello, world\n"; } } }
EOF
taskset -c "$LOAD_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx.conf" & PIDS+=($!)

# A key pair and a token valid for an hour, made with openssl alone.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ec.pem" 2>/dev/null
openssl pkey -in "$WORK/ec.pem" -pubout -out "$WORK/ec-public.pem"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
NOW=$(date +%s)
HEADER=$(printf '{"alg":"ES256","typ":"JWT","kid":"k1"}' | b64url)
PAYLOAD=$(printf '{"iss":"bench","aud":"api","sub":"client-1","scope":"read","exp":%d}' $((NOW + 3600)) | b64url)
# ES256 wants r||s (64 bytes); openssl gives DER: convert.
DER=$(printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -sign "$WORK/ec.pem" | xxd -p -c 256)
SIG=$(python3 - "$DER" <<'EOF'
import sys, base64
der = bytes.fromhex(sys.argv[1])
i = 2
def read_int(i):
    assert der[i] == 2; n = der[i+1]; v = der[i+2:i+2+n]; return v.lstrip(b"\0").rjust(32, b"\0"), i+2+n
r, i = read_int(i); s, i = read_int(i)
print(base64.urlsafe_b64encode(r + s).decode().rstrip("="))
EOF
)
TOKEN=$HEADER.$PAYLOAD.$SIG

config() {  # name port policies(yes|no)
  local policy=""
  if [[ $3 == yes ]]; then
    policy="
        auth: { jwt: bench, scopes: [read] }
        rate_limits: [{ key: consumer, requests: 10000000, per: 1s }]"
  fi
  cat >"$WORK/$1.yaml" <<EOF
admin: { enabled: false }
auth:
  jwt_providers:
    bench:
      issuer: bench
      audiences: [api]
      algorithms: [ES256]
      keys: { pem_files: [{ file: "$WORK/ec-public.pem", kid: k1 }] }
upstreams:
  up: { endpoints: [{ address: "$UP" }] }
listeners:
  - name: main
    listen: 127.0.0.1:$2
    routes:
      - name: all
        proxy: { upstream: up }$policy
EOF
}
config plain $((BASE_PORT + 1)) no
config policy $((BASE_PORT + 2)) yes
taskset -c "$PROXY_CPU" "$BIN" run --config "$WORK/plain.yaml" --workers 1 >/dev/null 2>&1 & PIDS+=($!); PLAIN_PID=$!
taskset -c "$PROXY_CPU" "$BIN" run --config "$WORK/policy.yaml" --workers 1 >/dev/null 2>&1 & PIDS+=($!); POLICY_PID=$!
sleep 1
AUTH="Authorization: Bearer $TOKEN"
for p in $((BASE_PORT + 1)) $((BASE_PORT + 2)); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "http://127.0.0.1:$p/")
  [[ $code == 200 ]] || { echo "port $p answered $code" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((BASE_PORT + 2))/")
[[ $code == 401 ]] || { echo "the policy gateway let a request without a token through ($code)" >&2; exit 1; }

ticks() { local s; s=$(cat /proc/"$1"/stat); s=${s##*) }; read -ra f <<<"$s"; echo $((f[11] + f[12])); }
run() {  # name pid port -> "cpu_us_per_req rps"
  local t0 t1 out req
  t0=$(ticks "$2")
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" -H "$AUTH" "http://127.0.0.1:$3/")
  t1=$(ticks "$2")
  req=$(awk '/requests in/{print $1}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx responses" >&2; exit 1; fi
  awk -v t=$((t1 - t0)) -v r="$req" -v hz="$CLK_TCK" -v d="${DURATION%s}" \
    'BEGIN { printf "%.2f %.0f\n", t / hz * 1e6 / r, r / d }'
}
declare -a PLAIN POLICY
for rep in $(seq 1 "$REPS"); do
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -H "$AUTH" "http://127.0.0.1:$((BASE_PORT + 1))/" >/dev/null
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -H "$AUTH" "http://127.0.0.1:$((BASE_PORT + 2))/" >/dev/null
  read -r a ra < <(run plain "$PLAIN_PID" $((BASE_PORT + 1)))
  read -r b rb < <(run policy "$POLICY_PID" $((BASE_PORT + 2)))
  PLAIN+=("$a"); POLICY+=("$b")
  echo "rep $rep: plain $a CPU-us/req ($ra rps), JWT+rate limit $b CPU-us/req ($rb rps), ratio $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b/a}')"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ma=$(median "${PLAIN[@]}"); mb=$(median "${POLICY[@]}")
echo "median: plain $ma, JWT+rate limit $mb CPU-us/req; policy/plain $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", b/a}')"
