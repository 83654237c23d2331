"""Bad values stop deploy.yml before any host changes, naming the variable.

The playbook runs against this machine itself (connection local) in --check
mode; the assertions are that it fails in the preflight play, with the
variable's name in the output, and never starts the first deploying play.
The failing task's message must be short and name that variable alone, and a
rejected secret is named, never shown.

Every run's inventory holds known secrets, and every run (bad value or good)
is searched for each secret it was given, from the inventory or the command
line, the rejected one included: none may appear in its output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

import pytest
import yaml

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
# Results as one JSON line each, so that the failing task's message can be read.
ENV = {
    **os.environ,
    "ANSIBLE_FORCE_COLOR": "0",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false",
}
# Docker mode on this machine, in a directory that does not exist: under
# --check nothing after its creation runs.
DOCKER = {
    "pgstack_mode": "docker",
    "pgstack_docker_project_dir": "/nonexistent/pgstack-preflight-test",
    "pgstack_postgres_superuser_password": "a-superuser-password",
}
# Part of every secret the cases below set: it must never be printed.
SECRET = "Sekr1t"
SHORT = 200
# A variable is a secret if its name, or a key on the way to it, says so;
# every value of webapp_extra_env is one too (a token, a DSN with a key).
SECRET_NAME = re.compile(r"password|secret")
SECRET_CONTAINERS = {"webapp_extra_env"}
# Shorter pieces of a secret are too common to search for.
SHORTEST_PIECE = 6
# The secrets every run's inventory holds; every run is searched for them.
INVENTORY_SECRETS = {
    name: value for name, value in yaml.safe_load(INVENTORY)["all"]["vars"].items() if SECRET_NAME.search(name)
}
assert len(INVENTORY_SECRETS) == 3, INVENTORY_SECRETS

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook is not installed")


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Facts gathered by the first run and read from a cache by the others ('smart'
    gathering): the checks are what is tested here, and gathering all facts takes
    about half of each run."""
    return {
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path_factory.mktemp("facts")),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
    }


@pytest.fixture
def deploy(tmp_path: Path, facts: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*extra: str, inventory: str = INVENTORY) -> subprocess.CompletedProcess[str]:
        (tmp_path / "hosts.yml").write_text(inventory)
        return subprocess.run(
            [PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), "--check", "playbooks/deploy.yml", *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**ENV, **facts},
        )

    return run


def variables() -> set[str]:
    """Every variable a message could name: the roles' options (of every entry
    point) and the shared pgstack_* values."""
    names: set[str] = set()
    for role in (ROOT / "roles").iterdir():
        spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
        for entry_point in spec["argument_specs"].values():
            names |= set(entry_point.get("options") or {})
        defaults = role / "defaults/main.yml"
        if defaults.exists():
            names |= set(re.findall(r"\bpgstack_[a-z_]+", defaults.read_text()))
    return names


VARIABLES = variables()


def failure_message(output: str) -> str:
    """The msg of the first failed task's result."""
    for line in output.splitlines():
        if line.startswith("fatal: ["):
            result: dict[str, Any] = json.loads(line.split(" => ", 1)[1])
            return str(result["msg"]).removeprefix("Validation of arguments failed:\n")
    raise AssertionError(f"no failed task in:\n{output}")


