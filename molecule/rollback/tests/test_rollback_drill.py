"""The 3 a.m. drill, in host mode and in Docker mode.

First the operations under load (operations.py: an online change,
maintenance.yml, a PostgreSQL restart by hand, restart_pgbouncer.yml, a
planned bypass and an emergency bypass with webapp_pooler_fallback, which
ends with the fallback off). Then the drill, without the fallback: write
rows; kill PgBouncer; rollback.yml (the app answers again, via direct, and
takes more rows); a plain deploy.yml keeps the bypass; restore.yml (the app
goes through PgBouncer again); migrate.yml; report.yml. Every row written is
still there and PostgreSQL was not restarted during the drill. While rollback.yml
and restore.yml run, the app's /healthz is polled; the longest gap in
service, the time without service in all and the failed polls are printed,
and each is bounded (BOUNDS).

Every playbook of the drill runs with -vvv (the operations' without, to save
time), in host mode as an ordinary user that becomes root with sudo;
meanwhile the command lines of every process on this machine (the test
hosts' included) are sampled. No secret (password, SCRAM verifier,
secret key) may appear in the samples, sudo's log or the playbooks' output.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from command_lines import CommandLines
from operations import OUTPUTS, Mode, ansible, ansible_run, inventory_vars, operations_under_load, sh

SCENARIO = Path(__file__).parents[1]
DOCKER_DIR = "/var/tmp/pgstack-molecule-rollback"
DOCKER_FILES = "-f compose.db.yaml -f compose.pgbouncer.yaml -f compose.web.yaml"
# /healthz is asked every POLL_INTERVAL seconds (plus the time an answer takes).
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Bound:
    """The most a switch may cost: seconds without service (the longest gap,
    and all gaps added up), and failed polls of /healthz."""

    seconds: float
    failed_polls: int


# Generous over what was measured on a 2-core machine, both modes alike:
#   host mode    rollback  8.6-9.1 s without service, 131-137 failed polls
#                restore   0.49-0.56 s,                 6 failed polls
#   Docker mode  rollback  11.3-11.5 s,               152-156 failed polls
#                restore   2.5-2.6 s,                  28-30 failed polls
# With the graceful reload (issue 11), after the operations, without the
# fallback: rollback 9.4-16.1 s host, 10.3-16.9 s Docker (the slower with
# another scenario beside); restore 0.47-0.92 s and 0.49-1.15 s.
# The rollback starts with the app already down (PgBouncer is dead), so its
# gap runs from the start until the app answers through the direct path. At
# most one poll per POLL_INTERVAL: the failed polls' bound is the seconds'.
BOUNDS = {
    "rollback.yml": Bound(seconds=20.0, failed_polls=int(20.0 / POLL_INTERVAL)),
    "restore.yml": Bound(seconds=5.0, failed_polls=int(5.0 / POLL_INTERVAL)),
}


def leaks(secrets: dict[str, str], *texts: str) -> list[str]:
    """The names of the secrets found in any of ``texts``."""
    return sorted({name for name, value in secrets.items() for text in texts if value and value in text})


@dataclass
class Poller:
    """Polls /healthz from another thread while a playbook runs."""

    url: str
    samples: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Poller:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    ok = response.status == 200 and json.load(response)["status"] == "ok"
            except Exception:  # noqa: BLE001 - any failure is a miss
                ok = False
            self.samples.append((at, ok))
            time.sleep(POLL_INTERVAL)

    def __exit__(self, *exc: object) -> None:
        time.sleep(1.0)  # a little after the playbook, to see the service settle
        self._stop.set()
        self._thread.join()
        self.ended = time.monotonic()

    def longest_gap(self) -> float:
        """Longest time without a successful answer, edges of the window included."""
        ok = [at for at, good in self.samples if good]
        assert ok, "the app never answered while the playbook ran"
        edges = [self.started, *ok, self.ended]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False))

    def downtime(self) -> float:
        """Time without service in all: from the last success (or the window's
        start) before each run of failed polls to the next success (or the end)."""
        total, last_ok, failing = 0.0, self.started, False
        for at, good in self.samples:
            if good:
                if failing:
                    total += at - last_ok
                last_ok, failing = at, False
            else:
                failing = True
        if failing:
            total += self.ended - last_ok
        return total

    def misses(self) -> int:
        return sum(1 for _, good in self.samples if not good)


def switch_cost(mode: str, playbook: str, poller: Poller, note: str = "") -> list[str]:
    """Print what ``playbook`` cost in service; return how it broke BOUNDS."""
    bound = BOUNDS[playbook]
    gap, downtime, misses = poller.longest_gap(), poller.downtime(), poller.misses()
    print(
        f"\n[{mode} mode] {playbook}{note}: longest gap in service {gap:.2f} s, {downtime:.2f} s without service"
        f" in all ({misses} failed polls of {len(poller.samples)}); bounds {bound.seconds:g} s,"
        f" {bound.failed_polls} failed polls"
    )
    problems = []
    if gap > bound.seconds:
        problems.append(f"{playbook}: longest gap in service {gap:.2f} s > {bound.seconds:g} s")
    if downtime > bound.seconds:
        problems.append(f"{playbook}: {downtime:.2f} s without service in all > {bound.seconds:g} s")
    if misses > bound.failed_polls:
        problems.append(f"{playbook}: {misses} failed polls > {bound.failed_polls}")
    return problems


def secrets_of(inventory: str, host: str, verifiers: str) -> dict[str, str]:
    values = inventory_vars(inventory, host)
    found = {
        name: values[name]
        for name in ("pgstack_db_password", "pgstack_pgbouncer_admin_password", "pgstack_django_secret_key",
                     "pgstack_postgres_superuser_password")
        if values.get(name)
    }
    found["pgstack_db_password (in a URL)"] = quote(values["pgstack_db_password"], safe="")
    for line in sh(verifiers).splitlines():
        name, _, verifier = line.partition(" ")
        found[f"SCRAM verifier of {name}"] = verifier
        found[f"StoredKey of {name}"] = verifier.split("$")[-1].split(":")[0]
    return found


def host_tls(inventory: str) -> tuple[dict[str, tuple[str, int, str]], dict[str, str]]:
    """With pgstack_tls on (molecule.yml): the TLS servers, as Mode.tls has
    them, and their private keys and the CA's as secrets (a line of each)."""
    if str(inventory_vars(inventory, "pgstack-rb-pool").get("pgstack_tls", False)).lower() != "true":
        return {}, {}
    files = {
        "PgBouncer": ("pgstack-rb-pool", 6432, "/etc/pgbouncer/tls/server"),
        "PostgreSQL": ("pgstack-rb-db", 5432, "/etc/postgresql/*/main/tls/server"),
    }
    servers, keys = {}, {}
    for name, (container, port, stem) in files.items():
        address = sh(f"docker exec {container} hostname -i").split()[0]
        servers[name] = (address, port, f"docker exec {container} sh -c 'cat {stem}.crt'")
        keys[f"TLS key of {name}"] = sh(f"docker exec {container} sh -c 'sed -n 2p {stem}.key'").strip()
    ca_key = Path(inventory).parent / "pgstack-tls/ca.key"
    keys["TLS key of the CA"] = ca_key.read_text().splitlines()[1]
    return servers, keys


