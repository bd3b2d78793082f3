"""Contacts module: people with an optional email, phone and note; listed alphabetically."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base
from mana.kit.schemas import Email
from mana.tools.base import (
    SPACE_ID,
    Comment,
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
    matches,
    normalize,
    page_params,
    prebuilt_page,
    split_keyset,
    table_of,
)
from mana.tools.registry import ToolContext, ToolError, tool

_PHONE = re.compile(r"\+?[0-9 ()./-]{3,40}")
_NOT_DIGIT = re.compile(r"\D")


def _digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value) or len(_digits(value)) < 3:
        raise ValueError(
            "a phone number is 3-40 characters of digits, spaces and + ( ) - . / "
            "with at least 3 digits, e.g. '+49 30 1234567'"
        )
    return value


Phone = Annotated[str, AfterValidator(_phone)]


class Contact(SpaceScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # NULL emails never collide, so contacts without an email are unconstrained.
        sa.UniqueConstraint("space_id", "email"),
        sa.Index("ix_contacts_space_name", "space_id", "name_key"),
        {"schema": "app"},
    )

    name: Mapped[str] = mapped_column(sa.String(200))
    # The name without case and accents ("Ämy" sorts with "Amy"): the alphabetical order is
    # then the same on both backends, whatever the database collation.
    name_key: Mapped[str] = mapped_column(sa.String(400))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    note: Mapped[str | None] = mapped_column(sa.Text)
    search_text: Mapped[str] = mapped_column(sa.Text, default="")

    def refresh_keys(self) -> None:
        self.name_key = normalize(self.name)[:400]
        # The phone's bare digits too, so "030 1234" finds "(030) 12-34".
        phone_digits = _digits(self.phone) if self.phone else None
        self.search_text = fold(self.name, self.email, self.phone, phone_digits, self.note)


ORDER: OrderBy = ((Contact.name_key, False), (Contact.id, False))


class ContactOut(ToolOutput):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


class ContactPage(ToolOutput):
    items: list[ContactOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class CreateContact(ToolInput):
    name: Title = Field(description="Full name, 1-200 characters.")
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="e.g. '+49 30 1234567'.")
    note: Comment | None = Field(
        default=None, description="How you know them, birthdays, anything (up to 2000 chars)."
    )


class UpdateContact(ToolInput):
    id: uuid.UUID
    name: Title | None = None
    email: Email | None = Field(default=None, description="null removes the email.")
    phone: Phone | None = Field(default=None, description="null removes the phone number.")
    note: Comment | None = Field(default=None, description="null removes the note.")


class SearchContacts(PageInput):
    query: Query = Field(
        description="Text to find in name, email, phone or note (case-insensitive)."
    )


class ContactRef(ToolInput):
    id: uuid.UUID


async def _ensure_email_free(ctx: ToolContext, email: str, contact_id: uuid.UUID | None) -> None:
    query = sa.select(Contact).where(Contact.space_id == ctx.space_id, Contact.email == email)
    if contact_id is not None:
        query = query.where(Contact.id != contact_id)
    other = await ctx.session.scalar(query)
    if other is not None:
        raise ToolError(
            f"{other.name} (id {other.id}) already has the email {email}; "
            "update that contact with contacts.update instead"
        )


async def _flush(ctx: ToolContext, contact: Contact) -> None:
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(contact)
            await ctx.session.flush()
    except IntegrityError as exc:  # a concurrent write took the email first
        raise ToolError(
            f"another contact already has the email {contact.email}; find it with contacts.search"
        ) from exc


@tool("contacts.create", policy="write")
async def create(data: CreateContact, ctx: ToolContext) -> ContactOut:
    """Add a contact to the active space: name (1-200 characters), optional email, phone
    (digits, spaces and + ( ) - . /) and note. An email can belong to one contact per space."""
    email = data.email.lower() if data.email else None
    if email:
        await _ensure_email_free(ctx, email, None)
    contact = Contact(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        name=data.name,
        email=email,
        phone=data.phone,
        note=data.note,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    contact.refresh_keys()
    await _flush(ctx, contact)
    return ContactOut.model_validate(contact)


@tool("contacts.update", policy="write")
async def update(data: UpdateContact, ctx: ToolContext) -> ContactOut:
    """Change a contact's name, email, phone or note. Only the fields given change; null
    removes an email, phone or note."""
    contact = await get_in_space(ctx, Contact, data.id, noun="contact", listed_by="contacts.search")
    changes = data.model_dump(exclude={"id"}, exclude_unset=True)
    if not changes:
        raise ToolError("nothing to update: give at least one of name, email, phone, note")
    if "name" in changes:
        if data.name is None:
            raise ToolError("name cannot be null: leave it out to keep the current name")
        contact.name = data.name
    if "email" in changes:
        email = data.email.lower() if data.email else None
        if email:
            await _ensure_email_free(ctx, email, contact.id)
        contact.email = email
    if "phone" in changes:
        contact.phone = data.phone
    if "note" in changes:
        contact.note = data.note
    contact.refresh_keys()
    contact.updated_at = ctx.now
    await _flush(ctx, contact)
    return ContactOut.model_validate(contact)


_search_text = table_of(Contact).c.search_text


@lru_cache(maxsize=2)
def _list_statement(*, after_cursor: bool) -> sa.Select[Any]:
    """The contacts lists' statement, built once per cursor shape (see todo.list)."""
    return prebuilt_page(in_space(Contact), ORDER, after_cursor=after_cursor)


async def _page(
    data: PageInput, ctx: ToolContext, condition: sa.ColumnElement[bool] | None = None
) -> ContactPage:
    query = _list_statement(after_cursor=bool(data.cursor))
    if condition is not None:
        # Searches are rare and their pattern is escaped as a literal: built per call.
        query = query.where(condition)
    params = {SPACE_ID: ctx.space_id, **page_params(ORDER, data)}
    rows = list(await ctx.session.execute(query, params))
    page, cursor = split_keyset(rows, data.limit, ORDER)
    return ContactPage(items=[ContactOut.model_validate(c) for c in page], next_cursor=cursor)


@tool("contacts.list", policy="read")
async def list_contacts(data: PageInput, ctx: ToolContext) -> ContactPage:
    """List the contacts of the active space alphabetically by name. Paginated: pass
    nextCursor as cursor for more."""
    return await _page(data, ctx)


@tool("contacts.search", policy="read")
async def search(data: SearchContacts, ctx: ToolContext) -> ContactPage:
    """Find contacts whose name, email, phone or note contains query (1-200 characters,
    ignoring case and accents; phone numbers also match by their digits alone). Alphabetical,
    paginated like contacts.list."""
    condition = matches(_search_text, data.query)
    digits = _digits(data.query)
    if len(digits) >= 3 and _PHONE.fullmatch(data.query):
        condition = sa.or_(condition, matches(_search_text, digits))
    return await _page(data, ctx, condition)


@tool("contacts.get", policy="read")
async def get(data: ContactRef, ctx: ToolContext) -> ContactOut:
    """Read one contact by id (ids come from contacts.list or contacts.search)."""
    return ContactOut.model_validate(
        await get_in_space(ctx, Contact, data.id, noun="contact", listed_by="contacts.search")
    )
