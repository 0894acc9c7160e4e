#!/usr/bin/env bash
# The HTTP caching test suite (npm http-cache-tests, https://cache-tests.fyi) against the
# gateway on loopback: the suite's origin server, a gateway caching every route in front of
# it, the suite's command-line client. Prints the required and optional pass counts and fails
# when fewer required tests pass than .ci/cache-tests.floor says (the floor may only rise).
#   .ci/cache-tests.sh path/to/ringway
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

(cd "$work" && npm i --silent --no-audit --no-fund http-cache-tests@0.4.5 >/dev/null)
pkg="$work/node_modules/http-cache-tests"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
origin=$(free_port)
gateway=$(free_port)

npm_config_protocol=http npm_config_port="$origin" npm_config_pidfile="$work/origin.pid" \
    node "$pkg/server/server.mjs" >"$work/origin.log" 2>&1 &
pids+=($!)
cat >"$work/gateway.yaml" <<YAML
admin: { enabled: false }
# The suite's origin (Node) closes idle connections after 5 s: pooled ones go before that.
upstreams: { origin: { endpoints: [{ address: "127.0.0.1:$origin" }], pool: { idle_timeout: 4s } } }
listeners:
  - name: web
    listen: 127.0.0.1:$gateway
    routes:
      - { name: all, proxy: { upstream: origin }, cache: {} }
YAML
"$bin" run --config "$work/gateway.yaml" --workers 1 >"$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    if python3 -c "import socket,sys; [socket.create_connection(('127.0.0.1',p),0.2).close() for p in ($origin,$gateway)]" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# The whole suite takes about a minute (its tests pause for freshness to pass).
(cd "$pkg" && npm_config_base="http://127.0.0.1:$gateway" npm_package_config_id= \
    timeout 900 node --no-warnings cli.mjs >"$work/results.json")
cp "$work/results.json" "${CACHE_TESTS_RESULTS:-/dev/null}" 2>/dev/null || true
node "$here/cache_score.mjs" "$pkg" "$work/results.json" "$here/cache-tests.floor"
