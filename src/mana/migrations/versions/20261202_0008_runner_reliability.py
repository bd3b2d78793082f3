"""Runner reliability (issue 13): tick statuses `unavailable` and `abandoned`, the claim id on
a persona's lease (idempotent claims), and an index of running ticks (closed when their lease
is gone).

Revision ID: 0008_runner_reliability
Revises: 0007_tick_clock
Create Date: 2026-12-02 07:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_runner_reliability"
down_revision: str | None = "0007_tick_clock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('running', 'ok', 'error', 'timeout')"
NEW_STATUSES = "status IN ('running', 'ok', 'error', 'timeout', 'unavailable', 'abandoned')"


def _schema() -> str | None:
    # SQLite keeps every table in one file without schemas; ALTER statements are not
    # schema-translated, so they must name no schema there.
    return None if op.get_bind().dialect.name == "sqlite" else "auth"


def _replace_status_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_persona_ticks_status"), "persona_ticks", schema="auth")
        op.create_check_constraint(
            op.f("ck_persona_ticks_status"), "persona_ticks", sa.text(new), schema="auth"
        )
        return
    # SQLite cannot alter a CHECK constraint, and batch mode's copy-and-drop of persona_ticks
    # would cascade-delete every action, rating and observation (foreign keys are on). A CHECK
    # does not change the stored format, so SQLite's documented in-place schema edit is safe
    # here (https://sqlite.org/lang_altertable.html#otheralter).
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
        "WHERE type = 'table' AND name = 'persona_ticks'",
        (old, new),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (batch mode does no table copy for it).
    with op.batch_alter_table("personas", schema=_schema()) as batch:
        batch.add_column(sa.Column("lease_claim_id", sa.Uuid(), nullable=True))
    _replace_status_check(OLD_STATUSES, NEW_STATUSES)
    op.create_index(
        "ix_persona_ticks_running",
        "persona_ticks",
        ["persona_id"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ix_persona_ticks_running", table_name="persona_ticks", schema="auth")
    ticks = sa.table("persona_ticks", sa.column("status"), schema=_schema())
    op.execute(
        ticks.update()
        .where(ticks.c.status.in_(["unavailable", "abandoned"]))
        .values(status="error")
    )
    _replace_status_check(NEW_STATUSES, OLD_STATUSES)
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+): batch mode's table copy would cascade-delete the ticks.
        op.execute("ALTER TABLE personas DROP COLUMN lease_claim_id")
    else:
        op.drop_column("personas", "lease_claim_id", schema="auth")
