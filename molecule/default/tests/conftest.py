"""Helpers shared by the verify tests: other hosts, variables, journals."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

# The scenarios' shared helpers (molecule/shared: tls_checks.py), found by name.
sys.path.insert(0, str(Path(__file__).parents[2] / "shared"))

# Re-exported for the tests (both the demo and the Wagtail site).
from app_env import ENV_FILE, endpoints, environment  # noqa: E402, F401

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = AnsibleRunner(INVENTORY)

# Units whose journal is printed when a test on that host fails.
UNITS = {
    "postgres": ["postgresql@*"],
    "pgbouncer": ["pgbouncer"],
    "webapp": ["pgstack-webapp"],
}


def hosts_of(group: str) -> list[str]:
    return RUNNER.get_hosts(group)


def get_host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY)


def variables(name: str) -> dict:
    return RUNNER.get_variables(name)


def address(name: str) -> str:
    """The host's address on the test network (what the roles call default_ipv4)."""
    return get_host(name).interface("eth0").addresses[0]


def psql(host: testinfra.host.Host, password: str, *args: str) -> testinfra.backend.base.CommandResult:
    """Run psql on ``host`` with a password from the environment, never argv."""
    return host.run("PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql --no-psqlrc -At " + " ".join(["%s"] * len(args)),
                    password, *args)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if report.when == "call" and report.failed and "host" in getattr(item, "funcargs", {}):
        host = item.funcargs["host"]
        name = host.backend.get_hostname()
        groups = variables(name).get("group_names", [])
        units = [unit for group in groups for unit in UNITS.get(group, [])]
        for unit in units:
            journal = host.run("journalctl --no-pager -n 40 -u %s", unit).stdout
            report.sections.append((f"journal of {unit} on {name}", journal))
    return report
