"""Notes module: titled notes with a body and tags, searchable by text."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, Field
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base
from mana.tools.base import (
    LIKE_ESCAPE,
    SPACE_ID,
    Body,
    OrderBy,
    PageInput,
    Query,
    SpaceScoped,
    Title,
    ToolInput,
    ToolOutput,
    fold,
    get_in_space,
    in_space,
    like_literal,
    matches,
    page_params,
    prebuilt_page,
    split_keyset,
    table_of,
)
from mana.tools.registry import ToolContext, ToolError, tool

MAX_TAGS = 20
EXCERPT_LENGTH = 280
_TAG = re.compile(r"[\w-]{1,40}")


def _tag(value: str) -> str:
    # NFC: the same tag typed with a precomposed or a combining "ü" must be one tag.
    tag = unicodedata.normalize("NFC", value.strip().lstrip("#").casefold())
    if not _TAG.fullmatch(tag):
        raise ValueError(
            "a tag is 1-40 letters, digits, '-' or '_' (no spaces or commas), e.g. 'recipes'"
        )
    return tag


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tag = Annotated[str, AfterValidator(_tag)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]


class Note(SpaceScoped, Base):
    __tablename__ = "notes"
    __table_args__ = (
        sa.Index("ix_notes_space_updated", "space_id", "updated_at"),
        {"schema": "app"},
    )

    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    # Tags as ",a,b,": the tag filter is then one LIKE ',a,' that works the same on both
    # backends, and a tag can never contain the delimiter (see _TAG).
    tags: Mapped[str] = mapped_column(sa.String(1000), default="")
    search_text: Mapped[str] = mapped_column(sa.Text, default="")

    @property
    def tag_list(self) -> list[str]:
        return tag_list(self.tags)

    def set_tags(self, tags: list[str]) -> None:
        self.tags = f",{','.join(tags)}," if tags else ""

    def refresh_search_text(self) -> None:
        self.search_text = fold(self.title, self.body)


def tag_list(tags: str) -> list[str]:
    return [t for t in tags.split(",") if t]


_table = table_of(Note)
# What a listed note shows (NoteSummary); the body is cut to an excerpt in Python.
LISTED = tuple(_table.c[name] for name in ("id", "title", "body", "tags", "updated_at"))

# Most recently edited first: that is the note someone is most likely looking for.
ORDER: OrderBy = ((Note.updated_at, True), (Note.id, True))


class NoteOut(ToolOutput):
    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(
            id=note.id,
            title=note.title,
            body=note.body,
            tags=note.tag_list,
            created_at=note.created_at,
            updated_at=note.updated_at,
        )


class NoteSummary(ToolOutput):
    id: uuid.UUID
    title: str
    excerpt: str = Field(description=f"The first {EXCERPT_LENGTH} characters of the body.")
    tags: list[str]
    updated_at: datetime

    @classmethod
    def of(cls, note: Note | sa.Row[Any]) -> NoteSummary:
        excerpt = (
            note.body if len(note.body) <= EXCERPT_LENGTH else note.body[:EXCERPT_LENGTH] + "…"
        )
        return cls(
            id=note.id,
            title=note.title,
            excerpt=excerpt,
            tags=tag_list(note.tags),
            updated_at=note.updated_at,
        )


class NotePage(ToolOutput):
    items: list[NoteSummary]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class CreateNote(ToolInput):
    title: Title
    body: Body = ""
    tags: Tags = Field(
        default_factory=list, description=f"Up to {MAX_TAGS} tags, e.g. ['recipes', 'ideas']."
    )


class UpdateNote(ToolInput):
    id: uuid.UUID
    title: Title | None = None
    body: Body | None = None
    tags: Tags | None = Field(default=None, description="Replaces all tags; [] removes them.")


class ListNotes(PageInput):
    tag: Tag | None = Field(default=None, description="Only notes with this tag.")


class SearchNotes(ListNotes):
    query: Query = Field(description="Text to find in title or body (case-insensitive).")


class NoteRef(ToolInput):
    id: uuid.UUID


@tool("notes.create", policy="write")
async def create(data: CreateNote, ctx: ToolContext) -> NoteOut:
    """Create a note in the active space: title (1-200 characters), body (up to 10000
    characters) and optional tags (up to 20; letters, digits, '-' or '_'; stored lower-case)."""
    note = Note(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        title=data.title,
        body=data.body,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    note.set_tags(data.tags)
    note.refresh_search_text()
    ctx.session.add(note)
    await ctx.session.flush()
    return NoteOut.of(note)


@tool("notes.update", policy="write")
async def update(data: UpdateNote, ctx: ToolContext) -> NoteOut:
    """Change a note's title, body or tags. Only the fields given change; tags replaces the
    whole tag list."""
    note = await get_in_space(ctx, Note, data.id, noun="note", listed_by="notes.list")
    changes = data.model_dump(exclude={"id"}, exclude_unset=True)
    if not changes:
        raise ToolError("nothing to update: give at least one of title, body, tags")
    for field, value in changes.items():
        if value is None:
            raise ToolError(f"{field} cannot be null: leave it out to keep the current value")
    if data.title is not None:
        note.title = data.title
    if data.body is not None:
        note.body = data.body
    if data.tags is not None:
        note.set_tags(data.tags)
    note.refresh_search_text()
    note.updated_at = ctx.now
    await ctx.session.flush()
    return NoteOut.of(note)


@lru_cache(maxsize=4)
def _list_statement(*, tagged: bool, after_cursor: bool) -> sa.Select[Any]:
    """The notes lists' statement for one combination of filters, built once (see todo.list)."""
    query = in_space(Note, *LISTED)
    if tagged:
        query = query.where(_table.c.tags.like(sa.bindparam("tag_pattern"), escape=LIKE_ESCAPE))
    return prebuilt_page(query, ORDER, after_cursor=after_cursor)


async def _page(data: ListNotes, ctx: ToolContext, *, search: str | None = None) -> NotePage:
    query = _list_statement(tagged=data.tag is not None, after_cursor=bool(data.cursor))
    params = {SPACE_ID: ctx.space_id, **page_params(ORDER, data)}
    if data.tag:
        params["tag_pattern"] = f"%,{like_literal(data.tag)},%"
    if search is not None:
        # Searches are rare and their pattern is escaped as a literal: built per call.
        query = query.where(matches(_table.c.search_text, search))
    rows = list(await ctx.session.execute(query, params))
    page, cursor = split_keyset(rows, data.limit, ORDER)
    return NotePage(items=[NoteSummary.of(n) for n in page], next_cursor=cursor)


@tool("notes.list", policy="read")
async def list_notes(data: ListNotes, ctx: ToolContext) -> NotePage:
    """List notes of the active space, most recently edited first, with a short excerpt of
    each body (use notes.get for the full text). Optional tag filter. Paginated: pass
    nextCursor as cursor for more."""
    return await _page(data, ctx)


@tool("notes.search", policy="read")
async def search(data: SearchNotes, ctx: ToolContext) -> NotePage:
    """Find notes whose title or body contains query (1-200 characters, ignoring case and accents),
    most recently edited first. Optional tag filter. Paginated like notes.list."""
    return await _page(data, ctx, search=data.query)


@tool("notes.get", policy="read")
async def get(data: NoteRef, ctx: ToolContext) -> NoteOut:
    """Read one note with its full body, by id (ids come from notes.list or notes.search)."""
    return NoteOut.of(await get_in_space(ctx, Note, data.id, noun="note", listed_by="notes.list"))
