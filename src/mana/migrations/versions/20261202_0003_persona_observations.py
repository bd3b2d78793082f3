"""Persona observations: each broken expectation a persona noticed, with its evidence.

Revision ID: 0003_observations
Revises: 0002_app
Create Date: 2026-12-02 06:07:22.219282
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mana.db

revision: str = "0003_observations"
down_revision: str | None = "0002_app"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persona_observations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column("tick_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=120), nullable=True),
        sa.Column("action_seq", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.String(length=120), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('missing', 'changed', 'not_applied', 'unexpected_item', 'unclear_error', 'error', 'slow')",
            name=op.f("ck_persona_observations_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["auth.personas.user_id"],
            name=op.f("fk_persona_observations_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tick_id"],
            ["auth.persona_ticks.id"],
            name=op.f("fk_persona_observations_tick_id_persona_ticks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_observations")),
        sa.UniqueConstraint("tick_id", "seq", name=op.f("uq_persona_observations_tick_id_seq")),
        schema="auth",
    )
    op.create_index(
        "ix_persona_observations_module_created",
        "persona_observations",
        ["module", "created_at"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_persona_observations_persona_created",
        "persona_observations",
        ["persona_id", "created_at"],
        unique=False,
        schema="auth",
    )
    if op.get_bind().dialect.name == "postgresql":
        # Append-only like the other audit tables (see 0001).
        op.execute(
            "ALTER TABLE auth.persona_observations SET (autovacuum_vacuum_insert_scale_factor = 0.01)"
        )


def downgrade() -> None:
    op.drop_index(
        "ix_persona_observations_persona_created", table_name="persona_observations", schema="auth"
    )
    op.drop_index(
        "ix_persona_observations_module_created", table_name="persona_observations", schema="auth"
    )
    op.drop_table("persona_observations", schema="auth")
