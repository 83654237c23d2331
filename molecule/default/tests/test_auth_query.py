"""auth_query on the Debian 12 stack (PgBouncer 1.18, no auth_dbname): each
lookup runs in the database the client asks for, where the postgres role made
the function. The Docker scenario tests the rest (tests/test_auth_query.py)."""

from __future__ import annotations

import re
import uuid

import pytest
from test_secrets import JOURNAL, files_holding, lines_holding, searched_directories

from conftest import hosts_of, psql, variables

ON = [name for name in hosts_of("pgbouncer") if str(variables(name).get("pgstack_auth_query")).lower() == "true"]
testinfra_hosts = [f"ansible://{name}" for name in ON]
PASSWORD = "a-role-made-by-hand-0123"


def superuser(host, sql: str) -> str:
    return host.check_output("runuser -u postgres -- psql --no-psqlrc -At -d app -c %s", sql)


@pytest.fixture
def role(host):
    name = f"hand_{uuid.uuid4().hex[:8]}"
    yield name
    superuser(host, f"DROP ROLE IF EXISTS {name}")


def login(host, user: str, password: str):
    return psql(host, password, "-h", "127.0.0.1", "-p", "6432", "-U", user, "-d", "app", "-c", "SELECT current_user")


def test_the_lookup_runs_in_the_clients_database_before_1_19(host) -> None:
    ini = host.file("/etc/pgbouncer/pgbouncer.ini").content_string
    assert re.search(r"^auth_query = SELECT usename, passwd FROM pgstack_auth\.lookup\(\$1\)$", ini, re.M)
    assert "auth_dbname" not in ini  # PgBouncer 1.18 would refuse the whole file


def test_a_role_made_in_postgres_logs_in_and_is_refused_once_expired(host, role) -> None:
    group = variables(host.backend.get_hostname()).get("pgstack_auth_group", "pgstack_pooled")
    superuser(host, f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' IN ROLE {group}")
    result = login(host, role, PASSWORD)
    assert result.rc == 0 and result.stdout.strip() == role, result.stderr
    superuser(host, f"ALTER ROLE {role} VALID UNTIL '2000-01-01'")
    assert login(host, role, PASSWORD).rc != 0


def test_the_lookup_roles_password_is_in_userlist_txt_alone(host) -> None:
    # PgBouncer logs in as the lookup role, so it keeps the clear text (0640, tests/test_pgbouncer.py).
    secret = variables(host.backend.get_hostname())["pgstack_auth_user_password"]
    groups = variables(host.backend.get_hostname())["group_names"]
    assert files_holding(host, secret, searched_directories(host, groups)) == ["/etc/pgbouncer/userlist.txt"]
    assert lines_holding(host, JOURNAL, secret) == 0
