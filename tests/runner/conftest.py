"""Runner tests: no database; real HTTP servers on 127.0.0.1 where a network is involved."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
