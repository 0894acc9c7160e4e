"""A cleartext HTTP/2 (h2c) upstream for the end-to-end tests, on the Python `h2` package.

    server.py [--refuse] [CERT KEY]
        With a certificate and key, speaks TLS with ALPN h2 only. With --refuse, every stream
        is refused (REFUSED_STREAM). Listens on 127.0.0.1 (a free port, printed as the first line) until stdin closes; a
        thread per connection. Every request is answered 200 with the body
        `<method> <path> len=<body bytes> conn=<connection number>`; under `/grpc/` gRPC-style:
        `content-type: application/grpc`, the body, then trailers `grpc-status: 0` and
        `grpc-message: ok`. Under `/refuse/` the stream is refused (REFUSED_STREAM).
"""

import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.errors

count = 0
lock = threading.Lock()
REFUSE_ALL = "--refuse" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--refuse"]


def serve(sock, number):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    bodies = {}
    heads = {}
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                heads[ev.stream_id] = dict(ev.headers)
                bodies[ev.stream_id] = b""
                if REFUSE_ALL or heads[ev.stream_id][":path"].startswith("/refuse/"):
                    conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                    del heads[ev.stream_id]
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in bodies:
                    bodies[ev.stream_id] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in heads:
                h = heads.pop(ev.stream_id)
                body = bodies.pop(ev.stream_id)
                text = f"{h[':method']} {h[':path']} len={len(body)} conn={number} te={h.get('te', '-')}".encode()
                if h[":path"].startswith("/grpc/"):
                    conn.send_headers(ev.stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                    conn.send_data(ev.stream_id, text)
                    conn.send_headers(ev.stream_id, [("grpc-status", "0"), ("grpc-message", "ok")], end_stream=True)
                else:
                    conn.send_headers(ev.stream_id, [(":status", "200"), ("content-length", str(len(text)))])
                    conn.send_data(ev.stream_id, text, end_stream=True)
        sock.sendall(conn.data_to_send())


def main():
    global count
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    ctx = None
    if len(ARGS) >= 2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS[0], ARGS[1])
        ctx.set_alpn_protocols(["h2"])

    def accept():
        global count
        while True:
            sock, _ = listener.accept()
            if ctx is not None:
                try:
                    sock = ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    continue
            with lock:
                count += 1
                number = count
            threading.Thread(target=serve, args=(sock, number), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
