"""Test fixtures: every database test runs on SQLite and on the machine's PostgreSQL.

Each run creates throwaway databases (a SQLite file under pytest's tmp dir, a fresh PostgreSQL
database named mana_test_<random>) migrated with Alembic — so the migrations are tested too —
and drops them afterwards. Tests never share rows: each one makes its own users (unique emails).
"""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.servers",
    "tests.fixtures.personas",
    "tests.fixtures.mcp",
    "tests.fixtures.runner",
]
