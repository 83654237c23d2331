"""PostgreSQL: running, admitting exactly the pooler and app hosts, SCRAM only."""

from __future__ import annotations

from conftest import address, get_host, hosts_of, psql, variables

testinfra_hosts = [f"ansible://{name}" for name in hosts_of("postgres")]


def cluster_version(host) -> str:
    return host.check_output("ls /etc/postgresql")


def test_cluster_running_and_enabled(host) -> None:
    service = host.service(f"postgresql@{cluster_version(host)}-main")
    assert service.is_running
    assert service.is_enabled or host.service("postgresql").is_enabled


def test_listens_on_its_address(host) -> None:
    name = host.backend.get_hostname()
    assert host.socket(f"tcp://{address(name)}:5432").is_listening
    assert host.socket("tcp://127.0.0.1:5432").is_listening


def test_hba_admits_only_pool_and_app_hosts_with_scram(host) -> None:
    hba = host.file(f"/etc/postgresql/{cluster_version(host)}/main/pg_hba.conf")
    assert hba.user == "postgres" and hba.group == "postgres" and hba.mode == 0o640
    rules = [line.split() for line in hba.content_string.splitlines() if line and not line.startswith("#")]
    methods = {rule[-1] for rule in rules}
    assert methods == {"peer", "scram-sha-256"}, methods
    peer_users = {rule[2] for rule in rules if rule[-1] == "peer"}
    assert peer_users == {"postgres"}
    remote = {
        rule[3]: rule[0] for rule in rules if rule[0].startswith("host") and rule[3] not in ("127.0.0.1/32", "::1/128")
    }
    expected = {f"{address(n)}/32" for n in hosts_of("pgbouncer") + hosts_of("webapp")}
    assert set(remote) == expected
    # With TLS on (the Debian 12 stack), over TLS only: no line takes plain text from them.
    tls = str(variables(host.backend.get_hostname()).get("pgstack_tls", False)).lower() == "true"
    assert set(remote.values()) == {"hostssl" if tls else "host"}


def test_app_role_has_a_scram_verifier(host) -> None:
    stored = host.check_output("sudo -u postgres psql -Atc \"SELECT rolpassword FROM pg_authid WHERE rolname = 'app'\"")
    assert stored.startswith("SCRAM-SHA-256$4096:")


def test_app_role_has_only_the_rights_it_needs(host) -> None:
    flags = host.check_output(
        'sudo -u postgres psql -Atc "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,'
        " rolbypassrls FROM pg_roles WHERE rolname = 'app'\""
    )
    assert flags == "t|f|f|f|f|f"


def test_a_new_deployment_gets_its_own_salt() -> None:
    # Both PostgreSQL hosts hold role app with the same password.
    salts = set()
    for name in hosts_of("postgres"):
        stored = get_host(name).check_output(
            "sudo -u postgres psql -Atc \"SELECT rolpassword FROM pg_authid WHERE rolname = 'app'\""
        )
        salts.add(stored.split("$")[1])
    assert len(salts) == len(hosts_of("postgres")) == 2


def test_app_database_is_utf8_and_owned_by_app(host) -> None:
    row = host.check_output(
        "sudo -u postgres psql -Atc \"SELECT pg_encoding_to_char(encoding) || ' ' || pg_get_userbyid(datdba)"
        " FROM pg_database WHERE datname = 'app'\""
    )
    assert row == "UTF8 app"


def test_wrong_password_is_refused(host) -> None:
    result = psql(host, "not-the-password", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-c", "SELECT 1")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_app_password_works_directly(host) -> None:
    password = variables(host.backend.get_hostname())["pgstack_db_password"]
    result = psql(host, password, "-h", "127.0.0.1", "-U", "app", "-d", "app", "-c", "SELECT current_user")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "app"
