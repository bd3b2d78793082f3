"""`mana simulate`: every persona lives N days in a few minutes, its history dated on those days.

The simulation plays the days in time order as *slots* (one simulated hour each). Each persona
ticks as its cadence says: `daily` once a day at its own hour, `weekdays` the same on Monday to
Friday only, `hourly` once an hour for `hourly_cap` consecutive hours from 08:00 (a real hourly
persona would tick 24 times a day, which no person does and which would make a two-week run
cost hours). A tick runs the ordinary runner code (`run_tick`): a real login, real tokens, a
real MCP session. Only the clock is simulated: the runner's clock (and so `DayContext.today`)
reads the slot's time, and the tick is started with `startedAt`, so the auth service dates all
it writes on the simulated day (`personas.service.tick_time`).

Deterministic with the scripted brain: each tick's seed comes from (seed, email, slot time),
and personas that share a space never tick at the same moment — within a slot they go one
after another in email order (they read what the other wrote), while unrelated personas run
side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from mana.kit.clock import Clock
from mana.personas.catalog import Catalog, CatalogPersona
from mana.runner.brains.base import Brain
from mana.runner.loop import Runner
from mana.runner.tick import TickReport, run_tick

FIRST_HOUR = 8
# Daily and weekday personas each keep one hour of the day, 08:00–17:00, fixed by their email.
DAILY_HOURS = 10
DEFAULT_HOURLY_CAP = 8
MAX_DAYS = 366


class SimulationError(Exception):
    """A simulation that cannot run as asked (one line for the CLI)."""


class SimulatedClock(Clock):
    """The simulated time of the slot being played, moving on with real time inside the slot.

    One instance is shared by the runner and, in embedded mode, by the MCP server, so a
    journal entry written "today" is written on the simulated day too. Only set between slots,
    while no tick is in flight."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware datetime")
        self._base = when
        self._real = time.monotonic()

    def now(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._real)


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def tick_hours(persona: CatalogPersona, day: date, *, hourly_cap: int) -> list[int]:
    """The hours of `day` at which this persona ticks."""
    if persona.tick_cadence == "hourly":
        return list(range(FIRST_HOUR, FIRST_HOUR + hourly_cap))
    if persona.tick_cadence == "weekdays" and day.weekday() >= 5:
        return []
    return [FIRST_HOUR + _stable_int("hour", persona.email.lower()) % DAILY_HOURS]


@dataclass(frozen=True)
class Slot:
    """One simulated hour and the personas that tick in it, in groups: the groups run side by
    side, the personas of a group (they share a space) one after another."""

    at: datetime
    day_index: int
    groups: tuple[tuple[str, ...], ...]

    @property
    def ticks(self) -> int:
        return sum(len(g) for g in self.groups)


def space_groups(catalog: Catalog, emails: Sequence[str]) -> list[tuple[str, ...]]:
    """Partition `emails` so that personas sharing a space (directly or through others) land in
    the same group: the connected components of the shared-space graph, each sorted."""
    parent = {e.lower(): e.lower() for e in emails}

    def root(e: str) -> str:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    for space in catalog.spaces:
        members = [m.lower() for m in space.members if m.lower() in parent]
        for other in members[1:]:
            parent[root(other)] = root(members[0])
    groups: dict[str, list[str]] = defaultdict(list)
    for e in emails:
        groups[root(e.lower())].append(e)
    return sorted(tuple(sorted(g, key=str.lower)) for g in groups.values())


def plan_slots(
    catalog: Catalog, *, start: date, days: int, hourly_cap: int = DEFAULT_HOURLY_CAP
) -> list[Slot]:
    """Every tick of the simulation, in time order."""
    if not 1 <= days <= MAX_DAYS:
        raise SimulationError(f"--days must be between 1 and {MAX_DAYS}, not {days}")
    if not 1 <= hourly_cap <= 24 - FIRST_HOUR:
        raise SimulationError(f"--hourly-cap must be between 1 and {24 - FIRST_HOUR}")
    slots: list[Slot] = []
    for index in range(days):
        day = start + timedelta(days=index)
        by_hour: dict[int, list[str]] = defaultdict(list)
        for persona in catalog.personas:
            for hour in tick_hours(persona, day, hourly_cap=hourly_cap):
                by_hour[hour].append(persona.email)
        for hour in sorted(by_hour):
            at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            groups = space_groups(catalog, by_hour[hour])
            slots.append(Slot(at=at, day_index=index, groups=tuple(groups)))
    return slots


