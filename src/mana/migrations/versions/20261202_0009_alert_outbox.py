"""The alert webhook outbox: notifications are stored with the alert change that causes them,
so a restart no longer loses undelivered ones.

Revision ID: 0009_alert_outbox
Revises: 0008_runner_reliability
Create Date: 2026-12-02 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mana.db

revision: str = "0009_alert_outbox"
down_revision: str | None = "0008_runner_reliability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = "delivered_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "event IN ('opened', 'resolved')", name=op.f("ck_alert_notifications_event")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["auth.alerts.id"],
            name=op.f("fk_alert_notifications_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
        sa.UniqueConstraint(
            "alert_id", "event", name=op.f("uq_alert_notifications_alert_id_event")
        ),
        schema="auth",
    )
    op.create_index(
        "ix_alert_notifications_due",
        "alert_notifications",
        ["next_attempt_at"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )


def downgrade() -> None:
    op.drop_index("ix_alert_notifications_due", table_name="alert_notifications", schema="auth")
    op.drop_table("alert_notifications", schema="auth")
