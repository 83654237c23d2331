"""Scale-out in Docker mode (issue 14): two Docker hosts, each a Compose project.

docker-inventory.yml: pgstack-so-dock1 runs db, pgbouncer and web;
pgstack-so-dock2 runs pgbouncer and web, and reaches db where dock1
publishes it. Both are this machine's Docker engine under two names (two
project directories, each with its own published ports), so the other
Docker host is reached at this machine's address, as a real one would be
at its own. TLS on every leg. The module's fixture deploys them with
deploy.yml and removes both projects at the end. Through real connections:

1. each app's DATABASE_URL names its own pgbouncer service first, then the
   other Docker host's PgBouncer at its address and published port; dock2's
   direct URL names dock1's published db, whose pg_hba.conf admits dock2's
   address over TLS;
2. each app's transactions go through its own PgBouncer;
3. the PgBouncers are peers across the Docker hosts: a cancel handed to the
   other one still cancels the query;
4. deploy.yml again changes nothing on either Docker host;
   playbooks/upgrade.yml (-e pgbouncer_upgrade=true) under load on both apps:
   each Docker host's pgbouncer drained and recreated from the new image in
   turn, 0 failed requests, every acknowledged write in PostgreSQL;
5. dock1's PgBouncer killed under load on both apps: dock1's app serves
   through dock2's PgBouncer without a rollback, every request started 5 s
   after the kill served. The figures are printed.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import pytest
from app_env import endpoints, parse
from load import Load
from test_scaleout import LOAD, SHARED, ansible, sh

DOCKER_INVENTORY = str(Path(__file__).parents[1] / "docker-inventory.yml")
DOCK1, DOCK2 = "pgstack-so-dock1", "pgstack-so-dock2"
# docker-inventory.yml: project directories and published ports.
PROJECTS = {DOCK1: "/var/tmp/pgstack-molecule-so-dock1", DOCK2: "/var/tmp/pgstack-molecule-so-dock2"}
POOLER_PORTS = {DOCK1: 16441, DOCK2: 16442}
DB_PORT = 16440
APPS = {DOCK1: "http://127.0.0.1:18211", DOCK2: "http://127.0.0.1:18212"}
ADMIN_PASSWORD = "sca1eout-d0cker-admin-password"
KILL_SECONDS = 20.0


def container(dock: str, service: str) -> str:
    return f"{Path(PROJECTS[dock]).name}-{service}-1"


def remove_projects() -> None:
    for directory in PROJECTS.values():
        # By project name: a deploy that stopped early may have left no Compose file.
        sh("docker", "compose", "--project-name", Path(directory).name, "down", "--volumes", "--remove-orphans")
        sh("rm", "-rf", directory)


@pytest.fixture(scope="module", autouse=True)
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """deploy.yml's arguments, once it has deployed both Docker hosts."""
    remove_projects()
    # The collection's CA and certificates, out of the scenario's directory.
    arguments = ["-e", f"pgstack_tls_dir={tmp_path_factory.mktemp('tls')}"]
    try:
        began = time.monotonic()
        ansible("deploy.yml", *arguments, inventory=DOCKER_INVENTORY)
        print(f"\ndeploy.yml on two Docker hosts: {time.monotonic() - began:.0f} s")
        yield arguments
    finally:
        # A failed deploy too: no project is left running.
        remove_projects()


def address() -> str:
    """This machine's default address (Ansible's default_ipv4): both Docker hosts' here."""
    return sh("ip", "-4", "-o", "route", "get", "8.8.8.8").split(" src ")[1].split()[0]


def environment(dock: str) -> dict[str, str]:
    return parse(Path(PROJECTS[dock], "web", "env").read_text())


def admin(dock: str, command: str) -> list[dict[str, str]]:
    """Rows of an admin console command in a Docker host's pgbouncer service."""
    out = sh(
        "docker", "exec", "-e", "PGPASSWORD", container(dock, "pgbouncer"), "psql", "--no-psqlrc", "-A",
        "-P", "footer=off", "-h", "127.0.0.1", "-p", "5432", "-U", "pgbouncer_admin", "-d", "pgbouncer",
        "-c", command, env={"PGPASSWORD": ADMIN_PASSWORD},
    )  # fmt: skip
    header, *rows = [line.split("|") for line in out.splitlines()]
    return [dict(zip(header, row, strict=True)) for row in rows]


def psql(sql: str) -> str:
    return sh("docker", "exec", "--user", "postgres", container(DOCK1, "db"), "psql", "-d", "app", "-Atc", sql)


def transactions(dock: str) -> int:
    return sum(int(row["total_xact_count"]) for row in admin(dock, "SHOW STATS") if row["database"] == "app")


def test_each_app_names_its_own_pgbouncer_first_then_the_other_docker_host() -> None:
    here = address()
    dock1, dock2 = environment(DOCK1), environment(DOCK2)
    assert endpoints(dock1["DATABASE_URL_POOLED"]) == [("pgbouncer", 5432), (here, POOLER_PORTS[DOCK2])]
    assert endpoints(dock2["DATABASE_URL_POOLED"]) == [("pgbouncer", 5432), (here, POOLER_PORTS[DOCK1])]
    # The fallback: PostgreSQL last, on its own Docker host or where dock1 publishes it.
    assert endpoints(dock1["DATABASE_URL"])[-1] == ("db", 5432)
    assert endpoints(dock2["DATABASE_URL"])[-1] == (here, DB_PORT)
    assert endpoints(dock2["DATABASE_URL_DIRECT"]) == [(here, DB_PORT)]
    assert all("sslmode=verify-full" in dock2[name] for name in ("DATABASE_URL", "DATABASE_URL_DIRECT"))
    hba = Path(PROJECTS[DOCK1], "db", "pg_hba.conf").read_text()
    assert re.search(rf"^hostssl\s+app\s+app\s+{re.escape(here)}/32\s", hba, re.M), hba


