"""The scenarios' helpers in molecule/shared, for the unit tests: that
directory is no package, so a module is loaded from its path, as the
scenarios' conftest.py finds it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SHARED = Path(__file__).parents[2] / "molecule/shared"


def load(name: str) -> ModuleType:
    """molecule/shared/<name>.py as a module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, SHARED / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
