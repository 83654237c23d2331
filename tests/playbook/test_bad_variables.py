"""Bad values stop deploy.yml before any host changes, naming the variable.

The playbook runs against this machine itself (connection local) in --check
mode; the assertions are that it fails in the preflight play, with the
variable's name in the output, and never starts the first deploying play.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# The ansible-playbook beside this interpreter (the project's virtualenv), else PATH's.
_BESIDE = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = str(_BESIDE) if _BESIDE.exists() else shutil.which("ansible-playbook")

INVENTORY = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    pgstack_db_name: app
    pgstack_db_user: app
    pgstack_db_password: a-good-long-password
    pgstack_pgbouncer_admin_password: another-good-password
    pgstack_django_secret_key: a-django-secret-key-that-is-long-enough
  children:
    postgres: {hosts: {localhost: {}}}
    pgbouncer: {hosts: {localhost: {}}}
    webapp: {hosts: {localhost: {}}}
"""

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook is not installed")


def deploy(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    return subprocess.run(
        [PLAYBOOK, "-i", str(inventory), "--check", "playbooks/deploy.yml", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"},
    )


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["-e", "pgbouncer_pool_mode=bogus"], "pgbouncer_pool_mode"),
        (["-e", "pgbouncer_listen_port=not-a-port"], "pgbouncer_listen_port"),
        (["-e", "postgres_port=99999"], "postgres_port"),
        (["-e", "webapp_workers=0"], "webapp_workers"),
        (["-e", "pgbouncer_max_client_conn=many"], "pgbouncer_max_client_conn"),
        (["-e", '{"pgbouncer_databases": [{"dbname": "app"}]}'], "pgbouncer_databases"),
        (["-e", "pgstack_db_password=tooShort1"], "postgres_app_db_password"),
    ],
)
def test_bad_value_stops_before_any_change(tmp_path: Path, extra: list[str], named: str) -> None:
    result = deploy(tmp_path, *extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output
    # A rejected secret is named, never shown.
    assert "tooShort1" not in output


def test_pools_larger_than_max_connections_stop_before_any_change(tmp_path: Path) -> None:
    # One pooler: (100 + 5 reserve) x 1 database x 1 user; one app host: 2 workers + 1.
    result = deploy(tmp_path, "-e", "pgbouncer_default_pool_size=100")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "may be asked for 108 connections (localhost: 105, localhost: 3)" in output, output
    assert "postgres_max_connections 100 leaves 97" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output


def test_missing_secret_is_named(tmp_path: Path) -> None:
    inventory = INVENTORY.replace("    pgstack_db_password: a-good-long-password\n", "")
    (tmp_path / "hosts.yml").write_text(inventory)
    result = subprocess.run(
        [PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), "--check", "playbooks/deploy.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pgstack_db_password" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output
