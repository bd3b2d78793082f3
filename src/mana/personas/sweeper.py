"""The stale-tick sweeper: a task of the auth service's lifespan that closes, on a period, the
running ticks whose runner no longer holds the lease (`leasing.abandon_stale_ticks`).

Every claim already does this; the sweeper covers the time when no runner claims at all (every
runner stopped, a paused fleet), so a dead runner's tick does not show as `running` for ever on
the dashboard and in `mana personas`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.db import transaction
from mana.kit.clock import Clock
from mana.personas.leasing import abandon_stale_ticks

logger = logging.getLogger("mana.personas")


class StaleTickSweeper:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, *, interval: float
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.interval = interval
        self.swept = 0
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> int:
        """Close the stale ticks now; how many were closed."""
        async with transaction(self.sessionmaker) as session:
            closed = await abandon_stale_ticks(session, now=self.clock.now())
        self.swept += closed
        return closed

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every())

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                closed = await self.sweep_once()
            except Exception:  # a database outage: the next period tries again
                logger.warning("stale tick sweep failed", exc_info=True)
                continue
            if closed:
                logger.info("closed %d stale tick(s) as abandoned", closed)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
