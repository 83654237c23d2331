"""The scenarios' shared helpers (molecule/shared: load.py) are found by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "shared"))
