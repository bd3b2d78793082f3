"""Habits module: habits with a daily or weekly cadence, one check-in per habit and day,
and streaks.

Logging a habit twice on the same day is not an error: the answer says it was already logged
and returns the existing check-in (`alreadyLogged: true`). Agents and people retry, and
"did it again today" is not a mistake worth failing over.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base
from mana.tools.base import (
    SPACE_ID,
    Comment,
    Day,
    PageInput,
    SpaceScoped,
    ToolInput,
    ToolOutput,
    get_in_space,
    in_space,
    newest_first,
    no_nul,
    page_params,
    prebuilt_page,
    split_keyset,
)
from mana.tools.registry import ToolContext, ToolError, tool

Cadence = Literal["daily", "weekly"]
MAX_HABITS_PER_SPACE = 50
MAX_BACKFILL = timedelta(days=365)
# "Today" is the UTC date; someone east of UTC is already in tomorrow.
FUTURE_SLACK = timedelta(days=1)
# Streaks are computed from at most this much history: enough for any streak worth showing,
# bounded so the query stays small.
STREAK_HISTORY = timedelta(days=400)

HabitName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(no_nul)]


class Habit(SpaceScoped, Base):
    __tablename__ = "habits"
    __table_args__ = (
        sa.CheckConstraint("cadence IN ('daily', 'weekly')", name="cadence"),
        sa.CheckConstraint("target_per_week BETWEEN 1 AND 7", name="target_per_week"),
        # Case-insensitive uniqueness without relying on a collation: name_key is casefolded.
        sa.UniqueConstraint("space_id", "name_key"),
        {"schema": "app"},
    )

    name: Mapped[str] = mapped_column(sa.String(100))
    name_key: Mapped[str] = mapped_column(sa.String(400))
    cadence: Mapped[str] = mapped_column(sa.String(8))
    target_per_week: Mapped[int] = mapped_column(sa.SmallInteger)


class HabitLog(SpaceScoped, Base):
    __tablename__ = "habit_logs"
    __table_args__ = (
        sa.UniqueConstraint("habit_id", "day"),
        sa.Index("ix_habit_logs_space_day", "space_id", "day"),
        {"schema": "app"},
    )

    habit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("app.habits.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.Text)


class HabitOut(ToolOutput):
    id: uuid.UUID
    name: str
    cadence: Cadence
    target_per_week: int
    streak: int = Field(description="Current streak, in days (daily) or weeks (weekly).")
    streak_unit: Literal["days", "weeks"]
    logged_today: bool
    last_logged: date | None
    created_at: datetime


class LogOut(ToolOutput):
    id: uuid.UUID
    habit_id: uuid.UUID
    date: date
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, log: HabitLog) -> LogOut:
        return cls(
            id=log.id, habit_id=log.habit_id, date=log.day, note=log.note, created_at=log.created_at
        )


class HabitPage(ToolOutput):
    items: list[HabitOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class LogResult(ToolOutput):
    log: LogOut
    already_logged: bool = Field(description="True if this day was already logged before.")
    message: str
    habit: HabitOut


class HabitHistory(ToolOutput):
    habit: HabitOut
    logs: list[LogOut] = Field(description="Check-ins in the window, newest first.")


class RecentOut(ToolOutput):
    from_: date = Field(alias="from")
    to: date
    habits: list[HabitHistory]


class CreateHabit(ToolInput):
    name: HabitName = Field(description="What to do, e.g. 'Meditate 10 minutes'. 1-100 characters.")
    cadence: Cadence = Field(default="daily", description="daily or weekly.")
    target_per_week: Annotated[int, Field(ge=1, le=7)] | None = Field(
        default=None,
        description="How many days a week count as success, 1-7; default 7 (daily) or 1 (weekly).",
    )


class LogHabit(ToolInput):
    habit_id: uuid.UUID
    date: Day | None = Field(
        default=None, description="Day done (YYYY-MM-DD); default today (UTC)."
    )
    note: Comment | None = None


class RecentHabits(ToolInput):
    habit_id: uuid.UUID | None = Field(default=None, description="One habit; default all habits.")
    days: Annotated[int, Field(ge=1, le=90)] = Field(
        default=7, description="Window size: today and the days before it, 1-90."
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def streak(habit: Habit | sa.Row[Any], days: set[date], today: date) -> int:
    """Consecutive days (daily) or weeks meeting the target (weekly) up to now.

    An unfinished today or this week does not break the streak: it still counts from
    yesterday (last week) until the day (week) is over — the way habit apps show it.
    """
    if habit.cadence == "daily":
        day = today if today in days else today - timedelta(days=1)
        count = 0
        while day in days:
            count += 1
            day -= timedelta(days=1)
        return count
    per_week: dict[date, int] = defaultdict(int)
    for day in days:
        per_week[_monday(day)] += 1
    week = _monday(today)
    if per_week[week] < habit.target_per_week:
        week -= timedelta(weeks=1)
    count = 0
    while per_week.get(week, 0) >= habit.target_per_week:
        count += 1
        week -= timedelta(weeks=1)
    return count


async def _log_days(ctx: ToolContext, habit_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[date]]:
    ids = list(habit_ids)
    result: dict[uuid.UUID, set[date]] = {habit_id: set() for habit_id in ids}
    if not ids:
        return result
    rows = await ctx.session.execute(
        sa.select(HabitLog.habit_id, HabitLog.day).where(
            HabitLog.space_id == ctx.space_id,
            HabitLog.habit_id.in_(ids),
            HabitLog.day >= ctx.now.date() - STREAK_HISTORY,
        )
    )
    for habit_id, day in rows:
        result[habit_id].add(day)
    return result


def _out(habit: Habit | sa.Row[Any], days: set[date], today: date) -> HabitOut:
    return HabitOut(
        id=habit.id,
        name=habit.name,
        cadence=habit.cadence,
        target_per_week=habit.target_per_week,
        streak=streak(habit, days, today),
        streak_unit="days" if habit.cadence == "daily" else "weeks",
        logged_today=today in days,
        last_logged=max(days) if days else None,
        created_at=habit.created_at,
    )


async def _habit(ctx: ToolContext, habit_id: uuid.UUID) -> Habit:
    return await get_in_space(ctx, Habit, habit_id, noun="habit", listed_by="habits.list")


@tool("habits.create", policy="write")
async def create(data: CreateHabit, ctx: ToolContext) -> HabitOut:
    """Create a habit to track in the active space. name is 1-100 characters and unique in the
    space (case-insensitive); cadence is daily or weekly; targetPerWeek (1-7) is how many days
    a week count as success. Log progress with habits.log."""
    name_key = data.name.casefold()
    existing = await ctx.session.scalar(
        sa.select(Habit).where(Habit.space_id == ctx.space_id, Habit.name_key == name_key)
    )
    if existing is not None:
        raise ToolError(
            f"a habit named {existing.name!r} already exists (id {existing.id}); "
            "log it with habits.log instead of creating it again"
        )
    count = await ctx.session.scalar(
        sa.select(sa.func.count()).select_from(Habit).where(Habit.space_id == ctx.space_id)
    )
    if (count or 0) >= MAX_HABITS_PER_SPACE:
        raise ToolError(
            f"this space already tracks {MAX_HABITS_PER_SPACE} habits, the maximum; "
            "keep logging the existing ones (habits.list)"
        )
    habit = Habit(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        name=data.name,
        name_key=name_key,
        cadence=data.cadence,
        target_per_week=data.target_per_week or (7 if data.cadence == "daily" else 1),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(habit)
            await ctx.session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        raise ToolError(
            f"a habit named {data.name!r} already exists; find its id with habits.list"
        ) from exc
    return _out(habit, set(), ctx.now.date())


NEWEST_FIRST = newest_first(Habit)


@lru_cache(maxsize=2)
def _list_statement(*, after_cursor: bool) -> sa.Select[Any]:
    """habits.list's statement, built once per cursor shape (see todo.list)."""
    return prebuilt_page(in_space(Habit), NEWEST_FIRST, after_cursor=after_cursor)


