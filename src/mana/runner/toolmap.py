"""What the product's tools are, read from how the MCP server describes them.

The checks of `mana.runner.expectations` follow this map, not a copy of today's modules: a
tool that is not read-only and answers an object with an `id` creates (no id required in its
input) or changes (an `id` required) that item; a read-only tool without required input whose
answer holds a list of objects with `id`s lists the module's items. A module added later gets
the same checks without new runner code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from mana.runner.types import ToolInfo

# How far back and ahead a look-back listing reaches when a list tool takes a date range.
LOOK_RANGE = timedelta(days=180)
_LOWER_BOUNDS = ("from", "since", "start", "after")
_UPPER_BOUNDS = ("to", "until", "end", "before")
# Verbs whose answer must show the item as finished, and the boolean fields that say so.
FINISHING_VERBS = ("complete", "done", "finish", "check")
FINISHED_FIELDS = ("done", "completed", "finished")
# Item fields whose value is the moment it was created (the first one present is used). A
# summary that only says when it was last changed still bounds its creation from above, and
# in a personal space only its owner changes an item.
CREATED_FIELDS = ("createdAt", "loggedAt", "updatedAt")
LABEL_FIELDS = ("title", "name", "body", "note", "text")


def resolve(schema: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow a local `$ref` and unwrap `anyOf [X, null]` (how pydantic writes optionals)."""
    while isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
            continue
        options = node.get("anyOf")
        if isinstance(options, list):
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) == 1:
                node = real[0]
                continue
        return node
    return {}


def _properties(schema: dict[str, Any] | None) -> dict[str, Any]:
    if not schema:
        return {}
    props = resolve(schema, schema).get("properties")
    return props if isinstance(props, dict) else {}


def _item_list_key(schema: dict[str, Any] | None) -> str | None:
    """The property of a read's answer that holds the items (a list of objects with `id`)."""
    for name, prop in _properties(schema).items():
        node = resolve(schema or {}, prop)
        if node.get("type") == "array":
            items = resolve(schema or {}, node.get("items", {}))
            if "id" in (items.get("properties") or {}):
                return name
    return None


def _required(tool: ToolInfo) -> list[str]:
    required = tool.input_schema.get("required")
    return [str(r) for r in required] if isinstance(required, list) else []


@dataclass(frozen=True)
class ModuleTools:
    module: str
    creates: list[ToolInfo] = field(default_factory=list)
    changes: list[ToolInfo] = field(default_factory=list)
    lists: list[ToolInfo] = field(default_factory=list)

    @property
    def writable(self) -> bool:
        return bool(self.creates)

    @property
    def lister(self) -> ToolInfo | None:
        return self.lists[0] if self.lists else None


@dataclass(frozen=True)
class ToolMap:
    modules: dict[str, ModuleTools]
    by_name: dict[str, ToolInfo]

    @classmethod
    def of(cls, tools: list[ToolInfo]) -> ToolMap:
        modules: dict[str, ModuleTools] = {}
        for tool in sorted(tools, key=lambda t: t.name):
            entry = modules.setdefault(tool.module, ModuleTools(tool.module))
            required = _required(tool)
            answers_item = "id" in _properties(tool.output_schema)
            if tool.read_only is False and answers_item:
                if "id" in required:
                    entry.changes.append(tool)
                elif not any(r.endswith("Id") for r in required):
                    entry.creates.append(tool)
            elif tool.read_only and not required and _item_list_key(tool.output_schema):
                entry.lists.append(tool)
        return cls(modules=modules, by_name={t.name: t for t in tools})

    def kind(self, name: str) -> str | None:
        """'create', 'change', 'list' or None for a tool name."""
        entry = self.modules.get(name.split(".", 1)[0])
        if entry is None:
            return None
        for kind, group in (("create", entry.creates), ("change", entry.changes)):
            if any(t.name == name for t in group):
                return kind
        return "list" if any(t.name == name for t in entry.lists) else None

    def items_of(self, name: str, output: Any) -> list[dict[str, Any]] | None:
        """The items of a read's answer (None when the tool does not list items)."""
        tool = self.by_name.get(name)
        if tool is None or not isinstance(output, dict):
            return None
        key = _item_list_key(tool.output_schema)
        value = output.get(key) if key else None
        return (
            [v for v in value if isinstance(v, dict) and "id" in v]
            if isinstance(value, list)
            else None
        )

    def look_arguments(self, tool: ToolInfo, today: date) -> dict[str, Any]:
        """Arguments that list as much as the tool allows: the largest page, 'all' where a
        filter offers it, the widest date range around today."""
        arguments: dict[str, Any] = {}
        for name, prop in _properties(tool.input_schema).items():
            node = resolve(tool.input_schema, prop)
            lowered = name.lower()
            if node.get("type") == "integer" and isinstance(node.get("maximum"), int):
                arguments[name] = node["maximum"]
            elif isinstance(node.get("enum"), list) and "all" in node["enum"]:
                arguments[name] = "all"
            elif node.get("format") == "date":
                if lowered in _LOWER_BOUNDS:
                    arguments[name] = (today - LOOK_RANGE).isoformat()
                elif lowered in _UPPER_BOUNDS:
                    arguments[name] = (today + LOOK_RANGE).isoformat()
        return arguments

    def input_fields(self, name: str) -> set[str]:
        tool = self.by_name.get(name)
        return set(_properties(tool.input_schema)) if tool else set()

    def output_fields(self, name: str) -> set[str]:
        tool = self.by_name.get(name)
        return set(_properties(tool.output_schema)) if tool else set()


def finishing(name: str) -> bool:
    verb = name.split(".", 1)[-1]
    return any(verb.startswith(v) for v in FINISHING_VERBS)


def created_at(item: dict[str, Any]) -> str | None:
    for key in CREATED_FIELDS:
        value = item.get(key)
        if isinstance(value, str):
            return value
    return None


def label_of(item: dict[str, Any]) -> str:
    for key in LABEL_FIELDS:
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= 60 else text[:57] + "..."
    return str(item.get("id", "?"))[:8]
