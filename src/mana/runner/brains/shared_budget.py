"""The daily LLM budget shared by every runner process, from the auth service's ledger.

`DailySpend` counts one process's spend, so three runners spent three budgets. This class has
the same interface — `today`, `spent`, `committed()`, `reserve()`, `settle()`, all synchronous,
because the brain checks and reserves in one step with no await between — and holds an
*allowance*: a slice of today's budget granted by the ledger (`POST /llm-budget/allowances`),
which the ledger counts as committed for this process until it is used or given back. Model
calls spend from the allowance with no round trip; what they cost is reported as a running
total (`POST /llm-budget/usage`); a new slice is fetched in the background before the current
one runs low. The ledger never grants more than the limit in all, so the processes together
stop at the limit: a call is refused when this process's allowance cannot cover its worst
case, even if another process still holds some of the day.

Trade-offs, chosen for money: without an allowance (auth service unreachable, or the day's
budget granted out to other runners) model calls are refused, not made on trust; near the end
of the budget a process may be refused while another still holds a slice (each gives back its
rest when it stops). A process killed mid-call loses at most the slice it held, and only until
the slice expires (`ttl_seconds` after its last report).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.llm_common import DailySpend, Reservation
from mana.runner.internal_client import InternalApi, InternalApiError

logger = logging.getLogger(__name__)

# Fetch the next slice when less than this share of one slice is left.
LOW_WATER = 0.5
# How long after the ledger granted nothing (the day's budget is out) to ask again: other
# runners give back what they did not use when they stop.
RECHECK_SECONDS = 60.0
DEFAULT_SLICES_PER_DAY = 20
_EPSILON = 1e-9


@dataclass
class _Allowance:
    id: uuid.UUID
    day: date
    granted: float
    used: float = 0.0
    reported: float = -1.0  # nothing reported yet
    final: bool = False
    final_reported: bool = False


class SharedDailySpend(DailySpend):
    """`DailySpend` over allowances from the shared ledger (see the module doc). What the base
    class counts stays this process's own spend (`spent`); `committed()` is the ledger's view."""

    def __init__(
        self,
        api: InternalApi,
        *,
        limit_usd: float | None,
        runner_id: str,
        clock: Clock | None = None,
        slice_usd: float | None = None,
        ttl_seconds: int = 900,
        owns_api: bool = False,
    ) -> None:
        self._api = api
        self._owns_api = owns_api
        self.limit_usd = limit_usd
        self._runner_id = runner_id
        super().__init__(clock or Clock())
        default_slice = (limit_usd / DEFAULT_SLICES_PER_DAY) if limit_usd else 1.0
        self.slice_usd = slice_usd or default_slice
        self._ttl = ttl_seconds
        self._ledger_day: date | None = None
        self._allowances: list[_Allowance] = []
        self._reserved = 0.0
        self._out_until: datetime | None = None  # the ledger granted nothing before this
        self._granting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unreachable = False

    # --- DailySpend's interface (synchronous) ----------------------------------------------

    @property
    def today(self) -> date:
        day = super().today
        if day != self._ledger_day:
            self._new_day(day)
        return day

    def available(self) -> float:
        """What this process may still commit today without asking the ledger."""
        _ = self.today
        held = sum(max(0.0, a.granted - a.used) for a in self._allowances if not a.final)
        return max(0.0, held - self._reserved)

    def committed(self) -> float:
        """From this process's point of view: all of the limit but what it may still spend,
        so the brain's check (committed + worst case > limit) asks "does my allowance cover
        this call?"."""
        if self.limit_usd is None:
            self._top_up()  # no limit: the ledger still records what was spent
            return super().committed()
        available = self.available()
        self._top_up()
        return max(self.limit_usd - available, 0.0)

    def reserve(self, amount: float) -> Reservation:
        reservation = super().reserve(amount)
        if reservation.day == self.today:
            self._reserved += amount
        self._top_up()
        return reservation

    def settle(self, reservation: Reservation, actual: float) -> None:
        super().settle(reservation, actual)
        if reservation.day == self.today:
            self._reserved = max(0.0, self._reserved - reservation.amount)
        # A call that straddled midnight is paid today, as DailySpend does.
        self._charge(actual)
        self._flush_reports()
        self._top_up()

    # --- life cycle (async) ----------------------------------------------------------------

    async def start(self) -> None:
        """Fetch the first slice before the first tick needs it."""
        _ = self.today
        self._top_up()
        await self.sync()

    async def sync(self) -> None:
        """Wait until every grant and report in flight has been answered."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Give back what this process did not use, then close."""
        for allowance in self._allowances:
            allowance.final = True
        self._flush_reports()
        try:
            await asyncio.wait_for(self.sync(), timeout=10)
        except TimeoutError:
            logger.warning("shared LLM budget: the last reports did not land before stopping")
        finally:
            for task in self._tasks:
                task.cancel()
            if self._owns_api:
                await self._api.aclose()

    # --- internals -------------------------------------------------------------------------

    def _new_day(self, day: date) -> None:
        for allowance in self._allowances:
            allowance.final = True  # yesterday's rest goes back to yesterday
        self._flush_reports()
        self._ledger_day, self._allowances, self._reserved, self._out_until = day, [], 0.0, None

    def _charge(self, cost: float) -> None:
        left = cost
        for allowance in self._allowances:
            room = max(0.0, allowance.granted - allowance.used)
            take = min(room, left)
            allowance.used += take
            left -= take
            if allowance.granted - allowance.used <= _EPSILON:
                allowance.final = True
            if left <= _EPSILON:
                return
        if left > _EPSILON:
            # More than the allowances held (a call made without one, or a worst case that was
            # not): booked all the same on an allowance of its own — the money was spent.
            self._allowances.append(
                _Allowance(uuid.uuid4(), self.today, 0.0, used=left, final=True)
            )

    def _spawn(self, coroutine: object) -> asyncio.Task[None] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None  # no loop (a synchronous caller): the next call from a loop catches up
        task: asyncio.Task[None] = loop.create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _top_up(self) -> None:
        if self._granting is not None and not self._granting.done():
            return
        if self._out_until is not None and self._clock.now() < self._out_until:
            return
        if self.limit_usd is not None and self.available() >= self.slice_usd * LOW_WATER:
            return
        if self.limit_usd is None and self._allowances and self.available() > 0:
            return
        coroutine = self._grant(self.today)
        self._granting = self._spawn(coroutine)
        if self._granting is None:
            coroutine.close()

    async def _grant(self, day: date) -> None:
        allowance_id = uuid.uuid4()
        try:
            answer = await self._api.grant_llm_allowance(
                allowance_id=allowance_id,
                amount_usd=self.slice_usd,
                limit_usd=self.limit_usd,
                runner_id=self._runner_id,
                ttl_seconds=self._ttl,
            )
        except (httpx.HTTPError, InternalApiError) as exc:
            self._note_unreachable(exc)
            return
        self._note_reachable()
        if day != self._ledger_day or answer.day != day:
            # The day turned while we asked: give it straight back.
            stale = _Allowance(allowance_id, answer.day, answer.granted_usd or 0.0, final=True)
            self._spawn(self._report(stale))
            return
        granted = answer.granted_usd or 0.0
        if granted <= _EPSILON:
            self._out_until = self._clock.now() + timedelta(seconds=RECHECK_SECONDS)
            logger.warning(
                "shared LLM budget: the day's $%.2f is granted out (committed $%.2f); model "
                "calls wait for what other runners give back",
                self.limit_usd or 0.0,
                answer.committed_usd,
            )
            return
        self._allowances.append(_Allowance(allowance_id, day, granted))

    def _flush_reports(self) -> None:
        for allowance in self._allowances:
            if allowance.used != allowance.reported or (
                allowance.final and not allowance.final_reported
            ):
                self._spawn(self._report(allowance))

    async def _report(self, allowance: _Allowance) -> None:
        used, final = allowance.used, allowance.final
        try:
            await self._api.report_llm_use(
                allowance_id=allowance.id,
                used_usd=used,
                final=final,
                runner_id=self._runner_id,
                ttl_seconds=self._ttl,
            )
        except (httpx.HTTPError, InternalApiError) as exc:
            self._note_unreachable(exc)
            return  # reported again with the next settle (a running total: nothing doubles)
        self._note_reachable()
        allowance.reported = max(allowance.reported, used)
        allowance.final_reported = allowance.final_reported or final

    def _note_unreachable(self, exc: Exception) -> None:
        if not self._unreachable:
            logger.warning(
                "shared LLM budget: the auth service's ledger is unreachable (%s); model calls "
                "spend only what this runner already holds",
                exc,
            )
        self._unreachable = True

    def _note_reachable(self) -> None:
        if self._unreachable:
            logger.warning("shared LLM budget: the ledger is reachable again")
        self._unreachable = False


def shared_daily_spend(
    settings: Settings, *, runner_id: str, clock: Clock | None = None
) -> SharedDailySpend | None:
    """The shared budget for an LLM brain of a runner built from settings (None: switched off
    with MANA_SHARED_LLM_BUDGET=false, and each process counts its own day as before)."""
    if not settings.shared_llm_budget:
        return None
    api = InternalApi(settings.auth_url, settings.service_key.get_secret_value())
    return SharedDailySpend(
        api,
        limit_usd=settings.daily_budget_usd,
        runner_id=runner_id,
        clock=clock,
        slice_usd=settings.llm_budget_slice_usd,
        owns_api=True,
    )
