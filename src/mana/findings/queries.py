"""Findings computed from stored persona rows: every query takes an explicit window.

The tables hold persona rows only (personas are the product's test users), so nothing here can
mix with human figures. `mana simulate` writes rows dated on simulated days, so "now" is always
a parameter (the app clock), never the newest row.

Heavy lifting stays in SQL (group by day / module / tool; percentiles on PostgreSQL with
`percentile_cont`); SQLite, the embedded default, computes the same percentiles from a bounded
window-function query (only the rows around each percentile rank come back).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import User
from mana.personas.models import PersonaAction, PersonaFeedback, PersonaObservation
from mana.tools.registry import exposed_tools

PERCENTILES = (0.5, 0.95)
PERCENTILE_WORK_MEM = "64MB"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def days_ending(cls, now: datetime, days: int) -> Window:
        """`days` whole UTC days ending with today (today counts, up to `now`)."""
        first = now.astimezone(UTC).date() - timedelta(days=days - 1)
        return cls(start=datetime.combine(first, time(0), tzinfo=UTC), end=now)

    @classmethod
    def before(cls, end: datetime, length: timedelta) -> Window:
        return cls(start=end - length, end=end)

    def dates(self) -> list[date]:
        first, last = self.start.astimezone(UTC).date(), self.end.astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def module_of(tool: str) -> str:
    return tool.split(".", 1)[0]


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _day(session: AsyncSession, column: Any) -> sa.ColumnElement[Any]:
    """The UTC date of a timestamp (PostgreSQL would otherwise use the session's time zone)."""
    if is_postgres(session):
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def in_window(column: Any, window: Window) -> sa.ColumnElement[bool]:
    return sa.and_(column >= window.start, column < window.end)


def tool_of_module(module: str) -> sa.ColumnElement[bool]:
    # A prefix comparison, not LIKE: module names may contain '_' (a LIKE wildcard).
    prefix = f"{module}."
    return sa.func.substr(PersonaAction.tool_name, 1, len(prefix)) == prefix


# --- per module and day -----------------------------------------------------------------------


@dataclass
class RatingCounts:
    by_value: dict[int, int] = field(default_factory=dict)

    def add(self, rating: int, count: int) -> None:
        self.by_value[rating] = self.by_value.get(rating, 0) + count

    @property
    def count(self) -> int:
        return sum(self.by_value.values())

    @property
    def mean(self) -> float | None:
        total = self.count
        return sum(r * c for r, c in self.by_value.items()) / total if total else None


@dataclass
class DayFigures:
    ratings: RatingCounts = field(default_factory=RatingCounts)
    observations: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    errors: int = 0


# module -> day -> figures
Daily = dict[str, dict[date, DayFigures]]


async def daily_figures(
    session: AsyncSession, *, window: Window, module: str | None = None
) -> Daily:
    """Ratings (distribution), observations by kind, tool calls and errors per module and day."""
    out: Daily = defaultdict(lambda: defaultdict(DayFigures))

    day = _day(session, PersonaFeedback.created_at)
    ratings = (
        sa.select(PersonaFeedback.module, day, PersonaFeedback.rating, sa.func.count())
        .where(in_window(PersonaFeedback.created_at, window))
        .group_by(PersonaFeedback.module, day, PersonaFeedback.rating)
    )
    if module is not None:
        ratings = ratings.where(PersonaFeedback.module == module)
    for name, when, rating, count in await session.execute(ratings):
        out[name][_as_date(when)].ratings.add(int(rating), int(count))

    day = _day(session, PersonaObservation.created_at)
    observations = (
        sa.select(PersonaObservation.module, day, PersonaObservation.kind, sa.func.count())
        .where(in_window(PersonaObservation.created_at, window))
        .group_by(PersonaObservation.module, day, PersonaObservation.kind)
    )
    if module is not None:
        observations = observations.where(PersonaObservation.module == module)
    for name, when, kind, count in await session.execute(observations):
        figures = out[name][_as_date(when)]
        figures.observations[kind] = figures.observations.get(kind, 0) + int(count)

    day = _day(session, PersonaAction.created_at)
    actions = (
        sa.select(
            PersonaAction.tool_name,
            day,
            sa.func.count(),
            sa.func.sum(sa.case((PersonaAction.result == "error", 1), else_=0)),
        )
        .where(in_window(PersonaAction.created_at, window))
        .group_by(PersonaAction.tool_name, day)
    )
    if module is not None:
        actions = actions.where(tool_of_module(module))
    for tool, when, calls, errors in await session.execute(actions):
        figures = out[module_of(tool)][_as_date(when)]
        figures.calls += int(calls)
        figures.errors += int(errors or 0)
    return out


async def rating_counts(session: AsyncSession, *, window: Window) -> dict[str, RatingCounts]:
    """Rating distribution per module over a window (the rank test's input)."""
    rows = await session.execute(
        sa.select(PersonaFeedback.module, PersonaFeedback.rating, sa.func.count())
        .where(in_window(PersonaFeedback.created_at, window))
        .group_by(PersonaFeedback.module, PersonaFeedback.rating)
    )
    out: dict[str, RatingCounts] = defaultdict(RatingCounts)
    for module, rating, count in rows:
        out[module].add(int(rating), int(count))
    return out


@dataclass(frozen=True)
class ObservationCount:
    count: int
    personas: int


async def observation_counts(
    session: AsyncSession, *, window: Window
) -> dict[tuple[str, str], ObservationCount]:
    """Per (module, kind): how many observations, by how many personas."""
    rows = await session.execute(
        sa.select(
            PersonaObservation.module,
            PersonaObservation.kind,
            sa.func.count(),
            sa.func.count(sa.distinct(PersonaObservation.persona_id)),
        )
        .where(in_window(PersonaObservation.created_at, window))
        .group_by(PersonaObservation.module, PersonaObservation.kind)
    )
    return {
        (module, kind): ObservationCount(int(count), int(personas))
        for module, kind, count, personas in rows
    }


# --- per tool: calls, errors, latency percentiles -----------------------------------------------


@dataclass(frozen=True)
class ToolFigures:
    tool: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def _error_count() -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((PersonaAction.result == "error", 1), else_=0))


