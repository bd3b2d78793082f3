"""Ledger tables of the shared daily LLM budget (PostgreSQL schema `auth`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, UTCDateTime, utcnow


class LlmBudgetDay(Base):
    """One row per UTC day: the lock that serialises the day's grants (FOR UPDATE on
    PostgreSQL; SQLite serialises writers anyway). The figures live in the allowances."""

    __tablename__ = "llm_budget_days"
    __table_args__ = ({"schema": "auth"},)

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LlmBudgetAllowance(Base):
    """A slice of one day's budget granted to one runner process, spent by it call by call.

    `granted_usd` is held for the runner until it reports the allowance final (the unused rest
    returns to the day) or until `expires_at` passes without a report (the runner died: what
    it reported as used stays spent, the rest returns). The id is the runner's, so a retried
    grant or report is the same row."""

    __tablename__ = "llm_budget_allowances"
    __table_args__ = (
        sa.Index("ix_llm_budget_allowances_day", "day"),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    runner_id: Mapped[str] = mapped_column(sa.String(120))
    granted_usd: Mapped[float] = mapped_column(sa.Float)
    used_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
