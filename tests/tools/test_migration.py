"""Migration 0002 creates exactly the tables the models describe, and can be rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command

from mana import migrate
from tests.fixtures.database import BACKENDS, Db, create_database, drop_database

APP_TABLES = {
    "contacts",
    "events",
    "habit_logs",
    "habits",
    "journal_entries",
    "mood_entries",
    "notes",
    "todos",
}


def test_postgres_schema_matches_the_models(db: Db) -> None:
    if db.backend != "postgres":
        pytest.skip("SQLite has no schemas to compare: names are translated away there")
    # Raises if autogenerate would emit anything: a model change without its migration.
    command.check(migrate.alembic_config(db.url))


def _app_tables(db: Db) -> set[str]:
    if db.backend == "sqlite":
        rows = db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'app'")
    return {row[0] for row in rows} & APP_TABLES


@pytest.mark.parametrize("backend", BACKENDS)
def test_0002_downgrades_to_0001_and_upgrades_again(backend: str, tmp_path: Path) -> None:
    url = create_database(backend, tmp_path)
    try:
        db = Db(url)
        assert _app_tables(db) == APP_TABLES
        migrate.downgrade(url, "0001")
        assert _app_tables(db) == set()
        assert db.scalar("SELECT count(*) FROM auth.users") == 0  # auth tables untouched
        migrate.upgrade(url)
        assert _app_tables(db) == APP_TABLES
    finally:
        drop_database(url)
