"""Memory and observation routes (issue 10).

Internal (service key, the runner): read the story at tick start, write it at tick end, post
observations in batches. Admin: the story with the newest observations, and `forget`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.deps import AdminUser, AppClock, DbSession, ServiceCaller
from mana.personas import ingest, memory
from mana.personas.contract import (
    ForgetOut,
    IngestOut,
    MemoryOut,
    MemoryWrite,
    MemoryWriteOut,
    ObservationBatch,
    ObservationOut,
    PersonaMemoryOut,
)

internal_router = APIRouter(prefix="/api/v1/internal/personas", tags=["internal"])
admin_router = APIRouter(prefix="/api/v1/admin/personas", tags=["admin"])

_INTERNAL_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid X-Service-Key"},
    404: {"description": "No such persona or tick"},
    409: {"description": "A retry with different content, or a story older than the stored one"},
    422: {"description": "Invalid input (names the field), e.g. a story over its limits"},
}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    404: {"description": "No such persona"},
}


@internal_router.get("/{persona_id}/memory", response_model=MemoryOut, responses=_INTERNAL_ERRORS)
async def read_memory(
    persona_id: uuid.UUID, _service: ServiceCaller, session: DbSession
) -> MemoryOut:
    """The persona's story so far (an empty story before its first tick)."""
    stored = await memory.read_memory(session, persona_id=persona_id)
    return MemoryOut(
        persona_id=persona_id,
        tick_id=stored.tick_id,
        updated_at=stored.updated_at,
        story=stored.story,
    )


@internal_router.put(
    "/{persona_id}/memory",
    response_model=MemoryWriteOut,
    responses=_INTERNAL_ERRORS,
)
async def write_memory(
    persona_id: uuid.UUID,
    _service: ServiceCaller,
    body: MemoryWrite,
    session: DbSession,
    clock: AppClock,
) -> MemoryWriteOut:
    """Replace the story with this tick's. Idempotent per tick id."""
    changed = await memory.write_memory(
        session,
        persona_id=persona_id,
        tick_id=body.tick_id,
        base_tick_id=body.base_tick_id,
        story=body.story,
        now=clock.now(),
    )
    return MemoryWriteOut(tick_id=body.tick_id, changed=changed)


@internal_router.post(
    "/{persona_id}/observations", response_model=IngestOut, responses=_INTERNAL_ERRORS
)
async def post_observations(
    persona_id: uuid.UUID,
    _service: ServiceCaller,
    body: ObservationBatch,
    session: DbSession,
    clock: AppClock,
) -> IngestOut:
    """Up to 500 observations, all or nothing, idempotent on (tickId, seq)."""
    result = await ingest.record_observations(
        session, persona_id=persona_id, observations=body.observations, now=clock.now()
    )
    return IngestOut(inserted=result.inserted, duplicates=result.duplicates)


async def persona_memory_out(session: AsyncSession, persona_id: uuid.UUID) -> PersonaMemoryOut:
    stored = await memory.read_memory(session, persona_id=persona_id)
    observed = await memory.recent_observations(session, persona_id=persona_id)
    return PersonaMemoryOut(
        persona_id=persona_id,
        tick_id=stored.tick_id,
        updated_at=stored.updated_at,
        story=stored.story,
        recent_observations=[ObservationOut.model_validate(o) for o in observed],
    )


@admin_router.get("/{persona_id}/memory", response_model=PersonaMemoryOut, responses=_ADMIN_ERRORS)
async def admin_memory(
    persona_id: uuid.UUID, _admin: AdminUser, session: DbSession
) -> PersonaMemoryOut:
    """The persona's story and its newest observations."""
    return await persona_memory_out(session, persona_id)


@admin_router.delete("/{persona_id}/memory", response_model=ForgetOut, responses=_ADMIN_ERRORS)
async def forget_memory(persona_id: uuid.UUID, _admin: AdminUser, session: DbSession) -> ForgetOut:
    """Reset the story: the next tick starts as on a first day (observations are kept)."""
    forgotten = await memory.forget(session, persona_id=persona_id)
    return ForgetOut(persona_id=persona_id, forgotten=forgotten)
