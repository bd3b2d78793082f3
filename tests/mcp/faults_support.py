"""Writing MANA_FAULTS rule files in tests (shared with tests in other packages)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_rules(path: Path, *rules: dict[str, Any], seed: int | None = None) -> None:
    """Replace the rules file atomically, as an editor or `mana simulate` would: a running
    server sees the old rules or the new ones, never half a file. With
    `running_mcp_service(auth, faults=str(path), faults_check_seconds=0)` the next call
    already sees the new rules."""
    body: dict[str, Any] = {"rules": list(rules)}
    if seed is not None:
        body["seed"] = seed
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(body), encoding="utf-8")
    os.replace(scratch, path)
