"""Calendar module: events with a start and an end (UTC), listed by the days they overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, UTCDateTime
from mana.tools.base import (
    SPACE_ID,
    Body,
    Day,
    Instant,
    OrderBy,
    PageInput,
    ShortText,
    SpaceScoped,
    Title,
    ToolInput,
    ToolOutput,
    get_in_space,
    in_space,
    page_params,
    prebuilt_page,
    split_keyset,
    table_of,
)
from mana.tools.registry import ToolContext, ToolError, tool

MAX_DURATION = timedelta(days=14)
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 7


class Event(SpaceScoped, Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_events_space_starts", "space_id", "starts_at"),
        {"schema": "app"},
    )

    title: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str | None] = mapped_column(sa.String(200))
    notes: Mapped[str | None] = mapped_column(sa.Text)


ORDER: OrderBy = ((Event.starts_at, False), (Event.id, False))


class EventOut(ToolOutput):
    id: uuid.UUID
    title: str
    start: datetime
    end: datetime
    location: str | None
    notes: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: Event | sa.Row[Any]) -> EventOut:
        return cls(
            id=event.id,
            title=event.title,
            start=event.starts_at,
            end=event.ends_at,
            location=event.location,
            notes=event.notes,
            created_at=event.created_at,
        )


class EventPage(ToolOutput):
    from_: date = Field(alias="from")
    to: date
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


_TIME_HELP = "ISO datetime, e.g. 2026-11-25T14:00:00+01:00; without an offset it is UTC."


class CreateEvent(ToolInput):
    title: Title
    start: Instant = Field(description=f"Start. {_TIME_HELP}")
    end: Instant = Field(description=f"End, after start, at most 14 days later. {_TIME_HELP}")
    location: ShortText | None = None
    notes: Body | None = None


class UpdateEvent(ToolInput):
    id: uuid.UUID
    title: Title | None = None
    start: Instant | None = Field(default=None, description=_TIME_HELP)
    end: Instant | None = Field(default=None, description=_TIME_HELP)
    location: ShortText | None = Field(default=None, description="null removes the location.")
    notes: Body | None = Field(default=None, description="null removes the notes.")


class ListEvents(PageInput):
    from_: Day | None = Field(
        default=None, alias="from", description="First day (YYYY-MM-DD, UTC); default today."
    )
    to: Day | None = Field(
        default=None,
        description=(
            f"Last day, inclusive (YYYY-MM-DD); default from + {DEFAULT_RANGE_DAYS - 1} days."
        ),
    )


class EventRef(ToolInput):
    id: uuid.UUID


def _check_times(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ToolError(
            f"end ({end.isoformat()}) must be after start ({start.isoformat()}); "
            "give an end later than the start"
        )
    if end - start > MAX_DURATION:
        raise ToolError(
            "an event can last at most 14 days; split longer periods into several events"
        )


@tool("calendar.create", policy="write")
async def create(data: CreateEvent, ctx: ToolContext) -> EventOut:
    """Add an event to the active space's calendar. title (1-200 characters), start and end
    as ISO datetimes (with an offset like +01:00 or Z; without one, UTC). end must be after
    start and at most 14 days later. Optional location and notes."""
    _check_times(data.start, data.end)
    event = Event(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        title=data.title,
        starts_at=data.start,
        ends_at=data.end,
        location=data.location,
        notes=data.notes,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(event)
    await ctx.session.flush()
    return EventOut.of(event)


@lru_cache(maxsize=2)
def _list_statement(*, after_cursor: bool) -> sa.Select[Any]:
    """calendar.list's statement, built once per cursor shape (see todo.list)."""
    columns = table_of(Event).c
    query = in_space(Event).where(
        columns.starts_at < sa.bindparam("range_end"),
        columns.ends_at > sa.bindparam("range_start"),
        # Implied by the two above and MAX_DURATION, but lets the (space_id, starts_at) index
        # bound the scan from below too.
        columns.starts_at > sa.bindparam("earliest_start"),
    )
    return prebuilt_page(query, ORDER, after_cursor=after_cursor)


@tool("calendar.list", policy="read")
async def list_events(data: ListEvents, ctx: ToolContext) -> EventPage:
    """List events that overlap the days from..to (YYYY-MM-DD, UTC, both inclusive; default
    the next 7 days starting today), ordered by start time. The range may span at most 366
    days. Times in the answer are UTC. Paginated: pass nextCursor as cursor for more."""
    first = data.from_ or ctx.now.date()
    last = data.to or first + timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if last < first:
        raise ToolError(
            f"to ({last.isoformat()}) is before from ({first.isoformat()}); give a later to"
        )
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ToolError(
            f"the range from {first.isoformat()} to {last.isoformat()} is longer than "
            f"{MAX_RANGE_DAYS} days; ask for a shorter range"
        )
    range_start = datetime.combine(first, time(), UTC)
    range_end = datetime.combine(last + timedelta(days=1), time(), UTC)
    params = {
        SPACE_ID: ctx.space_id,
        "range_start": range_start,
        "range_end": range_end,
        "earliest_start": range_start - MAX_DURATION,
        **page_params(ORDER, data),
    }
    rows = list(await ctx.session.execute(_list_statement(after_cursor=bool(data.cursor)), params))
    page, cursor = split_keyset(rows, data.limit, ORDER)
    return EventPage(from_=first, to=last, items=[EventOut.of(e) for e in page], next_cursor=cursor)


@tool("calendar.update", policy="write")
async def update(data: UpdateEvent, ctx: ToolContext) -> EventOut:
    """Change an event: move it (start and/or end), rename it, or change its location or
    notes. Only the fields given change; the same rules as calendar.create apply."""
    event = await get_in_space(ctx, Event, data.id, noun="event", listed_by="calendar.list")
    changes = data.model_dump(exclude={"id"}, exclude_unset=True)
    if not changes:
        raise ToolError(
            "nothing to update: give at least one of title, start, end, location, notes"
        )
    for field in ("title", "start", "end"):
        if field in changes and changes[field] is None:
            raise ToolError(f"{field} cannot be null: leave it out to keep the current value")
    start = data.start or event.starts_at
    end = data.end or event.ends_at
    _check_times(start, end)
    event.starts_at, event.ends_at = start, end
    if data.title is not None:
        event.title = data.title
    if "location" in changes:
        event.location = data.location
    if "notes" in changes:
        event.notes = data.notes
    event.updated_at = ctx.now
    await ctx.session.flush()
    return EventOut.of(event)


@tool("calendar.get", policy="read")
async def get(data: EventRef, ctx: ToolContext) -> EventOut:
    """Read one event by id (ids come from calendar.list or calendar.create)."""
    return EventOut.of(
        await get_in_space(ctx, Event, data.id, noun="event", listed_by="calendar.list")
    )
