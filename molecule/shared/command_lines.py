"""Every process's command line on this machine while playbooks run, the test
hosts' included (containers share its kernel), to show no secret is on one.

    with CommandLines() as seen:
        ansible(...)
    assert not any(secret in line for line in seen.lines)

Two sources, one thread. The kernel's process connector (netlink, root only)
reports each exec as it happens, and the new program's command line is read
at once: short-lived commands (a docker exec, a psql) are caught, which a
scan of /proc, however often, can miss. A scan of /proc every SCAN_INTERVAL
adds what a running process writes over its command line later (PostgreSQL
and gunicorn set their titles). Where the connector cannot be opened, the
scan alone runs every FALLBACK_INTERVAL, which costs a third of a core.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

SCAN_INTERVAL = 0.25
FALLBACK_INTERVAL = 0.005

# linux/netlink.h, linux/connector.h, linux/cn_proc.h
NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002
NLMSG_HDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
EVENT_HDR = struct.Struct("=IIQ")  # what, cpu, timestamp
EXEC_EVENT = struct.Struct("=ii")  # pid, tgid
NLMSG_DONE = 3
RECEIVE_BUFFER = 8 << 20  # events of a burst of execs wait here while the thread scans


def _connector() -> socket.socket | None:
    """A socket the kernel sends process events to, or None where it cannot be had."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    except OSError:
        return None
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, RECEIVE_BUFFER)  # SO_RCVBUFFORCE, root only
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((0, CN_IDX_PROC))
        op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        message = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
        sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(message), NLMSG_DONE, 0, 0, 0) + message)
    except OSError:
        sock.close()
        return None
    return sock


def exec_pids(datagram: bytes) -> list[int]:
    """The processes a datagram of the process connector reports as exec'd."""
    pids, offset = [], 0
    while offset + NLMSG_HDR.size <= len(datagram):
        length = NLMSG_HDR.unpack_from(datagram, offset)[0]
        if length < NLMSG_HDR.size:
            break
        event = offset + NLMSG_HDR.size + CN_MSG.size
        if event + EVENT_HDR.size + EXEC_EVENT.size <= offset + length:
            if EVENT_HDR.unpack_from(datagram, event)[0] == PROC_EVENT_EXEC:
                pids.append(EXEC_EVENT.unpack_from(datagram, event + EVENT_HDR.size)[0])
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return pids


@dataclass
class CommandLines:
    """The command lines seen (``lines``) between entering and leaving; the
    leaving raises if the sampling stopped early or the kernel dropped events,
    as then no claim on what was absent can be made."""

    lines: set[str] = field(default_factory=set)
    died: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> CommandLines:
        self._events = _connector()
        self.interval = SCAN_INTERVAL if self._events else FALLBACK_INTERVAL
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    @property
    def source(self) -> str:
        return "exec events and a scan of /proc" if self._events else "a scan of /proc"

    def _read(self, pid: int | str) -> None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:  # noqa: PTH123 - no Path object per process
                raw = cmdline.read()
        except OSError:
            return  # the process has gone
        if raw:
            self.lines.add(raw.replace(b"\0", b" ").decode(errors="replace"))

    def _scan(self) -> None:
        # Not Path.glob: it stats each entry, and a process gone meanwhile raised out of
        # the loop and ended the sampling silently (a CI run, 2026-11-26).
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                self._read(pid)

    def _drain(self) -> None:
        """Every event waiting; ENOBUFS here (the kernel dropped events) ends the
        sampling, as the claim would not hold."""
        assert self._events is not None
        while True:
            try:
                datagram = self._events.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            for pid in exec_pids(datagram):
                self._read(pid)

    def _run(self) -> None:
        try:
            next_scan = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_scan:
                    self._scan()
                    next_scan = now + self.interval
                if self._events is None:
                    self._stop.wait(max(0.0, next_scan - time.monotonic()))
                    continue
                ready, _, _ = select.select([self._events], [], [], max(0.0, next_scan - time.monotonic()))
                if ready:
                    self._drain()
        except BaseException as exc:  # noqa: BLE001 - any end but the asked one voids "none seen"
            self.died = exc

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._events is not None:
            self._events.close()
        if self.died is not None:
            raise RuntimeError("the command line sampler stopped early: no claim on secrets can be made") from self.died
