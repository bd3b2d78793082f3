"""Persona tables (PostgreSQL schema `auth`): a persona is 1:1 with a user of kind 'persona'."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, JSONType, UTCDateTime, new_id, one_of, utcnow

TICK_CADENCES = ("daily", "weekdays", "hourly")
ACTION_RESULTS = ("ok", "error")
# `unavailable`: the tick could not run because a service it needs (auth, MCP, database) was
# unreachable; it does not use up the persona's day. `abandoned`: closed by the server because
# its runner stopped reporting (lease expired, persona claimed again, runner restarted).
TICK_STATUSES = ("running", "ok", "error", "timeout", "unavailable", "abandoned")
# Statuses that do not count as the persona's day (its `last_active_at` is left as it was).
NOT_A_DAY_STATUSES = ("unavailable", "abandoned")


class Persona(Base):
    __tablename__ = "personas"
    __table_args__ = (
        sa.CheckConstraint(one_of("tick_cadence", TICK_CADENCES), name="tick_cadence"),
        {"schema": "auth"},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="CASCADE"), primary_key=True
    )
    archetype: Mapped[str] = mapped_column(sa.String(64), index=True)
    system_prompt: Mapped[str] = mapped_column(sa.Text)
    module_mix: Mapped[dict[str, float]] = mapped_column(JSONType)
    tick_cadence: Mapped[str] = mapped_column(
        sa.String(16), default="daily", server_default="daily"
    )
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Runner lease: a runner owns the persona until `leased_until`; a crashed runner's lease
    # simply expires and the persona becomes due again.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(sa.String(120))
    # The client-chosen id of the claim that took the lease: a retried claim (its answer was
    # lost) finds its own set again instead of leasing another one.
    lease_claim_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class PersonaTick(Base):
    __tablename__ = "persona_ticks"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", TICK_STATUSES), name="status"),
        sa.Index("ix_persona_ticks_persona_started", "persona_id", "started_at"),
        # Every claim looks for running ticks whose lease is gone: few rows, read often.
        sa.Index(
            "ix_persona_ticks_running",
            "persona_id",
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        ),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    persona_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.personas.user_id", ondelete="CASCADE")
    )
    runner_id: Mapped[str] = mapped_column(sa.String(120))
    brain: Mapped[str] = mapped_column(sa.String(64))
    space_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tool_calls: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors: Mapped[int] = mapped_column(sa.Integer, default=0)
    summary: Mapped[str | None] = mapped_column(sa.Text)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    # Simulated ticks (`mana simulate`): the tick's start minus the server's clock when it
    # started. Everything the tick writes is dated at server time + this offset (see
    # `personas.ingest.tick_time`); NULL for a live tick, dated on the server's clock.
    clock_offset_ms: Mapped[int | None] = mapped_column(sa.BigInteger)


class PersonaAction(Base):
    __tablename__ = "persona_actions"
    __table_args__ = (
        sa.CheckConstraint(one_of("result", ACTION_RESULTS), name="result"),
        sa.UniqueConstraint("tick_id", "seq"),
        sa.Index("ix_persona_actions_persona_created", "persona_id", "created_at"),
        sa.Index("ix_persona_actions_tick", "tick_id"),
        {"schema": "auth"},
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    persona_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.personas.user_id", ondelete="CASCADE")
    )
    tick_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.persona_ticks.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(sa.Integer)
    tool_name: Mapped[str] = mapped_column(sa.String(120))
    input_hash: Mapped[str] = mapped_column(sa.String(64))
    result: Mapped[str] = mapped_column(sa.String(8))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    latency_ms: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonaFeedback(Base):
    __tablename__ = "persona_feedback"
    __table_args__ = (
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        sa.UniqueConstraint("tick_id", "module"),
        sa.Index("ix_persona_feedback_module_created", "module", "created_at"),
        sa.Index("ix_persona_feedback_persona_created", "persona_id", "created_at"),
        {"schema": "auth"},
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    persona_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.personas.user_id", ondelete="CASCADE")
    )
    tick_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.persona_ticks.id", ondelete="CASCADE")
    )
    module: Mapped[str] = mapped_column(sa.String(64))
    rating: Mapped[int] = mapped_column(sa.Integer)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What a persona noticed: each broken expectation (an item gone, a change not applied, a
# stranger's item in its personal space, a vague error, a failure, a slow call) with its
# evidence. Findings and alerts are computed from these rows, so the kinds are a closed set.
OBSERVATION_KINDS = (
    "missing",
    "changed",
    "not_applied",
    "unexpected_item",
    "unclear_error",
    "error",
    "slow",
)


class PersonaObservation(Base):
    __tablename__ = "persona_observations"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", OBSERVATION_KINDS), name="kind"),
        sa.UniqueConstraint("tick_id", "seq"),
        sa.Index("ix_persona_observations_module_created", "module", "created_at"),
        sa.Index("ix_persona_observations_persona_created", "persona_id", "created_at"),
        {"schema": "auth"},
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    persona_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.personas.user_id", ondelete="CASCADE")
    )
    tick_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.persona_ticks.id", ondelete="CASCADE")
    )
    # Position of the observation within its tick (the idempotency key with tick_id).
    seq: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(32))
    module: Mapped[str] = mapped_column(sa.String(64))
    tool_name: Mapped[str | None] = mapped_column(sa.String(120))
    # The `seq` of the tool call that showed it (persona_actions.seq of the same tick).
    action_seq: Mapped[int | None] = mapped_column(sa.Integer)
    item_id: Mapped[str | None] = mapped_column(sa.String(120))
    evidence: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonaMemory(Base):
    """A persona's "story so far" (issue 10): the items it created or changed, what it expects
    to find later, a line per day. One row per persona, replaced as a whole at the end of each
    tick, so a tick that fails half-way leaves the previous story intact. The limits (items,
    days, age) are enforced by `mana.personas.contract`."""

    __tablename__ = "persona_memory"
    __table_args__ = ({"schema": "auth"},)

    persona_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.personas.user_id", ondelete="CASCADE"), primary_key=True
    )
    story: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The tick that wrote this version: the idempotency key of the write, and what the next
    # writer must have read (a stale runner cannot overwrite a newer story).
    tick_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
