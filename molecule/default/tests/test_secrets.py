"""No clear-text password anywhere but the app's own environment file."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from conftest import hosts_of, variables

ALL = sorted(set(hosts_of("all")))
testinfra_hosts = [f"ansible://{name}" for name in ALL]

SEARCHED = "/etc /opt /var/lib/postgresql /var/log /root /home /tmp /run"


def clear_texts(host) -> list[str]:
    secrets = variables(host.backend.get_hostname())
    found = []
    for key in ("pgstack_db_password", "pgstack_pgbouncer_admin_password"):
        found += [secrets[key], quote(secrets[key], safe="")]
    return found


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_no_clear_text_password_in_files(host, which: int) -> None:
    needle = clear_texts(host)[which]
    files = host.run("grep -rlF -- %s " + SEARCHED + " 2>/dev/null", needle).stdout.split()
    is_app_host = "webapp" in variables(host.backend.get_hostname())["group_names"]
    allowed = {"/etc/pgstack-webapp/env"} if is_app_host else set()
    assert set(files) <= allowed, files


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_no_clear_text_password_in_the_journal(host, which: int) -> None:
    needle = clear_texts(host)[which]
    assert host.run("journalctl --no-pager | grep -cF -- %s", needle).stdout.strip() == "0"
