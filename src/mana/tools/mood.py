"""Mood module: quick 1-10 mood check-ins with an optional note, and their recent average."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, UTCDateTime
from mana.tools.base import Comment, SpaceScoped, ToolInput, ToolOutput
from mana.tools.registry import ToolContext, tool

# mood.recent returns at most this many entries (the newest); count and average cover all.
MAX_ENTRIES = 200


class MoodEntry(SpaceScoped, Base):
    __tablename__ = "mood_entries"
    __table_args__ = (
        sa.CheckConstraint("score BETWEEN 1 AND 10", name="score"),
        sa.Index("ix_mood_entries_space_logged", "space_id", "logged_at"),
        {"schema": "app"},
    )

    score: Mapped[int] = mapped_column(sa.SmallInteger)
    note: Mapped[str | None] = mapped_column(sa.Text)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MoodOut(ToolOutput):
    id: uuid.UUID
    score: int
    note: str | None
    logged_at: datetime
    created_by: uuid.UUID | None

    @classmethod
    def of(cls, entry: MoodEntry) -> MoodOut:
        return cls(
            id=entry.id,
            score=entry.score,
            note=entry.note,
            logged_at=entry.logged_at,
            created_by=entry.created_by,
        )


class RecentMood(ToolOutput):
    since: datetime
    count: int = Field(description="Entries in the window.")
    average: float | None = Field(description="Mean score in the window, 2 decimals; null if none.")
    lowest: int | None
    highest: int | None
    entries: list[MoodOut] = Field(description=f"Newest first, at most {MAX_ENTRIES}.")
    truncated: bool = Field(description=f"True if the window holds more than {MAX_ENTRIES}.")


class LogMood(ToolInput):
    score: Annotated[int, Field(ge=1, le=10)] = Field(
        description="How you feel, 1 (awful) to 10 (great)."
    )
    note: Comment | None = Field(default=None, description="What is behind the score, optional.")


class MoodQuery(ToolInput):
    days: Annotated[int, Field(ge=1, le=90)] = Field(
        default=7, description="Today and the days before it, 1-90 (UTC days)."
    )
    who: Literal["me", "everyone"] = Field(
        default="me",
        description="me: only your own check-ins; everyone: all members of a shared space.",
    )


@tool("mood.log", policy="write")
async def log(data: LogMood, ctx: ToolContext) -> MoodOut:
    """Record how you feel right now: score from 1 (awful) to 10 (great) and an optional note
    (up to 2000 characters). Several check-ins a day are fine."""
    entry = MoodEntry(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        score=data.score,
        note=data.note,
        logged_at=ctx.now,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(entry)
    await ctx.session.flush()
    return MoodOut.of(entry)


@tool("mood.recent", policy="read")
async def recent(data: MoodQuery, ctx: ToolContext) -> RecentMood:
    """Mood check-ins of the last `days` days including today (1-90, default 7) with their
    count, average, lowest and highest score. By default only your own check-ins (who=me);
    who=everyone includes the other members of a shared space."""
    since = datetime.combine(ctx.now.date() - timedelta(days=data.days - 1), time(), UTC)
    conditions = [MoodEntry.space_id == ctx.space_id, MoodEntry.logged_at >= since]
    if data.who == "me":
        conditions.append(MoodEntry.created_by == ctx.user_id)
    stats = (
        await ctx.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.avg(MoodEntry.score),
                sa.func.min(MoodEntry.score),
                sa.func.max(MoodEntry.score),
            ).where(*conditions)
        )
    ).one()
    count, average, lowest, highest = stats
    entries = list(
        await ctx.session.scalars(
            sa.select(MoodEntry)
            .where(*conditions)
            .order_by(MoodEntry.logged_at.desc(), MoodEntry.id.desc())
            .limit(MAX_ENTRIES)
        )
    )
    return RecentMood(
        since=since,
        count=count,
        average=round(float(average), 2) if average is not None else None,
        lowest=lowest,
        highest=highest,
        entries=[MoodOut.of(e) for e in entries],
        truncated=count > MAX_ENTRIES,
    )
