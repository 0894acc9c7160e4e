#!/usr/bin/env bash
# The edge cache's hit path against nginx's proxy_cache, co-run on the same CPU: an nginx
# origin serving one object with `Cache-Control: max-age=3600`, and in front of it, both one
# worker pinned to PROXY_CPU, nginx (proxy_cache) and ringway (`cache:`). After a warm-up
# (both have the object stored), two wrk, pinned to LOAD_CPU, load them at the same time; the
# CPU time each proxy used (/proc/PID/stat) over the requests it answered is its CPU cost per
# hit. Then memory per stored object: ringway's RSS growth over N distinct 1 KiB objects.
#
#   benches/cache-corun.sh target/release/ringway [REPS=3]
# Knobs: CONNS [64] DURATION [10s] PROXY_CPU [1] LOAD_CPU [0] OBJECTS [20000] BASE_PORT [18600]
# Needs nginx and wrk. Stops only the processes it started.
set -euo pipefail
bin=$(realpath "$1")
reps=${2:-3}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
OBJECTS=${OBJECTS:-20000}
BASE=${BASE_PORT:-18600}
origin=$BASE proxy_nginx=$((BASE + 1)) proxy_gw=$((BASE + 2))
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    rm -rf "$work"
}
trap cleanup EXIT
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$work/obj"
mkdir -p "$work/cache" "$work/tmp"
# nginx workers may run as another user (nobody when started as root): let them read and write.
chmod 755 "$work" && chmod 644 "$work/obj" && chmod 777 "$work/cache" "$work/tmp"

cat >"$work/origin.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/origin.pid;
error_log $work/origin.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    server {
        listen 127.0.0.1:$origin;
        location / { default_type text/plain; add_header Cache-Control "max-age=3600"; root $work; try_files /obj =404; }
    }
}
EOF
cat >"$work/proxy.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy.err warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    proxy_cache_path $work/cache levels=1:2 keys_zone=hot:64m max_size=1g inactive=1h;
    upstream up { server 127.0.0.1:$origin; keepalive 64; }
    server {
        listen 127.0.0.1:$proxy_nginx backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache hot;
            add_header Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
cat >"$work/gw.yaml" <<EOF
admin: { enabled: false }
upstreams: { origin: { endpoints: [{ address: "127.0.0.1:$origin" }] } }
listeners:
  - name: bench
    listen: 127.0.0.1:$proxy_gw
    routes:
      - { name: cached, proxy: { upstream: origin }, cache: { max_object_bytes: 4096 } }
EOF

nginx -c "$work/origin.conf" -p "$work" &
pids+=($!)
taskset -c "$PROXY_CPU" nginx -c "$work/proxy.conf" -p "$work" &
pids+=($!)
taskset -c "$PROXY_CPU" "$bin" run --config "$work/gw.yaml" --workers 1 >"$work/gw.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
sleep 1.5
nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)
for port in $proxy_nginx $proxy_gw; do
    for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/obj"; done
    head=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/obj" | tr -d '\r')
    echo "port $port: $(echo "$head" | head -1), $(echo "$head" | grep -i '^cache-status' || echo 'no cache-status')"
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "rep  nginx_us/hit  ringway_us/hit  nginx/ringway  (c=$CONNS, $DURATION, both on CPU $PROXY_CPU)"
for r in $(seq "$reps"); do
    n0=$(ticks "$nginx_worker") g0=$(ticks "$gw_pid")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$proxy_nginx/obj" >"$work/wrk-n" &
    wn=$!
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$proxy_gw/obj" >"$work/wrk-g" &
    wg=$!
    wait $wn $wg
    n1=$(ticks "$nginx_worker") g1=$(ticks "$gw_pid")
    reqs() { awk '/requests in/ { print $1 }' "$1"; }
    rn=$(reqs "$work/wrk-n") rg=$(reqs "$work/wrk-g")
    if grep -q 'Non-2xx' "$work/wrk-n" "$work/wrk-g"; then
        grep -H 'Non-2xx' "$work/wrk-n" "$work/wrk-g"
        echo "errors in the run: the figures would mean nothing" >&2
        exit 1
    fi
    awk -v n=$((n1 - n0)) -v g=$((g1 - g0)) -v rn="$rn" -v rg="$rg" -v hz="$hz" -v r="$r" 'BEGIN {
        un = n / hz * 1e6 / rn; ug = g / hz * 1e6 / rg
        printf "%3d  %12.2f  %14.2f  %13.2f   (%d and %d hits)\n", r, un, ug, un / ug, rn, rg }'
done

# Memory per stored object: RSS before and after OBJECTS distinct keys of the same 1 KiB body.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$gw_pid/status"; }
before=$(rss)
python3 - "$proxy_gw" "$OBJECTS" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for i in range(n):
    s.sendall(f"GET /obj?k={i} HTTP/1.1\r\nhost: bench\r\n\r\n".encode())
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
            if len(rest) >= length:
                buf = rest[length:]
                break
        buf += s.recv(65536)
PY
after=$(rss)
echo "memory: ${OBJECTS} objects of 1024 B: RSS +$(( (after - before) )) KiB, $(( (after - before) * 1024 / OBJECTS )) B per object"
