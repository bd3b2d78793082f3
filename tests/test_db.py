"""The embedded backend under concurrent writers: they queue for SQLite's write lock (WAL, a busy
timeout, BEGIN IMMEDIATE) instead of failing with "database is locked"."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import sqlalchemy as sa

from mana.db import create_engine, create_sessionmaker, transaction

WRITERS = 2
INCREMENTS = 30


async def _increment(url: str, times: int) -> None:
    """Read-modify-write in one transaction, the shape of a claim: read what is due, then
    write the lease. Two deferred transactions doing this deadlock on the lock upgrade and one
    fails at once with "database is locked"; immediate ones wait their turn."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        for _ in range(times):
            async with transaction(sessionmaker) as session:
                value = (await session.execute(sa.text("SELECT v FROM counter"))).scalar_one()
                await session.execute(sa.text("UPDATE counter SET v = :v"), {"v": value + 1})
    finally:
        await engine.dispose()


def _writer_process(url: str, times: int) -> None:
    asyncio.run(_increment(url, times))


def test_concurrent_writers_from_several_processes_wait_and_lose_no_update(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'writers.db'}"

    async def setup() -> str:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(sa.text("CREATE TABLE counter (v INTEGER NOT NULL)"))
                await connection.execute(sa.text("INSERT INTO counter VALUES (0)"))
                mode = await connection.scalar(sa.text("PRAGMA journal_mode"))
        finally:
            await engine.dispose()
        return str(mode)

    assert asyncio.run(setup()) == "wal"
    spawn = multiprocessing.get_context("spawn")
    writers = [
        spawn.Process(target=_writer_process, args=(url, INCREMENTS)) for _ in range(WRITERS)
    ]
    for process in writers:
        process.start()
    # Meanwhile, writers on other connections of this process too.
    asyncio.run(_concurrently(url))
    for process in writers:
        process.join(120)
    assert [p.exitcode for p in writers] == [0] * WRITERS  # a "locked" error would exit 1

    async def final() -> int:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(sa.text("SELECT v FROM counter")) or 0)
        finally:
            await engine.dispose()

    # Every read-modify-write was serialised: none read a value another was about to replace.
    assert asyncio.run(final()) == (WRITERS + 2) * INCREMENTS


async def _concurrently(url: str) -> None:
    await asyncio.gather(_increment(url, INCREMENTS), _increment(url, INCREMENTS))
