"""PgBouncer: running, pooling in transaction mode, SCRAM passthrough to PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest

from conftest import address, get_host, hosts_of, psql, variables

testinfra_hosts = [f"ansible://{name}" for name in hosts_of("pgbouncer")]


def secrets(host) -> dict:
    return variables(host.backend.get_hostname())


def admin(host, command: str):
    result = psql(
        host, secrets(host)["pgstack_pgbouncer_admin_password"],
        "-h", "127.0.0.1", "-p", "6432", "-U", "pgbouncer_admin", "-d", "pgbouncer", "-c", command,
    )
    assert result.rc == 0, result.stderr
    return [line.split("|") for line in result.stdout.splitlines()]


def upstream(host) -> str:
    """The inventory name of the PostgreSQL host this pooler points at."""
    ini = host.file("/etc/pgbouncer/pgbouncer.ini").content_string
    db_address = re.search(r"^app = host=(\S+) ", ini, re.MULTILINE).group(1)
    (name,) = [n for n in hosts_of("postgres") if address(n) == db_address]
    return name


def version(host) -> tuple[int, int]:
    out = host.check_output("pgbouncer --version")
    major, minor = re.search(r"PgBouncer (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def test_service_running_and_enabled(host) -> None:
    service = host.service("pgbouncer")
    assert service.is_running
    assert service.is_enabled
    assert host.socket("tcp://0.0.0.0:6432").is_listening


@pytest.mark.parametrize("name", ["pgbouncer.ini", "userlist.txt", "pgbouncer_hba.conf"])
def test_config_files_are_private_to_postgres(host, name: str) -> None:
    config = host.file(f"/etc/pgbouncer/{name}")
    assert config.user == "postgres"
    assert config.group == "postgres"
    assert config.mode == 0o640


def test_transaction_pooling_is_running(host) -> None:
    settings = {row[0].strip(): row[1].strip() for row in admin(host, "SHOW CONFIG")}
    assert settings["pool_mode"] == "transaction"
    # Who may log in from where: pgbouncer_hba.conf; passwords: SCRAM (below).
    assert settings["auth_type"] == "hba"
    assert settings["max_client_conn"] == "1000"


def test_the_admin_reaches_the_console_from_this_host_only(host) -> None:
    """Over loopback (admin() above) yes; from the host's own network address,
    as from any other host, no: pgbouncer_hba.conf rejects it."""
    password = secrets(host)["pgstack_pgbouncer_admin_password"]
    mine = address(host.backend.get_hostname())
    refused = psql(host, password, "-h", mine, "-p", "6432", "-U", "pgbouncer_admin", "-d", "pgbouncer",
                   "-c", "SHOW VERSION")  # fmt: skip
    assert refused.rc != 0 and "rejected" in refused.stderr, refused.stderr
    assert admin(host, "SHOW VERSION")
    # The app's user, from the same address, still gets its database.
    app = psql(host, secrets(host)["pgstack_db_password"], "-h", mine, "-p", "6432", "-U", "app", "-d", "app",
               "-c", "SELECT 1")  # fmt: skip
    assert app.rc == 0 and app.stdout.strip() == "1", app.stderr


def test_settings_follow_the_version(host) -> None:
    ini = host.file("/etc/pgbouncer/pgbouncer.ini").content_string
    assert ("max_prepared_statements" in ini) == (version(host) >= (1, 21))


def test_descriptor_limit_follows_max_client_conn(host) -> None:
    limit = int(host.check_output("systemctl show -p LimitNOFILE --value pgbouncer"))
    assert limit == 2 * 1000 + 100
    pid = host.check_output("systemctl show -p MainPID --value pgbouncer")
    assert f"Max open files            {limit}" in host.check_output("cat /proc/%s/limits", pid)


def test_userlist_holds_postgres_own_verifier(host) -> None:
    userlist = host.file("/etc/pgbouncer/userlist.txt").content_string
    entries = dict(re.findall(r'^"([^"]+)" "([^"]+)"$', userlist, re.MULTILINE))
    # With auth_query, PgBouncer logs in as the lookup role with its clear password.
    if str(secrets(host).get("pgstack_auth_query")).lower() == "true":
        lookup = secrets(host).get("pgstack_auth_user", "pgstack_auth")
        assert entries.pop(lookup) == secrets(host)["pgstack_auth_user_password"]
    assert set(entries) == {"app", "pgbouncer_admin"}
    assert all(v.startswith("SCRAM-SHA-256$") for v in entries.values())
    db = get_host(upstream(host))
    stored = db.check_output(
        "sudo -u postgres psql -Atc \"SELECT rolpassword FROM pg_authid WHERE rolname = 'app'\""
    )
    assert entries["app"] == stored


def test_app_credentials_work_through_the_pooler(host) -> None:
    result = psql(
        host, secrets(host)["pgstack_db_password"],
        "-h", "127.0.0.1", "-p", "6432", "-U", "app", "-d", "app",
        "-c", "SELECT current_user || ' ' || host(inet_client_addr())",
    )
    assert result.rc == 0, result.stderr
    # PostgreSQL sees the pooler's address, not psql's loopback.
    assert result.stdout.strip() == f"app {address(host.backend.get_hostname())}"


def test_app_credentials_work_directly(host) -> None:
    result = psql(
        host, secrets(host)["pgstack_db_password"],
        "-h", address(upstream(host)), "-p", "5432", "-U", "app", "-d", "app", "-c", "SELECT current_user",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "app"


def test_wrong_password_is_refused_by_the_pooler(host) -> None:
    result = psql(host, "not-the-password", "-h", "127.0.0.1", "-p", "6432", "-U", "app", "-d", "app",
                  "-c", "SELECT 1")
    assert result.rc != 0
    assert "authentication failed" in result.stderr


def test_show_pools_lists_the_app_pool(host) -> None:
    psql(host, secrets(host)["pgstack_db_password"], "-h", "127.0.0.1", "-p", "6432", "-U", "app", "-d", "app",
         "-c", "SELECT 1")
    pools = {(row[0].strip(), row[1].strip()): row for row in admin(host, "SHOW POOLS")}
    assert ("app", "app") in pools
    assert "transaction" in [cell.strip() for cell in pools[("app", "app")]]


def test_log_is_rotated_and_written_again_by_the_same_process(host) -> None:
    # Debian's package rotates none of PgBouncer's logs; the role's
    # logrotate file does, and PgBouncer reopens its log on the reload.
    log = "/var/log/postgresql/pgbouncer.log"
    pid = host.check_output("systemctl show -p MainPID --value pgbouncer")
    host.check_output("logrotate --force /etc/logrotate.d/pgstack-pgbouncer")
    assert host.file(f"{log}.1").exists
    new = host.file(log)
    assert new.user == "postgres" and new.mode == 0o640
    for _ in range(50):  # each admin login writes a line ("login attempt")
        admin(host, "SHOW VERSION")
        if host.file(log).size > 0:
            break
        time.sleep(0.1)
    assert host.file(log).size > 0, "PgBouncer did not write to its new log file"
    assert host.check_output("systemctl show -p MainPID --value pgbouncer") == pid
