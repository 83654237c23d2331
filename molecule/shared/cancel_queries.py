"""Cancel queries through PgBouncer, as their clients would; run where the app runs.

Reads DATABASE_URL_POOLED from the environment (the app's env file), opens a
new connection for each of COUNT queries of pg_sleep(SLEEP), cancels each
from its client after 0.5 s (libpq sends the cancel key on a new connection,
which the kernel may hand to another PgBouncer process than the query's),
and prints one JSON list: for each query, the seconds from the cancel to the
query's end, or null when it ran to its end (the cancel was lost).
"""

import json
import os
import sys
import threading
import time

import psycopg

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 10
SLEEP = 5
CANCEL_AFTER = 0.5

took = []
for _ in range(COUNT):
    with psycopg.connect(os.environ["DATABASE_URL_POOLED"], autocommit=True) as connection:
        timer = threading.Timer(CANCEL_AFTER, connection.cancel)
        timer.start()
        started = time.monotonic()
        try:
            connection.execute(f"SELECT pg_sleep({SLEEP})")
            took.append(None)
        except psycopg.errors.QueryCanceled:
            took.append(round(time.monotonic() - started - CANCEL_AFTER, 3))
        timer.join()
print(json.dumps(took))
