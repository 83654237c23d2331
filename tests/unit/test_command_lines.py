"""The command line sampler of molecule/shared/command_lines.py, which the
rollback drill uses to show no secret is on a command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.unit.molecule_shared import load

command_lines = load("command_lines")
CommandLines = command_lines.CommandLines

needs_connector = pytest.mark.skipif(
    command_lines._connector() is None, reason="no process connector here (needs root on Linux)"
)


def test_a_long_running_process_is_seen() -> None:
    token = f"long-running-{os.getpid()}-{time.time_ns()}"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", token]) as sleeper:
        try:
            with CommandLines() as seen:
                time.sleep(3 * seen.interval)
        finally:
            sleeper.kill()
    assert any(token in line for line in seen.lines)


@needs_connector
def test_every_short_lived_command_is_seen() -> None:
    # Each lives 50 ms: the scan of /proc every SCAN_INTERVAL alone sees
    # about one in five; the exec events see every one.
    tokens = [f"short-lived-{os.getpid()}-{n}-{time.time_ns()}" for n in range(30)]
    with CommandLines() as seen:
        for token in tokens:
            subprocess.run(["sh", "-c", "sleep 0.05", token], check=True)
        time.sleep(0.2)
    missed = [token for token in tokens if not any(token in line for line in seen.lines)]
    assert not missed, f"{len(missed)} of {len(tokens)} commands not seen (by {seen.source})"


def test_a_sampler_that_dies_voids_the_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> None:
        raise OSError("No buffer space available")

    monkeypatch.setattr(CommandLines, "_scan", broken)
    with pytest.raises(RuntimeError, match="stopped early"), CommandLines():
        time.sleep(0.1)


def test_exec_events_are_read_from_a_datagram() -> None:
    def message(what: int, pid: int) -> bytes:
        event = command_lines.EVENT_HDR.pack(what, 0, 0) + command_lines.EXEC_EVENT.pack(pid, pid)
        cn = command_lines.CN_MSG.pack(1, 1, 0, 0, len(event), 0) + event
        return command_lines.NLMSG_HDR.pack(command_lines.NLMSG_HDR.size + len(cn), 3, 0, 0, 0) + cn

    fork = 0x00000001
    assert command_lines.exec_pids(message(command_lines.PROC_EVENT_EXEC, 4242)) == [4242]
    assert command_lines.exec_pids(message(fork, 4242)) == []
    assert command_lines.exec_pids(b"") == []
