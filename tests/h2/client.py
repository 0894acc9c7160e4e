"""HTTP/2 client for the end-to-end tests, on the Python `h2` and `hyperframe` packages.

    client.py requests HOST PORT [--tls CA_FILE NAME] < requests.json
        Sends every request of the JSON list ({"method", "path", "headers": [[n, v]...],
        "body": "text" | null, "chunks": n}) concurrently on one connection and prints one JSON
        object per line, in request order: {"status", "headers", "trailers", "reset",
        "body_len", "body"}.
        "body" is cut to 200 bytes.

    client.py attack NAME HOST PORT
        Runs one abuse scenario on a cleartext (h2c) connection and prints a JSON object:
        {"goaway": error code or null, "closed": bool, ...}. NAME is one of rapid-reset,
        continuation-flood, big-headers, stream-flood, window-overflow.
"""

import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import ContinuationFrame, HeadersFrame, RstStreamFrame, WindowUpdateFrame


def connect(host, port, tls=None):
    sock = socket.create_connection((host, int(port)), timeout=10)
    if tls:
        ca, name = tls
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=name)
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    return sock


def new_conn(sock):
    # Outbound validation off: the tests send what a hostile or broken client would.
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False))
    conn.initiate_connection()
    # A large connection window so the server is limited by its own stream windows only.
    conn.increment_flow_control_window(2**24)
    sock.sendall(conn.data_to_send())
    return conn


def requests(host, port, tls):
    specs = json.load(sys.stdin)
    sock = connect(host, port, tls)
    conn = new_conn(sock)
    streams = {}
    pending_bodies = {}
    authority = (tls[1] if tls else host) + ":" + str(port)
    for spec in specs:
        sid = conn.get_next_available_stream_id()
        headers = [(":method", spec.get("method", "GET")), (":path", spec["path"]),
                   (":scheme", "https" if tls else "http"), (":authority", spec.get("authority", authority))]
        headers += [tuple(h) for h in spec.get("headers", [])]
        body = spec.get("body")
        conn.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            data = body.encode()
            n = max(1, spec.get("chunks", 1))
            size = max(1, (len(data) + n - 1) // n)
            pending_bodies[sid] = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        streams[sid] = {"status": None, "headers": {}, "body": b"", "done": False, "reset": None,
                        "trailers": {}}
    sock.sendall(conn.data_to_send())
    deadline = time.time() + 30
    while not all(s["done"] for s in streams.values()) and time.time() < deadline:
        for sid, parts in list(pending_bodies.items()):
            while parts and conn.local_flow_control_window(sid) >= len(parts[0]):
                part = parts.pop(0)
                conn.send_data(sid, part, end_stream=not parts)
            if not parts:
                del pending_bodies[sid]
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                s = streams[ev.stream_id]
                for n, v in ev.headers:
                    if n == ":status":
                        s["status"] = int(v)
                    else:
                        s["headers"].setdefault(n, []).append(v)
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id]["body"] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                streams[ev.stream_id]["trailers"] = {n: v for n, v in ev.headers}
            elif isinstance(ev, h2.events.StreamEnded):
                streams[ev.stream_id]["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                streams[ev.stream_id]["done"] = True
                streams[ev.stream_id]["reset"] = int(ev.error_code)
        sock.sendall(conn.data_to_send())
    for sid in sorted(streams):
        s = streams[sid]
        print(json.dumps({"status": s["status"], "headers": s["headers"], "reset": s["reset"],
                          "trailers": s["trailers"],
                          "body_len": len(s["body"]), "body": s["body"][:200].decode("latin-1")}))
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()


def read_until_closed(sock, conn, seconds=10):
    """Reads until the server closes; returns the GOAWAY error code (or None) and whether it closed."""
    goaway = None
    closed = False
    refused = 0
    statuses = []
    deadline = time.time() + seconds
    sock.settimeout(1)
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not data:
            closed = True
            break
        try:
            events = conn.receive_data(data)
        except Exception:
            continue
        for ev in events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                goaway = int(ev.error_code)
            elif isinstance(ev, h2.events.StreamReset) and int(ev.error_code) == 7:
                refused += 1
            elif isinstance(ev, h2.events.ResponseReceived):
                statuses += [int(v) for n, v in ev.headers if n in (":status", b":status")]
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            closed = True
            break
    return {"goaway": goaway, "closed": closed, "refused": refused, "statuses": statuses}


def attack(name, host, port):
    sock = connect(host, port)
    conn = new_conn(sock)
    authority = f"{host}:{port}"
    base = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", authority)]
    if name == "rapid-reset":
        # Open and cancel streams as fast as possible (CVE-2023-44487).
        for _ in range(2000):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, base, end_stream=True)
            conn.reset_stream(sid)
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                break
    elif name == "continuation-flood":
        # One HEADERS without END_HEADERS, then CONTINUATION frames that never end (CVE-2024-27316).
        encoded = conn.encoder.encode(base)
        frame = HeadersFrame(1, encoded)
        frame.flags.add("END_STREAM")
        raw = frame.serialize()
        try:
            sock.sendall(raw)
            filler = conn.encoder.encode([("x-filler", "a" * 4000)])
            for _ in range(5000):
                sock.sendall(ContinuationFrame(1, filler).serialize())
        except OSError:
            pass
    elif name == "big-headers":
        # A header list far over the listener's limit.
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, base + [(f"x-big-{i}", "v" * 1000) for i in range(100)], end_stream=True)
        sock.sendall(conn.data_to_send())
    elif name == "stream-flood":
        # More concurrent streams than allowed, none finished (bodies never sent).
        try:
            for _ in range(300):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "POST")] + base[1:], end_stream=False)
        except h2.exceptions.TooManyStreamsError:
            pass
        # Bypass the client-side limit with raw frames.
        next_id = conn.highest_outbound_stream_id + 2
        for i in range(200):
            f = HeadersFrame(next_id + 2 * i, conn.encoder.encode([(":method", "POST")] + base[1:]))
            f.flags.add("END_HEADERS")
            conn._data_to_send += f.serialize()
        sock.sendall(conn.data_to_send())
    elif name == "window-overflow":
        # WINDOW_UPDATE past 2^31-1 on the connection (RFC 9113 §6.9.1: FLOW_CONTROL_ERROR).
        raw = b"".join(WindowUpdateFrame(0, 2**31 - 1).serialize() for _ in range(2))
        sock.sendall(raw)
    else:
        sys.exit(f"unknown attack {name}")
    out = read_until_closed(sock, conn)
    out["attack"] = name
    print(json.dumps(out))


def main():
    if sys.argv[1] == "requests":
        tls = None
        if len(sys.argv) > 4 and sys.argv[4] == "--tls":
            tls = (sys.argv[5], sys.argv[6])
        requests(sys.argv[2], sys.argv[3], tls)
    elif sys.argv[1] == "attack":
        attack(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
