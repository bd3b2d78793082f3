"""Shared pieces for product modules: input/output base models, field types, pagination, space
scoping and text search."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar, cast

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from mana.db import UTCDateTime, new_id
from mana.tools.registry import ToolContext, ToolError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MIN_YEAR, MAX_YEAR = 1900, 2100


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it as bad input instead of failing in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# The length constraints come before the validator on purpose: then pydantic applies them to the
# string itself and says "at least 1 character", not the generic "at least 1 item".
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_nul)]
Body = Annotated[str, Field(max_length=10_000), AfterValidator(no_nul)]
ShortText = Annotated[str, Field(max_length=200), AfterValidator(no_nul)]
Comment = Annotated[str, Field(max_length=2_000), AfterValidator(no_nul)]
Query = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_nul)]


def _plausible_day(value: date) -> date:
    # Year 1 or 9999 is a typo, and arithmetic on it (± a few days) would overflow.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _utc_instant(value: datetime) -> datetime:
    # A naive time is read as UTC: models often omit the offset, and guessing a local zone
    # would silently shift events by hours.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]
"""An ISO date (YYYY-MM-DD) in a plausible year."""

Instant = Annotated[datetime, AfterValidator(_utc_instant)]
"""An ISO datetime; with an offset it is converted to UTC, without one it is taken as UTC."""


class ToolInput(BaseModel):
    """Tool arguments: camelCase, unknown fields refused (a model learns from the message)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )


class ToolOutput(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class NoInput(ToolInput):
    """For tools that take no arguments."""


class PageInput(ToolInput):
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = Field(
        default=DEFAULT_PAGE_SIZE, description=f"Page size, 1-{MAX_PAGE_SIZE}."
    )
    cursor: Annotated[str, Field(max_length=2000), AfterValidator(no_nul)] | None = Field(
        default=None, description="Opaque cursor from a previous page's nextCursor."
    )


class SpaceScoped:
    """Columns every product row has: the space it lives in and who created it.

    Every query filters on `space_id == ctx.space_id`; that single rule is what keeps data
    written in one space invisible from every other space.
    """

    # sort_order: the shared columns frame each table (id, space, author first; timestamps
    # last), so the DDL reads like the model.
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id, sort_order=-3)
    # No index of its own: every table declares a composite index that starts with space_id
    # and matches its list order, which serves the plain space filter as well.
    space_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.spaces.id", ondelete="CASCADE"), sort_order=-2
    )
    # Indexed for the ON DELETE SET NULL when a user (e.g. a persona) is deleted: without it,
    # PostgreSQL scans the whole table once per deleted user.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="SET NULL"), index=True, sort_order=-1
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, sort_order=10)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, sort_order=10)


Row = TypeVar("Row", bound=SpaceScoped)


async def get_in_space(
    ctx: ToolContext, model: type[Row], row_id: uuid.UUID, *, noun: str, listed_by: str
) -> Row:
    """The row with this id in the caller's space, or a ToolError saying where to find ids.

    A row of another space is reported exactly like a missing one: ids leak nothing.
    """
    row = await ctx.session.scalar(
        sa.select(model).where(model.id == row_id, model.space_id == ctx.space_id)
    )
    if row is None:
        raise ToolError(f"{noun} {row_id} not found in this space; use {listed_by} to find ids")
    return row


# --- text search -------------------------------------------------------------------------------
#
# Searchable modules keep a `search_text` column: the searchable fields, folded in Python.
# SQLite's lower() only folds ASCII (so "Über" would not find "über"), and PostgreSQL's depends
# on the collation; folding once on write makes search behave the same on both backends.


