"""Journal module: dated free-text entries, several per day allowed."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, Field
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base
from mana.tools.base import (
    SPACE_ID,
    Day,
    OrderBy,
    PageInput,
    SpaceScoped,
    ToolInput,
    ToolOutput,
    get_in_space,
    in_space,
    no_nul,
    page_params,
    prebuilt_page,
    split_keyset,
    table_of,
)
from mana.tools.registry import ToolContext, ToolError, tool

# One day of slack for the future: "today" is the UTC date, and a writer east of UTC is already
# living in tomorrow.
FUTURE_SLACK = timedelta(days=1)

EntryBody = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(no_nul)]


class JournalEntry(SpaceScoped, Base):
    __tablename__ = "journal_entries"
    __table_args__ = (
        sa.Index("ix_journal_entries_space_day", "space_id", "day", "created_at"),
        {"schema": "app"},
    )

    day: Mapped[date] = mapped_column(sa.Date)
    body: Mapped[str] = mapped_column(sa.Text)


# Newest day first; entries of one day in the order they were written, newest first.
ORDER: OrderBy = (
    (JournalEntry.day, True),
    (JournalEntry.created_at, True),
    (JournalEntry.id, True),
)


class EntryOut(ToolOutput):
    id: uuid.UUID
    date: date
    body: str
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: JournalEntry | sa.Row[Any]) -> EntryOut:
        return cls(
            id=entry.id,
            date=entry.day,
            body=entry.body,
            created_by=entry.created_by,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )


class EntryPage(ToolOutput):
    items: list[EntryOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class AddEntry(ToolInput):
    body: EntryBody = Field(description="The entry text, 1-20000 characters.")
    date: Day | None = Field(
        default=None, description="The day the entry is about (YYYY-MM-DD); default today (UTC)."
    )


class ListEntries(PageInput):
    from_: Day | None = Field(
        default=None, alias="from", description="First day to include (YYYY-MM-DD)."
    )
    to: Day | None = Field(default=None, description="Last day to include (YYYY-MM-DD).")


class EntryRef(ToolInput):
    id: uuid.UUID


class UpdateEntry(ToolInput):
    id: uuid.UUID
    body: EntryBody | None = None
    date: Day | None = None


def _check_day(ctx: ToolContext, day: date) -> None:
    if day > ctx.now.date() + FUTURE_SLACK:
        raise ToolError(
            f"date {day.isoformat()} is in the future; a journal entry is about today "
            f"({ctx.now.date().isoformat()}) or an earlier day"
        )


@tool("journal.add", policy="write")
async def add(data: AddEntry, ctx: ToolContext) -> EntryOut:
    """Write a journal entry in the active space. body is required (1-20000 characters);
    date (YYYY-MM-DD) defaults to today (UTC) and cannot be in the future. Several entries per
    day are fine."""
    day = data.date or ctx.now.date()
    _check_day(ctx, day)
    entry = JournalEntry(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        day=day,
        body=data.body,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(entry)
    await ctx.session.flush()
    return EntryOut.of(entry)


@lru_cache(maxsize=8)
def _list_statement(*, since: bool, until: bool, after_cursor: bool) -> sa.Select[Any]:
    """journal.list's statement for one combination of filters, built once (see todo.list)."""
    day = table_of(JournalEntry).c.day
    query = in_space(JournalEntry)
    if since:
        query = query.where(day >= sa.bindparam("since"))
    if until:
        query = query.where(day <= sa.bindparam("until"))
    return prebuilt_page(query, ORDER, after_cursor=after_cursor)


@tool("journal.list", policy="read")
async def list_entries(data: ListEntries, ctx: ToolContext) -> EntryPage:
    """List journal entries of the active space, newest day first. Optional date range: from
    and to (YYYY-MM-DD, both inclusive). Paginated: pass nextCursor as cursor for more."""
    if data.from_ and data.to and data.to < data.from_:
        raise ToolError(
            f"to ({data.to.isoformat()}) is before from ({data.from_.isoformat()}); "
            "swap them or give a later to"
        )
    query = _list_statement(
        since=data.from_ is not None, until=data.to is not None, after_cursor=bool(data.cursor)
    )
    params = {SPACE_ID: ctx.space_id, "since": data.from_, "until": data.to}
    rows = list(await ctx.session.execute(query, {**params, **page_params(ORDER, data)}))
    page, cursor = split_keyset(rows, data.limit, ORDER)
    return EntryPage(items=[EntryOut.of(e) for e in page], next_cursor=cursor)


@tool("journal.get", policy="read")
async def get(data: EntryRef, ctx: ToolContext) -> EntryOut:
    """Read one journal entry by id (ids come from journal.list or journal.add)."""
    return EntryOut.of(
        await get_in_space(
            ctx, JournalEntry, data.id, noun="journal entry", listed_by="journal.list"
        )
    )


@tool("journal.update", policy="write")
async def update(data: UpdateEntry, ctx: ToolContext) -> EntryOut:
    """Rewrite a journal entry's body or move it to another date. Only the fields given
    change."""
    entry = await get_in_space(
        ctx, JournalEntry, data.id, noun="journal entry", listed_by="journal.list"
    )
    changes = data.model_dump(exclude={"id"}, exclude_unset=True)
    if not changes:
        raise ToolError("nothing to update: give body or date")
    if data.body is not None:
        entry.body = data.body
    elif "body" in changes:
        raise ToolError("body cannot be null: leave it out to keep the current text")
    if data.date is not None:
        _check_day(ctx, data.date)
        entry.day = data.date
    elif "date" in changes:
        raise ToolError("date cannot be null: leave it out to keep the current date")
    entry.updated_at = ctx.now
    await ctx.session.flush()
    return EntryOut.of(entry)
