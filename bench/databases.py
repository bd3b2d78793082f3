"""Throwaway, migrated databases for benchmarks: a temp SQLite file, and a PostgreSQL database
created and dropped around the run (None when no server answers, so a bench can skip it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator

import asyncpg

from mana import migrate

DEFAULT_DSN = os.environ.get(
    "MANA_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def sqlite_database(prefix: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as directory:
        url = f"sqlite:///{directory}/bench.db"
        migrate.upgrade(url)
        yield url


async def _pg_admin(statement: str, dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def postgres_database(prefix: str, dsn: str = DEFAULT_DSN) -> Iterator[str | None]:
    name = f"{prefix.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"', dsn))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); SQLite only")
        yield None
        return
    url = f"{dsn.rsplit('/', 1)[0]}/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', dsn))
