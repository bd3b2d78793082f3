"""Leasing for the runner's internal API: which personas are due, and claims that lease them.

A claim is a lease (`leased_until`, `leased_by`), never a lock held across a tick: a runner that
dies simply lets its lease run out and the persona becomes due again. A live runner extends the
leases of its ticks in flight (`renew_leases`), so leases can be short. A tick whose runner
stopped reporting — its lease ran out, its persona was claimed again, its runner restarted — is
closed `abandoned` with what it posted (`abandon_stale_ticks`, run by every claim).
Services flush, never commit (the caller owns the transaction).
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
from mana.personas.ingest import tick_time
from mana.personas.models import Persona, PersonaAction, PersonaTick


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
    for user_id, space_id, name, type_, role in rows:
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
    return await _with_spaces(session, rows)


async def claim_personas(
    session: AsyncSession,
    *,
    runner_id: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    email: str | None = None,
    claim_id: uuid.UUID | None = None,
) -> list[DuePersona]:
    """Lease up to `limit` due personas to one runner (or, with `email`, that one persona
    whether due or not, unless another runner holds it).

    PostgreSQL: `FOR UPDATE SKIP LOCKED` lets concurrent claims pass each other without
    waiting, each taking different rows; a row another claim has just leased fails the due
    test when re-checked. SQLite: the transaction began with BEGIN IMMEDIATE, so claims run
    one after another. Either way no persona goes to two runners.

    With `claim_id`, a retry of a claim that already leased returns that same set (its answer
    was lost on the way) instead of leasing another one. Every claim first closes the ticks
    whose lease is gone (`abandon_stale_ticks`).
    """
    await abandon_stale_ticks(session, now=now)
    if claim_id is not None:
        already = await _claimed_by(session, claim_id=claim_id, runner_id=runner_id, now=now)
        if already:
            return already
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
        .values(leased_until=now + lease, leased_by=runner_id, lease_claim_id=claim_id)
        .execution_options(synchronize_session=False)
    )
    return await _leased(session, ids)


async def _leased(session: AsyncSession, ids: list[uuid.UUID]) -> list[DuePersona]:
    rows = await session.execute(
        sa.select(Persona, User)
        .join(User, User.id == Persona.user_id)
        .where(Persona.user_id.in_(ids))
        .execution_options(populate_existing=True)
    )
    by_id = {persona.user_id: (persona, user) for persona, user in rows}
    return await _with_spaces(session, (by_id[i] for i in ids))


async def _claimed_by(
    session: AsyncSession, *, claim_id: uuid.UUID, runner_id: str, now: datetime
) -> list[DuePersona]:
    ids = list(
        await session.scalars(
            sa.select(Persona.user_id)
            .where(
                Persona.lease_claim_id == claim_id,
                Persona.leased_by == runner_id,
                Persona.leased_until > now,
            )
            .order_by(*due_order())
        )
    )
    return await _leased(session, ids) if ids else []


async def renew_leases(
    session: AsyncSession,
    *,
    runner_id: str,
    persona_ids: Sequence[uuid.UUID],
    lease: timedelta,
    now: datetime,
) -> list[uuid.UUID]:
    """Extend this runner's leases on these personas. A persona missing from the answer is no
    longer this runner's (its lease ran out and it was released or claimed since)."""
    if not persona_ids:
        return []
    renewed = await session.scalars(
        sa.update(Persona)
        .where(
            Persona.user_id.in_(set(persona_ids)),
            # Even a lease that ran out a moment ago: nobody else has taken it.
            Persona.leased_by == runner_id,
        )
        .values(leased_until=now + lease)
        .returning(Persona.user_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(renewed.all())


ABANDONED_EXPIRED = "abandoned: its runner {runner} stopped reporting and its lease ran out"
ABANDONED_RESTARTED = "abandoned: its runner {runner} restarted before the tick finished"


async def _abandon(
    session: AsyncSession, ticks: Sequence[PersonaTick], *, reason: str, now: datetime
) -> int:
    """Close these running ticks as `abandoned` with what they posted (their audit rows are
    kept). The persona's day is not used up (`last_active_at` stays): it ticks again."""
    if not ticks:
        return 0
    counts = {
        tick_id: (calls, failed or 0)
        for tick_id, calls, failed in (
            await session.execute(
                sa.select(
                    PersonaAction.tick_id,
                    sa.func.count(),
                    sa.func.sum(sa.case((PersonaAction.result == "error", 1), else_=0)),
                )
                .where(PersonaAction.tick_id.in_([t.id for t in ticks]))
                .group_by(PersonaAction.tick_id)
            )
        )
    }
    for tick in ticks:
        calls, failed = counts.get(tick.id, (0, 0))
        tick.status = "abandoned"
        tick.finished_at = tick_time(now, tick.clock_offset_ms)
        tick.tool_calls = calls
        tick.errors = failed
        tick.summary = f"{calls} tool calls posted before the tick was abandoned"
        tick.error_message = reason.format(runner=tick.runner_id)
    await session.flush()
    return len(ticks)


async def abandon_stale_ticks(session: AsyncSession, *, now: datetime) -> int:
    """Close every running tick whose runner no longer holds its persona's lease (expired,
    released, or taken by another runner). Concurrent claims skip each other's rows."""
    stale = (
        await session.scalars(
            sa.select(PersonaTick)
            .join(Persona, Persona.user_id == PersonaTick.persona_id)
            .where(
                PersonaTick.status == "running",
                sa.or_(
                    Persona.leased_until.is_(None),
                    Persona.leased_until <= now,
                    Persona.leased_by.is_(None),
                    Persona.leased_by != PersonaTick.runner_id,
                ),
            )
            .with_for_update(of=PersonaTick, skip_locked=True)
        )
    ).all()
    return await _abandon(session, stale, reason=ABANDONED_EXPIRED, now=now)


@dataclass(frozen=True)
class Recovery:
    abandoned_ticks: int
    released_personas: int


async def recover_runner(session: AsyncSession, *, runner_id: str, now: datetime) -> Recovery:
    """A runner (re)starting under its id: none of its ticks is still alive, so close them and
    release its leases at once — its personas tick again now, not when the leases run out."""
    ticks = (
        await session.scalars(
            sa.select(PersonaTick)
            .where(PersonaTick.status == "running", PersonaTick.runner_id == runner_id)
            .with_for_update()
        )
    ).all()
    abandoned = await _abandon(session, ticks, reason=ABANDONED_RESTARTED, now=now)
    released = await session.scalars(
        sa.update(Persona)
        .where(Persona.leased_by == runner_id)
        .values(leased_until=None, leased_by=None, lease_claim_id=None)
        .returning(Persona.user_id)
        .execution_options(synchronize_session=False)
    )
    return Recovery(abandoned_ticks=abandoned, released_personas=len(released.all()))
