"""Regression alerts (one open alert per rule and subject, a partial unique index), and the
time-window indexes on persona_actions that findings read through.

Revision ID: 0005_alerts
Revises: 0004_memory
Create Date: 2026-12-02 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mana.db

revision: str = "0005_alerts"
down_revision: str | None = "0004_memory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "figures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("opened_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "rule IN ('rating_drop', 'error_rate', 'latency_p95', 'new_cluster', 'new_observation')",
            name=op.f("ck_alerts_rule"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_alerts_status")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["auth.users.id"],
            name=op.f("fk_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        schema="auth",
    )
    op.create_index(
        "ix_alerts_status_opened", "alerts", ["status", "opened_at"], unique=False, schema="auth"
    )
    op.create_index(
        "uq_alerts_open_rule_subject",
        "alerts",
        ["rule", "subject"],
        unique=True,
        schema="auth",
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )

    # Findings read actions by time window across personas (see mana.findings.models).
    op.create_index(
        "ix_persona_actions_created_covering",
        "persona_actions",
        ["created_at"],
        unique=False,
        schema="auth",
        postgresql_include=["tool_name", "result", "latency_ms"],
    )
    op.create_index(
        "ix_persona_actions_failures_created",
        "persona_actions",
        ["created_at"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("result = 'error'"),
        sqlite_where=sa.text("result = 'error'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_persona_actions_failures_created", table_name="persona_actions", schema="auth"
    )
    op.drop_index(
        "ix_persona_actions_created_covering", table_name="persona_actions", schema="auth"
    )
    op.drop_index("uq_alerts_open_rule_subject", table_name="alerts", schema="auth")
    op.drop_index("ix_alerts_status_opened", table_name="alerts", schema="auth")
    op.drop_table("alerts", schema="auth")
