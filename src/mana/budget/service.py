"""The shared daily LLM budget: reserve before a model call, settle with its real cost after.

Reservations of one day are serialised on the day's ledger row, so two runners cannot both
pass the check with the last dollar. Services flush, never commit (the route's session does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mana.budget.models import LlmBudgetDay, LlmBudgetReservation

# Settled reservations are kept this long (retried settles must find them), then swept.
KEEP_DAYS = 3


@dataclass(frozen=True)
class BudgetState:
    day: date
    spent_usd: float
    # Spent plus what open reservations (calls in flight) may still cost.
    committed_usd: float
    granted: bool = True


def utc_day(now: datetime) -> date:
    return now.date()  # `now` is aware UTC (Clock)


async def _lock_day(session: AsyncSession, day: date) -> LlmBudgetDay:
    bind = session.get_bind()
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(LlmBudgetDay).values(day=day, spent_usd=0.0).on_conflict_do_nothing()
    )
    query = sa.select(LlmBudgetDay).where(LlmBudgetDay.day == day).with_for_update()
    ledger = (await session.execute(query.execution_options(populate_existing=True))).scalar_one()
    return ledger


async def _state(
    session: AsyncSession, ledger: LlmBudgetDay, now: datetime, *, granted: bool = True
) -> BudgetState:
    reserved = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LlmBudgetReservation.amount_usd), 0.0)).where(
            LlmBudgetReservation.day == ledger.day,
            LlmBudgetReservation.settled_at.is_(None),
            LlmBudgetReservation.expires_at > now,
        )
    )
    spent = float(ledger.spent_usd)
    return BudgetState(
        day=ledger.day, spent_usd=spent, committed_usd=spent + float(reserved or 0), granted=granted
    )


async def reserve(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    amount_usd: float,
    limit_usd: float | None,
    runner_id: str,
    ttl: timedelta,
    now: datetime,
) -> BudgetState:
    """Hold `amount_usd` of today's budget, unless that would take the day past `limit_usd`
    (then `granted` is False and nothing is held). A retry of a granted reservation is granted."""
    ledger = await _lock_day(session, utc_day(now))
    if await session.get(LlmBudgetReservation, reservation_id) is not None:
        return await _state(session, ledger, now)
    state = await _state(session, ledger, now)
    if limit_usd is not None and state.committed_usd + amount_usd > limit_usd:
        return BudgetState(state.day, state.spent_usd, state.committed_usd, granted=False)
    session.add(
        LlmBudgetReservation(
            id=reservation_id,
            day=ledger.day,
            runner_id=runner_id,
            amount_usd=amount_usd,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    await session.execute(
        sa.delete(LlmBudgetReservation).where(
            LlmBudgetReservation.day < ledger.day - timedelta(days=KEEP_DAYS)
        )
    )
    return await _state(session, ledger, now)


async def settle(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    cost_usd: float,
    runner_id: str,
    now: datetime,
) -> BudgetState:
    """Book a call's real cost on today's ledger (a call that straddled midnight is paid on
    the day it ended) and release its reservation. Idempotent: a retried settle books nothing.
    A settle whose reservation never arrived (the runner could not reach us before the call)
    is booked all the same: the money was spent."""
    ledger = await _lock_day(session, utc_day(now))
    reservation = await session.get(LlmBudgetReservation, reservation_id)
    if reservation is not None and reservation.settled_at is not None:
        return await _state(session, ledger, now)
    if reservation is None:
        reservation = LlmBudgetReservation(
            id=reservation_id,
            day=ledger.day,
            runner_id=runner_id,
            amount_usd=0.0,
            created_at=now,
            expires_at=now,
        )
        session.add(reservation)
    reservation.cost_usd = cost_usd
    reservation.settled_at = now
    ledger.spent_usd = float(ledger.spent_usd) + cost_usd
    ledger.updated_at = now
    await session.flush()
    return await _state(session, ledger, now)


async def today(session: AsyncSession, *, now: datetime) -> BudgetState:
    return await _state(session, await _lock_day(session, utc_day(now)), now)
