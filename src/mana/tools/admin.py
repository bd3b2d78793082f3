"""Operator tools (scope "admin"): never exposed to agents, callable by operators and tests.

They exist so the gateway's filtering is demonstrable as well as useful: `exposed_tools()` must
not contain them.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from pydantic import Field

from mana.db import Base
from mana.tools.base import NoInput, SpaceScoped, ToolOutput
from mana.tools.registry import ToolContext, tool


class SpaceStats(ToolOutput):
    space_id: uuid.UUID
    rows: dict[str, int] = Field(description="Row count per table of the active space.")
    total: int


def _space_tables() -> list[type[SpaceScoped]]:
    # Every product table has the SpaceScoped columns, so new modules are counted without
    # touching this file.
    classes = (mapper.class_ for mapper in Base.registry.mappers)
    return sorted(
        (c for c in classes if issubclass(c, SpaceScoped)),
        key=lambda c: c.__tablename__,  # type: ignore[attr-defined]
    )


@tool("admin.stats", policy="read", scope="admin")
async def stats(data: NoInput, ctx: ToolContext) -> SpaceStats:
    """Count the rows of every product table in the active space (operators only)."""
    rows: dict[str, int] = {}
    for model in _space_tables():
        count = await ctx.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.space_id == ctx.space_id)
        )
        rows[model.__tablename__] = int(count or 0)  # type: ignore[attr-defined]
    return SpaceStats(space_id=ctx.space_id, rows=rows, total=sum(rows.values()))
