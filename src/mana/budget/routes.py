"""The shared daily LLM budget on the internal API (service key): every runner process reserves
from and settles into one ledger, so N runners spend one budget, not N."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from mana.auth.deps import AppClock, DbSession, ServiceCaller
from mana.budget import service
from mana.budget.schemas import BudgetOut, ReserveRequest, SettleRequest

router = APIRouter(prefix="/api/v1/internal/personas/llm-budget", tags=["internal"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid X-Service-Key"},
    422: {"description": "Invalid input (names the field)"},
}


def _out(state: service.BudgetState) -> BudgetOut:
    return BudgetOut(
        day=state.day,
        spent_usd=state.spent_usd,
        committed_usd=state.committed_usd,
        granted=state.granted,
    )


@router.get("", response_model=BudgetOut, responses=_ERRORS)
async def today(_service: ServiceCaller, session: DbSession, clock: AppClock) -> BudgetOut:
    """Today's (UTC) spend and what calls in flight may still add."""
    return _out(await service.today(session, now=clock.now()))


@router.post("/reserve", response_model=BudgetOut, responses=_ERRORS)
async def reserve(
    _service: ServiceCaller, body: ReserveRequest, session: DbSession, clock: AppClock
) -> BudgetOut:
    """Hold a model call's worst-case cost; `granted: false` when it would pass `limitUsd`."""
    state = await service.reserve(
        session,
        reservation_id=body.reservation_id,
        amount_usd=body.amount_usd,
        limit_usd=body.limit_usd,
        runner_id=body.runner_id,
        ttl=timedelta(seconds=body.ttl_seconds),
        now=clock.now(),
    )
    return _out(state)


@router.post("/settle", response_model=BudgetOut, responses=_ERRORS)
async def settle(
    _service: ServiceCaller, body: SettleRequest, session: DbSession, clock: AppClock
) -> BudgetOut:
    """Book the call's real cost and release its reservation (idempotent per reservation)."""
    state = await service.settle(
        session,
        reservation_id=body.reservation_id,
        cost_usd=body.cost_usd,
        runner_id=body.runner_id,
        now=clock.now(),
    )
    return _out(state)
