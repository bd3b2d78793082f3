"""Stable hashes of JSON values: tool-call audit rows and logs carry these, never raw inputs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no whitespace, UTF-8 kept as is.

    The MCP gateway and the runner both hash tool arguments with this, so the same call made by
    a persona and seen by the server gets the same hash.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(args: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of the canonical JSON of a tool call's arguments; no arguments = `{}`."""
    return hashlib.sha256(canonical_json(dict(args or {})).encode()).hexdigest()
