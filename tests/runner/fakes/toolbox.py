"""An in-memory ToolBox with a few product-like tools.

Calls go through the real RecordingToolBox, so the ActionRecords (and the Experience built from
them) are exactly what a tick over MCP would produce; `calls` keeps the raw (name, arguments)
the brain asked for, for assertions.
"""

from __future__ import annotations

import itertools
from typing import Any

from mana.kit.clock import Clock
from mana.runner.brains.base import ToolOutcome
from mana.runner.recording import RecordingToolBox
from mana.runner.types import ActionRecord, ToolInfo
from mana.tools.registry import exposed_tools

TODO_CREATE = ToolInfo(
    name="todo.create",
    description="Create a todo in the current space.",
    input_schema={
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "due": {"type": "string", "format": "date"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"]},
        },
        "required": ["title"],
        "additionalProperties": False,
    },
)
TODO_LIST = ToolInfo(
    name="todo.list",
    description="List the todos of the current space, newest first.",
    input_schema={
        "type": "object",
        "properties": {
            "done": {"type": "boolean"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        "additionalProperties": False,
    },
)
MOOD_LOG = ToolInfo(
    name="mood.log",
    description="Log how you feel right now (1 = awful, 5 = great).",
    input_schema={
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "note": {"type": "string", "maxLength": 500},
        },
        "required": ["score"],
        "additionalProperties": False,
    },
)
DEFAULT_TOOLS = [TODO_CREATE, TODO_LIST, MOOD_LOG]


def product_tools() -> list[ToolInfo]:
    """The tools the MCP server really offers (names, descriptions, schemas): a prompt of the
    real size, for prompt-caching figures. Calls other than the three above fail here."""
    return [
        ToolInfo(name=spec.name, description=spec.description, input_schema=spec.input_schema)
        for spec in exposed_tools().values()
    ]


class FakeToolBox:
    def __init__(self, tools: list[ToolInfo] | None = None, *, clock: Clock | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.todos: list[dict[str, Any]] = []
        self.moods: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._recording = RecordingToolBox(
            list(DEFAULT_TOOLS if tools is None else tools), self._raw_call, clock or Clock()
        )

    @property
    def tools(self) -> list[ToolInfo]:
        return self._recording.tools

    @property
    def records(self) -> list[ActionRecord]:
        return self._recording.records

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append((name, dict(arguments)))
        return await self._recording.call(name, arguments)

    async def _raw_call(self, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        if name == "todo.create":
            title = arguments.get("title")
            if not isinstance(title, str) or not title.strip():
                return True, "title: field required"
            todo = {
                "id": f"todo-{next(self._ids)}",
                "title": title,
                "due": arguments.get("due"),
                "priority": arguments.get("priority", "normal"),
                "done": False,
            }
            self.todos.append(todo)
            return False, todo
        if name == "todo.list":
            items = [t for t in self.todos if t["done"] == arguments.get("done", t["done"])]
            return False, {"items": items[: arguments.get("limit", 20)], "nextCursor": None}
        if name == "mood.log":
            score = arguments.get("score")
            if not isinstance(score, int) or not 1 <= score <= 5:
                return True, "score: must be a whole number from 1 to 5"
            entry = {"id": f"mood-{next(self._ids)}", "score": score, "note": arguments.get("note")}
            self.moods.append(entry)
            return False, entry
        return True, f"no handler for {name}"
