"""A tick's heartbeat: while the tick is alive, its persona's lease is renewed every third of a
lease, so leases can be short (a dead runner's personas are free again after one lease) and a
long tick still keeps its persona. Every caller of `run_tick` (the service loop, `mana runner
tick`, `mana simulate`) gets it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from mana.clients.internal import InternalApi

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        internal: InternalApi,
        *,
        runner_id: str,
        persona_id: uuid.UUID,
        lease_seconds: int,
    ) -> None:
        self._internal = internal
        self._runner_id = runner_id
        self._persona_id = persona_id
        self._lease_seconds = lease_seconds
        owner = asyncio.current_task()
        self._task = asyncio.create_task(self._beat(owner), name=f"heartbeat:{persona_id}")

    async def _beat(self, owner: asyncio.Task[object] | None) -> None:
        # Also ends on its own if the tick's task ends without stopping it.
        while owner is None or not owner.done():
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                renewed = await self._internal.renew_leases(
                    runner_id=self._runner_id,
                    persona_ids=[self._persona_id],
                    lease_seconds=self._lease_seconds,
                )
            except Exception as exc:  # the tick goes on; its breaker hears of outages itself
                logger.warning("lease heartbeat of %s failed: %s", self._persona_id, exc)
                continue
            if not renewed:
                # Claimed by another runner since: this tick's record still lands (late).
                logger.warning("lease of %s lost while its tick was running", self._persona_id)
                return

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
