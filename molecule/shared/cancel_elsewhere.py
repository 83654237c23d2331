"""Cancel queries whose cancel request reaches another pooler host; run where the app runs.

A TCP forwarder on 127.0.0.1 stands for a load balancer in front of the
poolers (HAProxy, a virtual address): for each query it hands the query's
connection to pooler FIRST and every later connection, which is the cancel
request libpq sends to the same address, to pooler SECOND. PgBouncer on
SECOND can cancel the query only by forwarding the request to FIRST, its
peer ([peers]). The forwarder is a process of its own: libpq's cancel
blocks its caller's interpreter until the answer. Reads DATABASE_URL_POOLED from the environment (the app's
env file); arguments: FIRST SECOND [PORT [COUNT]]. Prints one JSON list: for
each query, the seconds from the cancel to the query's end, or null when it
ran to its end (the cancel was lost).
"""

import json
import os
import signal
import socket
import sys
import threading
import time

import psycopg

FIRST, SECOND = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 6432
COUNT = int(sys.argv[4]) if len(sys.argv) > 4 else 3
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
    """The first connection to FIRST, the others to SECOND; until the listener closes."""
    accepted = 0
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        target = FIRST if accepted == 0 else SECOND
        accepted += 1
        server = socket.create_connection((target, PORT), timeout=5)
        server.settimeout(None)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()


took = []
for _ in range(COUNT):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    forwarder = os.fork()
    if forwarder == 0:
        forward(listener)
        os._exit(0)
    listener.close()
    url = os.environ["DATABASE_URL_POOLED"]
    try:
        with psycopg.connect(url, host="127.0.0.1", port=port, autocommit=True, connect_timeout=5) as connection:
            timer = threading.Timer(CANCEL_AFTER, connection.cancel)
            timer.start()
            started = time.monotonic()
            try:
                connection.execute(f"SELECT pg_sleep({SLEEP})")
                took.append(None)
            except psycopg.errors.QueryCanceled:
                took.append(round(time.monotonic() - started - CANCEL_AFTER, 3))
            timer.join()
    finally:
        os.kill(forwarder, signal.SIGKILL)
        os.waitpid(forwarder, 0)
print(json.dumps(took))
