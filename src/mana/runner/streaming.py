"""A tick's audit rows posted while the tick runs, in batches, not only at its end.

A runner killed mid-tick (kill -9, OOM, a lost host) then loses at most the calls of the last
batch: the rest is already on the server, where the abandoned tick keeps it. A batch goes when
`every_calls` new calls are waiting or the oldest has waited `every_seconds`. Posting is
idempotent on `(tickId, seq)`, so the end-of-tick post of what is left never doubles a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence

from mana.clients.internal import InternalApi
from mana.runner.types import ActionRecord

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1


class ActionStream:
    def __init__(
        self,
        internal: InternalApi,
        persona_id: uuid.UUID,
        tick_id: uuid.UUID,
        records: Callable[[], Sequence[ActionRecord]],
        *,
        every_calls: int,
        every_seconds: float,
    ) -> None:
        self._internal = internal
        self._persona_id = persona_id
        self._tick_id = tick_id
        self._records = records
        self._every_calls = every_calls
        self._every_seconds = every_seconds
        # How many of `records()` (in their order) are on the server.
        self.posted = 0
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"actions:{self._tick_id}")

    async def _run(self) -> None:
        waiting_since: float | None = None
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), POLL_SECONDS)
            waiting = len(self._records()) - self.posted
            if waiting <= 0:
                waiting_since = None
                continue
            now = time.monotonic()
            waiting_since = waiting_since or now
            if waiting >= self._every_calls or now - waiting_since >= self._every_seconds:
                await self._flush()
                waiting_since = None

    async def _flush(self) -> None:
        batch = list(self._records()[self.posted :])
        if not batch:
            return
        try:
            await self._internal.post_actions(self._persona_id, self._tick_id, batch)
        except Exception as exc:  # the end-of-tick post sends them again
            logger.warning("posting actions of tick %s mid-tick failed: %s", self._tick_id, exc)
            return
        self.posted += len(batch)

    async def close(self) -> int:
        """Stop streaming (a batch being posted is finished first); returns how many records
        are posted. The caller posts the rest with the tick's record."""
        self._closing.set()
        if self._task is not None:
            await self._task
        return self.posted