@tool("habits.list", policy="read")
async def list_habits(data: PageInput, ctx: ToolContext) -> HabitPage:
    """List the habits of the active space, newest first, each with its current streak,
    whether it was logged today and the last day it was logged. Paginated: pass nextCursor as
    cursor for more."""
    query = _list_statement(after_cursor=bool(data.cursor))
    params = {SPACE_ID: ctx.space_id, **page_params(NEWEST_FIRST, data)}
    rows = list(await ctx.session.execute(query, params))
    page, cursor = split_keyset(rows, data.limit, NEWEST_FIRST)
    days = await _log_days(ctx, (h.id for h in page))
    today = ctx.now.date()
    return HabitPage(items=[_out(h, days[h.id], today) for h in page], next_cursor=cursor)


@tool("habits.log", policy="write")
async def log(data: LogHabit, ctx: ToolContext) -> LogResult:
    """Check off a habit for a day (default today, UTC; up to a year back, not in the future).
    One check-in per habit and day: logging a day that is already logged changes nothing and
    answers alreadyLogged=true. Returns the habit with its updated streak."""
    habit = await _habit(ctx, data.habit_id)
    today = ctx.now.date()
    day = data.date or today
    if day > today + FUTURE_SLACK:
        raise ToolError(
            f"date {day.isoformat()} is in the future; "
            f"log today ({today.isoformat()}) or a past day"
        )
    if day < today - MAX_BACKFILL:
        raise ToolError(
            f"date {day.isoformat()} is more than a year ago; only the last 365 days can be logged"
        )
    same_day = sa.select(HabitLog).where(HabitLog.habit_id == habit.id, HabitLog.day == day)
    saved = await ctx.session.scalar(same_day)
    already = saved is not None
    if saved is None:
        saved = HabitLog(
            space_id=ctx.space_id,
            created_by=ctx.user_id,
            habit_id=habit.id,
            day=day,
            note=data.note,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        try:
            async with ctx.session.begin_nested():
                ctx.session.add(saved)
                await ctx.session.flush()
        except IntegrityError:
            # A concurrent log of the same day won the race: answer as for a repeat.
            saved = await ctx.session.scalar(same_day)
            if saved is None:
                raise
            already = True
    days = (await _log_days(ctx, [habit.id]))[habit.id]
    if already:
        message = f"{habit.name!r} was already logged on {day.isoformat()}; nothing changed"
    else:
        message = f"logged {habit.name!r} on {day.isoformat()}"
    return LogResult(
        log=LogOut.of(saved),
        already_logged=already,
        message=message,
        habit=_out(habit, days, today),
    )


@tool("habits.recent", policy="read")
async def recent(data: RecentHabits, ctx: ToolContext) -> RecentOut:
    """Recent check-ins and current streaks: for one habit (habitId) or every habit of the
    active space, over the last `days` days including today (1-90, default 7)."""
    today = ctx.now.date()
    since = today - timedelta(days=data.days - 1)
    if data.habit_id is not None:
        habits = [await _habit(ctx, data.habit_id)]
    else:
        # Bounded by MAX_HABITS_PER_SPACE, so no pagination needed.
        habits = list(
            await ctx.session.scalars(
                sa.select(Habit)
                .where(Habit.space_id == ctx.space_id)
                .order_by(Habit.created_at, Habit.id)
            )
        )
    ids = [h.id for h in habits]
    logs: dict[uuid.UUID, list[HabitLog]] = {habit_id: [] for habit_id in ids}
    if ids:
        rows = await ctx.session.scalars(
            sa.select(HabitLog)
            .where(
                HabitLog.space_id == ctx.space_id,
                HabitLog.habit_id.in_(ids),
                HabitLog.day >= since,
                HabitLog.day <= today + FUTURE_SLACK,
            )
            .order_by(HabitLog.day.desc())
        )
        for row in rows:
            logs[row.habit_id].append(row)
    days = await _log_days(ctx, ids)
    return RecentOut(
        from_=since,
        to=today,
        habits=[
            HabitHistory(habit=_out(h, days[h.id], today), logs=[LogOut.of(x) for x in logs[h.id]])
            for h in habits
        ],
    )
