"""Alembic environment: async engine, the same migrations on PostgreSQL and SQLite.

On SQLite the `auth`/`app` schema names are translated away (see mana.db) and ALTERs run in
batch mode, because SQLite cannot alter most constraints in place.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from mana import models  # noqa: F401 - registers every table on Base.metadata
from mana.config import get_settings
from mana.db import Base, create_engine, is_sqlite

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        include_schemas=not sqlite,
        version_table_schema=None,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = _database_url()
    engine = create_engine(url)
    async with engine.connect() as connection:
        if not is_sqlite(url):
            for schema in ("auth", "app"):
                await connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `mana db upgrade`")
asyncio.run(_run_async())
