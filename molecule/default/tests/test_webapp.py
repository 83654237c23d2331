"""The Django app: served by gunicorn, pooled through PgBouncer, writing real rows."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

from conftest import ENV_FILE, address, endpoints, environment, get_host, hosts_of

# The demo app; pgstack-m-wagtail runs a generated project (test_wagtail.py).
testinfra_hosts = [f"ansible://{name}" for name in hosts_of("webapp") if name not in hosts_of("wagtail")]



def get(host, path: str) -> dict:
    return json.loads(host.check_output("curl -fsS http://127.0.0.1:8000%s", path))


def test_service_running_and_enabled_as_its_own_user(host) -> None:
    service = host.service("pgstack-webapp")
    assert service.is_running
    assert service.is_enabled
    assert host.socket("tcp://0.0.0.0:8000").is_listening
    main = host.check_output("systemctl show -p MainPID --value pgstack-webapp")
    workers = host.check_output("cat /proc/%s/task/%s/children", main, main).split()
    assert len(workers) == 2  # webapp_workers
    pids = [main, *workers]
    users = {host.check_output("stat -c %%U /proc/%s", pid) for pid in pids}
    assert users == {"webapp"}


def test_environment_file_is_for_root_and_the_app_only(host) -> None:
    # gunicorn, as the app user, reads it again on each reload.
    env = host.file(ENV_FILE)
    assert env.user == "root" and env.group == "webapp" and env.mode == 0o640
    directory = host.file("/etc/pgstack-webapp")
    assert directory.user == "root" and directory.group == "webapp" and directory.mode == 0o750
    assert host.run("runuser -u webapp -- test -r %s", ENV_FILE).rc == 0
    assert host.run("runuser -u nobody -- test -r %s", ENV_FILE).rc != 0


def test_database_urls_point_at_pooler_and_postgres(host) -> None:
    env = environment(host)
    (pooler,) = endpoints(env["DATABASE_URL_POOLED"])
    (db,) = endpoints(env["DATABASE_URL_DIRECT"])
    assert pooler[1] == 6432 and pooler[0] in {address(n) for n in hosts_of("pgbouncer")}
    assert db[1] == 5432 and db[0] in {address(n) for n in hosts_of("postgres")}
    # webapp_pooler_fallback: PgBouncer first, PostgreSQL when no pooler answers.
    assert endpoints(env["DATABASE_URL"]) == [pooler, db]
    assert "connect_timeout=2" in urlsplit(env["DATABASE_URL"]).query
    names = ("DATABASE_URL", "DATABASE_URL_POOLED", "DATABASE_URL_DIRECT")
    assert {urlsplit(env[name]).path for name in names} == {"/app"}


def test_code_is_not_writable_by_the_app_user(host) -> None:
    assert host.run("sudo -u webapp test -w /opt/pgstack-webapp/demoapp/settings.py").rc != 0
    assert host.run("sudo -u webapp test -r /opt/pgstack-webapp/demoapp/settings.py").rc == 0


def test_healthz_goes_through_pgbouncer(host) -> None:
    health = get(host, "/healthz")
    assert health["status"] == "ok"
    assert health["via"] == "pgbouncer"
    ((pooler, _),) = endpoints(environment(host)["DATABASE_URL_POOLED"])
    assert health["db_sees_client"].split(":")[0] == pooler


def test_notes_are_written_to_postgres(host) -> None:
    token = f"verify-{uuid.uuid4()}"
    before = get(host, "/notes")["count"]
    created = json.loads(host.check_output("curl -fsS -X POST -d body=%s http://127.0.0.1:8000/notes", token))
    assert created["body"] == token
    assert get(host, "/notes")["count"] == before + 1
    db_address = urlsplit(environment(host)["DATABASE_URL_DIRECT"]).hostname
    (db_name,) = [n for n in hosts_of("postgres") if address(n) == db_address]
    rows = get_host(db_name).check_output(
        f"sudo -u postgres psql -d app -Atc \"SELECT count(*) FROM notes_note WHERE body = '{token}'\""
    )
    assert rows == "1"


def test_migrations_are_applied(host) -> None:
    plan = host.check_output(
        "cd /opt/pgstack-webapp && set -a && . %s && setpriv --reuid=webapp --regid=webapp --init-groups"
        " -- python3 manage.py showmigrations --plan",
        ENV_FILE,
    )
    assert "[X]  notes.0001_initial" in plan
    assert "[ ]" not in plan