async def tool_figures(
    session: AsyncSession, *, window: Window, module: str | None = None
) -> dict[str, ToolFigures]:
    """Calls, errors and latency p50/p95 per tool (percentile_cont semantics on both backends)."""
    condition = in_window(PersonaAction.created_at, window)
    if module is not None:
        condition = sa.and_(condition, tool_of_module(module))
    if is_postgres(session):
        # percentile_cont sorts every call of the window by latency: with the default 4 MB of
        # work_mem a fortnight of 1M-action history spills that sort to disk.
        await session.execute(sa.text(f"SET LOCAL work_mem = '{PERCENTILE_WORK_MEM}'"))
        latency = PersonaAction.latency_ms
        rows = await session.execute(
            sa.select(
                PersonaAction.tool_name,
                sa.func.count(),
                _error_count(),
                *(sa.func.percentile_cont(p).within_group(latency) for p in PERCENTILES),
            )
            .where(condition)
            .group_by(PersonaAction.tool_name)
        )
        return {
            tool: ToolFigures(tool, int(calls), int(errors or 0), float(p50), float(p95))
            for tool, calls, errors, p50, p95 in rows
        }
    return await _tool_figures_sqlite(session, condition)


async def _tool_figures_sqlite(
    session: AsyncSession, condition: sa.ColumnElement[bool]
) -> dict[str, ToolFigures]:
    tool_column = PersonaAction.tool_name
    ranked = (
        sa.select(
            PersonaAction.tool_name.label("tool"),
            PersonaAction.latency_ms.label("latency"),
            (
                sa.func.row_number().over(
                    partition_by=tool_column, order_by=PersonaAction.latency_ms
                )
                - 1
            ).label("rank"),
            sa.func.count().over(partition_by=tool_column).label("n"),
            _error_count().over(partition_by=tool_column).label("errors"),
        )
        .where(condition)
        .subquery()
    )
    # Only the rows at floor((n-1)·p) and the one after it: what linear interpolation needs.
    wanted = []
    for p in PERCENTILES:
        floor_rank = sa.cast((ranked.c.n - 1) * p, sa.Integer)
        wanted += [ranked.c.rank == floor_rank, ranked.c.rank == floor_rank + 1]
    rows = await session.execute(
        sa.select(ranked.c.tool, ranked.c.n, ranked.c.errors, ranked.c.rank, ranked.c.latency)
        .where(sa.or_(*wanted))
        .distinct()
    )
    by_tool: dict[str, tuple[int, int, dict[int, int]]] = {}
    for tool, n, errors, rank, latency in rows:
        entry = by_tool.setdefault(tool, (int(n), int(errors or 0), {}))
        entry[2][int(rank)] = int(latency)
    out = {}
    for tool, (n, errors, values) in by_tool.items():
        p50, p95 = (_interpolate(values, n, p) for p in PERCENTILES)
        out[tool] = ToolFigures(tool, n, errors, p50, p95)
    return out


def _interpolate(values: dict[int, int], n: int, p: float) -> float:
    position = (n - 1) * p
    low = int(position)
    if low + 1 >= n:
        return float(values[low])
    return values[low] + (values[low + 1] - values[low]) * (position - low)


# --- notes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    module: str
    rating: int
    notes: str
    created_at: datetime
    tick_id: uuid.UUID
    persona_id: uuid.UUID
    persona_email: str
    persona_name: str | None


async def latest_notes(
    session: AsyncSession,
    *,
    window: Window,
    module: str | None = None,
    max_rating: int = 5,
    limit: int = 20,
) -> list[Note]:
    """The newest ratings that came with a note, optionally only the bad ones."""
    query = (
        sa.select(
            PersonaFeedback.module,
            PersonaFeedback.rating,
            PersonaFeedback.notes,
            PersonaFeedback.created_at,
            PersonaFeedback.tick_id,
            PersonaFeedback.persona_id,
            User.email,
            User.name,
        )
        .join(User, User.id == PersonaFeedback.persona_id)
        .where(
            in_window(PersonaFeedback.created_at, window),
            PersonaFeedback.rating <= max_rating,
            PersonaFeedback.notes.is_not(None),
            PersonaFeedback.notes != "",
        )
        .order_by(PersonaFeedback.created_at.desc(), PersonaFeedback.id.desc())
        .limit(limit)
    )
    if module is not None:
        query = query.where(PersonaFeedback.module == module)
    return [Note(*row) for row in await session.execute(query)]  # type: ignore[arg-type]


# --- coverage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    never_called: list[str]
    always_failing: list[str]


def coverage(tools: Iterable[ToolFigures], *, module: str | None = None) -> Coverage:
    """Registry tools nobody called in the window, and tools whose every call failed."""
    seen = {t.tool: t for t in tools}
    offered = [name for name in exposed_tools() if module is None or module_of(name) == module]
    return Coverage(
        never_called=sorted(name for name in offered if name not in seen),
        always_failing=sorted(t.tool for t in seen.values() if t.calls and t.errors == t.calls),
    )
