"""One benchmark run each: pgbench against PostgreSQL or PgBouncer, wrk against the app.

The commands are built here and run in the bench container (scripts/bench/__main__.py); their
output is parsed here into plain dicts, so the parsing is tested on recorded output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# pgbench's built-in scripts: select-only reads one row by key; simple-update (-N) updates one
# account, reads it and inserts a history row, leaving out tpcb-like's updates of the 10 branch
# rows, which at hundreds of clients measure lock waits on those rows, not connections.
SCRIPTS = {"select-only": "select-only", "write": "simple-update"}


@dataclass(frozen=True)
class Pgbench:
    target: str  # "direct" or "pooled"
    script: str  # a key of SCRIPTS
    clients: int
    reconnect: bool  # -C: a new connection per transaction
    seconds: int
    protocol: str = "simple"  # pgbench's --protocol: simple, extended or prepared

    def argv(self, host: str, port: int, user: str, database: str, log_prefix: str, sampling: float) -> list[str]:
        argv = [
            "pgbench", f"--host={host}", f"--port={port}", f"--username={user}",
            f"--builtin={SCRIPTS[self.script]}", f"--client={self.clients}", f"--jobs={min(self.clients, 2)}",
            f"--time={self.seconds}", "--no-vacuum", "--log", f"--log-prefix={log_prefix}",
            f"--sampling-rate={sampling}",
        ]  # fmt: skip
        if self.reconnect:
            argv.append("--connect")
        if self.protocol != "simple":
            argv.append(f"--protocol={self.protocol}")
        return [*argv, database]


def parse_pgbench(output: str) -> dict[str, float | int | None]:
    """pgbench's summary (stdout and stderr together) as figures; None where it gave none."""

    def number(pattern: str) -> float | None:
        found = re.search(pattern, output, re.M)
        return float(found.group(1)) if found else None

    processed = number(r"^number of transactions actually processed: (\d+)")
    failed = number(r"^number of failed transactions: (\d+)")
    return {
        "transactions": int(processed) if processed is not None else None,
        "failed_transactions": int(failed) if failed is not None else None,
        "tps": number(r"^tps = ([0-9.]+)"),
        "latency_mean_ms": number(r"^latency average = ([0-9.]+) ms"),
        "connection_mean_ms": number(r"^average connection time = ([0-9.]+) ms"),
        # Clients that gave up: with -C, each connection PostgreSQL refused ends its client.
        "aborted_clients": len(re.findall(r"^pgbench: error: client \d+ aborted", output, re.M)),
        "connection_errors": len(re.findall(r"connection to server .* failed", output)),
        "run_aborted": bool(re.search(r"^pgbench: (fatal|error): Run was aborted", output, re.M)),
    }


def pgbench_latencies(log: str) -> list[float]:
    """Latencies in ms from pgbench's per-transaction log lines:
    client_id transaction_no time script_no time_epoch time_us [...], time in microseconds."""
    latencies = []
    for line in log.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[2].isdigit():
            latencies.append(int(fields[2]) / 1000)
    return latencies


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least this fraction at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Wrk:
    target: str  # the app's database path: "direct" or "pooled"
    conn_max_age: int  # Django's CONN_MAX_AGE: 0 is a connection per request
    connections: int
    seconds: int
    path: str = "/notes"

    def argv(self, base_url: str) -> list[str]:
        threads = min(self.connections, 2)
        return [
            "wrk", f"--threads={threads}", f"--connections={self.connections}", f"--duration={self.seconds}s",
            "--timeout=10s", "--latency", base_url.rstrip("/") + self.path,
        ]  # fmt: skip


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value)
    if not found:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(output: str) -> dict[str, float | int | None]:
    """wrk --latency's report as figures."""

    def search(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.M)

    requests = search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),")
    rate = search(r"^Requests/sec:\s+([0-9.]+)")
    errors = search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non_2xx = search(r"Non-2xx or 3xx responses: (\d+)")
    p50, p99 = (search(rf"^\s+{p}%\s+([0-9.]+(?:us|ms|s|m))\s*$") for p in (50, 99))
    return {
        "requests": int(requests.group(1)) if requests else None,
        "requests_per_second": float(rate.group(1)) if rate else None,
        "p50_ms": _ms(p50.group(1)) if p50 else None,
        "p99_ms": _ms(p99.group(1)) if p99 else None,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }
