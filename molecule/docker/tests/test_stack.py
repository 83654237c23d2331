"""The Compose stack: healthy services, the guide's URLs, pooling, no secrets in clear."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

from conftest import FILES, HOST, PROJECT, VARS
from plugins.filter.scram import scram_sha_256

testinfra_hosts = [f"ansible://{HOST}"]

PASSWORD = VARS["pgstack_db_password"]
APP = f"http://127.0.0.1:{VARS['webapp_listen_port']}"


def env_file(host) -> dict[str, str]:
    lines = host.file(f"{PROJECT}/.env").content_string.splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value.strip("'") for key, value in pairs}


def test_three_services_running_and_healthy(stack) -> None:
    services = stack.services()
    assert set(services) == {"db", "pgbouncer", "web"}
    for name, row in services.items():
        assert row["State"] == "running", name
        assert row["Health"] == "healthy", name


def test_dependencies_wait_for_health(host) -> None:
    web = host.file(f"{PROJECT}/compose.web.yaml").content_string
    pgbouncer = host.file(f"{PROJECT}/compose.pgbouncer.yaml").content_string
    assert re.search(r"depends_on:\s+pgbouncer:\s+condition: service_healthy", web)
    assert re.search(r"depends_on:\s+db:\s+condition: service_healthy", pgbouncer)


def test_plain_docker_compose_sees_the_same_project(host, stack) -> None:
    # An operator's "docker compose up -d" in the project directory must
    # recreate nothing: the same services with the same configuration hashes.
    hashes = stack.compose("config --hash '*'")
    assert len(hashes.splitlines()) == 3
    assert hashes == host.check_output(f"cd {PROJECT} && docker compose {FILES} config --hash '*'")
    assert host.file(f"{PROJECT}/compose.yaml").mode == 0o644


def test_env_file_has_the_guides_urls_and_is_root_only(host) -> None:
    env = host.file(f"{PROJECT}/.env")
    assert env.user == "root" and env.group == "root" and env.mode == 0o600
    values = env_file(host)
    password = quote(PASSWORD, safe="")
    assert values["DATABASE_URL"] == f"postgres://app:{password}@pgbouncer:5432/app"
    assert values["DATABASE_URL_DIRECT"] == f"postgres://app:{password}@db:5432/app"


def test_healthz_goes_through_pgbouncer(host) -> None:
    health = json.loads(host.check_output("curl -fsS %s/healthz", APP))
    assert health["status"] == "ok"
    assert health["via"] == "pgbouncer"
    assert health["target"] == "pgbouncer:5432"


def test_notes_land_in_postgres(host, stack) -> None:
    token = f"verify-{uuid.uuid4()}"
    created = json.loads(host.check_output("curl -fsS -X POST -d body=%s %s/notes", token, APP))
    assert created["body"] == token
    assert stack.psql_db(f"SELECT count(*) FROM notes_note WHERE body = '{token}'") == "1"


def test_rows_from_before_the_redeploy_are_kept(stack) -> None:
    # side_effect.yml wrote this row before deploying again.
    assert int(stack.psql_db("SELECT count(*) FROM notes_note WHERE body LIKE 'before-redeploy-%'")) >= 1


def test_pgbouncer_pools_in_transaction_mode(host, stack) -> None:
    host.check_output("curl -fsS %s/healthz", APP)
    settings = {row[0]: row[1] for row in stack.psql_admin("SHOW CONFIG")}
    assert settings["pool_mode"] == "transaction"
    assert settings["listen_port"] == "5432"
    pools = {(row[0], row[1]) for row in stack.psql_admin("SHOW POOLS")}
    assert ("app", "app") in pools


def test_pgbouncer_runs_unprivileged_with_descriptors_for_its_clients(stack) -> None:
    assert stack.compose("exec -T pgbouncer id -u") == "6432"
    assert stack.compose("exec -T pgbouncer sh -c 'ulimit -n'") == str(2 * 1000 + 100)


def test_pgbouncer_config_is_private_to_its_user(host) -> None:
    for name in ("pgbouncer.ini", "userlist.txt"):
        config = host.file(f"{PROJECT}/pgbouncer/{name}")
        assert config.uid == 6432 and config.mode == 0o640, name


def test_userlist_and_postgres_share_the_verifier(host, stack) -> None:
    userlist = host.file(f"{PROJECT}/pgbouncer/userlist.txt").content_string
    entries = dict(re.findall(r'^"([^"]+)" "([^"]+)"$', userlist, re.MULTILINE))
    stored = stack.psql_db("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
    assert entries["app"] == stored == scram_sha_256(PASSWORD, salt_seed="app")


def test_superuser_verifier_survives_compose_interpolation(stack) -> None:
    stored = stack.psql_db("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    assert stored == scram_sha_256(VARS["pgstack_postgres_superuser_password"], salt_seed="postgres")


def test_direct_and_pooled_logins_with_the_apps_credentials(stack) -> None:
    for target in ("db", "pgbouncer"):
        out = stack.compose(
            "exec -T -e PGPASSWORD=%s pgbouncer psql --no-psqlrc -At -h %s -p 5432 -U app -d app -c %s",
            PASSWORD, target, "SELECT current_user",
        )
        assert out == "app", target


def test_no_clear_text_password_outside_env_file(host) -> None:
    for secret in (PASSWORD, quote(PASSWORD, safe=""), VARS["pgstack_pgbouncer_admin_password"],
                   VARS["pgstack_postgres_superuser_password"]):
        found = host.run("grep -rlF -- %s %s", secret, PROJECT).stdout.split()
        assert set(found) <= {f"{PROJECT}/.env"}, found