@pytest.mark.parametrize("dock", [DOCK1, DOCK2])
def test_the_app_goes_through_its_own_pgbouncer(dock: str) -> None:
    before = {d: transactions(d) for d in PROJECTS}
    began = time.monotonic()
    for _ in range(20):
        with urllib.request.urlopen(f"{APPS[dock]}/notes", timeout=10) as response:
            assert response.status == 200
    elapsed = time.monotonic() - began
    carried = {d: transactions(d) - before[d] for d in PROJECTS}
    print(f"\n20 requests to {dock} in {elapsed:.1f} s: transactions carried {carried}")
    assert carried[dock] >= 20, carried
    # The other Docker host's PgBouncer carries only its own web's health
    # check (Compose's, every 5 s; /healthz is 1 or 2 transactions), not one
    # of these requests (3 transactions each).
    health_checks = int(elapsed / 5) + 1
    assert all(count <= 2 * health_checks for d, count in carried.items() if d != dock), carried


def test_the_pgbouncers_are_peers_across_docker_hosts() -> None:
    peers = {dock: {row["peer_id"] for row in admin(dock, "SHOW PEERS")} for dock in PROJECTS}
    assert peers == {DOCK1: {"101"}, DOCK2: {"1"}}, peers


@pytest.mark.parametrize(("first", "second"), [(DOCK1, DOCK2), (DOCK2, DOCK1)])
def test_a_cancel_handed_to_the_other_docker_host_cancels_the_query(first: str, second: str) -> None:
    here = address()
    script = (SHARED / "cancel_queries.py").read_text()
    command = "set -a && . /run/pgstack-webapp/env && exec python3 - 3 " + " ".join(
        f"{here}:{POOLER_PORTS[dock]}" for dock in (first, second)
    )
    took = json.loads(
        subprocess.run(
            ["docker", "exec", "-i", container(DOCK2, "web"), "sh", "-c", command], input=script,
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
    )
    print(f"\ncancels of queries on {first} sent to {second}: seconds to the query's end {took}")
    assert took and all(seconds is not None and seconds < 2.0 for seconds in took), took


def test_a_second_deploy_changes_nothing(deployed: list[str]) -> None:
    output = ansible("deploy.yml", *deployed, inventory=DOCKER_INVENTORY)
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M))
    assert recap == {DOCK1: "0", DOCK2: "0"}, output[-4000:]


def container_ids() -> dict[str, str]:
    return {dock: sh("docker", "inspect", "--format", "{{.Id}}", container(dock, "pgbouncer")) for dock in PROJECTS}


def lost(run: str, *loads: Load) -> list[str]:
    """Writes the apps acknowledged that PostgreSQL does not have."""
    acknowledged = {body for load in loads for body in load.written_ok}
    found = set(psql(f"SELECT body FROM notes_note WHERE body LIKE '{run}-%'").splitlines())
    return sorted(acknowledged - found)


def test_a_rolling_upgrade_fails_no_request(deployed: list[str]) -> None:
    before = container_ids()
    run = f"dockupgrade{int(time.time())}"
    with Load(APPS[DOCK1], tag=f"{run}-1", **LOAD) as load1, Load(APPS[DOCK2], tag=f"{run}-2", **LOAD) as load2:
        began = time.monotonic()
        ansible("upgrade.yml", *deployed, "-e", "pgbouncer_upgrade=true", inventory=DOCKER_INVENTORY)
        took = time.monotonic() - began
    after = container_ids()
    for load, dock in ((load1, DOCK1), (load2, DOCK2)):
        print(f"\n{load.summary(f'[scaleout docker] upgrade.yml, app {dock}')}; operation {took:.1f} s")
    # Recreated from the new image, one Docker host at a time.
    assert all(before[dock] != after[dock] for dock in PROJECTS), (before, after)
    assert not load1.problems(max_failed=0) and not load2.problems(max_failed=0), (load1.errors, load2.errors)
    assert load1.written_ok and load2.written_ok
    assert not lost(run, load1, load2)


def test_the_apps_serve_while_a_docker_hosts_pgbouncer_is_dead() -> None:
    run = f"dockkill{int(time.time())}"
    with Load(APPS[DOCK1], tag=f"{run}-1", **LOAD) as load1, Load(APPS[DOCK2], tag=f"{run}-2", **LOAD) as load2:
        time.sleep(3)
        sh("docker", "kill", container(DOCK1, "pgbouncer"))
        killed = time.monotonic()
        time.sleep(KILL_SECONDS)
    # Killed, not restarted meanwhile: the apps served without it.
    assert sh("docker", "inspect", "--format", "{{.State.Running}}", container(DOCK1, "pgbouncer")) == "false"
    for load, dock in ((load1, DOCK1), (load2, DOCK2)):
        served = [r for r in load.requests if r.start > killed + 5]
        print(
            f"\n{load.summary(f'[scaleout docker] {DOCK1} pgbouncer killed, app {dock}')}; started 5 s after the"
            f" kill: {len(served)}, {sum(not r.ok for r in served)} failed,"
            f" median {median(r.seconds for r in served):.2f} s"
        )
        assert served and all(r.ok for r in served), load.errors
    assert load1.written_ok and load2.written_ok
    assert not lost(run, load1, load2)
