"""Findings tests: each test that evaluates alerts gets a database of its own (alerts are global:
one test's evaluation would otherwise resolve or refresh another's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.db import create_engine, create_sessionmaker


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sessionmaker(fresh_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(fresh_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()
