"""The shared daily LLM budget: runners take allowances (slices of the day's budget) and report
what they spend from them.

Grants of one day are serialised on the day's ledger row, so the allowances granted never sum
to more than the limit: N runner processes spend one budget, not N. A runner spends from its
allowance without asking (its model calls need no round trip) and reports its use as it goes.

    spent     = Σ used                         (reported)
    committed = Σ used + Σ unused of live allowances (not final, not expired)

Services flush, never commit (the route's session does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mana.budget.models import LlmBudgetAllowance, LlmBudgetDay

# Allowances are kept this long (retried reports must find them), then swept.
KEEP_DAYS = 3


@dataclass(frozen=True)
class BudgetState:
    day: date
    spent_usd: float
    committed_usd: float
    granted_usd: float | None = None


def utc_day(now: datetime) -> date:
    return now.date()  # `now` is aware UTC (Clock)


async def _lock_day(session: AsyncSession, day: date, now: datetime) -> None:
    bind = session.get_bind()
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(LlmBudgetDay).values(day=day, updated_at=now).on_conflict_do_nothing()
    )
    await session.execute(
        sa.select(LlmBudgetDay.day).where(LlmBudgetDay.day == day).with_for_update()
    )


async def _state(
    session: AsyncSession, day: date, now: datetime, *, granted: float | None = None
) -> BudgetState:
    allowance = LlmBudgetAllowance
    live = sa.and_(allowance.final_at.is_(None), allowance.expires_at > now)
    unused = sa.func.greatest if session.get_bind().dialect.name == "postgresql" else sa.func.max
    row = (
        await session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(allowance.used_usd), 0.0),
                sa.func.coalesce(
                    sa.func.sum(
                        sa.case(
                            (live, unused(allowance.granted_usd - allowance.used_usd, 0.0)),
                            else_=0.0,
                        )
                    ),
                    0.0,
                ),
            ).where(allowance.day == day)
        )
    ).one()
    spent, held = float(row[0]), float(row[1])
    return BudgetState(day=day, spent_usd=spent, committed_usd=spent + held, granted_usd=granted)


async def grant(
    session: AsyncSession,
    *,
    allowance_id: uuid.UUID,
    amount_usd: float,
    limit_usd: float | None,
    runner_id: str,
    ttl: timedelta,
    now: datetime,
) -> BudgetState:
    """Grant up to `amount_usd` of today's budget: less when less is left under `limit_usd`
    (`grantedUsd` 0: the day's budget is used up). A retried grant answers what it granted."""
    day = utc_day(now)
    await _lock_day(session, day, now)
    existing = await session.get(LlmBudgetAllowance, allowance_id)
    if existing is not None:
        return await _state(session, day, now, granted=existing.granted_usd)
    state = await _state(session, day, now)
    left = amount_usd if limit_usd is None else max(0.0, limit_usd - state.committed_usd)
    granted = min(amount_usd, left)
    if granted <= 0:
        return BudgetState(state.day, state.spent_usd, state.committed_usd, granted_usd=0.0)
    session.add(
        LlmBudgetAllowance(
            id=allowance_id,
            day=day,
            runner_id=runner_id,
            granted_usd=granted,
            used_usd=0.0,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    await session.execute(
        sa.delete(LlmBudgetAllowance).where(
            LlmBudgetAllowance.day < day - timedelta(days=KEEP_DAYS)
        )
    )
    return await _state(session, day, now, granted=granted)


async def report_use(
    session: AsyncSession,
    *,
    allowance_id: uuid.UUID,
    used_usd: float,
    final: bool,
    runner_id: str,
    ttl: timedelta,
    now: datetime,
) -> BudgetState:
    """Record what a runner has used of an allowance so far (a running total, so a retried
    or reordered report changes nothing); `final` returns the unused rest to the day. A report
    also keeps the allowance alive for another `ttl`. A report for an allowance never granted
    here (the runner could not reach us) is booked as spent all the same."""
    allowance = await session.get(LlmBudgetAllowance, allowance_id)
    day = allowance.day if allowance is not None else utc_day(now)
    await _lock_day(session, day, now)
    if allowance is None:
        allowance = LlmBudgetAllowance(
            id=allowance_id,
            day=day,
            runner_id=runner_id,
            granted_usd=0.0,
            used_usd=0.0,
            created_at=now,
            expires_at=now,
        )
        session.add(allowance)
    allowance.used_usd = max(allowance.used_usd or 0.0, used_usd)
    if allowance.final_at is None:
        allowance.expires_at = max(allowance.expires_at, now + ttl)
        if final:
            allowance.final_at = now
    await session.flush()
    return await _state(session, day, now)


async def today(session: AsyncSession, *, now: datetime) -> BudgetState:
    return await _state(session, utc_day(now), now)
