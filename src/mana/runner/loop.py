"""The tick loop: claim due personas up to free capacity, run them in a bounded pool.

At most `concurrency` ticks are in flight; every interval the loop claims only as many personas
as there are free slots, so leases are never taken for work that would wait. Claims are leases
in the auth service's database: several runner processes share the work without overlap, and a
runner that dies simply lets its leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mana.clients.internal import InternalApi
from mana.runner.brains.base import Brain
from mana.runner.metrics import RunnerMetrics
from mana.runner.tick import TickDeps, TickReport, run_tick
from mana.runner.types import PersonaProfile

logger = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunnerConfig:
    concurrency: int
    interval_seconds: float
    timeout_seconds: float
    shutdown_grace_seconds: float = 10.0

    @property
    def lease_seconds(self) -> int:
        # The lease must outlive the longest tick, or a slow tick's persona could be claimed
        # by another runner while it is still running.
        return math.ceil(self.timeout_seconds) + LEASE_MARGIN_SECONDS


class Runner:
    def __init__(
        self,
        config: RunnerConfig,
        *,
        internal: InternalApi,
        deps: TickDeps,
        brain_factory: Callable[[], Brain],
        metrics: RunnerMetrics | None = None,
        paused: bool = False,
        on_report: Callable[[TickReport], None] | None = None,
    ) -> None:
        self.config = config
        self.internal = internal
        self.deps = deps
        self.brain_factory = brain_factory
        self.metrics = metrics or RunnerMetrics()
        self.paused = paused
        self.on_report = on_report
        self.in_flight: set[asyncio.Task[TickReport | None]] = set()
        # Ticks this runner cancelled on purpose: they finish as "runner shut down".
        self._stopping: set[asyncio.Task[TickReport | None]] = set()
        self.reports: list[TickReport] = []
        self._wake = asyncio.Event()
        self._pass_lock = asyncio.Lock()
        # Loop liveness for /health: a paused or idle loop still counts its passes.
        self.passes = 0
        self.last_pass_at: datetime | None = None

    @property
    def runner_id(self) -> str:
        return self.deps.runner_id

    @property
    def free_slots(self) -> int:
        return max(0, self.config.concurrency - len(self.in_flight))

    async def claim_and_start(self) -> int:
        """One pass: claim up to the free capacity and start those ticks. Returns how many."""
        async with self._pass_lock:  # passes never overlap (interval loop and /diag/tick)
            if self.free_slots == 0:
                return 0
            personas = await self.internal.claim(
                runner_id=self.runner_id,
                limit=self.free_slots,
                lease_seconds=self.config.lease_seconds,
            )
            for persona in personas:
                self.start(persona)
            return len(personas)

    def start(
        self, persona: PersonaProfile, *, seed: int | None = None
    ) -> asyncio.Task[TickReport | None]:
        task = asyncio.create_task(self._run(persona, seed), name=f"tick:{persona.email}")
        self.in_flight.add(task)
        self.metrics.in_flight.set(len(self.in_flight))
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[TickReport | None]) -> None:
        self.in_flight.discard(task)
        self._stopping.discard(task)
        self.metrics.in_flight.set(len(self.in_flight))
        self._wake.set()  # a slot is free: claim again without waiting for the interval

    async def _run(self, persona: PersonaProfile, seed: int | None) -> TickReport | None:
        task = asyncio.current_task()
        try:
            # `observe` also sees a tick cancelled at shutdown: it is counted and reported too.
            return await run_tick(
                persona,
                self.brain_factory(),
                self.deps,
                seed=seed,
                observe=self._observe,
                stopped=lambda: task in self._stopping,
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. the tick could not even be started: the lease will expire
            logger.exception("tick of %s could not run", persona.email)
            self.metrics.ticks.labels("error").inc()
            self.metrics.errors.inc()
            return None

    def _observe(self, report: TickReport) -> None:
        self.reports.append(report)
        self.metrics.ticks.labels(report.status).inc()
        self.metrics.tick_duration.observe(report.duration_s)
        for action in report.actions:
            self.metrics.tool_calls.labels(action.tool_name, action.result).inc()
        self.metrics.errors.inc(report.errors + (1 if report.status != "ok" else 0))
        if self.on_report:
            self.on_report(report)

    async def drain(self) -> list[TickReport]:
        """Tick every due persona once (claiming as slots free up) and wait for all of them."""
        try:
            while True:
                await self.claim_and_start()
                if not self.in_flight:
                    return self.reports
                self._wake.clear()
                await asyncio.wait(set(self.in_flight), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._cancel_in_flight()
            raise

    async def tick_by_email(self, emails: list[str]) -> tuple[list[TickReport], list[str]]:
        """Tick these personas once each, due or not, within the concurrency limit.

        Returns the reports and the emails that could not be claimed (unknown, or leased by
        another runner right now)."""
        pending = list(emails)
        unclaimed: list[str] = []
        try:
            while pending or self.in_flight:
                while pending and self.free_slots:
                    email = pending.pop(0)
                    profile = await self.internal.claim_one(
                        email=email,
                        runner_id=self.runner_id,
                        lease_seconds=self.config.lease_seconds,
                    )
                    if profile is None:
                        unclaimed.append(email)
                    else:
                        self.start(profile)
                if self.in_flight:
                    await asyncio.wait(set(self.in_flight), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._cancel_in_flight()
            raise
        return self.reports, unclaimed

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The service loop. Returns after `stop` is set and in-flight ticks are wound down."""
        while not stop.is_set():
            # Cleared before claiming: a tick that ends during the claim wakes the next pass.
            self._wake.clear()
            self.passes += 1
            self.last_pass_at = self.deps.clock.now()
            if not self.paused:
                try:
                    await self.claim_and_start()
                except Exception:  # the auth service may be down for a moment; try next interval
                    logger.exception("claiming due personas failed")
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=self.config.interval_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop claiming; give in-flight ticks a grace period, then cancel them. A cancelled tick
        still posts what it did and finishes as an error, which releases its lease."""
        if not self.in_flight:
            return
        _, pending = await asyncio.wait(
            set(self.in_flight), timeout=self.config.shutdown_grace_seconds
        )
        await self._stop(pending)

    async def _cancel_in_flight(self) -> None:
        """The caller itself is being cancelled (Ctrl-C in `tick --once`): cancel the ticks and
        let each post what it did, so their leases are released instead of left to expire."""
        await self._stop(set(self.in_flight))

    async def _stop(self, tasks: set[asyncio.Task[TickReport | None]]) -> None:
        for task in tasks:
            self._stopping.add(task)
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
