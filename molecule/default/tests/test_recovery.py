"""Services come back by themselves after a crash, and PgBouncer stops promptly.

Each service of the Debian 13 stack is killed with SIGKILL in turn; the app's
/healthz is polled from its host until it answers through PgBouncer again, and
the time that took is printed. The pooler's own bound is 5 s.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import get_host

WEB, POOL, DB = "pgstack-m-web", "pgstack-m-pool", "pgstack-m-db"
KILLED = {
    "pgbouncer": (POOL, "pgbouncer", 5.0),
    "postgresql": (DB, "postgresql@17-main", 30.0),
    "webapp": (WEB, "pgstack-webapp", 30.0),
}


def serving() -> bool:
    result = get_host(WEB).run("curl -s --max-time 2 http://127.0.0.1:8000/healthz")
    try:
        return result.rc == 0 and json.loads(result.stdout)["via"] == "pgbouncer"
    except (ValueError, KeyError):
        return False


def main_pid(host, unit: str) -> str:
    return host.check_output("systemctl show -p MainPID --value %s", unit)


@pytest.mark.parametrize("service", list(KILLED))
def test_killed_service_comes_back_by_itself(service: str) -> None:
    name, unit, bound = KILLED[service]
    host = get_host(name)
    assert serving()
    before = main_pid(host, unit)
    started = time.monotonic()
    host.check_output("systemctl kill --signal=SIGKILL --kill-whom=main %s", unit)
    # Back means a new main process and the app serving through PgBouncer:
    # a killed postmaster leaves its backends running for a while, and
    # PgBouncer's server connections to them may still answer.
    while main_pid(host, unit) in ("0", before) or not serving():
        assert time.monotonic() - started < 60, f"{service} was not back and serving within 60 s of its kill"
        time.sleep(0.1)
    took = time.monotonic() - started
    print(f"\n[host mode] {service} killed with SIGKILL: back, the app serving through PgBouncer, {took:.2f} s later")
    assert took <= bound, f"{service}: {took:.2f} s"


def test_pgbouncer_stops_promptly_with_a_client_connected() -> None:
    host = get_host(POOL)
    # The app host holds an idle client session through PgBouncer for 30 s;
    # its URL comes from the app's environment file, never a command line.
    get_host(WEB).check_output(
        "set -a && . /etc/pgstack-webapp/env && setsid python3 -c '"
        "import os, psycopg, time; c = psycopg.connect(os.environ[\"DATABASE_URL_POOLED\"]);"
        " c.execute(\"SELECT 1\"); c.commit(); time.sleep(30)' </dev/null >/dev/null 2>&1 &"
    )
    time.sleep(1)
    assert host.check_output("ss -Htn state established '( sport = :6432 )'"), "no client is connected"
    started = time.monotonic()
    host.check_output("systemctl stop pgbouncer")
    took = time.monotonic() - started
    host.check_output("systemctl start pgbouncer")
    print(f"\n[host mode] systemctl stop pgbouncer with a client connected took {took:.2f} s")
    assert took < 5, f"stopping PgBouncer took {took:.2f} s"
    deadline = time.monotonic() + 15
    while not serving():
        assert time.monotonic() < deadline, "the app did not serve again after PgBouncer was started"
        time.sleep(0.2)
