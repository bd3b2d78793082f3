"""Output schemas that are cheap to check.

The official MCP client validates every tool answer against the tool's `outputSchema` (the
`jsonschema` package). With pydantic's default rendering — each nested model behind a `$ref`,
each optional scalar as `anyOf: [{type: string}, {type: null}]` — checking a page of five
todos cost ~0.45 ms of client CPU per call; for the bare echo of the benchmark's baseline,
0.01 ms (issue 14). The same schema, written with the nested models inline and optional scalars
as `type: [string, "null"]`, accepts and refuses exactly the same documents and costs half.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

_NULL = {"type": "null"}
_SCALARS = {"string", "integer", "number", "boolean"}
# Keywords that only constrain values of their own type, so they let null through as well:
# `type: [string, "null"]` with them means what `anyOf [that, null]` meant. (Not `enum` or
# `const`: those would refuse null.)
_TYPED_KEYWORDS = {
    "type",
    "format",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
}


class _CompactNullable(GenerateJsonSchema):
    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if inner == _NULL:
            return _NULL
        kind = inner.get("type")
        if isinstance(kind, str) and kind in _SCALARS and inner.keys() <= _TYPED_KEYWORDS:
            return {**inner, "type": [kind, "null"]}
        return self.get_union_of_schemas([inner, _NULL])


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:
            raise _Recursive(name)
        target = _inline(defs[name], defs, (*seen, name))
        # A $ref beside other keywords (pydantic puts a field's description there) keeps them.
        extra = {key: _inline(value, defs, seen) for key, value in node.items() if key != "$ref"}
        return {**target, **extra}
    return {key: _inline(value, defs, seen) for key, value in node.items()}


class _Recursive(Exception):
    """A model that contains itself: its schema keeps its `$defs`."""


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s serialisation schema (camelCase), nested models inline unless recursive."""
    schema = model.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=_CompactNullable
    )
    defs = schema.pop("$defs", None)
    if not defs:
        return schema
    try:
        inlined: dict[str, Any] = _inline(schema, defs, ())
    except _Recursive:
        return {**schema, "$defs": defs}
    return inlined
