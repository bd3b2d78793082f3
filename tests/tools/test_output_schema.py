"""The compact output schemas (`mana.tools._json_schema`) mean exactly what pydantic's default
rendering means: for every tool, a valid answer and every one-field variation of it (null, a
wrong type, a missing field) gets the same verdict from both."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, Field

from mana.tools._json_schema import output_schema
from mana.tools.registry import all_tools

SAMPLES: dict[str, Any] = {
    "uuid": "6f1d3c1e-8a43-4a8e-9a7e-3f3c2b1a0d9e",
    "date": "2026-03-01",
    "date-time": "2026-03-01T09:30:00Z",
}
ODD_VALUES: tuple[Any, ...] = (None, "text", "2026-03-01", 7, 2.5, True, [], {})


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _resolve(root, root["$defs"][ref.removeprefix("#/$defs/")])
    return node


def example(root: dict[str, Any], node: dict[str, Any]) -> Any:
    """A valid value for `node` (of pydantic's default schema), preferring non-null options."""
    node = _resolve(root, node)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o != {"type": "null"}]
        return example(root, options[0]) if options else None
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object":
        return {name: example(root, prop) for name, prop in node.get("properties", {}).items()}
    if kind == "array":
        return [example(root, node.get("items", {}))]
    if kind == "string":
        return SAMPLES.get(node.get("format", ""), "x" * max(1, node.get("minLength", 1)))
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None


def variations(value: Any) -> Iterator[Any]:
    """`value` with one leaf replaced by an odd value, or one key removed, at every place."""
    if isinstance(value, dict):
        for key in value:
            removed = {k: v for k, v in value.items() if k != key}
            yield removed
            for inner in variations(value[key]):
                yield {**value, key: inner}
    elif isinstance(value, list):
        for index, item in enumerate(value):
            for inner in variations(item):
                changed = copy.copy(value)
                changed[index] = inner
                yield changed
    else:
        yield from ODD_VALUES


class Inner(BaseModel):
    label: str | None = None


class EveryShape(BaseModel):
    """Optionals that must keep their anyOf (an enum, a model) beside ones that collapse."""

    level: Literal["low", "high"] | None
    inner: Inner | None
    inners: list[Inner]
    short: str | None = Field(max_length=3)
    count: int | None = Field(ge=2)
    ratio: float | None


def outputs() -> list[type[BaseModel]]:
    tools = {spec.output_model for spec in all_tools().values()}
    return [*sorted(tools, key=lambda m: m.__name__), EveryShape]


@pytest.mark.parametrize("model", outputs(), ids=lambda m: m.__name__)
def test_compact_output_schema_gives_the_same_verdicts_as_pydantics(
    model: type[BaseModel],
) -> None:
    default = model.model_json_schema(by_alias=True, mode="serialization")
    compact = output_schema(model)
    assert "$defs" not in compact  # no tool output is recursive
    reference = Draft202012Validator(default, format_checker=FormatChecker())
    candidate = Draft202012Validator(compact, format_checker=FormatChecker())
    valid = example(default, default)
    assert reference.is_valid(valid) and candidate.is_valid(valid)
    checked = 0
    for document in variations(valid):
        assert reference.is_valid(document) == candidate.is_valid(document), document
        checked += 1
    assert checked > 0


def test_optional_scalars_are_typed_lists_and_nested_models_inline() -> None:
    schema = all_tools()["todo.list"].output_schema
    item = schema["properties"]["items"]["items"]
    assert item["type"] == "object"
    assert item["properties"]["notes"]["type"] == ["string", "null"]
    assert item["properties"]["completedAt"] == {
        "format": "date-time",
        "title": "Completedat",
        "type": ["string", "null"],
    }
