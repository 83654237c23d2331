"""Helpers for the Docker mode tests: the project, its services, its secrets."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, os.environ.get("MOLECULE_PROJECT_DIRECTORY", str(Path(__file__).parents[3])))
# The scenarios' shared helpers (molecule/shared: load.py), found by name.
sys.path.insert(0, str(Path(__file__).parents[2] / "shared"))

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
HOST = RUNNER.get_hosts("all")[0]
VARS = RUNNER.get_variables(HOST)
PROJECT = VARS["pgstack_docker_project_dir"]
# What the playbooks name; the tests themselves use compose.yaml, as an operator would.
FILES = "-f compose.db.yaml -f compose.pgbouncer.yaml -f compose.web.yaml"


class Stack:
    """A plain docker compose, run in the project directory on the Docker host."""

    def __init__(self, host) -> None:
        self.host = host

    def compose(self, args: str, *values: str) -> str:
        return self.host.check_output(f"cd {PROJECT} && docker compose {args}", *values)

    def run(self, args: str, *values: str):
        return self.host.run(f"cd {PROJECT} && docker compose {args}", *values)

    def services(self) -> dict[str, dict]:
        lines = self.compose("ps --all --format json").splitlines()
        return {row["Service"]: row for row in map(json.loads, lines)}

    def psql_admin(self, command: str, where: str = "127.0.0.1") -> list[list[str]]:
        """Rows of an admin console command, from the process that takes the
        connection: over TCP any of them; ``where`` a process's socket directory."""
        out = self.compose(
            "exec -T -e PGPASSWORD=%s pgbouncer"
            " psql --no-psqlrc -At -h %s -U pgbouncer_admin -d pgbouncer -c %s",
            VARS["pgstack_pgbouncer_admin_password"], where, command,
        )
        return [line.split("|") for line in out.splitlines()]

    def psql_admin_all(self, command: str) -> list[list[str]]:
        """Rows of an admin console command from every PgBouncer process."""
        processes = int(VARS.get("pgbouncer_processes", 1))
        if processes == 1:
            return self.psql_admin(command)
        return [row for n in range(1, processes + 1) for row in self.psql_admin(command, f"/run/pgbouncer/{n}")]

    def psql_db(self, sql: str) -> str:
        return self.compose("exec -T -u postgres db psql --no-psqlrc -At -d app -c %s", sql)


@pytest.fixture
def stack(host) -> Stack:
    return Stack(host)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "host" in getattr(item, "funcargs", {}):
        logs = item.funcargs["host"].run(f"cd {PROJECT} && docker compose {FILES} logs --tail 30").stdout
        report.sections.append(("docker compose logs", logs))
    return report