def simulation_seed(seed: int, email: str, at: datetime) -> int:
    return _stable_int("simulate", seed, email.lower(), at.isoformat())


@dataclass
class ModuleRatings:
    count: int = 0
    total: int = 0
    distribution: Counter[int] = field(default_factory=Counter)

    @property
    def mean(self) -> float | None:
        return None if self.count == 0 else self.total / self.count


@dataclass
class SimulationSummary:
    """Aggregates only: a long simulation keeps no per-tick history in memory."""

    start: date
    days: int
    seed: int
    ticks: int = 0
    failed_ticks: int = 0
    unclaimed: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    ticks_per_day: Counter[str] = field(default_factory=Counter)
    ratings: dict[str, ModuleRatings] = field(default_factory=lambda: defaultdict(ModuleRatings))
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    MAX_FAILURES_KEPT = 20

    def add(self, report: TickReport, day: date) -> None:
        self.ticks += 1
        self.ticks_per_day[day.isoformat()] += 1
        self.tool_calls += len(report.actions)
        self.tool_errors += report.errors
        if report.failed:
            self.failed_ticks += 1
            if len(self.failures) < self.MAX_FAILURES_KEPT:
                self.failures.append(
                    f"{day} {report.persona.email}: {report.status}: {report.error_message}"
                )
        for rating in report.ratings:
            figures = self.ratings[rating.module]
            figures.count += 1
            figures.total += rating.rating
            figures.distribution[rating.rating] += 1

    @property
    def ticks_per_second(self) -> float:
        return self.ticks / self.wall_seconds if self.wall_seconds else 0.0

    def figures(self) -> dict[str, object]:
        """What the run produced, without timings: equal for two runs with the same inputs."""
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "seed": self.seed,
            "ticks": self.ticks,
            "failedTicks": self.failed_ticks,
            "unclaimed": self.unclaimed,
            "toolCalls": self.tool_calls,
            "toolErrors": self.tool_errors,
            "ticksPerDay": dict(sorted(self.ticks_per_day.items())),
            "ratings": {
                module: {
                    "count": r.count,
                    "mean": None if r.mean is None else round(r.mean, 4),
                    "distribution": {str(k): r.distribution[k] for k in sorted(r.distribution)},
                }
                for module, r in sorted(self.ratings.items())
            },
        }


TickObserver = Callable[[Slot, TickReport | None], None]
SlotHook = Callable[[Slot], None]


async def run_simulation(
    runner: Runner,
    brain: Brain,
    clock: SimulatedClock,
    slots: Sequence[Slot],
    *,
    start: date,
    days: int,
    seed: int,
    concurrency: int = 4,
    on_tick: TickObserver | None = None,
    before_slot: SlotHook | None = None,
) -> SimulationSummary:
    """Play every slot in order with `runner`'s clients. `runner.deps.clock` must be `clock`.

    A persona another runner holds right now is skipped (counted as unclaimed); a failing
    claim or tick start (the auth service refusing the runner) ends the simulation."""
    if runner.deps.clock is not clock:
        raise ValueError("the runner must run on the simulation's clock")
    deps = replace(runner.deps, simulated=True)
    summary = SimulationSummary(start=start, days=days, seed=seed)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def play(slot: Slot, group: tuple[str, ...]) -> None:
        async with gate:
            for email in group:
                profile = await runner.internal.claim_one(
                    email=email,
                    runner_id=runner.runner_id,
                    lease_seconds=runner.config.lease_seconds,
                )
                if profile is None:
                    summary.unclaimed += 1
                    if on_tick:
                        on_tick(slot, None)
                    continue
                report = await run_tick(
                    profile, brain, deps, seed=simulation_seed(seed, email, slot.at)
                )
                summary.add(report, slot.at.date())
                if on_tick:
                    on_tick(slot, report)

    started = time.perf_counter()
    try:
        for slot in slots:
            if before_slot:
                before_slot(slot)
            clock.set(slot.at)
            async with asyncio.TaskGroup() as group:
                for members in slot.groups:
                    group.create_task(play(slot, members))
    except* Exception as failures:
        # A TaskGroup wraps even a single failure: hand the first one on as itself.
        raise failures.exceptions[0] from None
    finally:
        summary.wall_seconds = time.perf_counter() - started
    return summary


def default_start(days: int, today: date) -> date:
    """By default the simulated days are the last `days` days up to yesterday, so the history
    reads as "the past two weeks" in every report that looks back from today."""
    return today - timedelta(days=days)
