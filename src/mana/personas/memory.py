"""A persona's memory and observations (issue 10): read at tick start, written at tick end.

The story is one row per persona, replaced as a whole and keyed by the tick that wrote it:
writing the same tick's story again changes nothing, a different story for the same tick is a
409, and a story that continues an older version than the stored one is a 409 too (a runner
whose lease ran out must not overwrite its successor's memory). Observations are audit rows
like actions: batches idempotent on (tick_id, seq). Services flush, never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.kit.errors import Conflict
from mana.personas.contract import RECENT_OBSERVATIONS, Story
from mana.personas.errors import PersonaNotFound
from mana.personas.ingest import check_ticks, lock_persona
from mana.personas.models import Persona, PersonaMemory, PersonaObservation


@dataclass(frozen=True)
class StoredMemory:
    tick_id: uuid.UUID | None
    updated_at: datetime | None
    story: dict[str, Any]


def _wire(story: Story) -> dict[str, Any]:
    return story.model_dump(mode="json", by_alias=True)


async def read_memory(session: AsyncSession, *, persona_id: uuid.UUID) -> StoredMemory:
    """The persona's story, or an empty one (404 only when the persona does not exist)."""
    row = await session.get(PersonaMemory, persona_id, populate_existing=True)
    if row is None:
        if await session.get(Persona, persona_id) is None:
            raise PersonaNotFound(persona_id)
        return StoredMemory(tick_id=None, updated_at=None, story=_wire(Story()))
    return StoredMemory(tick_id=row.tick_id, updated_at=row.updated_at, story=row.story)


async def write_memory(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    tick_id: uuid.UUID,
    base_tick_id: uuid.UUID | None,
    story: Story,
    now: datetime,
) -> bool:
    """Replace the story with this tick's. Returns whether anything changed."""
    await lock_persona(session, persona_id)
    await check_ticks(session, persona_id=persona_id, tick_ids=[tick_id], collection="memory")
    new = _wire(story)
    row = await session.scalar(
        sa.select(PersonaMemory).where(PersonaMemory.persona_id == persona_id).with_for_update()
    )
    if row is None:
        # First story, or the first after `forget`: nothing to continue from.
        session.add(
            PersonaMemory(persona_id=persona_id, story=new, tick_id=tick_id, updated_at=now)
        )
        await session.flush()
        return True
    if row.tick_id == tick_id:
        if row.story != new:
            raise Conflict(
                f"the memory of tick {tick_id} was already written with a different story",
                details=[{"field": "story", "message": "differs from the stored story"}],
            )
        return False
    if row.tick_id != base_tick_id:
        raise Conflict(
            f"the memory was written by tick {row.tick_id} since tick {base_tick_id} was read; "
            "read it again",
            details=[{"field": "baseTickId", "message": f"the stored story is {row.tick_id}'s"}],
        )
    row.story = new
    row.tick_id = tick_id
    row.updated_at = now
    await session.flush()
    return True


async def forget(session: AsyncSession, *, persona_id: uuid.UUID) -> bool:
    """Drop the story (observations stay: they are the record of what happened)."""
    await lock_persona(session, persona_id)
    result = await session.execute(
        sa.delete(PersonaMemory).where(PersonaMemory.persona_id == persona_id)
    )
    await session.flush()
    return bool(getattr(result, "rowcount", 0))


async def recent_observations(
    session: AsyncSession, *, persona_id: uuid.UUID, limit: int = RECENT_OBSERVATIONS
) -> list[PersonaObservation]:
    rows = await session.scalars(
        sa.select(PersonaObservation)
        .where(PersonaObservation.persona_id == persona_id)
        .order_by(PersonaObservation.created_at.desc(), PersonaObservation.id.desc())
        .limit(limit)
    )
    return list(rows)