def host_mode() -> Iterator[Mode]:
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    # Several processes (molecule.yml): the units pgbouncer@1..N.
    processes = int(inventory_vars(inventory, "pgstack-rb-pool").get("pgbouncer_processes", 1))
    units = "pgbouncer" if processes == 1 else " ".join(f"pgbouncer@{n}" for n in range(1, processes + 1))
    tls, tls_keys = host_tls(inventory)
    yield Mode(
        name="host",
        inventory=inventory,
        app="http://127.0.0.1:18100",
        # Killed, and kept from coming back: the pooler's host is in trouble.
        kill_pgbouncer="docker exec pgstack-rb-pool sh -c "
        f"'systemctl kill --signal=SIGKILL {units} && systemctl stop {units}'",
        secrets=secrets_of(
            inventory, "pgstack-rb-web",
            "docker exec pgstack-rb-db runuser -u postgres -- psql -At -c "
            "\"SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL\" && "
            "docker exec pgstack-rb-pool sed -n 's/^\"\\(.*\\)\" \"\\(.*\\)\"$/\\1 \\2/p' /etc/pgbouncer/userlist.txt",
        )
        | tls_keys,
        sudo_log="for h in pgstack-rb-db pgstack-rb-pool pgstack-rb-web; do"
        " docker exec $h journalctl --no-pager -q -t sudo; done",
        psql="docker exec pgstack-rb-db runuser -u postgres -- psql -d app -Atc",
        started="docker exec pgstack-rb-db runuser -u postgres -- psql -Atc 'SELECT pg_postmaster_start_time()'",
        pgbouncer_process=f"docker exec pgstack-rb-pool systemctl show -p MainPID --value {units}",
        pgbouncer_admin="docker exec -e PGPASSWORD pgstack-rb-pool psql --no-psqlrc -A -P footer=off"
        " -h 127.0.0.1 -p 6432 -U pgbouncer_admin -d pgbouncer -c",
        restart_postgres="docker exec pgstack-rb-db systemctl restart postgresql@17-main",
        processes=processes,
        app_python="docker exec -i pgstack-rb-web"
        " sh -c 'set -a && . /etc/pgstack-webapp/env && exec python3 - \"$@\"' -",
        tls=tls,
    )


