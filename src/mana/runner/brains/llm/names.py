"""MCP tool names and schemas as the model APIs accept them, and tool results as the model
reads them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from mana.runner.types import ToolInfo

# Both APIs accept tool names matching this; MCP names (`todo.create`) do not.
API_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NOT_ALLOWED_IN_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_TOOL_NAME = 64

# What a tool result may take up in the model's context; the rest is cut (and said so).
MAX_TOOL_RESULT_CHARS = 8_000


def _with_digest(candidate: str, original: str) -> str:
    digest = hashlib.sha256(original.encode()).hexdigest()[:8]
    return f"{candidate[: _MAX_TOOL_NAME - 9]}_{digest}"


def _sanitize(name: str) -> str:
    # `.` becomes `__` (not `_`) so `todo.create` reads back naturally as `todo__create`.
    candidate = _NOT_ALLOWED_IN_TOOL_NAME.sub("_", name.replace(".", "__")) or "tool"
    if len(candidate) > _MAX_TOOL_NAME:
        candidate = _with_digest(candidate, name)
    return candidate


class ToolNames:
    """MCP tool names ↔ the names the model APIs accept (`^[a-zA-Z0-9_-]{1,64}$`).

    Two MCP names that sanitize alike (`todo.create`, `todo__create`) never share an API name:
    the later one (in sorted order, so the mapping is stable) gets a digest of its real name.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._to_api: dict[str, str] = {}
        self._to_mcp: dict[str, str] = {}
        for name in sorted(set(names)):
            candidate = _sanitize(name)
            salt = 0
            while candidate in self._to_mcp:
                salt += 1
                candidate = _with_digest(_sanitize(name), f"{name}#{salt}")
            self._to_api[name] = candidate
            self._to_mcp[candidate] = name

    def api(self, mcp_name: str) -> str:
        return self._to_api[mcp_name]

    def mcp(self, api_name: str) -> str:
        # A name the model invented is passed on unchanged: the toolbox records it as a failed
        # call to an unknown tool, which is what happened.
        return self._to_mcp.get(api_name, api_name)


def input_schema(tool: ToolInfo) -> dict[str, Any]:
    """The tool's JSON schema, as an object schema (both APIs insist on one)."""
    schema = dict(tool.input_schema)
    if schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    schema.setdefault("properties", {})
    return schema


def tool_result_text(data: Any) -> str:
    if data is None:
        return "OK (no data returned)"
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        cut = len(text) - MAX_TOOL_RESULT_CHARS
        text = f"{text[:MAX_TOOL_RESULT_CHARS]}… [{cut} more characters not shown]"
    return text or "OK (empty result)"
