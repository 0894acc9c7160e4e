"""WebSocket echo server and client for the end-to-end tests (the `websockets` package).

    echo.py server
        Serves WebSocket echo on 127.0.0.1 (a free port, printed as the first line). The first
        message of every connection is answered with the request's path and headers as JSON;
        then every message is echoed. Runs until stdin closes.

    echo.py idle URL SECONDS
        Connects, reads the hello, then waits for up to SECONDS; prints "closed" if the
        connection was closed meanwhile, "open" otherwise.

    echo.py client URL [CA_FILE]
        Connects (verifying with CA_FILE for wss://), reads the server's JSON hello, sends a
        text message, a 100 KB binary message and a ping, checks the echoes, closes, and prints
        a JSON summary.
"""

import json
import os
import ssl
import sys
import threading

from websockets.sync.client import connect
from websockets.sync.server import serve


def server():
    def handler(ws):
        req = ws.request
        ws.send(json.dumps({"path": req.path, "headers": {k.lower(): v for k, v in req.headers.raw_items()}}))
        for message in ws:
            ws.send(message)

    with serve(handler, "127.0.0.1", 0) as srv:
        print(srv.socket.getsockname()[1], flush=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        sys.stdin.read()


def client(url, ca=None):
    ctx = None
    if url.startswith("wss://"):
        ctx = ssl.create_default_context(cafile=ca)
    with connect(url, ssl=ctx, open_timeout=10, close_timeout=5, max_size=2**20) as ws:
        hello = json.loads(ws.recv(timeout=10))
        ws.send("hello through the gateway")
        text = ws.recv(timeout=10)
        payload = os.urandom(100_000)
        ws.send(payload)
        binary = ws.recv(timeout=10)
        pong = ws.ping(b"p").wait(timeout=10)
        print(json.dumps({
            "hello": hello,
            "text_ok": text == "hello through the gateway",
            "binary_ok": binary == payload,
            "pong": bool(pong),
        }))


def idle(url, seconds):
    from websockets.exceptions import ConnectionClosed
    with connect(url, open_timeout=10) as ws:
        ws.recv(timeout=10)
        try:
            ws.recv(timeout=float(seconds))
            print("message")
        except TimeoutError:
            print("open")
        except ConnectionClosed:
            print("closed")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    elif sys.argv[1] == "idle":
        idle(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        sys.exit(__doc__)