def docker_mode() -> Iterator[Mode]:
    compose = f"cd {DOCKER_DIR} && docker compose {DOCKER_FILES}"

    def teardown() -> None:
        if Path(f"{DOCKER_DIR}/compose.db.yaml").exists():
            sh(f"{compose} down --volumes --remove-orphans")
        shutil.rmtree(DOCKER_DIR, ignore_errors=True)

    teardown()
    inventory = str(SCENARIO / "docker-inventory.yml")
    ansible(inventory, "deploy.yml")
    try:
        yield Mode(
            name="docker",
            inventory=inventory,
            app="http://127.0.0.1:18200",
            # A "docker kill" is a stop asked for: the restart policy leaves it down.
            kill_pgbouncer="docker kill pgstack-molecule-rollback-pgbouncer-1",
            secrets=secrets_of(
                inventory, "pgstack-rb-docker-host",
                f"{compose} exec -T -u postgres db psql -At -c "
                "\"SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL\" && "
                f"sed -n 's/^\"\\(.*\\)\" \"\\(.*\\)\"$/\\1 \\2/p' {DOCKER_DIR}/pgbouncer/userlist.txt",
            ),
            sudo_log="",
            psql=f"{compose} exec -T -u postgres db psql -d app -Atc",
            started=f"docker inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' pgstack-molecule-rollback-db-1 && "
            f"{compose} exec -T -u postgres db psql -Atc 'SELECT pg_postmaster_start_time()'",
            pgbouncer_process="docker inspect -f '{{.Id}} {{.State.StartedAt}}' pgstack-molecule-rollback-pgbouncer-1",
            pgbouncer_admin="docker exec -e PGPASSWORD pgstack-molecule-rollback-pgbouncer-1 psql --no-psqlrc -A"
            " -P footer=off -h 127.0.0.1 -p 5432 -U pgbouncer_admin -d pgbouncer -c",
            restart_postgres=f"{compose} restart db",
            processes=int(inventory_vars(inventory, "pgstack-rb-docker-host").get("pgbouncer_processes", 1)),
            app_python=f"{compose} exec -T web sh -c 'set -a && . /run/pgstack-webapp/env && exec python3 - \"$@\"' -",
        )
    finally:
        teardown()


