"""TLS on every leg in Docker mode (pgstack_tls, issue 13): the app's URLs
ask for verify-full; PgBouncer and PostgreSQL refuse plain text from the
project network and are verified by name and CA; PgBouncer verifies
PostgreSQL by name; a renewed certificate is served after a reload, with
the containers and every open connection kept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tls_checks import PROBE, fingerprint, leg_problems, other_ca_pem

from conftest import HOST, PROJECT, VARS, Stack

testinfra_hosts = [f"ansible://{HOST}"]

pytestmark = pytest.mark.skipif(str(VARS.get("pgstack_tls", False)).lower() != "true", reason="TLS is off")
REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
_BESIDE = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = str(_BESIDE) if _BESIDE.exists() else "ansible-playbook"
SERVERS = [["PgBouncer", "pgbouncer", 5432], ["PostgreSQL", "db", 5432]]


def probe(request: dict, background: bool = False):
    """tls_probe.py in the web container, with the app's environment."""
    argv = ["docker", "compose", "exec", "-T", "web", "sh", "-c",
            'set -a && . /run/pgstack-webapp/env && exec python3 - "$1"', "probe", json.dumps(request)]  # fmt: skip
    if background:
        process = subprocess.Popen(argv, cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        process.stdin.write(PROBE.read_text())
        process.stdin.close()
        process.stdin = None  # closed: communicate() only reads the answer
        return process
    out = subprocess.run(argv, cwd=PROJECT, input=PROBE.read_text(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_every_leg_from_the_app_is_verified_and_plain_text_refused() -> None:
    found = probe({"attempts": SERVERS, "wrong_ca": other_ca_pem()})
    print(f"\n[docker mode] TLS logins from the web container: {json.dumps(found)}")
    assert not leg_problems(found)


def test_the_app_asks_for_verify_full_on_every_url(host) -> None:
    env = host.file(f"{PROJECT}/web/env").content_string
    urls = dict(re.findall(r"^(DATABASE_URL\w*)='(.*)'$", env, re.M))
    assert set(urls) == {"DATABASE_URL", "DATABASE_URL_DIRECT", "DATABASE_URL_POOLED"}
    for name, url in urls.items():
        assert "sslmode=verify-full&sslrootcert=/run/pgstack-webapp/ca.crt" in url, name
    assert host.file(f"{PROJECT}/web/ca.crt").content_string.startswith("-----BEGIN CERTIFICATE-----")


def test_pgbouncer_verifies_postgres_by_name(stack: Stack) -> None:
    """Every server connection PostgreSQL sees from PgBouncer is TLS; and a
    PgBouncer on the same file, with PostgreSQL named by its address (which
    the certificate does not hold), reaches nothing."""
    stack.run(
        "exec -T web python3 -c %s", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
    )
    plain, tls = stack.psql_db(
        "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl) FROM pg_stat_ssl s"
        " JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'app' AND a.client_addr IS NOT NULL"
    ).split("|")
    assert (plain, int(tls) > 0) == ("0", True)
    for row in stack.psql_admin_all("SHOW CONFIG"):
        if row[0] in ("server_tls_sslmode", "client_tls_sslmode"):
            assert row[1] == {"server_tls_sslmode": "verify-full", "client_tls_sslmode": "require"}[row[0]]

    address = stack.compose("exec -T db hostname -i").split()[0]
    ini = "pgbouncer.ini" if int(VARS.get("pgbouncer_processes", 1)) == 1 else "pgbouncer-1.ini"
    # The live file, on another port, without [peers], sockets or pidfile, a
    # short query_wait_timeout, and one more database: app by address.
    script = f"""
sed -e '/^\\[peers\\]/,$d' -e '/^so_reuseport/d' -e '/^peer_id/d' -e 's/^listen_port = .*/listen_port = 6499/' \\
    -e 's/^unix_socket_dir = .*/unix_socket_dir =/' -e 's/^pidfile = .*/pidfile =/' \\
    -e 's/^query_wait_timeout = .*/query_wait_timeout = 5/' \\
    -e 's/^\\[databases\\]$/[databases]\\nby_address = host={address} port=5432 dbname=app/' \\
    /etc/pgbouncer/{ini} > /tmp/tls-check.ini
pgbouncer /tmp/tls-check.ini 2> /tmp/tls-check.log & pid=$!
sleep 1
for db in app by_address; do
  printf '%s: ' $db; psql --no-psqlrc -At -h 127.0.0.1 -p 6499 -U app -d $db -c 'SELECT 1' 2>&1 | head -1
done
kill -INT $pid; wait $pid
grep 'TLS handshake error' /tmp/tls-check.log | head -1
rm -f /tmp/tls-check.ini /tmp/tls-check.log
"""
    out = stack.compose("exec -T -e PGPASSWORD=%s pgbouncer sh -c %s", VARS["pgstack_db_password"], script)
    print(f"\n[docker mode] PgBouncer to PostgreSQL by name, then by address {address}:\n{out}")
    assert "app: 1\n" in out
    by_address = out.split("by_address: ", 1)[1].splitlines()[0]
    assert by_address != "1", out
    assert f"name `{address}' not present in server certificate" in out, out


def test_a_renewed_certificate_is_served_after_a_reload_with_no_client_dropped(stack: Stack) -> None:
    """deploy.yml with a renewal window longer than the certificates' life:
    both are signed anew, installed and applied by a reload."""
    files = {"PgBouncer": f"{PROJECT}/pgbouncer/tls/server.crt", "PostgreSQL": f"{PROJECT}/db/tls/server.crt"}
    targets = [["pgbouncer", 5432], ["db", 5432]]
    before = probe({"served": targets})
    assert list(before.values()) == [fingerprint(Path(f).read_text()) for f in files.values()]

    def started() -> dict[str, str]:
        ids = {s: stack.compose("ps -q %s", s).strip() for s in ("pgbouncer", "db")}
        return {s: subprocess.check_output(["docker", "inspect", "-f", "{{.State.StartedAt}}", i], text=True)
                for s, i in ids.items()}  # fmt: skip

    containers = started()
    postmaster = stack.psql_db("SELECT pg_postmaster_start_time()")
    stop = f"/tmp/tls-renewal-{os.getpid()}"
    held = probe({"hold": stop}, background=True)
    time.sleep(3)
    began = time.monotonic()
    run = subprocess.run(
        [PLAYBOOK, "-i", os.environ["MOLECULE_INVENTORY_FILE"], "playbooks/deploy.yml",
         "-e", "pgstack_tls_renew_days=100000"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    took = time.monotonic() - began
    assert run.returncode == 0, run.stdout[-4000:]
    after = probe({"served": targets})
    time.sleep(2)
    stack.compose("exec -T web touch %s", stop)
    queries = json.loads(held.communicate(timeout=60)[0])
    stack.compose("exec -T web rm -f %s", stop)

    print(
        f"\n[docker mode] renewal: deploy.yml {took:.0f} s; served before {list(before.values())},"
        f" after {list(after.values())}; held connections: {queries}"
    )
    assert list(after.values()) == [fingerprint(Path(f).read_text()) for f in files.values()]
    assert all(after[k] != before[k] for k in after), "a certificate was not renewed"
    assert started() == containers, "a container was restarted"
    assert stack.psql_db("SELECT pg_postmaster_start_time()") == postmaster, "PostgreSQL was restarted"
    assert queries["failures"] == 0 and queries["queries"] > 40, queries
