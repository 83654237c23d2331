"""scripts/bench/cpu.py: a container's CPU seconds from cgroup v1 and v2 trees laid out as Docker does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts/bench"))

from cpu import CpuMeter, cgroup_dir, cpu_seconds  # noqa: E402

ID = "6c14ffc80638dab8e9d118a45b7d9b164514969a3187f27b9d11f42fe90fc668"


def test_cgroup_v1_counts_nanoseconds(tmp_path: Path) -> None:
    group = tmp_path / "cpuacct/docker" / ID
    group.mkdir(parents=True)
    (group / "cpuacct.usage").write_text("2500000000\n")
    assert cgroup_dir(ID, tmp_path) == group
    assert cpu_seconds(group) == 2.5


def test_cgroup_v2_with_the_systemd_driver_counts_microseconds(tmp_path: Path) -> None:
    group = tmp_path / f"system.slice/docker-{ID}.scope"
    group.mkdir(parents=True)
    (group / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    assert cgroup_dir(ID, tmp_path) == group
    assert cpu_seconds(group) == 1.5


def test_a_container_without_a_cgroup_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=ID[:12]):
        cgroup_dir(ID, tmp_path)


def test_the_meter_gives_what_each_container_used_in_between(tmp_path: Path) -> None:
    usage = {}
    for name, container_id in {"postgres": "a" * 64, "pgbouncer": "b" * 64}.items():
        group = tmp_path / "docker" / container_id
        group.mkdir(parents=True)
        usage[name] = group / "cpu.stat"
        usage[name].write_text("usage_usec 1000000\n")
    meter = CpuMeter({"postgres": "a" * 64, "pgbouncer": "b" * 64}, tmp_path)
    meter.start()
    usage["postgres"].write_text("usage_usec 3250000\n")
    assert meter.stop() == {"postgres": 2.25, "pgbouncer": 0.0}