@pytest.fixture(params=["host", "docker"])
def mode(request: pytest.FixtureRequest) -> Iterator[Mode]:
    yield from (host_mode() if request.param == "host" else docker_mode())


def test_rollback_and_restore_lose_nothing(mode: Mode) -> None:
    with CommandLines() as command_lines:
        # First the operations under load (operations.py), on the same stack;
        # their bounds are checked once the drill has run too.
        missed = operations_under_load(mode)
        drill(mode)
    found = leaks(mode.secrets, *command_lines.lines)
    assert not found, f"on a command line while the playbooks ran: {found}"
    found = leaks(mode.secrets, *OUTPUTS)
    assert not found, f"in the output of ansible-playbook -vvv: {found}"
    if mode.sudo_log:
        log = sh(mode.sudo_log)
        assert "COMMAND=" in log, "sudo logged nothing: were the playbooks run through sudo?"
        found = leaks(mode.secrets, log)
        assert not found, f"in sudo's log: {found}"
    print(
        f"\n[{mode.name} mode] {len(OUTPUTS)} playbook runs (the drill's with -vvv), {len(command_lines.lines)}"
        f" distinct command lines sampled (by {command_lines.source}): none of {len(mode.secrets)} secrets seen"
    )
    OUTPUTS.clear()
    assert not missed, "operations under load missed their bounds:\n" + "\n".join(missed)


def drill(mode: Mode) -> None:
    assert mode.health()["via"] == "pgbouncer"
    postgres_started = sh(mode.started)
    run = f"drill{int(time.time())}-"  # this run's rows, also on a stack that ran the drill before
    for i in range(3):
        mode.write(f"{run}deployed-{i}")

    sh(mode.kill_pgbouncer)
    with pytest.raises(urllib.error.HTTPError) as lost:  # 503: the app lost its database
        mode.health()
    # The cause, which names internal addresses, stays in the app's log.
    assert lost.value.code == 503
    assert json.load(lost.value) == {"status": "error"}

    # A dry run says it would change the app host, and changes nothing.
    dry = ansible(mode.inventory, "rollback.yml", "--check", "--diff")
    assert any(dry.values()), f"rollback.yml --check saw nothing to change: {dry}"
    with pytest.raises(urllib.error.HTTPError):
        mode.health()

    with Poller(f"{mode.app}/healthz") as rollback:
        ansible(mode.inventory, "rollback.yml")
    # Printed now, bounded at the end: the drill goes on to check the data.
    too_costly = switch_cost(
        mode.name, "rollback.yml", rollback, " with PgBouncer dead, without the fallback (the app already down)"
    )
    assert mode.health()["via"] == "direct"
    for i in range(3):
        mode.write(f"{run}bypassed-{i}")

    again = ansible(mode.inventory, "rollback.yml")
    assert set(again.values()) == {0}, f"second rollback.yml changed something: {again}"

    ansible(mode.inventory, "deploy.yml")
    assert mode.health()["via"] == "direct", "a plain deploy.yml undid the bypass"
    mode.write(f"{run}bypassed-after-deploy")

    with Poller(f"{mode.app}/healthz") as restore:
        ansible(mode.inventory, "restore.yml")
    too_costly += switch_cost(mode.name, "restore.yml", restore)
    assert mode.health()["via"] == "pgbouncer"
    for i in range(3):
        mode.write(f"{run}restored-{i}")

    migrate = ansible_run(mode.inventory, "migrate.yml").stdout
    assert "No migrations to apply." in migrate
    report = ansible_run(mode.inventory, "report.yml").stdout
    assert "****@" in report

    assert mode.count(f"{run}deployed-") == 3
    assert mode.count(f"{run}bypassed-") == 4
    assert mode.count(f"{run}restored-") == 3
    assert sh(mode.started) == postgres_started, "PostgreSQL was restarted"

    assert not too_costly, f"[{mode.name} mode] " + "; ".join(too_costly)
