"""Admin tick detail (`GET /api/v1/admin/ticks/{tickId}`): one tick with everything it left.

The tick, its tool calls in order, the ratings it gave and the observations it raised — what the
dashboard's Tick page shows, and the evidence behind an error cluster's example tick. Admin role
required (401 without a token, 403 for a non-admin).

The read lives in `get_tick_detail` below rather than in `service.py`, which is being split by
concern on another branch; it moves there when that lands.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.deps import AdminUser, DbSession
from mana.auth.models import User
from mana.kit.errors import NotFound
from mana.kit.schemas import ResponseModel
from mana.personas.models import (
    PersonaAction,
    PersonaFeedback,
    PersonaObservation,
    PersonaTick,
)

router = APIRouter(prefix="/api/v1/admin/ticks", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    404: {"description": "No such tick"},
    422: {"description": "The tick id is not a UUID"},
}

# Bounds what one page can pull in: a tick is capped far below this by the runner's turn limit
# and the ingest batch size, so these only guard against a runaway writer.
MAX_ACTIONS = 2000
MAX_OBSERVATIONS = 2000


class TickNotFound(NotFound):
    def __init__(self, tick_id: uuid.UUID) -> None:
        super().__init__(f"tick {tick_id} not found", details={"tickId": str(tick_id)})


# --- response models ------------------------------------------------------------------------


class TickPersonaOut(ResponseModel):
    user_id: uuid.UUID
    email: str
    name: str | None


class TickDetailTickOut(ResponseModel):
    tick_id: uuid.UUID
    persona_id: uuid.UUID
    runner_id: str
    brain: str
    space_id: uuid.UUID | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    tool_calls: int
    errors: int
    summary: str | None
    usage: dict[str, Any] | None
    error_message: str | None


class TickActionOut(ResponseModel):
    seq: int
    tool_name: str
    result: str
    error_message: str | None
    latency_ms: int
    input_hash: str
    created_at: datetime


class TickFeedbackOut(ResponseModel):
    module: str
    rating: int
    notes: str | None
    created_at: datetime


class TickObservationOut(ResponseModel):
    seq: int
    kind: str
    module: str
    tool_name: str | None
    # The `seq` of the tool call that showed it: join with `actions[].seq`.
    action_seq: int | None
    item_id: str | None
    evidence: str
    created_at: datetime


class TickDetailOut(ResponseModel):
    tick: TickDetailTickOut
    persona: TickPersonaOut
    actions: list[TickActionOut]
    feedback: list[TickFeedbackOut]
    observations: list[TickObservationOut]


# --- the read -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickDetail:
    tick: PersonaTick
    user: User
    actions: list[PersonaAction]
    feedback: list[PersonaFeedback]
    observations: list[PersonaObservation]


async def get_tick_detail(session: AsyncSession, *, tick_id: uuid.UUID) -> TickDetail:
    """Four indexed reads: the tick with its persona's user, then its rows by `tick_id`."""
    found = (
        await session.execute(
            sa.select(PersonaTick, User)
            .join(User, User.id == PersonaTick.persona_id)
            .where(PersonaTick.id == tick_id)
        )
    ).first()
    if found is None:
        raise TickNotFound(tick_id)
    tick, user = found.tuple()
    actions = await session.scalars(
        sa.select(PersonaAction)
        .where(PersonaAction.tick_id == tick_id)
        .order_by(PersonaAction.seq)
        .limit(MAX_ACTIONS)
    )
    feedback = await session.scalars(
        sa.select(PersonaFeedback)
        .where(PersonaFeedback.tick_id == tick_id)
        .order_by(PersonaFeedback.module)
    )
    observations = await session.scalars(
        sa.select(PersonaObservation)
        .where(PersonaObservation.tick_id == tick_id)
        .order_by(PersonaObservation.seq)
        .limit(MAX_OBSERVATIONS)
    )
    return TickDetail(
        tick=tick,
        user=user,
        actions=list(actions),
        feedback=list(feedback),
        observations=list(observations),
    )


@router.get("/{tick_id}", response_model=TickDetailOut, responses=_ERRORS)
async def get_tick(tick_id: uuid.UUID, _admin: AdminUser, session: DbSession) -> TickDetailOut:
    """One tick: its tool calls in order, its ratings and the observations it raised."""
    detail = await get_tick_detail(session, tick_id=tick_id)
    tick, user = detail.tick, detail.user
    return TickDetailOut(
        tick=TickDetailTickOut(
            tick_id=tick.id,
            persona_id=tick.persona_id,
            runner_id=tick.runner_id,
            brain=tick.brain,
            space_id=tick.space_id,
            status=tick.status,
            started_at=tick.started_at,
            finished_at=tick.finished_at,
            tool_calls=tick.tool_calls,
            errors=tick.errors,
            summary=tick.summary,
            usage=tick.usage,
            error_message=tick.error_message,
        ),
        persona=TickPersonaOut(user_id=user.id, email=user.email, name=user.name),
        actions=[TickActionOut.model_validate(a) for a in detail.actions],
        feedback=[TickFeedbackOut.model_validate(f) for f in detail.feedback],
        observations=[TickObservationOut.model_validate(o) for o in detail.observations],
    )
