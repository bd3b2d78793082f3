"""The shared daily LLM budget on the internal API (service key): every runner process takes
allowances from and reports spend into one ledger, so N runners spend one budget, not N."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from mana.auth.deps import AppClock, DbSession, ServiceCaller
from mana.budget import service
from mana.budget.schemas import BudgetOut, GrantRequest, UsageReport

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
        granted_usd=state.granted_usd,
    )


@router.get("", response_model=BudgetOut, responses=_ERRORS)
async def today(_service: ServiceCaller, session: DbSession, clock: AppClock) -> BudgetOut:
    """Today's (UTC) reported spend, and that plus what live allowances still hold."""
    return _out(await service.today(session, now=clock.now()))


@router.post("/allowances", response_model=BudgetOut, responses=_ERRORS)
async def grant(
    _service: ServiceCaller, body: GrantRequest, session: DbSession, clock: AppClock
) -> BudgetOut:
    """Grant up to `amountUsd` of today's budget under `limitUsd` (`grantedUsd`: how much)."""
    state = await service.grant(
        session,
        allowance_id=body.allowance_id,
        amount_usd=body.amount_usd,
        limit_usd=body.limit_usd,
        runner_id=body.runner_id,
        ttl=timedelta(seconds=body.ttl_seconds),
        now=clock.now(),
    )
    return _out(state)


@router.post("/usage", response_model=BudgetOut, responses=_ERRORS)
async def report_use(
    _service: ServiceCaller, body: UsageReport, session: DbSession, clock: AppClock
) -> BudgetOut:
    """Report an allowance's use so far; `final` gives the unused rest back to the day."""
    state = await service.report_use(
        session,
        allowance_id=body.allowance_id,
        used_usd=body.used_usd,
        final=body.final,
        runner_id=body.runner_id,
        ttl=timedelta(seconds=body.ttl_seconds),
        now=clock.now(),
    )
    return _out(state)
