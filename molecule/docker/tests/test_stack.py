"""The Compose stack: healthy services, the guide's URLs, pooling, no secrets in clear."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import quote

import pytest

from conftest import FILES, HOST, PROJECT, VARS
from plugins.filter.scram import scram_verifies

testinfra_hosts = [f"ansible://{HOST}"]

PASSWORD = VARS["pgstack_db_password"]
TLS = str(VARS.get("pgstack_tls", False)).lower() == "true"
PROCESSES = int(VARS.get("pgbouncer_processes", 1))
INI_FILES = ["pgbouncer.ini"] if PROCESSES == 1 else [f"pgbouncer-{n}.ini" for n in range(1, PROCESSES + 1)]
APP = f"http://127.0.0.1:{VARS['webapp_listen_port']}"


# The app's environment, mounted read-only into web (web/ as /run/pgstack-webapp).
ENV_FILE = f"{PROJECT}/web/env"


def env_file(host) -> dict[str, str]:
    lines = host.file(ENV_FILE).content_string.splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value.strip("'") for key, value in pairs}


def test_three_services_running_and_healthy(stack) -> None:
    services = stack.services()
    assert set(services) == {"db", "pgbouncer", "web"}
    for name, row in services.items():
        assert row["State"] == "running", name
        assert row["Health"] == "healthy", name


def test_dependencies_wait_for_health(host) -> None:
    web = host.file(f"{PROJECT}/compose.web.yaml").content_string
    pgbouncer = host.file(f"{PROJECT}/compose.pgbouncer.yaml").content_string
    # The same on either database path (a change would recreate web); the
    # role brings web up alone, so a bypass never starts a dead PgBouncer.
    assert re.search(
        r"depends_on:\s+db:\s+condition: service_healthy\s+pgbouncer:\s+condition: service_healthy\s+required: false",
        web,
    )
    assert re.search(r"depends_on:\s+db:\s+condition: service_healthy", pgbouncer)


def test_web_gives_up_a_lost_name_lookup_after_1_s(host, stack) -> None:
    # Once PgBouncer's container is gone its name is looked up upstream; one
    # lost answer held a request 5 s (the C library's default) before libpq
    # turned to db, past the fallback's bound.
    container = stack.compose("ps -q web")
    resolv = host.check_output("docker exec %s cat /etc/resolv.conf", container)
    assert re.search(r"^options .*\btimeout:1\b", resolv, re.M), resolv


def test_plain_docker_compose_sees_the_same_project(host, stack) -> None:
    # An operator's "docker compose up -d" in the project directory must
    # recreate nothing: the same services with the same configuration hashes.
    hashes = stack.compose("config --hash '*'")
    assert len(hashes.splitlines()) == 3
    assert hashes == host.check_output(f"cd {PROJECT} && docker compose {FILES} config --hash '*'")
    assert host.file(f"{PROJECT}/compose.yaml").mode == 0o644


def test_env_file_has_the_guides_urls_and_only_root_and_web_read_it(host) -> None:
    # Readable in web's container (its user is the image's), and on this host
    # by root alone: the project directory is root's.
    project = host.file(PROJECT)
    assert project.user == "root" and project.group == "root" and project.mode == 0o750
    env = host.file(ENV_FILE)
    assert env.user == "root" and env.mode == 0o644
    assert host.run("runuser -u nobody -- cat %s", ENV_FILE).rc != 0
    assert not host.file(f"{PROJECT}/.env").exists  # where an older deploy kept it
    values = env_file(host)
    password = quote(PASSWORD, safe="")
    # With pgstack_tls, every URL asks for verify-full with the CA (tests/test_tls.py).
    tls = "sslmode=verify-full&sslrootcert=/run/pgstack-webapp/ca.crt" if TLS else ""
    assert values["DATABASE_URL_POOLED"] == f"postgres://app:{password}@pgbouncer:5432/app" + ("?" + tls if tls else "")
    assert values["DATABASE_URL_DIRECT"] == f"postgres://app:{password}@db:5432/app" + ("?" + tls if tls else "")
    # webapp_pooler_fallback: PgBouncer first, db when no pooler answers.
    fallback = f"postgres://app:{password}@/app?host=pgbouncer,db&port=5432,5432&connect_timeout=2"
    assert values["DATABASE_URL"] == fallback + ("&" + tls if tls else "")


def test_web_gets_its_environment_from_the_file_not_from_compose(host, stack) -> None:
    container = stack.compose("ps -q web")
    environment = host.check_output("docker inspect -f '{{json .Config.Env}}' %s", container)
    assert "DATABASE_URL" not in environment and "DJANGO_SECRET_KEY" not in environment


def test_healthz_goes_through_pgbouncer(host) -> None:
    health = json.loads(host.check_output("curl -fsS %s/healthz", APP))
    assert health["status"] == "ok"
    assert health["via"] == "pgbouncer"
    assert health["target"] == "pgbouncer:5432"


def test_notes_land_in_postgres(host, stack) -> None:
    token = f"verify-{uuid.uuid4()}"
    created = json.loads(host.check_output("curl -fsS -X POST -d body=%s %s/notes", token, APP))
    assert created["body"] == token
    assert stack.psql_db(f"SELECT count(*) FROM notes_note WHERE body = '{token}'") == "1"


def test_rows_from_before_the_redeploy_are_kept(stack) -> None:
    # side_effect.yml wrote this row before deploying again.
    assert int(stack.psql_db("SELECT count(*) FROM notes_note WHERE body LIKE 'before-redeploy-%'")) >= 1


def test_pgbouncer_pools_in_transaction_mode(host, stack) -> None:
    host.check_output("curl -fsS %s/healthz", APP)
    settings = {row[0]: row[1] for row in stack.psql_admin("SHOW CONFIG")}
    assert settings["pool_mode"] == "transaction"
    assert settings["listen_port"] == "5432"
    pools = {(row[0], row[1]) for row in stack.psql_admin_all("SHOW POOLS")}
    assert ("app", "app") in pools


def test_pgbouncer_runs_unprivileged_with_descriptors_for_its_clients(stack) -> None:
    assert stack.compose("exec -T pgbouncer id -u") == "6432"
    # Each process's share of max_client_conn (1000), rounded up.
    assert stack.compose("exec -T pgbouncer sh -c 'ulimit -n'") == str(2 * -(-1000 // PROCESSES) + 100)


def test_pgbouncer_config_is_private_to_its_user(host) -> None:
    for name in (*INI_FILES, "userlist.txt"):
        config = host.file(f"{PROJECT}/pgbouncer/{name}")
        assert config.uid == 6432 and config.mode == 0o640, name


def test_userlist_and_postgres_share_the_verifier(host, stack) -> None:
    userlist = host.file(f"{PROJECT}/pgbouncer/userlist.txt").content_string
    entries = dict(re.findall(r'^"([^"]+)" "([^"]+)"$', userlist, re.MULTILINE))
    stored = stack.psql_db("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
    assert entries["app"] == stored
    assert scram_verifies(PASSWORD, stored)
    assert scram_verifies(VARS["pgstack_pgbouncer_admin_password"], entries["pgbouncer_admin"])


def test_superuser_verifier_is_root_only_and_holds(host, stack) -> None:
    stored = stack.psql_db("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    assert scram_verifies(VARS["pgstack_postgres_superuser_password"], stored)
    env = host.file(f"{PROJECT}/db.env")
    assert env.user == "root" and env.mode == 0o600
    assert stored in env.content_string
    assert "SCRAM-SHA-256" not in host.file(f"{PROJECT}/compose.db.yaml").content_string


def test_postgres_admits_what_host_mode_admits(stack) -> None:
    rules = stack.psql_db(
        "SELECT type, array_to_string(database, ','), array_to_string(user_name, ','),"
        " coalesce(address, ''), auth_method FROM pg_hba_file_rules WHERE error IS NULL ORDER BY line_number"
    ).splitlines()
    assert rules == [
        "local|all|postgres||peer",
        "local|all|all||scram-sha-256",
        "host|all|all|127.0.0.1|scram-sha-256",
        "host|all|all|::1|scram-sha-256",
        # With pgstack_tls, the project network over TLS only.
        ("hostssl" if TLS else "host")
        + (
            "|app|app,+pgstack_pooled,pgstack_auth|samenet|scram-sha-256"
            if str(VARS.get("pgstack_auth_query")).lower() == "true"
            else "|app|app|samenet|scram-sha-256"
        ),
    ]


def test_the_admin_reaches_the_console_from_pgbouncers_container_only(stack) -> None:
    """Over loopback in the container (Stack.psql_admin) yes; from the
    project network, as from web, no: pgbouncer_hba.conf rejects it."""
    password = VARS["pgstack_pgbouncer_admin_password"]
    refused = stack.run(
        "exec -T -e PGPASSWORD=%s pgbouncer psql --no-psqlrc -At -h pgbouncer -U pgbouncer_admin -d pgbouncer -c %s",
        password, "SHOW VERSION",
    )  # fmt: skip
    assert refused.rc != 0 and "rejected" in refused.stderr, refused.stderr
    assert stack.psql_admin("SHOW VERSION")
    app = stack.run(
        "exec -T -e PGPASSWORD=%s pgbouncer psql --no-psqlrc -At -h pgbouncer -U app -d app -c %s", PASSWORD, "SELECT 1"
    )
    assert app.rc == 0 and app.stdout.strip() == "1", app.stderr


def test_app_role_has_only_the_rights_it_needs(stack) -> None:
    flags = stack.psql_db(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = 'app'"
    )
    assert flags == "t|f|f|f|f|f"


def test_direct_and_pooled_logins_with_the_apps_credentials(stack) -> None:
    for target in ("db", "pgbouncer"):
        out = stack.compose(
            "exec -T -e PGPASSWORD=%s pgbouncer psql --no-psqlrc -At -h %s -p 5432 -U app -d app -c %s",
            PASSWORD, target, "SELECT current_user",
        )
        assert out == "app", target


def test_no_clear_text_password_outside_env_file(host) -> None:
    # PgBouncer logs in as the lookup role (auth_query): userlist.txt alone holds its password.
    lookup = VARS.get("pgstack_auth_user_password")
    allowed = {
        secret: {ENV_FILE}
        for secret in (PASSWORD, quote(PASSWORD, safe=""), VARS["pgstack_pgbouncer_admin_password"],
                       VARS["pgstack_postgres_superuser_password"])
    }  # fmt: skip
    allowed |= {lookup: {f"{PROJECT}/pgbouncer/userlist.txt"}} if lookup else {}
    for secret, where in allowed.items():
        result = host.run("grep -rlF -- %s %s", secret, PROJECT)
        # 1 is "not found"; 2 or more is a search that could not run.
        assert result.rc in (0, 1), f"grep could not search {PROJECT}: {result.stderr}"
        found = result.stdout.split()
        assert set(found) <= where, found


# Answers in a row that count as served again: with 2 PgBouncer processes on
# one port, 10 in a row all land on the same one with odds of 1 in 512.
STEADY = 10


def serving(host) -> bool:
    result = host.run("curl -s --max-time 2 %s/healthz", APP)
    try:
        return result.rc == 0 and json.loads(result.stdout)["via"] == "pgbouncer"
    except (ValueError, KeyError):
        return False


@pytest.mark.parametrize(("service", "bound"), [("pgbouncer", 5.0), ("db", 30.0), ("web", 30.0)])
def test_killed_service_comes_back_by_itself(host, stack, service: str, bound: float) -> None:
    # SIGKILL from the Docker host, as a crash or the OOM killer would: the
    # restart policy applies (a "docker kill" would count as a stop asked for).
    assert serving(host)
    container = stack.compose("ps -q %s", service)
    pid = host.check_output("docker inspect -f '{{.State.Pid}}' %s", container)
    started = time.monotonic()
    host.check_output("kill -KILL %s", pid)
    # Back means STEADY answers in a row: after db's crash each PgBouncer
    # process returns its own cached login error ("the database system is
    # starting up") for server_login_retry, so one answer could come from the
    # process already back while the other still failed (CI: the next case
    # then found the app failing).
    took, in_a_row = 0.0, 0
    while in_a_row < STEADY:
        assert time.monotonic() - started < 60, f"the app did not serve again within 60 s of killing {service}"
        if not serving(host):
            in_a_row = 0
            time.sleep(0.1)
            continue
        if in_a_row == 0:
            took = time.monotonic() - started
        in_a_row += 1
    print(f"\n[docker mode] {service} killed with SIGKILL: the app served again through PgBouncer after {took:.2f} s"
          f" ({STEADY} answers in a row from then)")
    assert took <= bound, f"{service}: {took:.2f} s"


def test_pgbouncer_stops_promptly_with_a_client_connected(host, stack) -> None:
    # web holds an idle client session through PgBouncer for 30 s.
    stack.compose(
        "exec -T -d web sh -c %s",
        "set -a; . /run/pgstack-webapp/env; set +a; exec python3 -c \""
        "import os, psycopg, time; c = psycopg.connect(os.environ['DATABASE_URL_POOLED']);"
        " c.execute('SELECT 1'); c.commit(); time.sleep(30)\"",
    )
    # With several processes, the client is on one of them: each is asked.
    deadline = time.monotonic() + 15
    while True:
        clients = stack.psql_admin_all("SHOW CLIENTS")
        if any(row[1] == "app" for row in clients):
            break
        assert time.monotonic() < deadline, clients
        time.sleep(0.5)
    started = time.monotonic()
    stack.compose("stop pgbouncer")
    took = time.monotonic() - started
    stack.compose("start pgbouncer")
    print(f"\n[docker mode] docker compose stop pgbouncer with a client connected took {took:.2f} s")
    assert took < 5, f"stopping PgBouncer took {took:.2f} s"
    deadline = time.monotonic() + 30
    while not serving(host):
        assert time.monotonic() < deadline, "the app did not serve again after PgBouncer was started"
        time.sleep(0.2)
