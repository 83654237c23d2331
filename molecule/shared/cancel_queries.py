"""Cancel queries through PgBouncer, as their clients would; run where the app runs.

    python3 - COUNT                      through DATABASE_URL_POOLED
    python3 - COUNT FIRST SECOND [PORT]  through a forwarder to two poolers
                                         (each ADDRESS or ADDRESS:PORT)

Reads DATABASE_URL_POOLED from the environment (the app's env file), opens a
new connection for each of COUNT queries of pg_sleep(SLEEP), cancels each
from its client after 0.5 s (libpq sends the cancel key on a new connection,
which the kernel may hand to another PgBouncer process than the query's),
and prints one JSON list: for each query, the seconds from the cancel to the
query's end, or null when it ran to its end (the cancel was lost).

With FIRST and SECOND (pooler addresses), each connection goes through a TCP
forwarder on 127.0.0.1 that stands for a load balancer in front of the
poolers (HAProxy, a virtual address): it hands the query's connection to
FIRST and every later one, the cancel request libpq sends to the same
address, to SECOND, whose PgBouncer can cancel the query only by forwarding
the request to FIRST, its peer ([peers] across hosts). The forwarder is a
process of its own: libpq's cancel blocks its caller's interpreter until the
answer comes.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

import psycopg

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 10
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 6432
POOLERS = [(host, int(port or PORT)) for host, _, port in (arg.partition(":") for arg in sys.argv[2:4])]
SLEEP = 5
CANCEL_AFTER = 0.5


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def forward(listener: socket.socket) -> None:
    """The first connection to the first pooler, the others to the second."""
    accepted = 0
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(POOLERS[min(accepted, 1)], timeout=5)
        server.settimeout(None)
        accepted += 1
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()


def cancelled(options: dict) -> float | None:
    """One query, cancelled by its client: seconds from the cancel to its end, or None."""
    with psycopg.connect(os.environ["DATABASE_URL_POOLED"], autocommit=True, **options) as connection:
        timer = threading.Timer(CANCEL_AFTER, connection.cancel)
        timer.start()
        started = time.monotonic()
        try:
            connection.execute(f"SELECT pg_sleep({SLEEP})")
            return None
        except psycopg.errors.QueryCanceled:
            return round(time.monotonic() - started - CANCEL_AFTER, 3)
        finally:
            timer.join()


def forwarded() -> float | None:
    """One query through a forwarder of its own."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    forwarder = os.fork()
    if forwarder == 0:
        try:
            forward(listener)
        finally:
            os._exit(0)
    listener.close()
    try:
        return cancelled({"host": "127.0.0.1", "port": port, "connect_timeout": 5})
    finally:
        os.kill(forwarder, signal.SIGKILL)
        os.waitpid(forwarder, 0)


print(json.dumps([forwarded() if POOLERS else cancelled({}) for _ in range(COUNT)]))
