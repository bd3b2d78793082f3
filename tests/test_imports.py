"""Every module of the package and every benchmark imports: a module moved by a refactor must
not leave a stale import behind in code that no test happens to run (the benches, a CLI group)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import mana

MODULES = [m.name for m in pkgutil.walk_packages(mana.__path__, "mana.")]
BENCHES = [f"bench.{p.stem}" for p in (Path(__file__).parents[1] / "bench").glob("*.py")]


@pytest.mark.parametrize("name", MODULES + BENCHES)
def test_module_imports(name: str) -> None:
    importlib.import_module(name)
