"""docs/roles.md is generated from the argument specs and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "role_docs.py"


def test_roles_doc_is_current() -> None:
    spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text() == module.render(), "run: python3 scripts/role_docs.py"