def _secret_values(value: Any, secret: bool, name: str) -> Iterator[tuple[str, str]]:
    """(name, value) of every secret in ``value``, a variable or part of one."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_values(item, secret or key in SECRET_CONTAINERS or bool(SECRET_NAME.search(str(key))),
                                      f"{name}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_values(item, secret, f"{name}[{index}]")
    elif secret and isinstance(value, str):
        yield name, value


def secrets_of(extra: list[str] | tuple[str, ...], inventory: str = INVENTORY) -> dict[str, str]:
    """name: value of every secret a run is given: the inventory's, and those
    of its extra variables (JSON, or one key=value)."""
    found = dict(_secret_values(yaml.safe_load(inventory)["all"]["vars"], False, "inventory"))
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        assert flag == "-e", extra
        key, _, item = value.partition("=")
        found |= _secret_values(json.loads(value) if value.lstrip().startswith("{") else {key: item}, False, "-e")
    return found


def needles(value: str) -> set[str]:
    """What to search the output for: the value, and each piece of it between
    the characters an output escapes (line breaks, quotes, backslashes)."""
    pieces = {value, *re.split(r"[\n\r\t'\"\\]", value)}
    return {piece for piece in pieces if len(piece) >= SHORTEST_PIECE}


def assert_no_secret_shown(output: str, secrets: dict[str, str]) -> None:
    """No secret in ``output``, as it is or URL-encoded (in a database URL)."""
    searched = {name: needles(value) for name, value in secrets.items()}
    assert any(searched.values()), f"no secret to search for: {secrets}"
    texts = {output, unquote(output), unquote_plus(output)}
    shown = sorted(name for name, found in searched.items() if any(piece in text for piece in found for text in texts))
    assert not shown, f"secrets shown: {shown}\n{output}"


def e(**values: Any) -> list[str]:
    return ["-e", json.dumps(values)]


def docker(**values: Any) -> list[str]:
    return e(**DOCKER, **values)


def case(extra: list[str], named: str, *marks: Any) -> Any:
    return pytest.param(extra, named, id=f"{named}:{' '.join(extra[1::2])[:60]}", marks=marks)


# This machine's PgBouncer, for the check that needs a version without [peers].
_DEBIAN_VERSION = Path("/etc/debian_version")
ON_DEBIAN_12 = pytest.mark.skipif(
    not (_DEBIAN_VERSION.exists() and _DEBIAN_VERSION.read_text().startswith("12")),
    reason="needs Debian 12's PgBouncer 1.18 on this machine",
)


APP = {"name": "app"}
USER = {"name": "app", "password": "a-good-long-password"}

CASES = [
    # Several processes need [peers], which Debian 12's PgBouncer 1.18 lacks.
    case(e(pgbouncer_processes=2), "pgbouncer_processes", ON_DEBIAN_12),
    case(e(pgbouncer_processes=0), "pgbouncer_processes"),
    # Kept from the first version of this test.
    case(["-e", "pgbouncer_pool_mode=bogus"], "pgbouncer_pool_mode"),
    case(["-e", "pgbouncer_listen_port=not-a-port"], "pgbouncer_listen_port"),
    case(["-e", "postgres_port=99999"], "postgres_port"),
    case(["-e", "webapp_workers=0"], "webapp_workers"),
    case(["-e", "pgbouncer_max_client_conn=many"], "pgbouncer_max_client_conn"),
    case(["-e", '{"pgbouncer_databases": [{"dbname": "app"}]}'], "pgbouncer_databases"),
    case(["-e", "pgstack_db_password=tooShort1"], "postgres_app_db_password"),
    # postgres: pg_hba.conf, postgresql.conf, SQL.
    case(e(postgres_app_db_name="app db"), "postgres_app_db_name"),
    case(e(postgres_app_db_name="app\nhost all all 0.0.0.0/0 trust"), "postgres_app_db_name"),
    case(e(postgres_app_db_name="all"), "postgres_app_db_name"),
    case(e(postgres_app_db_user="app,postgres"), "postgres_app_db_user"),
    case(e(postgres_app_db_user="postgres"), "postgres_app_db_user"),
    case(e(postgres_app_db_password=f"{SECRET}-long\n"), "postgres_app_db_password"),
    case(e(postgres_listen_addresses="localhost"), "postgres_listen_addresses"),
    case(e(postgres_listen_addresses=["localhost", "*' port = '1"]), "postgres_listen_addresses[1]"),
    case(e(postgres_max_connections=-5), "postgres_max_connections"),
    case(e(postgres_client_hosts=["nosuchhost"]), "postgres_client_hosts[0]"),
    case(e(postgres_client_addresses=["10.0.0.0/8 trust"]), "postgres_client_addresses[0]"),
    case(e(postgres_settings={"work_mem": "4MB'\nlisten_addresses = '*"}), "postgres_settings.work_mem"),
    case(e(postgres_settings={"search_path": "it's"}), "postgres_settings.search_path"),
    case(e(postgres_settings={"listen_addresses": "*"}), "postgres_settings.listen_addresses"),
    case(e(postgres_settings={"include_dir": "/tmp"}), "postgres_settings.include_dir"),
    case(e(postgres_settings={"superuser_reserved_connections": "many"}), "postgres_settings"),
    case(e(postgres_docker_image="postgres:17\n    privileged: true"), "postgres_docker_image"),
    case(e(pgstack_mode="docker", pgstack_docker_project_dir="/nonexistent/x"), "postgres_superuser_password"),
    # pgbouncer: pgbouncer.ini, userlist.txt.
    case(e(pgbouncer_admin_user="pgbouncer_admin,app"), "pgbouncer_admin_user"),
    case(e(pgbouncer_admin_user="app"), "pgbouncer_admin_user"),
    case(e(pgbouncer_admin_password=f"{SECRET}-admin\nx"), "pgbouncer_admin_password"),
    case(e(pgbouncer_stats_users=["stats\nadmin_users = app"]), "pgbouncer_stats_users[0]"),
    case(e(pgbouncer_stats_users="stats"), "pgbouncer_stats_users"),
    case(e(pgbouncer_settings={"auth_type": "trust"}), "pgbouncer_settings.auth_type"),
    case(e(pgbouncer_settings={"AUTH_TYPE": "trust"}), "pgbouncer_settings.AUTH_TYPE"),
    case(e(pgbouncer_settings={"server_reset_query": "DISCARD ALL\nauth_type = trust"}), "pgbouncer_settings"),
    case(e(pgbouncer_settings={"log_connections": True}), "pgbouncer_settings.log_connections"),
    case(e(pgbouncer_databases=[{"name": "app", "pool_size": "lots"}]), "pgbouncer_databases[0].pool_size"),
    case(e(pgbouncer_databases=[{"name": "app db"}]), "pgbouncer_databases[0].name"),
    case(e(pgbouncer_databases=[APP, {"name": "x\n[pgbouncer]"}]), "pgbouncer_databases[1].name"),
    case(e(pgbouncer_databases=[{"name": "app", "dbname": "app,other"}]), "pgbouncer_databases[0].dbname"),
    case(e(pgbouncer_databases=[{"name": "app", "host": "db dbname=postgres"}]), "pgbouncer_databases[0].host"),
    case(e(pgbouncer_databases=[{"name": "app", "port": 0}]), "pgbouncer_databases[0].port"),
    case(e(pgbouncer_databases=[{"name": "app", "pool_mode": "bogus"}]), "pgbouncer_databases[0].pool_mode"),
    case(e(pgbouncer_databases=[{"name": "app", "poolsize": 5}]), "pgbouncer_databases[0]"),
    case(e(pgbouncer_databases=[APP, APP]), "pgbouncer_databases[1].name"),
    case(e(pgbouncer_databases=[{"name": "pgbouncer"}]), "pgbouncer_databases[0].name"),
    case(e(pgbouncer_users=[{"name": "app user", "password": "a-good-long-password"}]), "pgbouncer_users[0].name"),
    case(e(pgbouncer_users=[USER, {"name": "a,b", "password": "a-good-long-password"}]), "pgbouncer_users[1].name"),
    case(e(pgbouncer_users=[{"name": "app", "password": SECRET}]), "pgbouncer_users[0].password"),
    case(e(pgbouncer_users=[{"name": "app", "password": f"{SECRET}-long\nx"}]), "pgbouncer_users[0].password"),
    case(e(pgbouncer_server_idle_timeout=-1), "pgbouncer_server_idle_timeout"),
    case(e(pgbouncer_query_wait_timeout="-30"), "pgbouncer_query_wait_timeout"),
    case(e(pgbouncer_reserve_pool_size=-5), "pgbouncer_reserve_pool_size"),
    case(e(pgbouncer_default_pool_size=0), "pgbouncer_default_pool_size"),
    case(e(pgbouncer_ignore_startup_parameters=["extra_float_digits,options"]), "pgbouncer_ignore_startup_parameters"),
    case(e(pgbouncer_listen_addr="127.0.0.1\nauth_type = trust"), "pgbouncer_listen_addr"),
    case(e(pgbouncer_db_host="10.0.0.1 dbname=postgres"), "pgbouncer_db_host"),
    case(e(pgbouncer_db_port=70000), "pgbouncer_db_port"),
    case(e(pgbouncer_postgres_host="nosuchhost"), "pgbouncer_postgres_host"),
    # webapp: environment file, systemd unit, Compose.
    case(e(webapp_allowed_hosts="example.com"), "webapp_allowed_hosts"),
    case(e(webapp_allowed_hosts={"example.com": 1}), "webapp_allowed_hosts"),
    case(e(webapp_allowed_hosts=["a.example,b.example"]), "webapp_allowed_hosts[0]"),
    case(e(webapp_extra_env={"DATABASE_URL": "postgres://elsewhere/app"}), "webapp_extra_env.DATABASE_URL"),
    case(e(webapp_extra_env={"MY VAR": "x"}), "webapp_extra_env"),
    case(e(webapp_extra_env={"TOKEN": f"{SECRET}\nDJANGO_DEBUG=1"}), "webapp_extra_env.TOKEN"),
    case(e(webapp_secret_key=f"{SECRET}-that-is-long-enough-for-django\n"), "webapp_secret_key"),
    case(e(webapp_db_password=f"{SECRET}-long\n"), "webapp_db_password"),
    case(e(webapp_django_settings_module="demoapp.settings; rm -rf /"), "webapp_django_settings_module"),
    case(e(webapp_wsgi_application="demoapp.wsgi --reload"), "webapp_wsgi_application"),
    case(e(webapp_service_name="pgstack webapp"), "webapp_service_name"),
    case(e(webapp_user="root"), "webapp_user"),
    case(e(webapp_env_file="/etc/pgstack webapp/env"), "webapp_env_file"),
    case(e(webapp_env_file="/etc/pgstack.env"), "webapp_env_file"),
    case(e(webapp_app_dir="relative/dir"), "webapp_app_dir"),
    case(e(webapp_listen_address="0.0.0.0 --reload"), "webapp_listen_address"),
    case(e(webapp_pooler_hosts=["pool@evil"]), "webapp_pooler_hosts"),
    case(e(webapp_conn_max_age=-1), "webapp_conn_max_age"),
    case(e(webapp_manage_command="migrate"), "webapp_manage_command"),
    case(e(webapp_source_dir="/nonexistent/project/"), "webapp_source_dir"),
    case(docker(webapp_secret_key=f"{SECRET}'-that-is-long-enough-for-django"), "webapp_secret_key"),
    case(docker(webapp_extra_env={"TOKEN": f"{SECRET}'x"}), "webapp_extra_env.TOKEN"),
    case(docker(webapp_docker_image="pgstack/webapp:local\n    privileged: true"), "webapp_docker_image"),
]


@pytest.mark.parametrize(("extra", "named"), CASES)
def test_bad_value_stops_before_any_change(deploy: Callable[..., Any], extra: list[str], named: str) -> None:
    result = deploy(*extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output
    # No secret of the run is shown: the inventory's, and a rejected one is named, never shown.
    assert_no_secret_shown(output, secrets_of(extra))
    assert SECRET not in output, output
    # One short message naming this variable, and no other.
    message = failure_message(output)
    variable = re.match(r"[a-z0-9_]+", named)
    assert variable and named in message, message
    assert len(message) <= SHORT and "\n" not in message, message
    assert set(re.findall(r"\b[a-z][a-z0-9_]*\b", message)) & VARIABLES == {variable.group()}, message


def test_at_least_forty_distinct_bad_inputs() -> None:
    assert len({json.dumps(param.values) for param in CASES}) >= 40


@pytest.mark.parametrize(("extra", "named"), CASES)
def test_every_secret_a_case_sets_is_searched_for(extra: list[str], named: str) -> None:
    secrets = secrets_of(extra)
    for name, value in INVENTORY_SECRETS.items():
        assert secrets[f"inventory.{name}"] == value
    # The bad secrets these cases set are among those searched for.
    for marker in (SECRET, "tooShort1"):
        if marker in " ".join(extra):
            assert any(marker in piece for value in secrets.values() for piece in needles(value)), secrets


def test_secrets_of_reads_every_kind_of_extra_variable() -> None:
    secrets = secrets_of([
        "-e", "pgstack_db_password=short1",
        *e(pgbouncer_users=[{"name": "app", "password": "pw-in-a-list"}], pgbouncer_admin_user="not-secret",
           webapp_extra_env={"TOKEN": "a-token-value", "RETRIES": 3}, postgres_superuser_password="su-password"),
    ])
    assert secrets == {
        **{f"inventory.{name}": value for name, value in INVENTORY_SECRETS.items()},
        "-e.pgstack_db_password": "short1",
        "-e.pgbouncer_users[0].password": "pw-in-a-list",
        "-e.webapp_extra_env.TOKEN": "a-token-value",
        "-e.postgres_superuser_password": "su-password",
    }
    assert needles(f"{SECRET}-long\nx") == {f"{SECRET}-long\nx", f"{SECRET}-long"}
    assert_no_secret_shown("nothing here", secrets)
    for shown in ("pw-in-a-list", '"a-token-value"', "postgres://app:su%2Dpassword@db", "x=su-password+",
                  f"got {json.dumps(f'{SECRET}-long' + chr(10))}"):
        with pytest.raises(AssertionError, match="secrets shown"):
            assert_no_secret_shown(shown, {**secrets, "-e.bad": f"{SECRET}-long\n"})


def test_good_values_pass_the_preflight(deploy: Callable[..., Any]) -> None:
    # Docker mode in a directory that does not exist: under --check the
    # deploying plays stop at creating it.
    extra = docker(
        pgstack_db_password="odd/pass:word@with'quote",
        postgres_listen_addresses=["*"],
        postgres_client_addresses=["192.168.10.0/24", ".example.org"],
        postgres_settings={"search_path": '"$user", public', "work_mem": "8MB", "reserved_connections": 2},
        pgbouncer_databases=[APP, {"name": "reports", "dbname": "app", "port": "5432", "pool_size": "5"}],
        pgbouncer_settings={"server_reset_query": "DISCARD ALL", "log_connections": 0},
        pgbouncer_stats_users=["monitoring"],
        webapp_allowed_hosts=[".example.com", "[::1]", "127.0.0.1"],
        webapp_extra_env={"SENTRY_DSN": "https://key@sentry.example.com/1", "RETRIES": 3},
    )
    result = deploy(*extra)
    output = result.stdout + result.stderr
    assert "PLAY [Deploy PostgreSQL]" in output, output
    assert_no_secret_shown(output, secrets_of(extra))


def test_pools_larger_than_max_connections_stop_before_any_change(deploy: Callable[..., Any]) -> None:
    # One pooler: (100 + 5 reserve) x 1 database x 1 user; one app host: 2 workers + 1.
    result = deploy("-e", "pgbouncer_default_pool_size=100")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "may be asked for 108 connections (localhost: 105, localhost: 3)" in output, output
    assert "postgres_max_connections 100 leaves 97" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output
    assert_no_secret_shown(output, secrets_of(["-e", "pgbouncer_default_pool_size=100"]))


# A second pooler host, this machine again under another name: Debian 12's
# PgBouncer 1.18 has no [peers], so each peers with itself alone.
TWO_POOLERS = INVENTORY.replace(
    "    pgbouncer: {hosts: {localhost: {}}}",
    "    pgbouncer:\n"
    "      vars: {pgbouncer_peers: ['{{ inventory_hostname }}']}\n"
    "      hosts: {localhost: {pgbouncer_default_pool_size: 60}, pool2: {pgbouncer_default_pool_size: 30}}",
)


# Docker mode too: each Docker host's PgBouncer counts against the db service
# of the first, where the others reach it published.
@pytest.mark.parametrize("mode", ["host", "docker"])
def test_the_budget_counts_every_pooler_host(deploy: Callable[..., Any], mode: str) -> None:
    # (60 + 5 reserve) on localhost, (30 + 5) on pool2; the app host 2 workers + 1.
    result = deploy(*(docker() if mode == "docker" else []), inventory=TWO_POOLERS)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "may be asked for 103 connections (localhost: 65, pool2: 35, localhost: 3)" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output


@ON_DEBIAN_12
def test_peers_across_pooler_hosts_need_pgbouncer_1_19(deploy: Callable[..., Any]) -> None:
    result = deploy(inventory=TWO_POOLERS.replace("      vars: {pgbouncer_peers: ['{{ inventory_hostname }}']}\n", ""))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "pgbouncer_peers: 2 hosts needs PgBouncer 1.19 or later ([peers])" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output


def test_missing_secret_is_named(deploy: Callable[..., Any]) -> None:
    inventory = INVENTORY.replace("    pgstack_db_password: a-good-long-password\n", "")
    result = deploy(inventory=inventory)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pgstack_db_password" in output, output
    assert "PLAY [Deploy PostgreSQL]" not in output, output
    assert_no_secret_shown(output, secrets_of([], inventory))
