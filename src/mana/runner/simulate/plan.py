"""The simulation's schedule and clock: which persona ticks when, who may tick side by side.

Cheap to import on purpose (no web or database stack): `mana simulate` checks its input with
it and answers a bad `--days` at once.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from mana.kit.clock import Clock
from mana.personas.catalog import Catalog, CatalogPersona

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


def default_start(days: int, today: date) -> date:
    """By default the simulated days are the last `days` days up to yesterday, so the history
    reads as "the past two weeks" in every report that looks back from today."""
    return today - timedelta(days=days)
