"""auth_query (pgstack_auth_query): roles made in PostgreSQL log in through
PgBouncer without a deploy, if and only if the lookup finds them; the lookup
role can call the lookup and read nothing else."""

from __future__ import annotations

import re
import uuid

import pytest

from conftest import HOST, PROJECT, VARS

testinfra_hosts = [f"ansible://{HOST}"]

pytestmark = pytest.mark.skipif(str(VARS.get("pgstack_auth_query", False)).lower() != "true",
                                reason="auth_query is off")  # fmt: skip
GROUP = VARS.get("pgstack_auth_group", "pgstack_pooled")
LOOKUP = VARS.get("pgstack_auth_user", "pgstack_auth")
PASSWORD = "a-role-made-by-hand-0123"


def login(stack, user: str, password: str, target: str = "pgbouncer", sql: str = "SELECT current_user"):
    """psql from the pgbouncer container to PgBouncer (or to db directly)."""
    return stack.run(
        "exec -T -e PGPASSWORD=%s pgbouncer psql --no-psqlrc -At -h %s -p 5432 -U %s -d app -c %s",
        password, target, user, sql,
    )  # fmt: skip


@pytest.fixture
def role(stack):
    """A new role's name; the role is dropped afterwards."""
    name = f"hand_{uuid.uuid4().hex[:8]}"
    yield name
    stack.psql_db(f"DROP ROLE IF EXISTS {name}")


def test_pgbouncer_looks_up_schema_qualified_in_one_database(host) -> None:
    for n in range(1, int(VARS.get("pgbouncer_processes", 1)) + 1):
        name = "pgbouncer.ini" if VARS.get("pgbouncer_processes", 1) == 1 else f"pgbouncer-{n}.ini"
        ini = host.file(f"{PROJECT}/pgbouncer/{name}").content_string
        assert re.search(rf"^auth_user = {LOOKUP}$", ini, re.M)
        assert re.search(r"^auth_query = SELECT usename, passwd FROM pgstack_auth\.lookup\(\$1\)$", ini, re.M)
        # PgBouncer 1.24 (Debian 13): every lookup in the application database.
        assert re.search(r"^auth_dbname = app$", ini, re.M)


def test_a_role_made_in_postgres_logs_in_through_pgbouncer(stack, role) -> None:
    stack.psql_db(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' IN ROLE {GROUP}")
    result = login(stack, role, PASSWORD)
    assert result.rc == 0 and result.stdout.strip() == role, result.stderr
    # Still the lookup's answer, not a file's: the wrong password is refused.
    assert login(stack, role, PASSWORD + "-wrong").rc != 0


@pytest.mark.parametrize(
    ("attributes", "in_group"),
    [("NOLOGIN", True), ("LOGIN VALID UNTIL '2000-01-01'", True), ("LOGIN SUPERUSER", True), ("LOGIN", False)],
    ids=["nologin", "expired", "superuser", "outside the group"],
)
def test_the_lookup_finds_no_role_it_must_not(stack, role, attributes: str, in_group: bool) -> None:
    stack.psql_db(f"CREATE ROLE {role} {attributes} PASSWORD '{PASSWORD}'" + (f" IN ROLE {GROUP}" if in_group else ""))
    assert stack.psql_db(f"SELECT count(*) FROM pgstack_auth.lookup('{role}')") == "0"
    result = login(stack, role, PASSWORD)
    assert result.rc != 0 and role not in result.stdout, (attributes, result.stdout)


def test_a_role_that_expires_is_refused_from_then_on(stack, role) -> None:
    stack.psql_db(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' IN ROLE {GROUP}")
    assert login(stack, role, PASSWORD).rc == 0
    stack.psql_db(f"ALTER ROLE {role} VALID UNTIL '2000-01-01'")
    assert login(stack, role, PASSWORD).rc != 0


def test_the_lookup_role_can_call_the_lookup_and_read_nothing_else(stack) -> None:
    password = VARS["pgstack_auth_user_password"]
    found = login(stack, LOOKUP, password, target="db", sql="SELECT count(*) FROM pgstack_auth.lookup('app')")
    assert found.rc == 0 and found.stdout.strip() == "1", found.stderr
    for sql in (
        "SELECT count(*) FROM notes_note",
        "SELECT rolpassword FROM pg_authid",
        "CREATE TABLE public.pgstack_probe ()",
        "CREATE FUNCTION pgstack_auth.probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ):
        result = login(stack, LOOKUP, password, target="db", sql=sql)
        assert result.rc != 0 and "permission denied" in result.stderr, (sql, result.stdout, result.stderr)
    flags = stack.psql_db(
        f"SELECT rolcanlogin, rolsuper, rolinherit, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        f" FROM pg_roles WHERE rolname = '{LOOKUP}'"
    )
    assert flags == "t|f|f|f|f|f|f"


def test_the_lookup_function_cannot_be_led_astray(stack) -> None:
    definition = stack.psql_db(
        "SELECT prosecdef, proconfig, proacl FROM pg_proc WHERE oid = 'pgstack_auth.lookup(text)'::regprocedure"
    )
    secdef, config, acl = definition.split("|")
    assert secdef == "t" and config == '{"search_path=\\"\\""}', definition
    # Only the lookup role (and the owner) may call it; PUBLIC may not.
    grantees = {entry.split("=")[0] for entry in acl.strip("{}").split(",")}
    assert grantees == {"postgres", LOOKUP}, acl
