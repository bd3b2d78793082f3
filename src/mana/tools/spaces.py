"""Spaces module: which spaces the caller belongs to, and which one this session works in.

Reads the auth tables (through the spaces service): spaces are owned by the auth service, this
tool only shows them to the agent so it can tell a personal space from a shared one.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from mana.spaces import service as spaces_service
from mana.tools.base import NoInput, ToolOutput
from mana.tools.registry import ToolContext, tool


class SpaceOut(ToolOutput):
    id: uuid.UUID
    name: str
    type: str = Field(description="personal, family, team, practice, brand or club.")
    role: str = Field(description="Your role in the space: owner or member.")
    active: bool = Field(description="True for the space this session's tools work in.")
    created_at: datetime


class SpaceList(ToolOutput):
    active_space_id: uuid.UUID
    items: list[SpaceOut]


@tool("spaces.list", policy="read")
async def list_spaces(data: NoInput, ctx: ToolContext) -> SpaceList:
    """List the spaces you belong to (your personal space first, then shared ones) with your
    role in each, and mark the active one: every other tool reads and writes only the active
    space. Takes no arguments."""
    memberships = await spaces_service.list_spaces(ctx.session, user_id=ctx.user_id)
    return SpaceList(
        active_space_id=ctx.space_id,
        items=[
            SpaceOut(
                id=m.space.id,
                name=m.space.name,
                type=m.space.type,
                role=m.role,
                active=m.space.id == ctx.space_id,
                created_at=m.space.created_at,
            )
            for m in memberships
        ],
    )
