#!/usr/bin/env bash
# Checks a TLS listener against Mozilla's "intermediate" profile with sslyze (PyPI, in its own
# venv): a gateway with an ECDSA P-256 certificate made here (openssl) on 127.0.0.1, then
# `sslyze --mozilla_config=intermediate`, which exits non-zero when the server is not
# compliant. Also prints what was accepted (versions, suites, groups).
#
#   benches/tls-profile.sh [path/to/ringway]      (default: target/debug/ringway)
#
# Needs python3 (venv), openssl. Only the gateway it started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/ringway}
VENV=${SSLYZE_VENV:-target/sslyze-venv}
# A venv left by another checkout (its scripts name that path) does not run: made again.
if ! "$VENV/bin/sslyze" --help >/dev/null 2>&1; then
    python3 -m venv --clear "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check sslyze
fi
work=$(mktemp -d)
gw=""
cleanup() { [[ -n $gw ]] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# A CA (handed to sslyze as the trust store) and a certificate it signed, ECDSA P-256.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
    -out "$work/ca.pem" -days 30 -subj /CN=profile-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
    -out "$work/req.csr" -subj /CN=profile.test 2>/dev/null
printf 'subjectAltName=DNS:profile.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >"$work/ext"
openssl x509 -req -in "$work/req.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 30 -extfile "$work/ext" -out "$work/cert.pem" 2>/dev/null
cat >"$work/gw.yaml" <<YAML
workers: 1
admin:
  listen: 127.0.0.1:0
listeners:
  - name: https
    listen: 127.0.0.1:0
    tls:
      certificates:
        - cert: $work/cert.pem
          key: $work/key.pem
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
    addr=$(sed -n 's|^ringway listening on https://||p' "$work/out" | head -1)
    [[ -n $addr ]] && break
    sleep 0.1
done
[[ -n $addr ]] || { cat "$work/err"; echo "the gateway did not start" >&2; exit 1; }
"$VENV/bin/sslyze" --mozilla_config=intermediate --certinfo --certinfo_ca_file "$work/ca.pem" "$addr"
