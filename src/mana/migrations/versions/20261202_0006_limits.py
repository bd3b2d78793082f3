"""Shared limits: sign-in rate-limit counters and the daily LLM budget ledger (issue 13).

Revision ID: 0006_limits
Revises: 0005_alerts
Create Date: 2026-12-02 06:22:54.362080
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mana.db

revision: str = "0006_limits"
down_revision: str | None = "0005_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_budget_allowances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("runner_id", sa.String(length=120), nullable=False),
        sa.Column("granted_usd", sa.Float(), nullable=False),
        sa.Column("used_usd", sa.Float(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("final_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_budget_allowances")),
        schema="auth",
    )
    op.create_index(
        "ix_llm_budget_allowances_day",
        "llm_budget_allowances",
        ["day"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "llm_budget_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_llm_budget_days")),
        schema="auth",
    )
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_rate_limit_counters_expires_at"),
        "rate_limit_counters",
        ["expires_at"],
        unique=False,
        schema="auth",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_auth_rate_limit_counters_expires_at"),
        table_name="rate_limit_counters",
        schema="auth",
    )
    op.drop_table("rate_limit_counters", schema="auth")
    op.drop_table("llm_budget_days", schema="auth")
    op.drop_index("ix_llm_budget_allowances_day", table_name="llm_budget_allowances", schema="auth")
    op.drop_table("llm_budget_allowances", schema="auth")
