"""A load through the app's real path while an operation runs (issue 11), for
the rollback scenario's operations and the Docker scenario's rolling restart.

    with Load("http://127.0.0.1:18100", tag="maint") as load:
        ansible(mode.inventory, "maintenance.yml")
    print(load.summary("[host mode] maintenance.yml"))
    assert not load.problems(max_failed=0, max_stall=2.0)

Clients in threads send writes (POST /notes, 201), reads (GET /notes, 200),
slow transactions (POST /notes/slow: insert, pg_sleep, commit; 201) and a few
GET /healthz (200, counted by "via"); at most one slow transaction at a time.
A mix may add steps (GET /notes/steps, 200: two transactions slow_seconds
apart on one connection, which a pooler closing idle clients cuts).
Only to 127.0.0.1, each request with a timeout, and bounded in time and in
count: a runaway load stops by itself. Writes' bodies are "<tag>-<n>": give
each run its own tag to find its rows.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

MIX = {"write": 4, "read": 4, "slow": 1, "health": 1}
PATHS = {"write": "/notes", "read": "/notes", "slow": "/notes/slow", "health": "/healthz", "steps": "/notes/steps"}


@dataclass(frozen=True)
class Request:
    start: float
    end: float
    kind: str
    ok: bool
    error: str = ""  # short, "" when ok
    body: str = ""  # what a write sent
    via: str = ""  # what /healthz answered

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Load:
    def __init__(
        self, base_url: str, *, clients: int = 4, max_seconds: float = 600.0, max_requests: int = 50_000,
        tag: str = "load", timeout: float = 5.0, pause: float = 0.05, slow_seconds: float = 0.5,
        settle: float = 1.0, mix: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        if urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"load is only sent to this machine's test ports, not {base_url}")
        self.base_url, self.clients, self.tag = base_url.rstrip("/"), clients, tag
        self.max_seconds, self.max_requests, self.timeout = max_seconds, max_requests, timeout
        self.pause, self.slow_seconds, self.settle = pause, slow_seconds, settle
        self.mix = mix or MIX
        self.requests: list[Request] = []
        self.stopped_by, self._halted_at = "", 0.0  # "exit", "time" or "count", and when
        self._lock, self._stop, self._sent = threading.Lock(), threading.Event(), 0
        # One slow transaction at a time: with gunicorn's 2 sync workers, one stays free for the rest.
        self._slow = threading.Lock()

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.wait(self.settle)  # a little after the operation, to see the service settle
        self._halt("exit")
        for thread in self._threads:
            thread.join()
        # The window ends when the load stopped: at exit, or at a bound before it.
        self.ended = self._halted_at

    def _halt(self, why: str) -> None:
        with self._lock:
            if not self._stop.is_set():
                self.stopped_by, self._halted_at = why, time.monotonic()
                self._stop.set()

    def _next(self) -> int | None:
        """A number for the next request, or None once a bound is reached."""
        with self._lock:
            if self._stop.is_set():
                return None
            if time.monotonic() - self.started >= self.max_seconds:
                why = "time"
            elif self._sent >= self.max_requests:
                why = "count"
            else:
                self._sent += 1
                return self._sent
        self._halt(why)
        return None

    def _client(self, index: int) -> None:
        kinds, weights = list(self.mix), list(self.mix.values())
        rng = random.Random(index)
        while (n := self._next()) is not None:
            kind = rng.choices(kinds, weights)[0]
            if kind == "slow" and not self._slow.acquire(blocking=False):
                kind = "write"  # another client's slow transaction is still open
            try:
                request = self._send(kind, n)
            finally:
                if kind == "slow":
                    self._slow.release()
            with self._lock:
                self.requests.append(request)
            self._stop.wait(self.pause)

    def _send(self, kind: str, n: int) -> Request:
        body = f"{self.tag}-{n}" if kind in ("write", "slow") else ""
        fields = {"body": body, **({"seconds": str(self.slow_seconds)} if kind == "slow" else {})}
        data = urlencode(fields).encode() if body else None
        expected, timeout = (201, self.timeout + self.slow_seconds) if body else (200, self.timeout)
        query = f"?seconds={self.slow_seconds}" if kind == "steps" else ""
        if kind == "steps":
            timeout += self.slow_seconds
        start, error, via = time.monotonic(), "", ""
        try:
            with urllib.request.urlopen(self.base_url + PATHS[kind] + query, data=data, timeout=timeout) as response:
                status, answer = response.status, response.read()
            if status != expected:
                error = f"HTTP {status}"
            elif kind == "health":
                via = str(json.loads(answer).get("via", ""))
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code}"
        except urllib.error.URLError as e:
            error = _short(e.reason)
        except Exception as e:  # noqa: BLE001 - any failure is a failed request
            error = _short(e)
        return Request(start, time.monotonic(), kind, not error, error and f"{kind}: {error}", body, via)

    # Figures, once the load has stopped.
    @property
    def total(self) -> int:
        return len(self.requests)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.requests if not r.ok)

    @property
    def errors(self) -> list[tuple[str, int]]:
        """Distinct errors, most frequent first (at most 5)."""
        return Counter(r.error for r in self.requests if not r.ok).most_common(5)

    @property
    def longest_stall(self) -> float:
        """Longest time in which no request succeeded, edges of the window included."""
        edges = [self.started, *sorted(min(r.end, self.ended) for r in self.requests if r.ok), self.ended]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False))

    @property
    def slowest(self) -> Request | None:
        """The slowest successful request."""
        return max((r for r in self.requests if r.ok), key=lambda r: r.seconds, default=None)

    @property
    def written_ok(self) -> list[str]:
        """Bodies the app acknowledged with 201: each must be in the database."""
        return [r.body for r in self.requests if r.ok and r.body]

    @property
    def via(self) -> Counter[str]:
        return Counter(r.via for r in self.requests if r.via)

    def summary(self, label: str) -> str:
        slowest = self.slowest
        line = (
            f"{label} under load: {self.total} requests, {self.failed} failed, longest stall"
            f" {self.longest_stall:.2f} s, slowest {slowest.seconds if slowest else 0:.2f} s"
            f" ({slowest.kind if slowest else '-'}), {len(self.written_ok)} writes acknowledged"
            f" ({self.clients} clients, {self.ended - self.started:.1f} s)"
        )
        if self.via:
            line += ", via " + ", ".join(f"{k} {v}" for k, v in sorted(self.via.items()))
        if self.errors:
            line += "; errors: " + ", ".join(f"{e} x{c}" for e, c in self.errors)
        if self.stopped_by != "exit":
            line += f"; stopped early by its {self.stopped_by} bound"
        return line

    def problems(self, max_failed: int = 0, max_stall: float | None = None) -> list[str]:
        """The bounds this run broke, in words; empty when it kept them."""
        found = []
        if self.failed > max_failed:
            found.append(f"{self.failed} failed requests > {max_failed} ({self.errors})")
        if max_stall is not None and self.longest_stall > max_stall:
            found.append(f"longest stall {self.longest_stall:.2f} s > {max_stall:g} s")
        if not self.written_ok and self.mix.get("write", 0) + self.mix.get("slow", 0):
            found.append("no write was acknowledged")
        if self.stopped_by != "exit":
            found.append(f"the load stopped by its {self.stopped_by} bound before the operation ended")
        return found


def _short(error: object) -> str:
    text = type(error).__name__ if isinstance(error, BaseException) else ""
    return f"{text}: {error}"[:80] if text else str(error)[:80]
