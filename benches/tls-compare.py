#!/usr/bin/env python3
"""HTTPS termination, Ringway against nginx in the same run, co-run on one core.

Both gateways terminate TLS with the same ECDSA P-256 certificate (made here with openssl) and
proxy to one nginx upstream (13-byte body, keep-alive). Each gateway runs ONE worker pinned to
--proxy-cpu; the upstream and the load (wrk, OpenSSL's client) run on --load-cpu. The two
gateways are loaded at the same time, one wrk each, so both see the same machine: the ratio of
their CPU time per request is much less noisy on a shared VM than separate runs.

Scenarios:
  keepalive   wrk -c<conns> over kept-alive HTTPS connections (TLS 1.3, no handshakes)
  handshake   wrk with "Connection: close": every request a new connection and a full TLS 1.3
              handshake (wrk's OpenSSL client does not resume sessions); CPU per request is
              CPU per full handshake (plus one small request)
  h2          h2load -c<h2-conns> -m<h2-streams> over TLS with ALPN h2 (nginx: `listen ... ssl
              http2`); compare its CPU per request with keepalive's (HTTP/1.1 over TLS)

Output: one line per rep and scenario, then medians: requests/s of each, process CPU-us per
request of each (utime+stime of the gateway's process tree / requests), and nginx's CPU per
request over Ringway's (> 1: Ringway is cheaper).

  benches/tls-compare.py --gateway target/release/ringway [--duration 10] [--reps 3]

Needs nginx, wrk, h2load (Debian nghttp2-client), openssl, taskset. Stops only the processes it started.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    """utime+stime of pid and all its descendants, in clock ticks."""
    parents = {}
    own = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        own[int(entry)] = int(fields[11]) + int(fields[12])
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += own.get(p, 0)
        stack.extend(c for c, pp in parents.items() if pp == p)
    return total


def wait_port(port, proc, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"a server exited early: {proc.args}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def wrk(cpu, url, conns, duration, close):
    cmd = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{conns}", f"-d{duration}s", url]
    if close:
        cmd[4:4] = ["-H", "Connection: close"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def h2load(cpu, url, conns, streams, duration):
    cmd = ["taskset", "-c", str(cpu), "h2load", f"-c{conns}", f"-m{streams}", f"-D{duration}", url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def requests_of(out):
    h2 = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if h2:
        return int(h2.group(2)), h2.group(3), f"errored={h2.group(4)}"
    m = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return int(m.group(1)) if m else 0, (errors.group(1) if errors else "0"), (
        socket_errors.group(1) if socket_errors else "none"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", default="target/release/ringway")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--handshake-conns", type=int, default=16)
    ap.add_argument("--h2-conns", type=int, default=16)
    ap.add_argument("--h2-streams", type=int, default=10)
    ap.add_argument("--scenarios", default="keepalive,handshake,h2")
    ap.add_argument("--load-cpu", type=int, default=0)
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--base-port", type=int, default=18380)
    a = ap.parse_args()
    for tool in ["nginx", "wrk", "h2load", "openssl", "taskset"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"needs {tool}")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    gateway = os.path.abspath(a.gateway)
    work = tempfile.mkdtemp(prefix="ringway-tls-bench.")
    os.chmod(work, 0o755)
    up, px, gw = a.base_port, a.base_port + 1, a.base_port + 2
    cert, key = f"{work}/cert.pem", f"{work}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench.test",
         "-addext", "subjectAltName=DNS:bench.test,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    common = f"""worker_processes 1; daemon off; error_log {work}/%s.err warn; pid {work}/%s.pid;
events {{ worker_connections 16384; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s; tcp_nodelay on;
  client_body_temp_path {work}/%s-cb; proxy_temp_path {work}/%s-px; fastcgi_temp_path {work}/%s-fc;
  uwsgi_temp_path {work}/%s-uw; scgi_temp_path {work}/%s-sc;
"""
    with open(f"{work}/up.conf", "w") as f:
        f.write(common % (("up",) * 7))
        f.write(f"""  server {{ listen 127.0.0.1:{up} backlog=4096;
    location / {{ default_type text/plain; return 200 "hello, world\\n"; }} }} }}
