"""Ledger tables of the shared daily LLM budget (PostgreSQL schema `auth`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, UTCDateTime, utcnow


class LlmBudgetDay(Base):
    """What was spent on model calls in one UTC day, settled. Its row is also the lock that
    serialises reservations of that day (FOR UPDATE on PostgreSQL; SQLite serialises writers)."""

    __tablename__ = "llm_budget_days"
    __table_args__ = ({"schema": "auth"},)

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    spent_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LlmBudgetReservation(Base):
    """A model call's worst-case cost, held from before the call until its real cost is known.

    The id is the runner's, so a retried reserve or settle is the same row. An unsettled
    reservation stops counting at `expires_at` (its runner died mid-call)."""

    __tablename__ = "llm_budget_reservations"
    __table_args__ = (
        sa.Index("ix_llm_budget_reservations_day_open", "day", "settled_at"),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    runner_id: Mapped[str] = mapped_column(sa.String(120))
    amount_usd: Mapped[float] = mapped_column(sa.Float)
    cost_usd: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
