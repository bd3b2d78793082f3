"""Leasing for the runner's internal API: which personas are due, and claims that lease them.

A claim is a lease (`leased_until`, `leased_by`), never a lock held across a tick: a runner that
dies simply lets its lease run out and the persona becomes due again. Services flush, never
commit (the caller owns the transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth import service as auth_service
from mana.auth.models import Space, SpaceMember, User
from mana.personas.contract import PersonaSpace
from mana.personas.due import due_condition, due_order
from mana.personas.models import Persona


@dataclass(frozen=True)
class DuePersona:
    user: User
    persona: Persona
    spaces: list[PersonaSpace]


async def _spaces_of(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PersonaSpace]]:
    rows = await session.execute(
        sa.select(SpaceMember.user_id, Space.id, Space.name, Space.type, SpaceMember.role)
        .join(Space, Space.id == SpaceMember.space_id)
        .where(SpaceMember.user_id.in_(user_ids))
        .order_by(Space.type != "personal", Space.created_at, Space.id)
    )
    spaces: dict[uuid.UUID, list[PersonaSpace]] = {user_id: [] for user_id in user_ids}
    for user_id, space_id, name, type_, role in rows.tuples():
        spaces[user_id].append(PersonaSpace(id=space_id, name=name, type=type_, role=role))
    return spaces


async def _with_spaces(
    session: AsyncSession, pairs: Iterable[tuple[Persona, User]]
) -> list[DuePersona]:
    pairs = list(pairs)
    spaces = await _spaces_of(session, [persona.user_id for persona, _ in pairs])
    return [
        DuePersona(user=user, persona=persona, spaces=spaces[persona.user_id])
        for persona, user in pairs
    ]


async def due_personas(session: AsyncSession, *, now: datetime, limit: int) -> list[DuePersona]:
    """The personas a claim would hand out now, without leasing them (read-only)."""
    rows = await session.execute(
        sa.select(Persona, User)
        .join(User, User.id == Persona.user_id)
        .where(due_condition(now))
        .order_by(*due_order())
        .limit(limit)
    )
    return await _with_spaces(session, rows.tuples())


async def claim_personas(
    session: AsyncSession,
    *,
    runner_id: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    email: str | None = None,
) -> list[DuePersona]:
    """Lease up to `limit` due personas to one runner (or, with `email`, that one persona
    whether due or not, unless another runner holds it).

    PostgreSQL: `FOR UPDATE SKIP LOCKED` lets concurrent claims pass each other without
    waiting, each taking different rows; a row another claim has just leased fails the due
    test when re-checked. SQLite: the transaction began with BEGIN IMMEDIATE, so claims run
    one after another. Either way no persona goes to two runners.
    """
    candidates = sa.select(Persona.user_id).join(User, User.id == Persona.user_id)
    if email is None:
        candidates = candidates.where(due_condition(now)).order_by(*due_order()).limit(limit)
    else:
        candidates = candidates.where(
            User.email == auth_service.normalize_email(email),
            User.kind == "persona",
            User.deleted_at.is_(None),
            sa.or_(
                Persona.leased_until.is_(None),
                Persona.leased_until <= now,
                Persona.leased_by == runner_id,
            ),
        )
    ids = list(await session.scalars(candidates.with_for_update(of=Persona, skip_locked=True)))
    if not ids:
        return []
    await session.execute(
        sa.update(Persona)
        .where(Persona.user_id.in_(ids))
        .values(leased_until=now + lease, leased_by=runner_id)
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        sa.select(Persona, User)
        .join(User, User.id == Persona.user_id)
        .where(Persona.user_id.in_(ids))
        .execution_options(populate_existing=True)
    )
    by_id = {persona.user_id: (persona, user) for persona, user in rows.tuples()}
    return await _with_spaces(session, (by_id[i] for i in ids))
