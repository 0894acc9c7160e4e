#!/usr/bin/env bash
# The deployment files, exercised as far as this machine allows:
# - the systemd unit: `systemd-analyze verify` (syntax, directives, executables) and
#   `systemd-analyze security --offline` (sandboxing exposure at most 2.0, given in tenths), with its paths
#   pointed at the built binary and config/gateway.yaml; then its ExecStartPre and ExecStart
#   command lines are run as written: the config validates, the gateway serves, SIGHUP
#   (ExecReload) leaves it serving, SIGTERM (KillSignal) stops it within TimeoutStopSec.
# - the Containerfile: every COPY source exists and the config it ships validates; built and
#   run (readiness through its HEALTHCHECK command) only where a Docker daemon and the base
#   images are reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/${1:-target/debug/ringway}"
unit=config/deploy/ringway.service
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if ! command -v systemd-analyze >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q systemd >/dev/null
fi
sed "s#/usr/local/bin/ringway#$bin#g; s#/etc/ringway/gateway.yaml#$PWD/config/gateway.yaml#g" \
    "$unit" > "$work/ringway.service"
systemd-analyze verify "$work/ringway.service"
systemd-analyze security --offline=yes --threshold=20 "$work/ringway.service" | tail -1

# The unit's command lines, as systemd would run them (no systemd as PID 1 here).
pre=$(sed -n 's/^ExecStartPre=//p' "$work/ringway.service")
start=$(sed -n 's/^ExecStart=//p' "$work/ringway.service")
$pre
# A copy of the config on free ports (the example's 8080/9901 may be taken).
sed 's/listen: 127.0.0.1:[0-9]*/listen: 127.0.0.1:0/' config/gateway.yaml > "$work/gateway.yaml"
${start//$PWD\/config\/gateway.yaml/$work/gateway.yaml} > "$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q "ringway admin on" "$work/out" && break; sleep 0.1; done
admin=$(sed -n 's/^ringway admin on //p' "$work/out")
[ -n "$admin" ] || { cat "$work/err"; echo "the gateway did not start"; exit 1; }
curl -fsS "$admin/readyz" >/dev/null
kill -HUP "$pid"
sleep 0.5
curl -fsS "$admin/readyz" >/dev/null || { echo "SIGHUP (ExecReload) stopped the gateway"; exit 1; }
kill -TERM "$pid"
timeout_s=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
for _ in $(seq $((timeout_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "SIGTERM did not stop it in ${timeout_s}s"; exit 1; fi
wait "$pid" || { echo "exit status $? after SIGTERM"; exit 1; }
pid=""
echo "systemd unit: verified, exposure within 2.0, its commands start, reload and stop the gateway"

containerfile=config/deploy/Containerfile
for src in $(sed -n 's/^COPY \(--from=[^ ]* \)\{0,1\}\([^ ]*\) .*/\2/p' "$containerfile" | grep -v '^/'); do
    [ -e "$src" ] || { echo "$containerfile copies $src, which does not exist"; exit 1; }
done
"$bin" validate config/gateway.yaml
if docker info >/dev/null 2>&1 && docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    docker build -q -f "$containerfile" -t ringway-ci . >/dev/null
    docker run --rm --entrypoint /usr/local/bin/ringway ringway-ci validate /etc/ringway/gateway.yaml
    echo "container: built, its config validates"
else
    echo "container: sources and config checked; not built (no Docker daemon or base images here)"
fi
