"""Auth and persona tables (schema `auth`).

Revision ID: 0001
Revises:
Create Date: 2026-11-25 21:36:33.404052
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mana.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("development", sa.Boolean(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
        schema="auth",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="human", nullable=False),
        sa.Column("access_tier", sa.String(length=16), server_default="public", nullable=False),
        sa.Column("role", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "access_tier IN ('public', 'beta', 'alpha', 'founder')",
            name=op.f("ck_users_access_tier"),
        ),
        sa.CheckConstraint("kind IN ('human', 'persona', 'system')", name=op.f("ck_users_kind")),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        schema="auth",
    )
    op.create_table(
        "personas",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("archetype", sa.String(length=64), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column(
            "module_mix",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tick_cadence", sa.String(length=16), server_default="daily", nullable=False),
        sa.Column("last_active_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=120), nullable=True),
        sa.CheckConstraint(
            "tick_cadence IN ('daily', 'weekdays', 'hourly')", name=op.f("ck_personas_tick_cadence")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.id"],
            name=op.f("fk_personas_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_personas")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_personas_archetype"), "personas", ["archetype"], unique=False, schema="auth"
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_refresh_tokens_family_id"),
        "refresh_tokens",
        ["family_id"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_refresh_tokens_user_id"),
        "refresh_tokens",
        ["user_id"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("personal_owner_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(type = 'personal') = (personal_owner_id IS NOT NULL)",
            name=op.f("ck_spaces_personal_owner"),
        ),
        sa.CheckConstraint(
            "type IN ('personal', 'family', 'team', 'practice', 'brand', 'club')",
            name=op.f("ck_spaces_type"),
        ),
        sa.ForeignKeyConstraint(
            ["personal_owner_id"],
            ["auth.users.id"],
            name=op.f("fk_spaces_personal_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
        sa.UniqueConstraint("personal_owner_id", name=op.f("uq_spaces_personal_owner_id")),
        schema="auth",
    )
    op.create_table(
        "persona_ticks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column("runner_id", sa.String(length=120), nullable=False),
        sa.Column("brain", sa.String(length=64), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "usage",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'error', 'timeout')", name=op.f("ck_persona_ticks_status")
        ),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["auth.personas.user_id"],
            name=op.f("fk_persona_ticks_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_ticks")),
        schema="auth",
    )
    op.create_index(
        "ix_persona_ticks_persona_started",
        "persona_ticks",
        ["persona_id", "started_at"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "space_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'revoked')", name=op.f("ck_space_invitations_status")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["auth.users.id"],
            name=op.f("fk_space_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_space_invitations_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_invitations")),
        sa.UniqueConstraint("space_id", "email", name=op.f("uq_space_invitations_space_id_email")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_space_invitations_email"),
        "space_invitations",
        ["email"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "space_members",
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'member')", name=op.f("ck_space_members_role")),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_space_members_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.id"],
            name=op.f("fk_space_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("space_id", "user_id", name=op.f("pk_space_members")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_space_members_user_id"),
        "space_members",
        ["user_id"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "persona_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column("tick_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tool_name", sa.String(length=120), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("result IN ('ok', 'error')", name=op.f("ck_persona_actions_result")),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["auth.personas.user_id"],
            name=op.f("fk_persona_actions_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tick_id"],
            ["auth.persona_ticks.id"],
            name=op.f("fk_persona_actions_tick_id_persona_ticks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_actions")),
        sa.UniqueConstraint("tick_id", "seq", name=op.f("uq_persona_actions_tick_id_seq")),
        schema="auth",
    )
    op.create_index(
        "ix_persona_actions_persona_created",
        "persona_actions",
        ["persona_id", "created_at"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_persona_actions_tick", "persona_actions", ["tick_id"], unique=False, schema="auth"
    )
    op.create_table(
        "persona_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column("tick_id", sa.Uuid(), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_persona_feedback_rating")),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["auth.personas.user_id"],
            name=op.f("fk_persona_feedback_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tick_id"],
            ["auth.persona_ticks.id"],
            name=op.f("fk_persona_feedback_tick_id_persona_ticks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_feedback")),
        sa.UniqueConstraint("tick_id", "module", name=op.f("uq_persona_feedback_tick_id_module")),
        schema="auth",
    )
    op.create_index(
        "ix_persona_feedback_module_created",
        "persona_feedback",
        ["module", "created_at"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_persona_feedback_persona_created",
        "persona_feedback",
        ["persona_id", "created_at"],
        unique=False,
        schema="auth",
    )
    if op.get_bind().dialect.name == "postgresql":
        # The audit tables are append-only: vacuum after inserts so the 7-day counts stay
        # index-only scans (DESIGN.md §6: 47 ms vs 155 ms over 1M rows).
        for table in ("persona_actions", "persona_feedback"):
            op.execute(
                f"ALTER TABLE auth.{table} SET (autovacuum_vacuum_insert_scale_factor = 0.01)"
            )


def downgrade() -> None:
    op.drop_index(
        "ix_persona_feedback_persona_created", table_name="persona_feedback", schema="auth"
    )
    op.drop_index(
        "ix_persona_feedback_module_created", table_name="persona_feedback", schema="auth"
    )
    op.drop_table("persona_feedback", schema="auth")
    op.drop_index("ix_persona_actions_tick", table_name="persona_actions", schema="auth")
    op.drop_index("ix_persona_actions_persona_created", table_name="persona_actions", schema="auth")
    op.drop_table("persona_actions", schema="auth")
    op.drop_index(op.f("ix_auth_space_members_user_id"), table_name="space_members", schema="auth")
    op.drop_table("space_members", schema="auth")
    op.drop_index(
        op.f("ix_auth_space_invitations_email"), table_name="space_invitations", schema="auth"
    )
    op.drop_table("space_invitations", schema="auth")
    op.drop_index("ix_persona_ticks_persona_started", table_name="persona_ticks", schema="auth")
    op.drop_table("persona_ticks", schema="auth")
    op.drop_table("spaces", schema="auth")
    op.drop_index(
        op.f("ix_auth_refresh_tokens_user_id"), table_name="refresh_tokens", schema="auth"
    )
    op.drop_index(
        op.f("ix_auth_refresh_tokens_family_id"), table_name="refresh_tokens", schema="auth"
    )
    op.drop_table("refresh_tokens", schema="auth")
    op.drop_index(op.f("ix_auth_personas_archetype"), table_name="personas", schema="auth")
    op.drop_table("personas", schema="auth")
    op.drop_table("users", schema="auth")
    op.drop_table("signing_keys", schema="auth")