""")
    with open(f"{work}/px.conf", "w") as f:
        f.write(common % (("px",) * 7))
        f.write(f"""  upstream up {{ server 127.0.0.1:{up}; keepalive 512; keepalive_requests 100000000; }}
  server {{ listen 127.0.0.1:{px} ssl http2 backlog=4096;
    ssl_certificate {cert}; ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffers 8 16k; proxy_buffer_size 16k; }} }} }}
""")
    with open(f"{work}/gw.yaml", "w") as f:
        f.write(f"""workers: 1
admin:
  listen: 127.0.0.1:0
upstreams:
  up:
    endpoints:
      - address: 127.0.0.1:{up}
listeners:
  - name: https
    listen: 127.0.0.1:{gw}
    # As nginx's keepalive_requests above: h2load does not reconnect after GOAWAY.
    http2:
      max_requests_per_connection: 100000000
    tls:
      alpn: [h2, http/1.1]
      certificates:
        - cert: {cert}
          key: {key}
    routes:
      - name: all
        proxy:
          upstream: up
""")
    procs = []

    def start(cpu, cmd, port):
        p = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, stdout=subprocess.DEVNULL,
                             stderr=open(f"{work}/{port}.log", "w"))
        procs.append(p)
        wait_port(port, p)
        return p

    try:
        start(a.load_cpu, [nginx, "-c", f"{work}/up.conf"], up)
        pn = start(a.proxy_cpu, [nginx, "-c", f"{work}/px.conf"], px)
        # Under taskset the one worker pins itself to the one CPU it may use.
        pg = start(a.proxy_cpu, [gateway, "run", "--config", f"{work}/gw.yaml"], gw)
        for port in (px, gw):
            out = subprocess.run(["curl", "-sk", f"https://127.0.0.1:{port}/"], capture_output=True, text=True)
            if out.stdout != "hello, world\n":
                sys.exit(f"port {port} does not proxy: {out.stdout!r} {out.stderr}")
        rows = []
        print(f"{'scenario':10} {'rep':>3} {'ringway rps':>11} {'nginx rps':>10} {'ringway us':>10} {'nginx us':>9} {'nginx/ringway':>13}  errors")
        for rep in range(1, a.reps + 1):
            for scenario in a.scenarios.split(","):
                close = scenario == "handshake"
                conns = a.handshake_conns if close else a.conns
                def load(port, seconds):
                    url = f"https://127.0.0.1:{port}/"
                    if scenario == "h2":
                        return h2load(a.load_cpu, url, a.h2_conns, a.h2_streams, seconds)
                    return wrk(a.load_cpu, url, conns, seconds, close)

                if a.warmup:
                    for x in [load(p, a.warmup) for p in (gw, px)]:
                        x.communicate()
                t0 = (ticks(pg.pid), ticks(pn.pid))
                w = [load(p, a.duration) for p in (gw, px)]
                outs = [x.communicate()[0] for x in w]
                t1 = (ticks(pg.pid), ticks(pn.pid))
                (rg, eg, sg), (rn, en, sn) = requests_of(outs[0]), requests_of(outs[1])
                usg = (t1[0] - t0[0]) / HZ * 1e6 / max(rg, 1)
                usn = (t1[1] - t0[1]) / HZ * 1e6 / max(rn, 1)
                rows.append((scenario, rg / a.duration, rn / a.duration, usg, usn))
                print(f"{scenario:10} {rep:>3} {rg / a.duration:>11.0f} {rn / a.duration:>10.0f} {usg:>10.1f} {usn:>9.1f} {usn / usg:>13.2f}  "
                      f"ringway non-2xx={eg} socket={sg}; nginx non-2xx={en} socket={sn}", flush=True)
        print("\nmedians (CPU-us per request of each gateway's process tree; nginx/ringway > 1: ringway cheaper)")
        for scenario in a.scenarios.split(","):
            rs = [r for r in rows if r[0] == scenario]
            med = lambda i: statistics.median(r[i] for r in rs)
            ratios = [r[4] / r[3] for r in rs]
            print(f"{scenario:10} ringway {med(1):.0f} req/s {med(3):.1f} us/req | nginx {med(2):.0f} req/s {med(4):.1f} us/req | "
                  f"nginx/ringway CPU per request {statistics.median(ratios):.2f} [{min(ratios):.2f}..{max(ratios):.2f}] n={len(rs)}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
