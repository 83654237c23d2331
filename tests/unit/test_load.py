"""The load generator of molecule/shared/load.py, against a fake app on 127.0.0.1
that answers, fails or stalls on demand."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from tests.unit.molecule_shared import load

load_module = load("load")
Load = load_module.Load


class FakeApp(ThreadingHTTPServer):
    """/notes, /notes/slow and /healthz as the demo app answers them, or 503 while ``failing``,
    or held until ``stalled_until`` (a time.monotonic() value)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.failing = False
        self.stalled_until = 0.0
        self.via = "pgbouncer"
        self.acknowledged: list[str] = []  # bodies answered with 201
        self.failed = 0  # requests answered with 503
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeApp

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _held_or_failed(self) -> bool:
        while time.monotonic() < self.server.stalled_until:
            time.sleep(0.005)
        failing = self.server.failing  # read once: the test flips it meanwhile
        if failing:
            with self.server.lock:
                self.server.failed += 1
            self._answer(503, {"status": "error"})
        return failing

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self._held_or_failed():
            return
        if self.path == "/healthz":
            self._answer(200, {"status": "ok", "via": self.server.via})
        else:
            self._answer(200, {"count": len(self.server.acknowledged), "latest": []})

    def do_POST(self) -> None:  # noqa: N802
        fields = {k: v[-1] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        if self.path == "/notes/slow":
            time.sleep(float(fields["seconds"]))
        if self._held_or_failed():
            return
        with self.server.lock:
            self.server.acknowledged.append(fields["body"])
        self._answer(201, {"id": len(self.server.acknowledged), "body": fields["body"]})


@pytest.fixture
def app() -> Iterator[FakeApp]:
    server = FakeApp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def quick(url: str, **options: object) -> Load:
    return Load(url, **{"clients": 4, "pause": 0.01, "slow_seconds": 0.05, "settle": 0.0, "tag": "t", **options})


def test_a_clean_run_counts_every_kind_and_has_no_problem(app: FakeApp) -> None:
    with quick(app.url) as load:
        time.sleep(1.0)
    print(load.summary("clean"))
    assert load.total > 20 and load.failed == 0 and load.errors == []
    assert {r.kind for r in load.requests} == {"write", "read", "slow", "health"}
    assert load.via == {"pgbouncer": sum(1 for r in load.requests if r.kind == "health")}
    assert load.longest_stall < 0.5
    assert load.slowest is not None and load.slowest.seconds < 0.5
    assert load.stopped_by == "exit" and load.problems(max_failed=0, max_stall=1.0) == []
    assert "clean under load:" in load.summary("clean") and " 0 failed" in load.summary("clean")


def test_written_ok_holds_exactly_the_acknowledged_bodies(app: FakeApp) -> None:
    with quick(app.url) as load:
        time.sleep(0.3)
        app.failing = True  # these writes are refused, and must not count as written
        time.sleep(0.3)
        app.failing = False
        time.sleep(0.3)
    assert load.written_ok and sorted(load.written_ok) == sorted(app.acknowledged)
    assert len(set(load.written_ok)) == len(load.written_ok)
    assert all(body.startswith("t-") for body in load.written_ok)


def test_failures_are_counted_and_reported(app: FakeApp) -> None:
    with quick(app.url) as load:
        time.sleep(0.3)
        app.failing = True
        time.sleep(0.4)
        app.failing = False
        time.sleep(0.3)
    print(load.summary("failing"))
    assert load.failed == app.failed > 0
    assert sum(count for _, count in load.errors) == load.failed
    assert {error for error, _ in load.errors} <= {f"{kind}: HTTP 503" for kind in ("write", "read", "slow", "health")}
    assert 0.35 < load.longest_stall < 0.8
    assert load.problems(max_failed=load.failed) == []
    (problem,) = load.problems(max_failed=0)
    assert f"{load.failed} failed requests > 0" in problem
    assert "HTTP 503" in load.summary("failing")


def test_a_stall_of_one_second_is_measured(app: FakeApp) -> None:
    with quick(app.url, timeout=5.0) as load:
        time.sleep(0.3)
        app.stalled_until = time.monotonic() + 1.0
        time.sleep(1.3)
    print(load.summary("stall"))
    assert load.failed == 0
    assert 0.95 < load.longest_stall < 1.4
    assert load.slowest is not None and 0.9 < load.slowest.seconds < 1.4
    assert load.problems(max_stall=2.0) == []
    assert load.problems(max_stall=0.5) == [f"longest stall {load.longest_stall:.2f} s > 0.5 s"]


def test_the_window_edges_count_when_nothing_answers() -> None:
    with socket.socket() as unused:  # a port nothing listens on: every request is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with quick(f"http://127.0.0.1:{port}", timeout=0.5) as load:
        time.sleep(0.5)
    assert load.total > 0 and load.failed == load.total
    assert load.longest_stall == pytest.approx(load.ended - load.started)
    assert all("ConnectionRefusedError" in error for error, _ in load.errors)
    assert "no write was acknowledged" in load.problems()


def test_the_count_bound_stops_the_load_by_itself(app: FakeApp) -> None:
    started = time.monotonic()
    with quick(app.url, max_requests=25) as load:
        load._stop.wait(10)  # the caller's operation would still be running
    assert time.monotonic() - started < 5
    assert load.total == 25 and load.stopped_by == "count"
    assert "the load stopped by its count bound before the operation ended" in load.problems()
    assert "stopped early by its count bound" in load.summary("count")


def test_the_time_bound_stops_the_load_by_itself(app: FakeApp) -> None:
    with quick(app.url, max_seconds=0.5) as load:
        time.sleep(1.5)
    assert load.stopped_by == "time"
    assert max(r.start for r in load.requests) - load.started < 0.5
    # The window ends with the load, not with the block (1.5 s); margins for a busy machine.
    assert load.ended - load.started < 1.3
    assert load.longest_stall < 1.0
    assert any("time bound" in problem for problem in load.problems())


def test_only_this_machine_is_loaded() -> None:
    with pytest.raises(ValueError, match="only sent to this machine"):
        Load("http://db.example.com:8000")
