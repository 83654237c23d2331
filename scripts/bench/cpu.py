"""CPU seconds a container has used, from its cgroup on this Docker host.

PostgreSQL, PgBouncer, the app and the load generator each run in their own lab container, so
each one's cost is read apart; on a 2-core machine they share the same cores, and what a pooler
saves is mostly the database's CPU.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
# cgroup v1 (cpuacct.usage, nanoseconds) and v2 (cpu.stat usage_usec), with Docker's cgroupfs
# or systemd driver.
_CANDIDATES = (
    "cpuacct/docker/{id}",
    "cpu,cpuacct/docker/{id}",
    "cpuacct/system.slice/docker-{id}.scope",
    "cpu,cpuacct/system.slice/docker-{id}.scope",
    "system.slice/docker-{id}.scope",
    "docker/{id}",
)


def cgroup_dir(container_id: str, root: Path = ROOT) -> Path:
    for candidate in _CANDIDATES:
        path = root / candidate.format(id=container_id)
        if (path / "cpuacct.usage").is_file() or (path / "cpu.stat").is_file():
            return path
    raise FileNotFoundError(f"no cgroup with CPU accounting for container {container_id[:12]} under {root}")


def cpu_seconds(path: Path) -> float:
    """CPU time used so far by every process of the cgroup at path."""
    usage = path / "cpuacct.usage"
    if usage.is_file():
        return int(usage.read_text()) / 1e9
    for line in (path / "cpu.stat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise ValueError(f"{path}/cpu.stat has no usage_usec")


class CpuMeter:
    """CPU seconds each named container used between start() and stop()."""

    def __init__(self, containers: dict[str, str], root: Path = ROOT) -> None:
        self.paths = {name: cgroup_dir(container_id, root) for name, container_id in containers.items()}
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_seconds(path) for name, path in self.paths.items()}

    def stop(self) -> dict[str, float]:
        return {name: round(cpu_seconds(path) - self._before[name], 3) for name, path in self.paths.items()}
