"""TLS on every leg of the Debian 12 stack (PgBouncer 1.18, PostgreSQL 15)
and its Wagtail site (pgstack_tls in molecule.yml, issue 13); the Debian 13
stack, with TLS off, stays as it was."""

from __future__ import annotations

import json
import subprocess

from tls_checks import PROBE, leg_problems, other_ca_pem

from conftest import ENV_FILE, address, environment, get_host, psql, variables

APP, STACK, PLAIN_APP = "pgstack-m-wagtail", "pgstack-m-db12", "pgstack-m-web"
VENV_PYTHON = "/opt/pgstack-webapp/.venv/bin/python"


def probe(request: dict) -> dict:
    """tls_probe.py on the Wagtail host, in the app's environment and virtualenv."""
    argv = ["docker", "exec", "-i", APP, "sh", "-c",
            f'set -a && . {ENV_FILE} && exec {VENV_PYTHON} - "$1"', "probe", json.dumps(request)]  # fmt: skip
    out = subprocess.run(argv, input=PROBE.read_text(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_every_leg_from_the_app_is_verified_and_plain_text_refused() -> None:
    stack = address(STACK)
    found = probe({"attempts": [["PgBouncer", stack, 6432], ["PostgreSQL", stack, 5432]], "wrong_ca": other_ca_pem()})
    print(f"\n[host mode, PgBouncer 1.18] TLS logins from the Wagtail host: {json.dumps(found)}")
    assert not leg_problems(found)


def test_the_app_asks_for_verify_full_and_the_plain_stack_does_not() -> None:
    urls = {k: v for k, v in environment(get_host(APP)).items() if k.startswith("DATABASE_URL")}
    assert len(urls) == 3
    assert all("sslmode=verify-full&sslrootcert=/etc/pgstack-webapp/ca.crt" in url for url in urls.values()), urls
    plain = {k: v for k, v in environment(get_host(PLAIN_APP)).items() if k.startswith("DATABASE_URL")}
    assert len(plain) == 3
    assert not any("sslmode" in url for url in plain.values())
    assert str(variables(PLAIN_APP).get("pgstack_tls", False)).lower() != "true"


def test_pgbouncer_reaches_postgres_over_verified_tls() -> None:
    stack = get_host(STACK)
    ini = stack.file("/etc/pgbouncer/pgbouncer.ini").content_string
    assert "server_tls_sslmode = verify-full" in ini and "client_tls_sslmode = require" in ini
    # A query through PgBouncer opens (or reuses) its server connection.
    password = variables(STACK)["pgstack_db_password"]
    assert psql(stack, password, "-h", address(STACK), "-p", "6432", "-U", "app", "-d", "app", "-c", "SELECT 1").rc == 0
    plain, tls = stack.check_output(
        'sudo -u postgres psql -Atc "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl)'
        " FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'app'"
        ' AND a.client_addr IS NOT NULL"'
    ).split("|")
    assert (plain, int(tls) > 0) == ("0", True)
