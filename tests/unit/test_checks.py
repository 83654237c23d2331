"""The preflight's grammar checks: one short problem per wrong value, naming it, never a secret."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugins.filter.checks import (
    LOAD_BALANCE_NEEDS,
    PGBOUNCER_MANAGED,
    PGBOUNCER_TLS_MANAGED,
    POSTGRES_ELSEWHERE,
    POSTGRES_MANAGED,
    POSTGRES_TLS_MANAGED,
    WEBAPP_MANAGED_ENV,
    FilterModule,
    pgbouncer_problems,
    postgres_problems,
    webapp_problems,
)

ROLES = Path(__file__).parents[2] / "roles"
SECRET = "s3cret-value-never-shown"

POSTGRES: dict[str, Any] = {
    "postgres_mode": "host",
    "postgres_app_db_name": "app",
    "postgres_app_db_user": "app",
    "postgres_app_db_password": "a-good-long-password",
    "postgres_listen_addresses": ["localhost", "10.0.0.2"],
    "postgres_port": 5432,
    "postgres_max_connections": 100,
    "postgres_client_hosts": ["pool1", "web1"],
    "postgres_client_addresses": ["192.168.10.0/24", "app.example.com", ".example.org"],
    "postgres_settings": {"shared_buffers": "256MB", "work_mem": 4096, "search_path": '"$user", public'},
    "postgres_no_log": True,
    "postgres_docker_project_dir": "/opt/pgstack",
    "postgres_docker_image": "postgres:17",
    "postgres_docker_build": False,
    "postgres_docker_base_image": "debian:trixie-slim",
    "postgres_superuser_password": "",
    "postgres_auth_query": False,
    "postgres_auth_user": "pgstack_auth",
    "postgres_auth_user_password": "",
    "postgres_auth_group": "pgstack_pooled",
    "postgres_tls": False,
    "postgres_tls_names": [],
    "postgres_tls_ca_file": "",
    "postgres_tls_cert_file": "",
    "postgres_tls_key_file": "",
}
PGBOUNCER: dict[str, Any] = {
    "pgbouncer_mode": "host",
    "pgbouncer_listen_addr": "*",
    "pgbouncer_listen_port": 6432,
    "pgbouncer_pool_mode": "transaction",
    "pgbouncer_max_client_conn": 1000,
    "pgbouncer_default_pool_size": "20",
    "pgbouncer_min_pool_size": 0,
    "pgbouncer_reserve_pool_size": 5,
    "pgbouncer_reserve_pool_timeout": 3,
    "pgbouncer_max_db_connections": 0,
    "pgbouncer_server_idle_timeout": 600,
    "pgbouncer_server_lifetime": 3600,
    "pgbouncer_query_wait_timeout": 120,
    "pgbouncer_client_idle_timeout": 0,
    "pgbouncer_idle_transaction_timeout": 0,
    "pgbouncer_server_login_retry": 1,
    "pgbouncer_max_prepared_statements": 200,
    "pgbouncer_ignore_startup_parameters": ["extra_float_digits"],
    "pgbouncer_postgres_host": "db1",
    "pgbouncer_db_host": "10.0.0.2",
    "pgbouncer_db_port": 5432,
    "pgbouncer_databases": [
        {"name": "app"},
        {"name": "reports", "dbname": "app", "host": "db2.example.com", "port": 5433, "pool_size": "5",
         "pool_mode": "session"},
        {"name": "local", "host": "/run/postgresql"},
    ],
    "pgbouncer_users": [{"name": "app", "password": "a-good-long-password"}],
    "pgbouncer_admin_user": "pgbouncer_admin",
    "pgbouncer_admin_password": "another-good-password",
    "pgbouncer_stats_users": ["monitoring"],
    "pgbouncer_settings": {"server_reset_query": "DISCARD ALL", "log_connections": 0, "tcp_keepalive": 1},
    "pgbouncer_processes": 2,
    "pgbouncer_peers": ["pool1", "pool2"],
    "pgbouncer_restart_drain": False,
    "pgbouncer_drain_timeout": 60,
    "pgbouncer_console_command": "SHOW POOLS",
    "pgbouncer_console_retries": 5,
    "pgbouncer_upgrade": False,
    "pgbouncer_pause_timeout": 20,
    "pgbouncer_pause_on_timeout": "resume",
    "pgbouncer_no_log": True,
    "pgbouncer_docker_project_dir": "/opt/pgstack",
    "pgbouncer_docker_base_image": "registry.example.com:5000/debian:trixie-slim",
    "pgbouncer_docker_image": "pgstack/pgbouncer:local",
    "pgbouncer_auth_query": False,
    "pgbouncer_auth_user": "pgstack_auth",
    "pgbouncer_auth_user_password": "",
    "pgbouncer_auth_dbname": "app",
    "pgbouncer_stats_addresses": ["10.0.0.5/32", "fd00::/64"],
    "pgbouncer_client_tls": False,
    "pgbouncer_server_tls": False,
    "pgbouncer_tls_names": [],
    "pgbouncer_tls_ca_file": "",
    "pgbouncer_tls_cert_file": "",
    "pgbouncer_tls_key_file": "",
}
WEBAPP: dict[str, Any] = {
    "webapp_mode": "host",
    "webapp_db_name": "app",
    "webapp_db_user": "app",
    "webapp_db_password": "a-good-long-password/with:odd@chars",
    "webapp_db_path": "auto",
    "webapp_pooler_hosts": ["10.0.0.3", "pool2.example.com"],
    "webapp_pooler_load_balance": False,
    "webapp_pooler_port": 6432,
    "webapp_pooler_fallback": True,
    "webapp_db_host": "[2001:db8::2]",
    "webapp_db_port": 5432,
    "webapp_tls": False,
    "webapp_tls_ca_file": "",
    "webapp_secret_key": "a-django-secret-key-that-is-long-enough",
    "webapp_source_dir": "/home/me/project/",
    "webapp_django_settings_module": "demoapp.settings",
    "webapp_wsgi_application": "demoapp.wsgi:application",
    "webapp_allowed_hosts": ["*", ".example.com", "127.0.0.1", "[::1]"],
    "webapp_conn_max_age": 0,
    "webapp_health_path": "/healthz",
    "webapp_health_timeout": 20,
    "webapp_requirements_file": "requirements/production.txt",
    "webapp_venv_packages": ["gunicorn", "psycopg[binary]>=3.2,<4"],
    "webapp_pip_index_url": "https://pypi.example.com/simple",
    "webapp_pip_find_links": "/srv/wheels",
    "webapp_dockerfile": "docker/Dockerfile",
    "webapp_service_name": "pgstack-webapp",
    "webapp_user": "webapp",
    "webapp_app_dir": "/opt/pgstack-webapp",
    "webapp_env_file": "/etc/pgstack-webapp/env",
    "webapp_listen_address": "0.0.0.0",
    "webapp_listen_port": 8000,
    "webapp_workers": 2,
    "webapp_graceful_timeout": 10,
    "webapp_extra_env": {"SENTRY_DSN": "https://key@sentry.example.com/1", "FEATURE_X": True, "RETRIES": 3},
    "webapp_run_migrations": True,
    "webapp_manage_command": ["migrate", "--noinput"],
    "webapp_no_log": True,
    "webapp_docker_project_dir": "/opt/pgstack",
    "webapp_docker_image": "pgstack/webapp:local",
    "webapp_docker_build": True,
    "webapp_docker_base_image": "debian@sha256:" + "0" * 64,
}
GOOD = {"postgres": POSTGRES, "pgbouncer": PGBOUNCER, "webapp": WEBAPP}
INVENTORY = ["db1", "pool1", "web1"]
CHECKS = {
    "postgres": partial(postgres_problems, inventory_hosts=INVENTORY),
    "pgbouncer": partial(
        pgbouncer_problems, postgres_hosts=["db1"], pooler_hosts=["pool1", "pool2"], this_host="pool1"
    ),
    "webapp": webapp_problems,
}
WRONG_TYPES = [None, True, -1, 1.5, "", "x y", "a\nb", [], ["a\nb"], {}, {"a": "b"}, [{"name": 1}]]


def problems(role: str, **changes: Any) -> list[str]:
    return CHECKS[role]({**GOOD[role], **changes})


def first(role: str, **changes: Any) -> str:
    found = problems(role, **changes)
    assert found, changes
    return found[0]


@pytest.mark.parametrize("role", sorted(GOOD))
def test_good_values_have_no_problem(role: str) -> None:
    assert problems(role) == []


@pytest.mark.parametrize("role", sorted(GOOD))
def test_every_variable_of_the_argument_spec_is_known_here(role: str) -> None:
    spec = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())
    assert set(GOOD[role]) == set(spec["argument_specs"]["main"]["options"])


@pytest.mark.parametrize("role", sorted(GOOD))
@pytest.mark.parametrize("wrong", WRONG_TYPES, ids=repr)
def test_a_wrong_type_anywhere_is_a_problem_never_an_exception(role: str, wrong: Any) -> None:
    for name in GOOD[role]:
        for problem in problems(role, **{name: wrong}):
            # Each problem names the one variable, in one short line.
            assert problem.startswith(name), problem
            assert len(problem) <= 160 and "\n" not in problem, problem


def test_the_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"postgres_problems", "pgbouncer_problems", "webapp_problems"}


@pytest.mark.parametrize(
    ("role", "changes", "expected"),
    [
        # postgres: pg_hba.conf, postgresql.conf, SQL, Compose.
        ("postgres", {"postgres_app_db_name": "app db"}, "postgres_app_db_name: 'app db' is not"),
        ("postgres", {"postgres_app_db_name": "app\nhost all all 0/0 trust"}, "postgres_app_db_name: 'app\\nhost"),
        ("postgres", {"postgres_app_db_name": "all"}, "postgres_app_db_name: 'all' is"),
        ("postgres", {"postgres_app_db_name": "replication"}, "postgres_app_db_name: 'replication' is a pg_hba"),
        ("postgres", {"postgres_app_db_name": "x" * 64}, "postgres_app_db_name:"),
        ("postgres", {"postgres_app_db_user": "select"}, "postgres_app_db_user: 'select' is an SQL key word"),
        ("postgres", {"postgres_app_db_user": "postgres"}, "postgres_app_db_user: 'postgres' is the superuser"),
        ("postgres", {"postgres_auth_query": "true"}, "postgres_auth_query: is on, but postgres_auth_user_password"),
        ("pgbouncer", {"pgbouncer_auth_query": "true"}, "pgbouncer_auth_query: is on, but"),
        ("pgbouncer", {"pgbouncer_auth_query": True, "pgbouncer_auth_user_password": "a-good-long-password"}, None),
        ("pgbouncer", {"pgbouncer_auth_query": True, "pgbouncer_auth_user_password": "a-good-long-password",
                       "pgbouncer_auth_dbname": "other"}, "pgbouncer_auth_dbname: 'other' is no name"),
        ("pgbouncer", {"pgbouncer_auth_user": "pgbouncer_admin"}, "pgbouncer_auth_user: 'pgbouncer_admin' is also"),
        ("postgres", {"postgres_auth_query": True, "postgres_auth_user_password": "short"}, "postgres_auth_user_pass"),
        ("postgres", {"postgres_auth_query": True, "postgres_auth_user_password": "a-good-long-password"}, None),
        ("postgres", {"postgres_auth_user": "app"}, "postgres_auth_user: 'app' is the application role"),
        ("postgres", {"postgres_auth_group": "pgstack_auth"}, "postgres_auth_group: 'pgstack_auth' is"),
        ("postgres", {"postgres_auth_group": "pg_monitor"}, "postgres_auth_group: 'pg_monitor': pg_ names"),
        ("postgres", {"postgres_auth_user": "Auth User"}, "postgres_auth_user:"),
        ("postgres", {"postgres_app_db_user": "pg_app"}, "postgres_app_db_user: 'pg_app': pg_ names"),
        # TLS: the role's own settings, the user's files, the certificate's names.
        ("postgres", {"postgres_settings": {"ssl_cert_file": "/x.crt"}}, None),
        ("postgres", {"postgres_tls": True, "postgres_settings": {"SSL_cert_file": "/x.crt"}},
         "postgres_settings.SSL_cert_file: is written by the role itself with postgres_tls on"),
        ("postgres", {"postgres_tls": True, "postgres_tls_names": ["db.example.com", "10.0.0.9", "::1"]}, None),
        ("postgres", {"postgres_tls": True, "postgres_tls_names": ["db example"]}, "postgres_tls_names[0]: 'db ex"),
        ("postgres", {"postgres_tls": True, "postgres_tls_ca_file": "/etc/ca.crt", "postgres_tls_key_file": "/d.key"},
         "postgres_tls_cert_file: is empty, but postgres_tls_ca_file is set"),
        ("postgres", {"postgres_tls": True, "postgres_tls_ca_file": "/etc/ca.crt", "postgres_tls_cert_file": "/d.crt",
                      "postgres_tls_key_file": ""}, "postgres_tls_key_file: is empty, but"),
        ("postgres", {"postgres_tls": True, "postgres_tls_ca_file": "ca.crt", "postgres_tls_cert_file": "/d.crt",
                      "postgres_tls_key_file": "/d.key"}, "postgres_tls_ca_file: 'ca.crt' is not an absolute path"),
        ("postgres", {"postgres_tls": True, "postgres_tls_ca_file": "/ca.crt", "postgres_tls_cert_file": "/d.crt",
                      "postgres_tls_key_file": "/d.key"}, None),
        ("pgbouncer", {"pgbouncer_settings": {"server_tls_sslmode": "require"}}, None),
        ("pgbouncer", {"pgbouncer_server_tls": True, "pgbouncer_settings": {"server_tls_sslmode": "require"}},
         "pgbouncer_settings.server_tls_sslmode: is written by the role itself with pgbouncer_server_tls on"),
        ("pgbouncer", {"pgbouncer_client_tls": True, "pgbouncer_settings": {"client_tls_key_file": "/k"}},
         "pgbouncer_settings.client_tls_key_file: is written by the role itself with pgbouncer_client_tls on"),
        ("pgbouncer", {"pgbouncer_client_tls": True, "pgbouncer_tls_ca_file": "/ca.crt",
                       "pgbouncer_tls_key_file": "/k"}, "pgbouncer_tls_cert_file: is empty, but pgbouncer_tls_ca"),
        ("pgbouncer", {"pgbouncer_client_tls": True, "pgbouncer_tls_names": ["a,b"]}, "pgbouncer_tls_names[0]:"),
        ("pgbouncer", {"pgbouncer_stats_addresses": ["10.0.0.5"]}, "pgbouncer_stats_addresses[0]: '10.0.0.5' needs"),
        ("pgbouncer", {"pgbouncer_stats_addresses": ["monitor.example.com"]}, "pgbouncer_stats_addresses[0]: 'mon"),
        ("pgbouncer", {"pgbouncer_stats_addresses": ["10.0.0.0/8 trust"]}, "pgbouncer_stats_addresses[0]:"),
        ("pgbouncer", {"pgbouncer_stats_addresses": [5]}, "pgbouncer_stats_addresses[0]: must be an address/mask"),
        ("pgbouncer", {"pgbouncer_settings": {"auth_hba_file": "/tmp/x"}}, "pgbouncer_settings.auth_hba_file: is writ"),
        ("webapp", {"webapp_tls": True, "webapp_tls_ca_file": "ca.pem"}, "webapp_tls_ca_file: 'ca.pem' is not an abs"),
        ("postgres", {"postgres_listen_addresses": "localhost"}, "postgres_listen_addresses: must be a list"),
        ("postgres", {"postgres_listen_addresses": ["a,b"]}, "postgres_listen_addresses[0]: 'a,b'"),
        ("postgres", {"postgres_listen_addresses": ["x'"]}, "postgres_listen_addresses[0]:"),
        ("postgres", {"postgres_port": 0}, "postgres_port: must be 1-65535, got 0"),
        ("postgres", {"postgres_port": "5432\n"}, "postgres_port: must be a whole number"),
        ("postgres", {"postgres_max_connections": -1}, "postgres_max_connections: must be 1-262143"),
        ("postgres", {"postgres_client_hosts": ["nosuch"]}, "postgres_client_hosts[0]: 'nosuch' is not an inventory"),
        ("postgres", {"postgres_client_addresses": ["10.1.2.3"]}, "postgres_client_addresses[0]: '10.1.2.3' needs"),
        ("postgres", {"postgres_client_addresses": ["10.0.0.0/8 trust"]}, "postgres_client_addresses[0]:"),
        ("postgres", {"postgres_settings": {"search_path": "it's"}}, "postgres_settings.search_path: \"it's\""),
        ("postgres", {"postgres_settings": {"a": "C:\\x"}}, "postgres_settings.a:"),
        ("postgres", {"postgres_settings": {"a": "1\nport = 1"}}, "postgres_settings.a: '1\\nport = 1' has a line"),
        ("postgres", {"postgres_settings": {"a": None}}, "postgres_settings.a: must be a string or a number"),
        ("postgres", {"postgres_settings": {"Port": 1}}, "postgres_settings.Port: is written by the role"),
        ("postgres", {"postgres_settings": {"hba_file": "/tmp/x"}}, "postgres_settings.hba_file: is written"),
        ("postgres", {"postgres_settings": {"a b": 1}}, "postgres_settings['a b']: is not a PostgreSQL setting"),
        ("postgres", {"postgres_settings": {"reserved_connections": "x"}}, "postgres_settings.reserved_connections:"),
        ("postgres", {"postgres_settings": []}, "postgres_settings: must be a mapping, got a list"),
        ("postgres", {"postgres_settings": {"include_dir": "/tmp"}}, "postgres_settings.include_dir: would make"),
        ("postgres", {"postgres_settings": {"config_file": "/tmp/x"}}, "postgres_settings.config_file: is written"),
        ("postgres", {"postgres_mode": "docker"}, "postgres_superuser_password: must be set"),
        ("postgres", {"postgres_docker_image": "postgres:17\nprivileged: true"}, "postgres_docker_image:"),
        ("postgres", {"postgres_docker_base_image": "Debian"}, "postgres_docker_base_image: 'Debian' is not"),
        ("postgres", {"postgres_docker_project_dir": "opt/pgstack"}, "postgres_docker_project_dir:"),
        # pgbouncer: pgbouncer.ini, userlist.txt, Compose.
        ("pgbouncer", {"pgbouncer_listen_addr": "127.0.0.1,::1"}, None),
        ("pgbouncer", {"pgbouncer_listen_addr": "*\nauth_type = trust"}, "pgbouncer_listen_addr:"),
        ("pgbouncer", {"pgbouncer_listen_port": 65536}, "pgbouncer_listen_port: must be 1-65535, got 65536"),
        ("pgbouncer", {"pgbouncer_default_pool_size": 0}, "pgbouncer_default_pool_size: must be 1 or more, got 0"),
        ("pgbouncer", {"pgbouncer_server_idle_timeout": "-1"}, "pgbouncer_server_idle_timeout: must be 0 or more"),
        ("pgbouncer", {"pgbouncer_server_login_retry": -1}, "pgbouncer_server_login_retry: must be 0 or more"),
        ("pgbouncer", {"pgbouncer_pause_timeout": 0}, "pgbouncer_pause_timeout: must be 1 or more, got 0"),
        ("pgbouncer", {"pgbouncer_pause_on_timeout": "wait"}, "pgbouncer_pause_on_timeout:"),
        (
            "pgbouncer",
            {"pgbouncer_settings": {"server_login_retry": 5}},
            "pgbouncer_settings.server_login_retry: is written",
        ),
        ("pgbouncer", {"pgbouncer_reserve_pool_size": 1.5}, "pgbouncer_reserve_pool_size: must be a whole number"),
        ("pgbouncer", {"pgbouncer_max_client_conn": True}, "pgbouncer_max_client_conn: must be a whole number"),
        ("pgbouncer", {"pgbouncer_processes": 0}, "pgbouncer_processes: must be 1-64, got 0"),
        ("pgbouncer", {"pgbouncer_processes": 65}, "pgbouncer_processes: must be 1-64, got 65"),
        (
            "pgbouncer",
            {"pgbouncer_peers": ["pool1", "db1"]},
            "pgbouncer_peers[1]: 'db1' is not a host of group pgbouncer",
        ),
        ("pgbouncer", {"pgbouncer_peers": ["pool2"]}, "pgbouncer_peers: does not name this host, 'pool1'"),
        ("pgbouncer", {"pgbouncer_peers": ["pool1", "pool1"]}, "pgbouncer_peers: names a host twice"),
        ("pgbouncer", {"pgbouncer_peers": "pool1"}, "pgbouncer_peers: must be a list, got 'pool1'"),
        ("pgbouncer", {"pgbouncer_processes": "2", "pgbouncer_mode": "docker"}, None),
        ("pgbouncer", {"pgbouncer_settings": {"peer_id": 3}}, "pgbouncer_settings.peer_id: is written by the role"),
        ("pgbouncer", {"pgbouncer_drain_timeout": 0}, "pgbouncer_drain_timeout: must be 1 or more"),
        ("pgbouncer", {"pgbouncer_ignore_startup_parameters": ["a,b"]}, "pgbouncer_ignore_startup_parameters[0]:"),
        ("pgbouncer", {"pgbouncer_postgres_host": "db9"}, "pgbouncer_postgres_host: 'db9' is not a host of group"),
        ("pgbouncer", {"pgbouncer_db_host": "db dbname=postgres"}, "pgbouncer_db_host:"),
        ("pgbouncer", {"pgbouncer_databases": []}, "pgbouncer_databases: must have at least one entry"),
        ("pgbouncer", {"pgbouncer_databases": ["app"]}, "pgbouncer_databases[0]: must be a mapping"),
        ("pgbouncer", {"pgbouncer_databases": [{"dbname": "app"}]}, "pgbouncer_databases[0].name: is missing"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a b"}]}, "pgbouncer_databases[0].name: 'a b' is not"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "app"}, {"name": "x\ny"}]}, "pgbouncer_databases[1].name:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "pgbouncer"}]}, "pgbouncer_databases[0].name: 'pgbouncer' is"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a"}, {"name": "a"}]}, "pgbouncer_databases[1].name: 'a'"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "pool_size": "x"}]}, "pgbouncer_databases[0].pool_size:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "pool_size": {}}]}, "pgbouncer_databases[0].pool_size:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "pool_mode": "x"}]}, "pgbouncer_databases[0].pool_mode:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "port": "0"}]}, "pgbouncer_databases[0].port:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "host": "h x"}]}, "pgbouncer_databases[0].host:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "dbname": "d'"}]}, "pgbouncer_databases[0].dbname:"),
        ("pgbouncer", {"pgbouncer_databases": [{"name": "a", "size": 1}]}, "pgbouncer_databases[0]: unknown key"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "a,b", "password": SECRET}]}, "pgbouncer_users[0].name: 'a,b'"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "app"}]}, "pgbouncer_users[0].password: is missing"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "a", "password": 123456789012}]}, "pgbouncer_users[0].password:"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "a", "password": SECRET}, {"name": "a", "password": SECRET}]},
         "pgbouncer_users[1].name: 'a' appears twice"),
        ("pgbouncer", {"pgbouncer_admin_user": "pgbouncer_admin,app"}, "pgbouncer_admin_user: 'pgbouncer_admin,app'"),
        ("pgbouncer", {"pgbouncer_admin_user": "app"}, "pgbouncer_admin_user: 'app' is also an app user"),
        ("pgbouncer", {"pgbouncer_stats_users": "stats"}, "pgbouncer_stats_users: must be a list"),
        ("pgbouncer", {"pgbouncer_stats_users": ["s\nadmin_users = app"]}, "pgbouncer_stats_users[0]:"),
        ("pgbouncer", {"pgbouncer_settings": {"auth_type": "trust"}}, "pgbouncer_settings.auth_type: is written by"),
        ("pgbouncer", {"pgbouncer_settings": {"AUTH_TYPE": "trust"}}, "pgbouncer_settings.AUTH_TYPE: is not"),
        ("pgbouncer", {"pgbouncer_settings": {"%include /tmp/x": ""}}, "pgbouncer_settings['%include /tmp/x']:"),
        ("pgbouncer", {"pgbouncer_settings": {"a": "x\nauth_type = trust"}}, "pgbouncer_settings.a: 'x\\nauth_type"),
        ("pgbouncer", {"pgbouncer_settings": {"log_connections": True}}, "pgbouncer_settings.log_connections:"),
        ("pgbouncer", {"pgbouncer_docker_image": "PgBouncer"}, "pgbouncer_docker_image:"),
        ("pgbouncer", {"pgbouncer_console_retries": -1}, "pgbouncer_console_retries:"),
        ("webapp", {"webapp_health_path": "healthz"}, "webapp_health_path:"),
        ("webapp", {"webapp_health_path": "/health z"}, "webapp_health_path:"),
        ("webapp", {"webapp_requirements_file": "../requirements.txt"}, "webapp_requirements_file:"),
        ("webapp", {"webapp_requirements_file": "/etc/passwd"}, "webapp_requirements_file:"),
        ("webapp", {"webapp_dockerfile": "../Dockerfile"}, "webapp_dockerfile:"),
        ("webapp", {"webapp_venv_packages": ["gunicorn --pre"]}, "webapp_venv_packages[0]:"),
        ("webapp", {"webapp_pip_index_url": "https://a b"}, "webapp_pip_index_url:"),
        ("webapp", {"webapp_pip_find_links": "/srv/wheels --pre"}, "webapp_pip_find_links:"),
        # webapp: env file, systemd unit, Compose.
        ("webapp", {"webapp_db_name": "app\nX=1"}, "webapp_db_name:"),
        (
            "webapp",
            {"webapp_pooler_hosts": ["10.0.0.3", "2001:db8::3"]},
            "webapp_pooler_hosts[1]: '2001:db8::3' is an IPv6 address",
        ),
        ("webapp", {"webapp_pooler_hosts": []}, "webapp_pooler_hosts: must have at least one entry"),
        (
            "webapp",
            {"webapp_pooler_load_balance": True},
            "webapp_pooler_load_balance: " + LOAD_BALANCE_NEEDS,
        ),
        ("webapp", {"webapp_db_host": "db/evil"}, "webapp_db_host:"),
        ("webapp", {"webapp_db_port": 0}, "webapp_db_port:"),
        ("webapp", {"webapp_secret_key": "x" * 31}, "webapp_secret_key: must be at least 32 characters"),
        ("webapp", {"webapp_mode": "docker", "webapp_secret_key": "it's-" + "x" * 40}, "webapp_secret_key: must not"),
        ("webapp", {"webapp_django_settings_module": "demoapp/settings"}, "webapp_django_settings_module:"),
        ("webapp", {"webapp_django_settings_module": "demoapp.class"}, "webapp_django_settings_module:"),
        ("webapp", {"webapp_wsgi_application": "demoapp.wsgi --reload"}, "webapp_wsgi_application:"),
        ("webapp", {"webapp_wsgi_application": "demoapp.wsgi:"}, "webapp_wsgi_application:"),
        ("webapp", {"webapp_allowed_hosts": "example.com"}, "webapp_allowed_hosts: must be a list"),
        ("webapp", {"webapp_allowed_hosts": []}, "webapp_allowed_hosts: must have at least one entry"),
        ("webapp", {"webapp_allowed_hosts": ["a.example,b.example"]}, "webapp_allowed_hosts[0]:"),
        ("webapp", {"webapp_conn_max_age": -1}, "webapp_conn_max_age: must be 0 or more"),
        ("webapp", {"webapp_service_name": "web app"}, "webapp_service_name:"),
        ("webapp", {"webapp_user": "root"}, "webapp_user: 'root' would run the app as root"),
        ("webapp", {"webapp_user": "Web App"}, "webapp_user:"),
        ("webapp", {"webapp_app_dir": "opt/app"}, "webapp_app_dir: 'opt/app' is not an absolute path"),
        ("webapp", {"webapp_env_file": "/etc/%n/env"}, "webapp_env_file: '/etc/%n/env' may hold only"),
        ("webapp", {"webapp_env_file": "/etc/pgstack.env"}, "webapp_env_file: '/etc/pgstack.env': the role sets"),
        ("webapp", {"webapp_app_dir": "/opt"}, "webapp_app_dir: '/opt': the role sets the mode of '/opt'"),
        ("pgbouncer", {"pgbouncer_docker_project_dir": "/"}, "pgbouncer_docker_project_dir: '/': the role"),
        ("webapp", {"webapp_listen_address": "0.0.0.0 --reload"}, "webapp_listen_address:"),
        ("webapp", {"webapp_workers": "0"}, "webapp_workers: must be 1 or more, got 0"),
        ("webapp", {"webapp_graceful_timeout": 0}, "webapp_graceful_timeout: must be 1 or more, got 0"),
        ("webapp", {"webapp_health_timeout": 0}, "webapp_health_timeout: must be 1 or more, got 0"),
        ("webapp", {"webapp_extra_env": {"DATABASE_URL": "x"}}, "webapp_extra_env.DATABASE_URL: is written by"),
        ("webapp", {"webapp_extra_env": {"A-B": "x"}}, "webapp_extra_env['A-B']: is not an environment"),
        ("webapp", {"webapp_extra_env": {"A": ["x"]}}, "webapp_extra_env.A: must be a string or a number"),
        ("webapp", {"webapp_extra_env": []}, "webapp_extra_env: must be a mapping"),
        ("webapp", {"webapp_manage_command": "migrate"}, "webapp_manage_command: must be a list"),
        ("webapp", {"webapp_source_dir": ""}, "webapp_source_dir:"),
        ("webapp", {"webapp_docker_project_dir": "/opt/pg stack"}, "webapp_docker_project_dir:"),
    ],
)
def test_the_first_problem_names_the_wrong_value(role: str, changes: dict[str, Any], expected: str | None) -> None:
    found = problems(role, **changes)
    if expected is None:
        assert found == []
    else:
        assert found and found[0].startswith(expected), found
        assert len(found) == 1, found


@pytest.mark.parametrize(
    ("role", "changes", "named"),
    [
        ("postgres", {"postgres_app_db_password": SECRET[:5]}, "postgres_app_db_password"),
        ("postgres", {"postgres_app_db_password": SECRET + "\n"}, "postgres_app_db_password"),
        ("postgres", {"postgres_mode": "docker", "postgres_superuser_password": SECRET[:8]},
         "postgres_superuser_password"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "app", "password": SECRET[:6]}]}, "pgbouncer_users[0].password"),
        ("pgbouncer", {"pgbouncer_users": [{"name": "app", "password": f"{SECRET}\r"}]}, "pgbouncer_users[0].password"),
        ("pgbouncer", {"pgbouncer_admin_password": f"{SECRET}\nx"}, "pgbouncer_admin_password"),
        ("webapp", {"webapp_db_password": f"{SECRET}\n"}, "webapp_db_password"),
        ("webapp", {"webapp_secret_key": f"{SECRET * 2}\n"}, "webapp_secret_key"),
        ("webapp", {"webapp_mode": "docker", "webapp_secret_key": f"{SECRET * 2}'"}, "webapp_secret_key"),
        ("webapp", {"webapp_extra_env": {"TOKEN": f"{SECRET}\nDJANGO_DEBUG=1"}}, "webapp_extra_env.TOKEN"),
        ("webapp", {"webapp_mode": "docker", "webapp_extra_env": {"TOKEN": f"{SECRET}'"}}, "webapp_extra_env.TOKEN"),
    ],
)
def test_a_secret_is_named_never_shown(role: str, changes: dict[str, Any], named: str) -> None:
    found = problems(role, **changes)
    assert found and found[0].startswith(f"{named}: "), found
    assert all(SECRET[:5] not in problem for problem in found), found


def test_single_quotes_in_env_values_are_fine_for_systemd() -> None:
    assert problems("webapp", webapp_extra_env={"GREETING": "it's"}) == []
    assert problems("webapp", webapp_secret_key="it's-" + "x" * 40) == []


def test_the_managed_lists_match_what_the_roles_write() -> None:
    ini = (ROLES / "pgbouncer/templates/pgbouncer.ini.j2").read_text()
    tls_written = PGBOUNCER_MANAGED.union(*PGBOUNCER_TLS_MANAGED.values())
    assert set(re.findall(r"^([a-z_]+) = ", ini, re.MULTILINE)) == tls_written
    tls = (ROLES / "postgres/vars/main.yml").read_text().split("__postgres_tls_settings:", 1)[1]
    assert set(re.findall(r"'([a-z_]+)': ", tls)) == POSTGRES_TLS_MANAGED
    written = set()
    for vars_file in (ROLES / "postgres/vars").glob("*.yml"):
        written |= set((yaml.safe_load(vars_file.read_text()) or {}).get("__postgres_managed_settings", {}))
    conf = (ROLES / "postgres/templates/pgstack.conf.j2").read_text()
    written |= set(re.findall(r"^([a-z_]+) = ", conf, re.MULTILINE)) - POSTGRES_ELSEWHERE
    compose = (ROLES / "postgres/templates/docker/compose.db.yaml.j2").read_text()
    written |= set(re.findall(r"\b([a-z_]+)=", compose.split("command:", 1)[1].split("\n", 1)[0]))
    assert written == POSTGRES_MANAGED
    env = yaml.safe_load((ROLES / "webapp/vars/main.yml").read_text())
    assert {"DATABASE_URL", *env["__webapp_common_env"]} == WEBAPP_MANAGED_ENV
