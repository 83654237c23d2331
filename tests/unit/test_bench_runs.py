"""scripts/bench/runs.py: pgbench's and wrk's reports, recorded on the lab, read into figures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts/bench"))

from runs import Pgbench, Wrk, parse_pgbench, parse_wrk, percentile, pgbench_latencies  # noqa: E402

# pgbench 17.12 -S -C -c 104 straight to a PostgreSQL with max_connections 100 (two of the
# aborted clients' lines kept of the 100 or so it printed).
PGBENCH_REFUSED = """\
pgbench: error: connection to server at "172.18.0.3", port 5432 failed: FATAL:  remaining connection slots are \
reserved for roles with the SUPERUSER attribute
pgbench: error: client 9 aborted while establishing connection
pgbench: error: connection to server at "172.18.0.3", port 5432 failed: FATAL:  remaining connection slots are \
reserved for roles with the SUPERUSER attribute
pgbench: error: client 89 aborted while establishing connection
pgbench (17.12 (Debian 17.12-0+deb13u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 104
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 316
number of failed transactions: 0 (0.000%)
latency average = 673.470 ms
average connection time = 11.629 ms
tps = 154.424003 (including reconnection times)
pgbench: error: Run was aborted; the above results are incomplete.
"""

PGBENCH_PERSISTENT = """\
pgbench (17.12 (Debian 17.12-0+deb13u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 10
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 31131
number of failed transactions: 0 (0.000%)
latency average = 0.636 ms
initial connection time = 22.809 ms
tps = 15723.608748 (without initial connection time)
"""

# No connection at all: persistent clients beyond max_connections.
PGBENCH_NO_RESULT = """\
pgbench (17.12 (Debian 17.12-0+deb13u1))
pgbench: error: connection to server at "172.18.0.3", port 5432 failed: FATAL:  remaining connection slots are \
reserved for roles with the SUPERUSER attribute
pgbench: error: could not create connection for client 138
"""

WRK = """\
Running 2s test @ http://172.18.0.4:8000/notes
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    27.85ms    3.13ms  50.58ms   83.68%
    Req/Sec   142.77     14.42   161.00     80.00%
  Latency Distribution
     50%   27.39ms
     75%   28.88ms
     90%   30.73ms
     99%    1.02s
  570 requests in 2.00s, 1.05MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    284.50
Transfer/sec:    536.77KB
"""


def test_pgbench_with_connections_refused() -> None:
    figures = parse_pgbench(PGBENCH_REFUSED)
    assert figures["transactions"] == 316 and figures["tps"] == 154.424003
    assert figures["latency_mean_ms"] == 673.47 and figures["connection_mean_ms"] == 11.629
    assert figures["aborted_clients"] == 2 and figures["connection_errors"] == 2
    assert figures["run_aborted"] is True and figures["failed_transactions"] == 0


def test_pgbench_persistent() -> None:
    figures = parse_pgbench(PGBENCH_PERSISTENT)
    assert figures["tps"] == 15723.608748 and figures["transactions"] == 31131
    assert figures["connection_mean_ms"] is None and figures["aborted_clients"] == 0
    assert figures["run_aborted"] is False


def test_pgbench_without_a_result() -> None:
    figures = parse_pgbench(PGBENCH_NO_RESULT)
    assert figures["tps"] is None and figures["transactions"] is None
    assert figures["connection_errors"] == 1


def test_pgbench_log_latencies_in_ms() -> None:
    log = "4 606 988 0 1795692295 161680\n9 29 1322 0 1795692294 785581\n\nnot a line\n"
    assert pgbench_latencies(log) == [0.988, 1.322]


def test_nearest_rank_percentile() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.99) == 99.0 and percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0 and percentile([], 0.5) is None


def test_wrk_report_with_errors_and_units() -> None:
    figures = parse_wrk(WRK)
    assert figures["requests"] == 570 and figures["requests_per_second"] == 284.5
    assert figures["p50_ms"] == 27.39 and figures["p99_ms"] == 1020.0
    assert figures["socket_errors"] == 5 and figures["non_2xx"] == 4


def test_commands() -> None:
    run = Pgbench("pooled", "write", 200, True, 10)
    argv = run.argv("172.18.0.2", 6432, "app", "app", "/tmp/log/pooled", 0.2)
    assert argv[0] == "pgbench" and argv[-1] == "app"
    assert {"--builtin=simple-update", "--client=200", "--jobs=2", "--connect", "--port=6432"} <= set(argv)
    assert "--connect" not in Pgbench("direct", "select-only", 50, False, 10).argv("h", 5432, "u", "d", "p", 0.1)
    assert Wrk("direct", 0, 8, 10).argv("http://172.18.0.4:8000/")[-1] == "http://172.18.0.4:8000/notes"
    prepared = Pgbench("pooled", "select-only", 50, False, 10, "prepared").argv("h", 6432, "u", "d", "p", 0.1)
    assert "--protocol=prepared" in prepared and prepared[-1] == "d"
    assert not any(a.startswith("--protocol") for a in run.argv("h", 6432, "u", "d", "p", 0.1))
