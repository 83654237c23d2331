"""Run on an app host (or in the web container) with the app's environment,
as ``python3 - REQUEST < tls_probe.py``: one JSON request in, one JSON
answer printed (issue 13).

    {"attempts": [["pooled", "10.0.0.3", 6432], ...], "wrong_ca": "<PEM>"}
        for each server: a login with verify-full and the app's CA and name;
        without TLS; with a name the certificate does not hold (the same
        address); with a CA that did not sign it. Each: "ok" (and TLS in
        use) or the first line of libpq's error.
    {"served": [["db", 5432], ...]}
        the SHA-256 of the certificate each server presents (no check made).
    {"hold": "/tmp/stop"}
        a pooled and a direct connection kept open until that file exists
        (5 minutes at most), each asked SELECT 1 every 0.5 s; the count of
        queries and of failures.

Only psycopg and the standard library: what the app itself has. served()
needs no psycopg: the tests also call it from the controller.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
from urllib.parse import parse_qs, unquote, urlsplit


def login(**params: object) -> str:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL_POOLED"])
    credentials = {"dbname": unquote(url.path[1:]), "user": unquote(url.username), "password": unquote(url.password)}
    try:
        with psycopg.connect(**credentials, connect_timeout=5, **params) as conn:
            conn.execute("SELECT 1")
            return "ok" if conn.info.pgconn.ssl_in_use else "ok without TLS"
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or ["?"])[0]


def attempts(servers: list[list], wrong_ca: str) -> dict[str, dict[str, str]]:
    ca = parse_qs(urlsplit(os.environ["DATABASE_URL_POOLED"]).query)["sslrootcert"][0]
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as other:
        other.write(wrong_ca)
        other.flush()
        found = {}
        for name, host, port in servers:
            address = socket.getaddrinfo(host, port, socket.AF_INET)[0][4][0]
            verified = {"port": port, "sslmode": "verify-full"}
            found[name] = {
                "right": login(host=host, sslrootcert=ca, **verified),
                "plain": login(host=host, port=port, sslmode="disable"),
                "wrong name": login(host="wrong-name.invalid", hostaddr=address, sslrootcert=ca, **verified),
                "wrong CA": login(host=host, sslrootcert=other.name, **verified),
            }
        return found


def served(host: str, port: int) -> str:
    """The certificate a PostgreSQL-protocol server presents (SSLRequest, then TLS)."""
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(struct.pack("!ii", 8, 80877103))
        if raw.recv(1) != b"S":
            return "no TLS"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(raw) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def hold(stop: str) -> dict[str, int]:
    import psycopg

    pooled = psycopg.connect(os.environ["DATABASE_URL_POOLED"], autocommit=True)
    direct = psycopg.connect(os.environ["DATABASE_URL_DIRECT"], autocommit=True)
    queries = failures = 0
    end = time.monotonic() + 300
    while time.monotonic() < end and not os.path.exists(stop):
        for conn in (pooled, direct):
            queries += 1
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                failures += 1
        time.sleep(0.5)
    return {"queries": queries, "failures": failures}


def main() -> None:
    request = json.loads(sys.argv[1])
    if "attempts" in request:
        answer: object = attempts(request["attempts"], request["wrong_ca"])
    elif "served" in request:
        answer = {f"{host}:{port}": served(host, port) for host, port in request["served"]}
    else:
        answer = hold(request["hold"])
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
