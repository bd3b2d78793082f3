"""Admin tick detail (`GET /api/v1/admin/ticks/{tickId}`): one tick with everything it left.

The tick, its tool calls in order, the ratings it gave and the observations it raised — what the
dashboard's Tick page shows, and the evidence behind an error cluster's example tick. Admin role
required (401 without a token, 403 for a non-admin). The read is `lifecycle.get_tick_detail`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from mana.auth.deps import AdminUser, DbSession
from mana.personas import lifecycle
from mana.personas.contract import (
    ActionOut,
    FeedbackOut,
    ObservationOut,
    TickDetailOut,
    TickOut,
    TickPersonaOut,
)

router = APIRouter(prefix="/api/v1/admin/ticks", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    404: {"description": "No such tick"},
    422: {"description": "The tick id is not a UUID"},
}


@router.get("/{tick_id}", response_model=TickDetailOut, responses=_ERRORS)
async def get_tick(tick_id: uuid.UUID, _admin: AdminUser, session: DbSession) -> TickDetailOut:
    """One tick: its tool calls in order, its ratings and the observations it raised."""
    detail = await lifecycle.get_tick_detail(session, tick_id=tick_id)
    user = detail.user
    return TickDetailOut(
        tick=TickOut.model_validate(detail.tick),
        persona=TickPersonaOut(user_id=user.id, email=user.email, name=user.name),
        actions=[ActionOut.model_validate(a) for a in detail.actions],
        feedback=[FeedbackOut.model_validate(f) for f in detail.feedback],
        observations=[ObservationOut.model_validate(o) for o in detail.observations],
    )
