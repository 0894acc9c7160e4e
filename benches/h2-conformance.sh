#!/usr/bin/env bash
# HTTP/2 conformance with httpwg-cli (crates.io, an h2spec successor) against a cleartext h2c
# listener answering every request directly. Prints httpwg's verdict per test and the count.
#
#   benches/h2-conformance.sh [path/to/ringway]      (default: target/debug/ringway)
#
# Installs httpwg-cli (with its own lockfile) under target/httpwg on first use. Only the
# gateway it started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/ringway}
HTTPWG=${HTTPWG:-target/httpwg/bin/httpwg}
if [[ ! -x $HTTPWG ]]; then
    cargo install --locked httpwg-cli --root target/httpwg
fi
work=$(mktemp -d)
gw=""
cleanup() { [[ -n $gw ]] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat >"$work/gw.yaml" <<YAML
workers: 1
admin:
  listen: 127.0.0.1:0
listeners:
  - name: h2c
    listen: 127.0.0.1:0
    http2:
      h2c: true
    routes:
      - name: hello
        respond:
          status: 200
          body: "hello"
YAML
"$BIN" run --config "$work/gw.yaml" >"$work/out" 2>"$work/err" &
gw=$!
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's|^ringway listening on http://||p' "$work/out" | head -1)
    [[ -n $addr ]] && break
    sleep 0.1
done
[[ -n $addr ]] || { cat "$work/err"; echo "the gateway did not start" >&2; exit 1; }
"$HTTPWG" -a "$addr" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^(✅|❌|🚄)' || true
