"""`mana.db.reads_only_engine`: the sessions of GET routes and read tools. They must not wait for a
writer (SQLite took its write lock for reads too) and must leave nothing behind."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from mana.auth.models import User
from mana.db import create_engine, create_sessionmaker, reads_only_engine, transaction

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 5  # the SQLite busy timeout a blocked read would sit out is 30 s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_read_goes_through_while_a_write_transaction_is_open(database_url: str) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    reader = create_sessionmaker(reads_only_engine(engine))
    try:
        async with transaction(sessionmaker) as writer:
            # The writer holds its transaction (on SQLite: the write lock) while the read runs.
            await writer.execute(sa.update(User).where(sa.false()).values(name="x"))

            async def read() -> int:
                async with reader() as session:
                    return int(await session.scalar(sa.select(sa.func.count(User.id))) or 0)

            assert await asyncio.wait_for(read(), WAIT_SECONDS) >= 0
    finally:
        await engine.dispose()


async def test_a_read_session_leaves_the_pooled_connection_as_it_found_it(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    reader = create_sessionmaker(reads_only_engine(engine))
    try:
        async with reader() as session:
            await session.scalar(sa.select(sa.func.count(User.id)))
        # The same pooled connection, used by a writer next: a real transaction again, whose
        # rollback undoes its change (it would stick if autocommit had leaked into the pool).
        marker = "reading-session-test"
        async with sessionmaker() as session:
            await session.execute(sa.update(User).where(sa.true()).values(name=marker))
            await session.rollback()
        async with reader() as session:
            names = await session.scalars(sa.select(User.name).where(User.name == marker))
            assert list(names) == []
    finally:
        await engine.dispose()
