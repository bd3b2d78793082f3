"""Persona memory: each persona's story so far (items, expectations, a line per day).

Revision ID: 0004_memory
Revises: 0003_observations
Create Date: 2026-12-02 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mana.db

revision: str = "0004_memory"
down_revision: str | None = "0003_observations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persona_memory",
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column(
            "story",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tick_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["auth.personas.user_id"],
            name=op.f("fk_persona_memory_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("persona_id", name=op.f("pk_persona_memory")),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_table("persona_memory", schema="auth")
