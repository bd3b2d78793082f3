"""SQLite connections as the pool hands them out: WAL with synchronous=NORMAL, and a connection
returned with a transaction still open is rolled back (the pool's own reset is replaced by one
that skips the rollback when SQLite says no transaction is open)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from mana.db import create_engine, create_sessionmaker, transaction


def test_sqlite_connections_use_wal_with_synchronous_normal(tmp_path: Path) -> None:
    async def check() -> tuple[str, int]:
        engine = create_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
        try:
            async with engine.connect() as connection:
                mode = await connection.scalar(sa.text("PRAGMA journal_mode"))
                synchronous = await connection.scalar(sa.text("PRAGMA synchronous"))
        finally:
            await engine.dispose()
        return str(mode), int(synchronous or -1)

    assert asyncio.run(check()) == ("wal", 1)  # 1 = NORMAL


def test_a_connection_returned_inside_a_transaction_is_rolled_back_and_frees_the_lock(
    tmp_path: Path,
) -> None:
    async def run() -> tuple[int, int]:
        # One pooled connection, so the next checkout gets the very connection returned.
        engine = create_engine(f"sqlite:///{tmp_path / 'reset.db'}", pool_size=1)
        sessionmaker = create_sessionmaker(engine)
        try:
            async with transaction(sessionmaker) as session:
                await session.execute(sa.text("CREATE TABLE t (v INTEGER NOT NULL)"))
            connection = await engine.connect()
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            # Behind SQLAlchemy's back: a write transaction it does not know to end.
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO t VALUES (1)")
            assert driver.in_transaction
            await connection.close()
            assert not driver.in_transaction
            # The write lock is free again (a held lock would wait out the busy timeout)
            # and the uncommitted row is gone.
            async with transaction(sessionmaker) as session:
                await session.execute(sa.text("INSERT INTO t VALUES (2)"))
            async with transaction(sessionmaker) as session:
                rows = (await session.execute(sa.text("SELECT count(*), sum(v) FROM t"))).one()
        finally:
            await engine.dispose()
        return int(rows[0]), int(rows[1])

    assert asyncio.run(asyncio.wait_for(run(), timeout=20)) == (1, 2)
