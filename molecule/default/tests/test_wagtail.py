"""A project that is not ours: Wagtail's generated site (molecule/default/prepare.yml),
deployed from its own requirements, configured only as docs/django.md says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from conftest import address, endpoints, environment, get_host, hosts_of, variables

WAGTAIL = hosts_of("wagtail")
testinfra_hosts = [f"ansible://{name}" for name in WAGTAIL]

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
VENV = "/opt/pgstack-webapp/.venv"
ADMIN = "admin"
# The Wagtail host alone, as an operator narrows a rollback or a restore.
LIMIT = ",".join(WAGTAIL)


def playbook(name: str, *extra: str, fine: str = "") -> str:
    """Run one of the collection's playbooks on the Wagtail host, as an operator
    would; ``fine`` is a failure's text that is no error."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(beside), "-i", os.environ["MOLECULE_INVENTORY_FILE"], f"playbooks/{name}", "--limit", LIMIT, *extra],
        cwd=PROJECT, capture_output=True, text=True, timeout=900, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 or (fine and fine in output), output[-5000:]
    return output


def pooler_last_request(host) -> str:
    """When PgBouncer last served a request on a server connection of the app's
    database (SHOW SERVERS, one-second resolution), "" if it has none."""
    pooler = urlsplit(environment(host)["DATABASE_URL_POOLED"]).hostname
    (name,) = [n for n in hosts_of("pgbouncer") if address(n) == pooler]
    password = variables(name)["pgstack_pgbouncer_admin_password"]
    result = get_host(name).run(
        "PGPASSWORD=%s psql --no-psqlrc -A -F '|' -h 127.0.0.1 -p 6432 -U %s -d pgbouncer -c 'SHOW SERVERS'",
        password, variables(name).get("pgbouncer_admin_user", "pgbouncer_admin"),
    )
    assert result.rc == 0, result.stderr
    header, *rows = result.stdout.splitlines()[:-1]  # the last line counts the rows
    servers = [dict(zip(header.split("|"), row.split("|"), strict=True)) for row in rows]
    return max((server["request_time"] for server in servers if server["database"] == "app"), default="")


def served_through_pooler(host, path: str) -> tuple[str, bool]:
    """The page, and whether PgBouncer served a request for it."""
    before = pooler_last_request(host)
    time.sleep(1.1)
    body = page(host, path)
    return body, pooler_last_request(host) > before


def page(host, path: str) -> str:
    return host.check_output("curl -fsS --max-time 20 http://127.0.0.1:8000%s", path)


def test_runs_from_its_own_virtualenv_with_its_own_django(host) -> None:
    unit = host.file("/etc/systemd/system/pgstack-webapp.service").content_string
    assert f"ExecStart={VENV}/bin/gunicorn " in unit
    version = host.check_output("%s/bin/python -c 'import django; print(django.VERSION[0])'", VENV)
    debian = host.run("python3 -c 'import django'")
    assert int(version) >= 5 and debian.rc != 0  # not Debian's 4.2, which is not even installed
    assert host.service("pgstack-webapp").is_running


def test_gunicorn_opens_no_control_socket(host) -> None:
    # The project's own gunicorn (27 from PyPI) opens a control socket by
    # default, in the app user's home, which the unit keeps read-only: each
    # start logged "Control server error". gunicorn.conf.py turns it off.
    version = host.check_output("%s/bin/python -c 'import gunicorn; print(gunicorn.__version__)'", VENV)
    log = host.check_output("journalctl --unit=pgstack-webapp --no-pager --output=cat")
    assert "Starting gunicorn" in log
    assert "Control server" not in log, f"gunicorn {version}: " + "\n".join(
        line for line in log.splitlines() if "Control server" in line
    )


def test_static_files_are_collected(host) -> None:
    manifest = host.file("/opt/pgstack-webapp/static/staticfiles.json")
    assert manifest.exists and manifest.user == "webapp"


def test_pages_are_served_through_pgbouncer(host) -> None:
    assert endpoints(environment(host)["DATABASE_URL"])[0][1] == 6432
    body, pooled = served_through_pooler(host, "/")
    assert "Welcome to your new Wagtail site" in body
    assert pooled


def test_admin_log_in_works(host) -> None:
    # createsuperuser through playbooks/migrate.yml, the documented way to run a
    # management command; its password comes from webapp_extra_env.
    taken = "That username is already taken."  # a verify run again
    out = playbook("migrate.yml", "-e", '{"webapp_manage_command": ["createsuperuser", "--noinput",'
                   f' "--username", "{ADMIN}", "--email", "admin@example.com"]}}', fine=taken)
    assert "Superuser created successfully." in out or taken in out
    password = variables(WAGTAIL[0])["webapp_extra_env"]["DJANGO_SUPERUSER_PASSWORD"]
    jar, password_file = "/tmp/wagtail-cookies", "/tmp/wagtail-password"
    host.run("umask 077 && printf %%s %s > %s", password, password_file)
    login = host.check_output("curl -fsS -c %s http://127.0.0.1:8000/admin/login/", jar)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    answer = host.run(
        "curl -sS -o /dev/null -w '%%{http_code} %%{redirect_url}' -b %s -c %s"
        " --data-urlencode csrfmiddlewaretoken=%s --data-urlencode username=%s --data-urlencode password@-"
        " http://127.0.0.1:8000/admin/login/ < %s",
        jar, jar, token, ADMIN, password_file,
    )
    assert answer.stdout.startswith("302 ") and answer.stdout.endswith("/admin/"), answer.stdout
    dashboard = host.check_output("curl -fsS -b %s http://127.0.0.1:8000/admin/", jar)
    assert "Sign out" in dashboard or "Log out" in dashboard


def test_rollback_and_restore_work_for_it(host) -> None:
    playbook("rollback.yml")
    env = environment(host)
    assert env["DATABASE_URL"] == env["DATABASE_URL_DIRECT"]
    body, pooled = served_through_pooler(host, "/")
    assert "Welcome to your new Wagtail site" in body
    assert not pooled  # bypassed: PgBouncer served nothing
    playbook("restore.yml")
    env = environment(host)
    assert endpoints(env["DATABASE_URL"])[0] == endpoints(env["DATABASE_URL_POOLED"])[0]
    body, pooled = served_through_pooler(host, "/")
    assert "Welcome to your new Wagtail site" in body
    assert pooled