def normalize(text: str) -> str:
    """Case- and accent-insensitive form: "Müller" and "MULLER" both become "muller"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def fold(*parts: str | None) -> str:
    return "\n".join(normalize(part) for part in parts if part)


LIKE_ESCAPE = "/"


def like_literal(text: str) -> str:
    """`text` for a LIKE pattern with `escape=LIKE_ESCAPE`: its % and _ match only themselves
    (what SQLAlchemy's `autoescape=True` does, for a pattern passed as a bound parameter)."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def matches(column: Any, query: str) -> sa.ColumnElement[bool]:
    """Substring match against a folded column, ignoring case and accents (% and _ literal)."""
    return column.contains(normalize(query), autoescape=True)


# --- keyset pagination -------------------------------------------------------------------------
#
# A cursor holds the sort key of the last row of a page and the name of the ordering it belongs
# to, so a cursor from another list is refused instead of silently returning a wrong page.

OrderBy = Sequence[tuple[InstrumentedAttribute[Any], bool]]
"""Sort columns as (column, descending); the last one must be unique (the id)."""


def newest_first(model: Any) -> OrderBy:
    return ((model.created_at, True), (model.id, True))


def _ordering_name(order: OrderBy) -> str:
    return ",".join(f"{col.class_.__tablename__}.{col.key}" for col, _ in order)


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    column_type = column.property.columns[0].type
    if isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    return column_type.python_type


def _to_json(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _from_json(kind: type, text: str) -> Any:
    if kind is datetime:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:  # only a tampered cursor; UTCDateTime would refuse it later
            raise ValueError("naive datetime in cursor")
        return value
    if kind is date:
        return date.fromisoformat(text)
    if kind is uuid.UUID:
        return uuid.UUID(text)
    if kind is int:
        return int(text)
    return text


def encode_cursor(order: OrderBy, row: Any) -> str:
    payload = {"o": _ordering_name(order), "k": [_to_json(getattr(row, c.key)) for c, _ in order]}
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(order: OrderBy, cursor: str) -> list[Any]:
    invalid = ToolError(
        "cursor is not valid here: pass nextCursor from the previous page of this same tool, "
        "or leave cursor out to start from the first page"
    )
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        keys = payload["k"]
        if payload["o"] != _ordering_name(order) or len(keys) != len(order):
            raise invalid
        return [
            _from_json(_python_type(col), key) for (col, _), key in zip(order, keys, strict=True)
        ]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise invalid from exc


# --- prebuilt pages ----------------------------------------------------------------------------
#
# Building a new Select on every call, and SQLAlchemy computing its cache key, cost about as much
# server CPU as running it (issue 14: `todo.list` through MCP). So every list tool builds its
# statement once per combination of filters (`functools.lru_cache`) with these bind parameters,
# and passes the values at execution: `in_space`, `prebuilt_page` and `page_params`. Pages are
# keyset pages (stable under inserts, no OFFSET scans) that fetch one row more than asked, so
# `split_keyset` knows whether another page follows.

PAGE_LIMIT = "page_limit"
SPACE_ID = "space_id"


def table_of(model: type[Any]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def shown_columns(model: type[Any]) -> tuple[sa.Column[Any], ...]:
    """A table's columns less the folded search text (written for WHERE, never shown). Rows of
    a Core select of these have the attribute names of the mapped objects, so the same `of`
    builds an answer from either; and no identity map or change tracking is paid for a read."""
    return tuple(column for column in table_of(model).c if column.key != "search_text")


def in_space(model: type[Any], *columns: sa.Column[Any]) -> sa.Select[Any]:
    """`SELECT columns FROM model's table WHERE space_id = :space_id`, for a prebuilt list."""
    return sa.select(*(columns or shown_columns(model))).where(
        table_of(model).c.space_id == sa.bindparam(SPACE_ID)
    )


def _after_name(index: int) -> str:
    return f"page_after_{index}"


def prebuilt_page(query: sa.Select[Any], order: OrderBy, *, after_cursor: bool) -> sa.Select[Any]:
    """Order by `order` and start after the cursor, with bind parameters for the cursor's keys
    and the limit. It names the table's columns, so a Core select of columns stays Core (no ORM
    compile step)."""
    columns = [(column.property.columns[0], descending) for column, descending in order]
    if after_cursor:
        after = []
        for i, (column, descending) in enumerate(columns):
            ties = [columns[j][0] == sa.bindparam(_after_name(j)) for j in range(i)]
            key: sa.BindParameter[Any] = sa.bindparam(_after_name(i))
            after.append(sa.and_(*ties, column < key if descending else column > key))
        query = query.where(sa.or_(*after))
    sort = [column.desc() if descending else column.asc() for column, descending in columns]
    return query.order_by(*sort).limit(sa.bindparam(PAGE_LIMIT, type_=sa.Integer))


def page_params(order: OrderBy, page: PageInput) -> dict[str, Any]:
    """The values of a `prebuilt_page(..., after_cursor=bool(page.cursor))` statement's page
    parameters (one row more than asked)."""
    params: dict[str, Any] = {PAGE_LIMIT: page.limit + 1}
    if page.cursor:
        for i, value in enumerate(decode_cursor(order, page.cursor)):
            params[_after_name(i)] = value
    return params


def split_keyset(rows: list[Any], limit: int, order: OrderBy) -> tuple[list[Any], str | None]:
    """The page and the next cursor (None on the last page)."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(order, rows[limit - 1])
