"""The tick loop: claim due personas up to free capacity, run them in a bounded pool.

At most `concurrency` ticks are in flight; every interval the loop claims only as many personas
as there are free slots, so leases are never taken for work that would wait. Claims are leases
in the auth service's database: several runner processes share the work without overlap.

Leases are short (`lease_seconds`, 60 s by default) and each tick's heartbeat extends its own
every third of that (`mana.runner.heartbeat`), so a runner that dies lets its personas go within
one lease.
The service loop, at start, sends what an earlier run spooled and takes its own leases back at
once (`recover`: same runner id). A breaker per service (`mana.runner.outages`) stops starting
ticks while the auth service, the MCP server or the database is unreachable.

Nothing per tick is kept beyond the metrics and the last `RECENT_REPORTS` reports: a report goes
to `on_report` and to whoever is collecting (`drain`, `tick_by_email`), then is dropped, so a
runner can run for months.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mana.clients.internal import InternalApi
from mana.runner.brains.base import Brain
from mana.runner.memory import Memory
from mana.runner.metrics import RunnerMetrics
from mana.runner.outages import AUTH, DATABASE, SERVICES, Breakers, failed_service
from mana.runner.spool import Spool
from mana.runner.tick import TickDeps, TickReport, run_tick
from mana.runner.types import PersonaProfile

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60
# The last few tick reports, for a look in tests and at a debugger, without their tool results,
# story or observations (issue 13: an unbounded list of full reports grew ~67 KB per tick; a full
# report also grows with the persona's data, whose list results it holds).
RECENT_REPORTS = 32


def _light(report: TickReport) -> TickReport:
    return dataclasses.replace(
        report,
        actions=[],
        ratings=[],
        observations=[],
        memory=Memory.unavailable(),
        story=None,
        failure=None,
    )


def default_runner_id() -> str:
    """A one-off id (`mana runner tick --once`, demos): never mistaken for a service's."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def stable_runner_id(state_dir: Path) -> str:
    """The runner service's id when MANA_RUNNER_ID is unset: the host name and the working
    directory's state folder, the same on every restart, so a restarted runner finds its own
    leases and spool. Two runners on one host in one directory need distinct MANA_RUNNER_IDs."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


@dataclass
class RunnerConfig:
    concurrency: int
    interval_seconds: float
    timeout_seconds: float
    shutdown_grace_seconds: float = 10.0
    # Short: a dead runner's personas are free after this; a live tick's heartbeat extends it.
    lease_seconds: int = DEFAULT_LEASE_SECONDS


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
        breakers: Breakers | None = None,
        spool: Spool | None = None,
        recover_at_start: bool = False,
    ) -> None:
        self.config = config
        self.internal = internal
        self.deps = deps
        self.brain_factory = brain_factory
        self.metrics = metrics or RunnerMetrics()
        self.paused = paused
        self.on_report = on_report
        self.breakers = breakers or Breakers()
        self.spool = spool
        # Only the service, under its stable id: a one-off run must not close a service's ticks.
        self.recover_at_start = recover_at_start
        self.in_flight: set[asyncio.Task[TickReport | None]] = set()
        # Ticks this runner cancelled on purpose: they finish as "runner shut down".
        self._stopping: set[asyncio.Task[TickReport | None]] = set()
        # Lists that `drain`/`tick_by_email` are filling, and the last few reports.
        self._collectors: list[list[TickReport]] = []
        self.reports: deque[TickReport] = deque(maxlen=RECENT_REPORTS)
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
            admitted = self.breakers.admit()
            limit = self.free_slots if admitted is None else min(admitted, self.free_slots)
            if limit == 0:
                if admitted == 1:
                    self.breakers.release_probe()
                return 0
            try:
                personas = await self.internal.claim(
                    runner_id=self.runner_id,
                    limit=limit,
                    lease_seconds=self.config.lease_seconds,
                )
            except Exception:
                # The service loop turns an outage into its breaker; a one-off pass fails.
                self.breakers.release_probe()
                raise
            self.breakers.success(AUTH, DATABASE)
            if not personas:
                self.breakers.release_probe()
            for persona in personas:
                self.start(persona)
            return len(personas)

    def _service_of(self, exc: BaseException) -> str | None:
        return failed_service(exc, auth_url=self.deps.auth.base_url, mcp_url=self.deps.mcp_url)

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
        except Exception as exc:  # e.g. the tick could not even be started: the lease expires
            service = self._service_of(exc)
            if service is None:
                logger.exception("tick of %s could not run", persona.email)
                self.breakers.release_probe()
            else:
                self.breakers.failure(service, exc, where=f"starting the tick of {persona.email}")
            self.metrics.ticks.labels("error" if service is None else "unavailable").inc()
            self.metrics.errors.inc()
            return None

    @contextlib.contextmanager
    def collecting(self) -> Iterator[list[TickReport]]:
        """The reports of the ticks that end while inside (benches, `drain`)."""
        reports: list[TickReport] = []
        self._collectors.append(reports)
        try:
            yield reports
        finally:
            self._collectors.remove(reports)

    def _observe(self, report: TickReport) -> None:
        if report.status == "unavailable" and report.failed_service:
            self.breakers.failure(
                report.failed_service,
                report.failure or RuntimeError(report.error_message or "unreachable"),
                where=f"tick of {report.persona.email}",
            )
        elif report.status != "running":
            # The tick reached every service it needed (an error of its own is no outage).
            self.breakers.success(*SERVICES)
        report.failure = None  # the exception holds frames: not kept past this point
        self.reports.append(_light(report))
        for collector in self._collectors:
            collector.append(report)
        self.metrics.ticks.labels(report.status).inc()
        self.metrics.tick_duration.observe(report.duration_s)
        for action in report.actions:
            self.metrics.tool_calls.labels(action.tool_name, action.result).inc()
        self.metrics.errors.inc(report.errors + (1 if report.status != "ok" else 0))
        if self.on_report:
            self.on_report(report)

    async def drain(self) -> list[TickReport]:
        """Tick every due persona once (claiming as slots free up) and wait for all of them."""
        with self.collecting() as reports:
            try:
                while True:
                    await self.claim_and_start()
                    if not self.in_flight:
                        return reports
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
        with self.collecting() as reports:
            await self._tick_each(pending, unclaimed)
        return reports, unclaimed

    async def _tick_each(self, pending: list[str], unclaimed: list[str]) -> None:
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

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The service loop. Returns after `stop` is set and in-flight ticks are wound down."""
        recovered = not self.recover_at_start
        while not stop.is_set():
            # Cleared before claiming: a tick that ends during the claim wakes the next pass.
            self._wake.clear()
            self.passes += 1
            self.last_pass_at = self.deps.clock.now()
            if not self.paused:
                try:
                    # The spool first: a tick finish it holds closes that tick properly.
                    await self.replay_spool()
                    if not recovered:
                        await self.recover()
                        recovered = True
                    await self.claim_and_start()
                except Exception as exc:  # an outage has its breaker; anything else is a bug
                    service = self._service_of(exc)
                    if service is None:
                        logger.exception("claiming due personas failed")
                    else:
                        self.breakers.failure(service, exc, where="claiming due personas")
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=self.config.interval_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
        await self.shutdown()

    async def replay_spool(self) -> None:
        """Send what was spooled (by this or an earlier run); kept for later if it fails."""
        from mana.clients.internal import permanent

        if self.spool is not None and self.spool.pending():
            await self.spool.replay(self.internal.send_spooled, is_permanent=permanent)

    async def recover(self) -> None:
        """Close the ticks this runner id left running and take its leases back now."""
        recovery = await self.internal.recover(runner_id=self.runner_id)
        if recovery.abandoned_ticks or recovery.released_personas:
            logger.warning(
                "runner %s restarted: %d tick(s) it left running closed as abandoned, "
                "%d lease(s) released",
                self.runner_id,
                recovery.abandoned_ticks,
                recovery.released_personas,
            )

    async def shutdown(self) -> None:
        """Stop claiming; give in-flight ticks a grace period, then cancel them. A cancelled tick
        still posts what it did and finishes as an error, which releases its lease. A record
        that cannot land any more goes to the spool."""
        if not self.in_flight:
            self.internal.stopping.set()
            return
        _, pending = await asyncio.wait(
            set(self.in_flight), timeout=self.config.shutdown_grace_seconds
        )
        # From here a record that does not land is spooled instead of retried.
        self.internal.stopping.set()
        await self._stop(pending)

    async def _cancel_in_flight(self) -> None:
        """The caller itself is being cancelled (Ctrl-C in `tick --once`): cancel the ticks and
        let each post what it did, so their leases are released instead of left to expire."""
        self.internal.stopping.set()  # a record that cannot land now is spooled, not awaited
        try:
            await self._stop(set(self.in_flight))
        finally:
            self.internal.stopping.clear()  # only this pass was cancelled, not the runner

    async def _stop(self, tasks: set[asyncio.Task[TickReport | None]]) -> None:
        for task in tasks:
            self._stopping.add(task)
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
