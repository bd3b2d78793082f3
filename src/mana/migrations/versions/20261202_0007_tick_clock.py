"""Tick clock offset: a tick started at a simulated time (`mana simulate`) dates what it writes
on that time, not on the server's clock.

Revision ID: 0007_tick_clock
Revises: 0006_limits
Create Date: 2026-12-02 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_tick_clock"
down_revision: str | None = "0006_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # SQLite has no schemas; a plain ALTER names the table as-is (no schema translation).
    return None if op.get_bind().dialect.name == "sqlite" else "auth"


def upgrade() -> None:
    # Nullable, no default: every existing (and every live) tick is dated on the server's clock.
    op.add_column(
        "persona_ticks",
        sa.Column("clock_offset_ms", sa.BigInteger(), nullable=True),
        schema=_schema(),
    )


def downgrade() -> None:
    with op.batch_alter_table("persona_ticks", schema=_schema()) as batch:
        batch.drop_column("clock_offset_ms")
