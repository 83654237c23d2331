"""Every role's public variables: a default and an argument spec, one to one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p.name for p in (Path(__file__).parents[2] / "roles").iterdir() if p.is_dir())
ROOT = Path(__file__).parents[2] / "roles"


def load(role: str, path: str) -> dict:
    return yaml.safe_load((ROOT / role / path).read_text()) or {}


def test_all_three_roles_exist() -> None:
    assert ROLES == ["pgbouncer", "postgres", "webapp"]


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role: str) -> None:
    defaults = set(load(role, "defaults/main.yml"))
    options = set(load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"])
    assert defaults == options


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
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("description"), name
        assert spec.get("type"), name


@pytest.mark.parametrize("role", ROLES)
def test_secrets_are_not_logged_and_come_from_inventory(role: str) -> None:
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults/main.yml")
    secret = [n for n in options if n.endswith(("_password", "_secret_key"))]
    assert secret, role
    for name in secret:
        assert options[name].get("no_log") is True, name
        # No literal secret in defaults: only a reference to an inventory value.
        assert defaults[name].startswith("{{ pgstack_"), name
