"""How the answer-changing faults read a tool's answer: generically, from its shape.

An item is an object with an `id`; its age is its `createdAt`, or — when the answer leaves that
out (a note summary, a mood entry) — the `created_at` of its row in the tool module's own
space-scoped tables (the tables defined in the same file as the tool). A list answer's items are
its first `list[Model]` field whose model has an `id`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, get_args, get_origin

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter, ValidationError

from mana.auth.models import Space, User
from mana.db import Base
from mana.tools.base import SpaceScoped
from mana.tools.registry import ToolContext, ToolSpec

logger = logging.getLogger("mana.mcp.faults")

CREATED_KEY = "createdAt"
# Other spaces tried for real rows before an item is made up (each try runs the list tool).
FOREIGN_CANDIDATES = 3

# What `prune` returns for an item (or an object about one) that hide_older takes out.
HIDDEN = object()


def _ids_without_time(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for child in value:
            _ids_without_time(child, found)
    elif isinstance(value, dict):
        if isinstance(value.get("id"), str) and not isinstance(value.get(CREATED_KEY), str):
            found.add(value["id"])
        for child in value.values():
            _ids_without_time(child, found)


async def creation_times(
    spec: ToolSpec, ctx: ToolContext, result: dict[str, Any]
) -> dict[str, datetime]:
    """When the items an answer shows without `createdAt` (a note summary, a mood entry) were
    created: read from the tool module's own tables, whose rows all have `created_at`."""
    wanted: set[str] = set()
    _ids_without_time(result, wanted)
    ids = []
    for text in wanted:
        try:
            ids.append(uuid.UUID(text))
        except ValueError:
            continue
    times: dict[str, datetime] = {}
    if not ids:
        return times
    for table in module_tables(spec):
        rows = await ctx.session.execute(
            sa.select(table.id, table.created_at).where(
                table.id.in_(ids), table.space_id == ctx.space_id
            )
        )
        times.update({str(row_id): created for row_id, created in rows})
    return times


def _created(value: dict[str, Any], created: dict[str, datetime]) -> datetime | None:
    item_id = value.get("id")
    if not isinstance(item_id, str):
        return None
    stamp = value.get(CREATED_KEY)
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp)
        except ValueError:
            return None
    return created.get(item_id)


def prune(value: Any, cutoff: datetime, created: dict[str, datetime], hidden: list[str]) -> Any:
    """The answer without items created before `cutoff`. A list loses such items; an object
    that is (or holds, outside a list) such an item is itself gone, because it is about it."""
    if isinstance(value, list):
        kept = [prune(v, cutoff, created, hidden) for v in value]
        return [v for v in kept if v is not HIDDEN]
    if not isinstance(value, dict):
        return value
    when = _created(value, created)
    if when is not None and when < cutoff:
        hidden.append(str(value["id"]))
        return HIDDEN
    out = {}
    for key, child in value.items():
        pruned = prune(child, cutoff, created, hidden)
        if pruned is HIDDEN:
            return HIDDEN
        out[key] = pruned
    return out


def item_list_field(model: type[BaseModel]) -> tuple[str | None, type[BaseModel] | None]:
    """The output's list of items: the first `list[Model]` field whose model has an `id`."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) is not list:
            continue
        (item,) = get_args(annotation) or (None,)
        if isinstance(item, type) and issubclass(item, BaseModel) and "id" in item.model_fields:
            return info.serialization_alias or info.alias or name, item
    return None, None


def module_tables(spec: ToolSpec) -> Iterator[type[SpaceScoped]]:
    """The space-scoped tables defined beside the tool (same module file)."""
    module = spec.handler.__module__
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        if cls.__module__ == module and issubclass(cls, SpaceScoped):
            yield cls


async def items_of_other_spaces(
    spec: ToolSpec, data: BaseModel, ctx: ToolContext, key: str, count: int
) -> list[dict[str, Any]]:
    """Run the same list tool as the owner of another personal space, and take its items."""
    candidates: list[uuid.UUID] = []
    for table in module_tables(spec):
        rows = await ctx.session.execute(
            sa.select(table.space_id)
            .join(Space, Space.id == table.space_id)
            .where(Space.type == "personal", table.space_id != ctx.space_id)
            .group_by(table.space_id)
            .order_by(sa.func.max(table.created_at).desc())
            .limit(FOREIGN_CANDIDATES)
        )
        candidates.extend(space for space in rows.scalars() if space not in candidates)
    query = (
        data.model_copy(update={"cursor": None}) if "cursor" in type(data).model_fields else data
    )
    found: list[dict[str, Any]] = []
    for space_id in candidates[:FOREIGN_CANDIDATES]:
        owner = (
            await ctx.session.execute(
                sa.select(User.id, User.kind)
                .join(Space, Space.personal_owner_id == User.id)
                .where(Space.id == space_id)
            )
        ).first()
        if owner is None:
            continue
        other = ToolContext(
            user_id=owner.id,
            kind=owner.kind,
            space_id=space_id,
            session=ctx.session,
            now=ctx.now,
            logger=ctx.logger,
        )
        # A read tool writes nothing, but whatever it might is not kept.
        savepoint = await ctx.session.begin_nested()
        try:
            output = await spec.handler(query, other)
        finally:
            await savepoint.rollback()
        items = output.model_dump(mode="json", by_alias=True).get(key) or []
        found.extend(items[: count - len(found)])
        if len(found) >= count:
            break
    return found


def made_up_item(model: type[BaseModel], now: datetime) -> dict[str, Any] | None:
    """An item of the declared shape, for when no other space has rows of this module."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    value = _example(schema, schema.get("$defs", {}), now)
    try:
        return TypeAdapter(model).validate_python(value).model_dump(mode="json", by_alias=True)
    except ValidationError:
        logger.warning("foreign_items: cannot make up an item of %s", model.__name__)
        return None


def _example(schema: dict[str, Any], defs: dict[str, Any], now: datetime) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, now)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [s for s in schema[union] if s.get("type") != "null"]
            return _example(options[0], defs, now) if options else None
    kind = schema.get("type")
    if kind == "object":
        return {
            name: _example(sub, defs, now) for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) + (1 if "exclusiveMinimum" in schema else 0) if kind == "integer" else low
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return now.isoformat()
        if fmt == "date":
            return now.date().isoformat()
        if fmt == "uuid":
            return str(uuid.uuid4())
        return "Shared item"
    return None
