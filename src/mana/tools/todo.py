"""Todo module: tasks with an optional due date and priority."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, cast

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, UTCDateTime, new_id
from mana.tools.base import (
    Body,
    Day,
    PageInput,
    ShortText,
    SpaceScoped,
    Title,
    ToolInput,
    ToolOutput,
    fold,
    get_in_space,
    matches,
    newest_first,
    page_params,
    prebuilt_page,
    split_keyset,
)
from mana.tools.registry import ToolContext, ToolError, tool

Priority = Literal["low", "normal", "high"]


class Todo(SpaceScoped, Base):
    __tablename__ = "todos"
    __table_args__ = (
        sa.CheckConstraint("priority IN ('low', 'normal', 'high')", name="priority"),
        sa.Index("ix_todos_space_created", "space_id", "created_at"),
        {"schema": "app"},
    )

    title: Mapped[str] = mapped_column(sa.String(200))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    due: Mapped[date | None] = mapped_column(sa.Date)
    priority: Mapped[str] = mapped_column(sa.String(8), default="normal")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_text: Mapped[str] = mapped_column(sa.Text, default="")

    def refresh_search_text(self) -> None:
        self.search_text = fold(self.title, self.notes)


_table = cast(sa.Table, Todo.__table__)
# Built once; todo.create runs it with the row's values (see create).
_INSERT = sa.insert(_table)


class TodoOut(ToolOutput):
    id: uuid.UUID
    title: str
    notes: str | None
    due: date | None
    priority: str
    done: bool
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, todo: Todo | sa.Row[Any]) -> TodoOut:
        """From the mapped object, or from a row of `LISTED` (the same attribute names)."""
        return cls(
            id=todo.id,
            title=todo.title,
            notes=todo.notes,
            due=todo.due,
            priority=todo.priority,
            done=todo.completed_at is not None,
            created_at=todo.created_at,
            completed_at=todo.completed_at,
        )


class TodoPage(ToolOutput):
    items: list[TodoOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class CreateTodo(ToolInput):
    title: Title
    notes: Body | None = None
    due: Day | None = Field(default=None, description="Due date, ISO format YYYY-MM-DD.")
    priority: Priority = "normal"


class ListTodos(PageInput):
    status: Literal["open", "done", "all"] = "open"
    due_before: Day | None = Field(
        default=None, description="Only todos due on or before this date (YYYY-MM-DD)."
    )
    # An empty search means no filter: models often send "" for an optional text field.
    search: ShortText | None = Field(
        default=None, description="Text to look for in title and notes, ignoring case and accents."
    )


class TodoRef(ToolInput):
    id: uuid.UUID


class UpdateTodo(ToolInput):
    id: uuid.UUID
    title: Title | None = None
    notes: Body | None = Field(default=None, description="New notes; null clears them.")
    due: Day | None = Field(default=None, description="New due date (YYYY-MM-DD); null clears it.")
    priority: Priority | None = None


async def _get(ctx: ToolContext, todo_id: uuid.UUID) -> Todo:
    return await get_in_space(ctx, Todo, todo_id, noun="todo", listed_by="todo.list")


@tool("todo.create", policy="write")
async def create(data: CreateTodo, ctx: ToolContext) -> TodoOut:
    """Create a todo in the active space. Title is required (1-200 characters); optional
    notes, a due date (YYYY-MM-DD) and a priority (low, normal, high)."""
    # One Core INSERT, not a mapped object: the ORM's unit of work (identity map, flush
    # ordering, change tracking) was ~40% of the call's own CPU for a row nothing reads back
    # in this transaction (issue 14). Same row, same column defaults.
    todo_id = new_id()
    await ctx.session.execute(
        _INSERT,
        {
            "id": todo_id,
            "space_id": ctx.space_id,
            "created_by": ctx.user_id,
            "title": data.title,
            "notes": data.notes,
            "due": data.due,
            "priority": data.priority,
            "completed_at": None,
            "search_text": fold(data.title, data.notes),
            "created_at": ctx.now,
            "updated_at": ctx.now,
        },
    )
    return TodoOut(
        id=todo_id,
        title=data.title,
        notes=data.notes,
        due=data.due,
        priority=data.priority,
        done=False,
        created_at=ctx.now,
        completed_at=None,
    )


NEWEST_FIRST = newest_first(Todo)
# What a listed todo shows, as plain columns: rows, not mapped objects (no identity map or
# change tracking for a read; ~15% of the list's database CPU).
LISTED_NAMES = ("id", "title", "notes", "due", "priority", "created_at", "completed_at")
LISTED = tuple(_table.c[name] for name in LISTED_NAMES)


@lru_cache(maxsize=16)
def _list_statement(status: str, *, due_before: bool, after_cursor: bool) -> sa.Select[Any]:
    """todo.list's statement for one combination of filters, built once (3 x 2 x 2 of them):
    the most called read tool, and a new Select per call cost as much CPU as running it."""
    columns = _table.c
    query = sa.select(*LISTED).where(columns.space_id == sa.bindparam("space_id"))
    if status == "open":
        query = query.where(columns.completed_at.is_(None))
    elif status == "done":
        query = query.where(columns.completed_at.is_not(None))
    if due_before:
        query = query.where(columns.due <= sa.bindparam("due_before", type_=sa.Date))
    return prebuilt_page(query, NEWEST_FIRST, after_cursor=after_cursor)


@tool("todo.list", policy="read")
async def list_todos(data: ListTodos, ctx: ToolContext) -> TodoPage:
    """List todos in the active space, newest first. Filter by status (open, done, all;
    default open), by due date (dueBefore) or by text in title and notes (search, ignoring
    case and accents). Paginated: pass nextCursor as cursor for more."""
    query = _list_statement(
        data.status, due_before=data.due_before is not None, after_cursor=bool(data.cursor)
    )
    params = {"space_id": ctx.space_id, **page_params(NEWEST_FIRST, data)}
    if data.due_before is not None:
        params["due_before"] = data.due_before
    if data.search:
        # Searches are rare and their pattern is escaped as a literal: built per call.
        query = query.where(matches(_table.c.search_text, data.search))
    rows = list(await ctx.session.execute(query, params))
    page, cursor = split_keyset(rows, data.limit, NEWEST_FIRST)
    return TodoPage(items=[TodoOut.of(t) for t in page], next_cursor=cursor)


@tool("todo.complete", policy="write")
async def complete(data: TodoRef, ctx: ToolContext) -> TodoOut:
    """Mark a todo as done. Completing a todo that is already done changes nothing."""
    todo = await _get(ctx, data.id)
    if todo.completed_at is None:
        todo.completed_at = ctx.now
        todo.updated_at = ctx.now
        await ctx.session.flush()
    return TodoOut.of(todo)


@tool("todo.update", policy="write")
async def update(data: UpdateTodo, ctx: ToolContext) -> TodoOut:
    """Change a todo's title, notes, due date or priority. Only the fields given change."""
    todo = await _get(ctx, data.id)
    changes = data.model_dump(exclude={"id"}, exclude_unset=True)
    if not changes:
        raise ToolError("nothing to update: give at least one of title, notes, due, priority")
    for field in ("title", "priority"):
        if field in changes and changes[field] is None:
            raise ToolError(f"{field} cannot be null: leave it out to keep the current value")
    for field, value in changes.items():
        setattr(todo, field, value)
    todo.refresh_search_text()
    todo.updated_at = ctx.now
    await ctx.session.flush()
    return TodoOut.of(todo)


@tool("todo.delete", policy="destructive")
async def delete(data: TodoRef, ctx: ToolContext) -> TodoOut:
    """Delete a todo permanently. Destructive: never exposed to agents over MCP."""
    todo = await _get(ctx, data.id)
    await ctx.session.delete(todo)
    await ctx.session.flush()
    return TodoOut.of(todo)
