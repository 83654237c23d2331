"""Every role's public variables: a default and an argument spec, one to one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2] / "roles"
ROLES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
# The roles playbooks use; compose and tls are internal plumbing they share.
PUBLIC_ROLES = ["pgbouncer", "postgres", "webapp"]


def load(role: str, path: str) -> dict:
    return yaml.safe_load((ROOT / role / path).read_text()) or {}


def entry_points(role: str) -> dict:
    return load(role, "meta/argument_specs.yml")["argument_specs"]


def all_options(role: str) -> dict:
    options: dict = {}
    for entry in entry_points(role).values():
        options.update(entry.get("options") or {})
    return options


def test_the_roles() -> None:
    assert ROLES == sorted(["compose", "tls", *PUBLIC_ROLES])


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role: str) -> None:
    assert set(load(role, "defaults/main.yml")) == set(all_options(role))


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_main_declares_every_public_variable(role: str) -> None:
    assert set(load(role, "defaults/main.yml")) == set(entry_points(role)["main"]["options"])


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_has_a_spec(role: str) -> None:
    """Ansible validates only the entry points declared: every tasks file a
    playbook or another role may call (tasks_from) is declared; the files
    only the role itself includes are not entry points."""
    tasks = ROOT / role / "tasks"
    callers = [
        *ROOT.parent.glob("playbooks/*.yml"),
        *ROOT.parent.glob("molecule/*/*.yml"),
        *ROOT.glob("*/tasks/**/*.yml"),
    ]
    called = set()
    for caller in callers:
        for line in caller.read_text().splitlines():
            if "tasks_from:" in line:
                name = line.split("tasks_from:", 1)[1].strip()
                # Ansible looks the entry point's spec up by this very name:
                # "assert.yml" would find none and validate nothing.
                assert "." not in name, f"{caller}: tasks_from: {name}"
                called.add(name)
    declared = set(entry_points(role))
    assert {name for name in called if (tasks / f"{name}.yml").exists()} <= declared
    assert declared <= {p.stem for p in tasks.glob("*.yml")}


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_are_role_prefixed(role: str) -> None:
    assert all(name.startswith(f"{role}_") for name in load(role, "defaults/main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_internal_variables_are_double_underscored(role: str) -> None:
    for path in (ROOT / role / "vars").glob("*.yml"):
        names = yaml.safe_load(path.read_text()) or {}
        assert all(name.startswith(f"__{role}_") for name in names), path


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_described_and_typed(role: str) -> None:
    for entry in entry_points(role).values():
        for name, spec in (entry.get("options") or {}).items():
            assert spec.get("description"), name
            assert spec.get("type"), name


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_secrets_are_not_logged_and_come_from_inventory(role: str) -> None:
    options = entry_points(role)["main"]["options"]
    defaults = load(role, "defaults/main.yml")
    secret = [n for n in options if n.endswith(("_password", "_secret_key"))]
    assert secret, role
    for name in secret:
        assert options[name].get("no_log") is True, name
        # No literal secret in defaults: only a reference to an inventory value.
        assert defaults[name].startswith("{{ pgstack_"), name


@pytest.mark.parametrize("role", ROLES)
def test_mode_is_chosen_only_by_the_mode_includes(role: str) -> None:
    """Outside tasks/host/ and tasks/docker/ (and vars/host.yml, vars/docker.yml),
    no task, handler or template asks which mode it is in: the mode only
    names the file to include."""
    shared = ["tasks/*.yml", "handlers/*.yml", "templates/**/*.j2", "vars/main.yml"]
    for path in [found for pattern in shared for found in (ROOT / role).glob(pattern)]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if f"{role}_mode" in line:
                seam = "include_tasks:" in line or "include_vars:" in line or line.lstrip().startswith("- name:")
                assert seam, f"{path}:{number}: {line}"


@pytest.mark.parametrize("role", ROLES)
def test_an_option_has_one_type_in_every_entry_point(role: str) -> None:
    types: dict[str, tuple] = {}
    for entry, spec in entry_points(role).items():
        for name, option in (spec.get("options") or {}).items():
            kind = (option["type"], option.get("elements"), tuple(option.get("choices") or ()))
            assert types.setdefault(name, kind) == kind, f"{entry}: {name}"


@pytest.mark.parametrize("role", ROLES)
def test_a_task_include_names_its_file_from_the_role_s_tasks(role: str) -> None:
    """A file in tasks/host/ or tasks/docker/ includes (include_tasks, at run
    time) its neighbours as host/x.yml or docker/x.yml: Ansible looks for a
    bare x.yml in the role's tasks/ and then beside the playbook before beside
    the including file, so a bare upgrade.yml ran playbooks/upgrade.yml (a
    Docker upgrade, 2026-12-07). import_tasks finds its neighbours."""
    for path in (ROOT / role / "tasks").glob("*/*.yml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = re.search(r"include_tasks: +(\S+)", line)
            if found and not (ROOT / role / "tasks" / found.group(1)).is_file():
                raise AssertionError(f"{path}:{number}: {found.group(1)} is not a file of {role}/tasks/")
