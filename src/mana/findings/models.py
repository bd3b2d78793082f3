"""The alerts table: one row per (rule, subject) episode, opened → updated → resolved."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, JSONType, UTCDateTime, new_id, one_of
from mana.personas.models import PersonaAction

ALERT_RULES = ("rating_drop", "error_rate", "latency_p95", "new_cluster", "new_observation")
ALERT_STATUSES = ("open", "resolved")
ALERT_EVENTS = ("opened", "resolved")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(one_of("rule", ALERT_RULES), name="rule"),
        sa.CheckConstraint(one_of("status", ALERT_STATUSES), name="status"),
        # Deduplication lives in the database, not only in code: two auth processes evaluating
        # at once can never both open the same alert.
        sa.Index(
            "uq_alerts_open_rule_subject",
            "rule",
            "subject",
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        ),
        sa.Index("ix_alerts_status_opened", "status", "opened_at"),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    rule: Mapped[str] = mapped_column(sa.String(32))
    # A module, a tool (`module.verb`), a cluster fingerprint or `module:kind`.
    subject: Mapped[str] = mapped_column(sa.String(200))
    # The module the subject belongs to, so "alerts on calendar" is one filter.
    module: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    message: Mapped[str] = mapped_column(sa.Text)
    # The figures that fired it (counts, means, rates, the test statistic): its evidence.
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last evaluation that found the condition true; resolution counts from here.
    last_fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="SET NULL")
    )


class AlertNotification(Base):
    """The webhook outbox: one row per alert that opened or resolved, written in the same
    transaction as the change, so a restart or a crash never loses a notification (delivery is
    at least once). A claim moves `next_attempt_at` past the delivery's whole retry budget: a
    process that dies mid-delivery leaves the row to whoever is up once that time passes."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        sa.CheckConstraint(one_of("event", ALERT_EVENTS), name="event"),
        sa.UniqueConstraint("alert_id", "event"),  # an alert opens once and resolves once
        sa.Index(
            "ix_alert_notifications_due",
            "next_attempt_at",
            postgresql_where=sa.text("delivered_at IS NULL AND failed_at IS NULL"),
            sqlite_where=sa.text("delivered_at IS NULL AND failed_at IS NULL"),
        ),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    alert_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("auth.alerts.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(16))
    # The webhook body as of the change (what the receiver is told happened then).
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


# Findings read persona_actions by time window across all personas, which the personas' own
# index (persona_id, created_at) cannot serve. Declared here, beside the only code that needs
# them, and created by migration 0005:
# - a covering index: daily counts and latency percentiles become index-only range scans on
#   PostgreSQL instead of a scan of the whole (append-only, ever-growing) table;
# - a partial index over failures only (a few % of rows): the error clusters' scan.
sa.Index(
    "ix_persona_actions_created_covering",
    PersonaAction.created_at,
    postgresql_include=["tool_name", "result", "latency_ms"],
)
sa.Index(
    "ix_persona_actions_failures_created",
    PersonaAction.created_at,
    postgresql_where=sa.text("result = 'error'"),
    sqlite_where=sa.text("result = 'error'"),
)
