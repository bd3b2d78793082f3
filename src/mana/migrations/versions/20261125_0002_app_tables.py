"""Product module tables (schema `app`): todo, journal, notes, habits, mood, calendar, contacts.

Every table is space-scoped: space_id → auth.spaces ON DELETE CASCADE, created_by →
auth.users ON DELETE SET NULL, and a composite index led by space_id in its list order.

Revision ID: 0002_app
Revises: 0001
Create Date: 2026-11-25 21:49:05.168886
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mana.db

revision: str = "0002_app"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_contacts_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_contacts_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("space_id", "email", name=op.f("uq_contacts_space_id_email")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_contacts_created_by"), "contacts", ["created_by"], unique=False, schema="app"
    )
    op.create_index(
        "ix_contacts_space_name", "contacts", ["space_id", "name_key"], unique=False, schema="app"
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_events_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_events_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_events_created_by"), "events", ["created_by"], unique=False, schema="app"
    )
    op.create_index(
        "ix_events_space_starts", "events", ["space_id", "starts_at"], unique=False, schema="app"
    )
    op.create_table(
        "habits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("target_per_week", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cadence IN ('daily', 'weekly')", name=op.f("ck_habits_cadence")),
        sa.CheckConstraint(
            "target_per_week BETWEEN 1 AND 7", name=op.f("ck_habits_target_per_week")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_habits_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_habits_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_habits")),
        sa.UniqueConstraint("space_id", "name_key", name=op.f("uq_habits_space_id_name_key")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_habits_created_by"), "habits", ["created_by"], unique=False, schema="app"
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_journal_entries_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_journal_entries_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_journal_entries_created_by"),
        "journal_entries",
        ["created_by"],
        unique=False,
        schema="app",
    )
    op.create_index(
        "ix_journal_entries_space_day",
        "journal_entries",
        ["space_id", "day", "created_at"],
        unique=False,
        schema="app",
    )
    op.create_table(
        "mood_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("logged_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 10", name=op.f("ck_mood_entries_score")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_mood_entries_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_mood_entries_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mood_entries")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_mood_entries_created_by"),
        "mood_entries",
        ["created_by"],
        unique=False,
        schema="app",
    )
    op.create_index(
        "ix_mood_entries_space_logged",
        "mood_entries",
        ["space_id", "logged_at"],
        unique=False,
        schema="app",
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.String(length=1000), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_notes_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_notes_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_notes_created_by"), "notes", ["created_by"], unique=False, schema="app"
    )
    op.create_index(
        "ix_notes_space_updated", "notes", ["space_id", "updated_at"], unique=False, schema="app"
    )
    op.create_table(
        "todos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("completed_at", mana.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high')", name=op.f("ck_todos_priority")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_todos_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_todos_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_todos")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_todos_created_by"), "todos", ["created_by"], unique=False, schema="app"
    )
    op.create_index(
        "ix_todos_space_created", "todos", ["space_id", "created_at"], unique=False, schema="app"
    )
    op.create_table(
        "habit_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("habit_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mana.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth.users.id"],
            name=op.f("fk_habit_logs_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["habit_id"],
            ["app.habits.id"],
            name=op.f("fk_habit_logs_habit_id_habits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["auth.spaces.id"],
            name=op.f("fk_habit_logs_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_habit_logs")),
        sa.UniqueConstraint("habit_id", "day", name=op.f("uq_habit_logs_habit_id_day")),
        schema="app",
    )
    op.create_index(
        op.f("ix_app_habit_logs_created_by"),
        "habit_logs",
        ["created_by"],
        unique=False,
        schema="app",
    )
    op.create_index(
        "ix_habit_logs_space_day", "habit_logs", ["space_id", "day"], unique=False, schema="app"
    )


def downgrade() -> None:
    op.drop_index("ix_habit_logs_space_day", table_name="habit_logs", schema="app")
    op.drop_index(op.f("ix_app_habit_logs_created_by"), table_name="habit_logs", schema="app")
    op.drop_table("habit_logs", schema="app")
    op.drop_index("ix_todos_space_created", table_name="todos", schema="app")
    op.drop_index(op.f("ix_app_todos_created_by"), table_name="todos", schema="app")
    op.drop_table("todos", schema="app")
    op.drop_index("ix_notes_space_updated", table_name="notes", schema="app")
    op.drop_index(op.f("ix_app_notes_created_by"), table_name="notes", schema="app")
    op.drop_table("notes", schema="app")
    op.drop_index("ix_mood_entries_space_logged", table_name="mood_entries", schema="app")
    op.drop_index(op.f("ix_app_mood_entries_created_by"), table_name="mood_entries", schema="app")
    op.drop_table("mood_entries", schema="app")
    op.drop_index("ix_journal_entries_space_day", table_name="journal_entries", schema="app")
    op.drop_index(
        op.f("ix_app_journal_entries_created_by"), table_name="journal_entries", schema="app"
    )
    op.drop_table("journal_entries", schema="app")
    op.drop_index(op.f("ix_app_habits_created_by"), table_name="habits", schema="app")
    op.drop_table("habits", schema="app")
    op.drop_index("ix_events_space_starts", table_name="events", schema="app")
    op.drop_index(op.f("ix_app_events_created_by"), table_name="events", schema="app")
    op.drop_table("events", schema="app")
    op.drop_index("ix_contacts_space_name", table_name="contacts", schema="app")
    op.drop_index(op.f("ix_app_contacts_created_by"), table_name="contacts", schema="app")
    op.drop_table("contacts", schema="app")
