"""Persona lifecycle on the admin API: create-or-update, list, detail, hard delete.

Services flush, never commit: the caller (a request's DbSession, a CLI command, a bench) owns
the transaction, so "nothing written" on an error is simply the rollback of that transaction.
The upsert is idempotent by email, so re-running a seed after a catalog edit creates nothing.
List and detail return the contract's response models (`mana.personas.contract`) directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from mana.auth import passwords
from mana.auth import service as auth_service
from mana.auth.models import Space, SpaceMember, User
from mana.kit.errors import InvalidInput, NotFound
from mana.personas.contract import (
    RECENT_OBSERVATIONS,
    ActionOut,
    ModuleFeedbackOut,
    ObservationOut,
    PersonaDeleted,
    PersonaDetailOut,
    PersonaListItem,
    PersonaOut,
    Story,
    TickOut,
)
from mana.personas.errors import NotAPersona, PersonaNotFound
from mana.personas.models import (
    Persona,
    PersonaAction,
    PersonaFeedback,
    PersonaMemory,
    PersonaObservation,
    PersonaTick,
)
from mana.spaces.service import delete_orphaned_shared_spaces

RECENT_ACTIONS = 20
RECENT_TICKS = 20
STATS_WINDOW = timedelta(days=7)

# Rows straight to response models, a list per call (pydantic-core loops, not Python).
_LIST_ITEMS = TypeAdapter(list[PersonaListItem])
_ACTIONS = TypeAdapter(list[ActionOut])
_TICKS = TypeAdapter(list[TickOut])
_FEEDBACK = TypeAdapter(list[ModuleFeedbackOut])
_OBSERVATIONS = TypeAdapter(list[ObservationOut])


# --- admin: upsert ------------------------------------------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    user: User
    persona: Persona
    created: bool


async def upsert_persona(
    session: AsyncSession,
    *,
    email: str,
    name: str | None,
    password: str,
    archetype: str,
    system_prompt: str,
    module_mix: Mapping[str, float],
    tick_cadence: str,
    now: datetime,
) -> UpsertResult:
    """Create a persona through the ordinary sign-up, or update an existing one.

    A human (or system) account with the email is never converted: 409, nothing changed.
    """
    email = auth_service.normalize_email(email)
    user = await auth_service.get_user_by_email(session, email)
    created = False
    if user is None:
        try:
            user = await auth_service.sign_up(
                session, email=email, password=password, name=name, now=now
            )
            created = True
        except auth_service.EmailTaken:
            # A concurrent call created the account between our lookup and our insert, and
            # has committed (the unique index made us wait for it): continue as an update.
            user = await auth_service.get_user_by_email(session, email)
            if user is None:
                raise
    if not created and user.kind != "persona":
        raise NotAPersona(
            f"{email} belongs to a {user.kind} account; a non-persona account is never "
            "turned into a persona — use another email"
        )

    # FOR NO KEY UPDATE: serialises concurrent upserts without blocking a runner's key-share
    # lock while it posts actions.
    persona = (
        None
        if created
        else await session.get(Persona, user.id, with_for_update={"key_share": True})
    )
    if created:
        user.kind = "persona"
        user.access_tier = "founder"
        user.email_verified = True
    else:
        if name is not None:
            user.name = name
        if not await passwords.verify_password(user.password_hash, password):
            # The seed secret was rotated: the new derived password takes effect now.
            _check_password_policy(password)
            await auth_service.set_password(session, user, password)
    user.updated_at = now

    if persona is None:
        persona = Persona(user_id=user.id, created_at=now)
        session.add(persona)
    persona.archetype = archetype
    persona.system_prompt = system_prompt
    persona.module_mix = dict(module_mix)
    persona.tick_cadence = tick_cadence
    persona.updated_at = now
    await session.flush()
    return UpsertResult(user=user, persona=persona, created=created)


def _check_password_policy(password: str) -> None:
    try:
        passwords.check_password_policy(password)
    except passwords.WeakPassword as exc:
        raise InvalidInput(
            f"password {exc}", details=[{"field": "password", "message": str(exc)}]
        ) from exc


# --- admin: list, detail, delete ----------------------------------------------------------


# A select of any number of columns of any types.
AnySelect = sa.Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Query:
    """A prebuilt statement and the values of its bind parameters."""

    statement: sa.Select[Any] | sa.Select[Persona, User]
    params: dict[str, Any]


@lru_cache(maxsize=4)
def _list_statement(*, filtered: bool, paged: bool) -> sa.Select[Any]:
    """The list statement for one combination of optional filters, built once.

    The page is chosen by keyset on the unique email; each aggregate is one GROUP BY over the
    page's personas only (`persona_id IN (<the page>)`), so a page of 50 costs a few index-only
    probes however large the audit tables grow. One round trip, no per-persona query.

    The page appears as plain subqueries, not a CTE: PostgreSQL has no statistics for a CTE
    scan, misestimated the joins by orders of magnitude and JIT-compiled the large pages
    (~1 s of compile time for a 1,000-row page).
    """
    since: sa.BindParameter[datetime] = sa.bindparam("since")

    def page(*columns: Any) -> sa.Select[Any]:
        stmt = sa.select(*columns).join(User, User.id == Persona.user_id)
        if filtered:
            stmt = stmt.where(Persona.archetype == sa.bindparam("archetype"))
        if paged:
            stmt = stmt.where(User.email > sa.bindparam("after_email"))
        return stmt.order_by(User.email).limit(sa.bindparam("page_limit", type_=sa.Integer))

    personas = page(
        Persona.user_id,
        User.email,
        User.name,
        Persona.archetype,
        Persona.tick_cadence,
        Persona.last_active_at,
        Persona.created_at,
    ).subquery("page")
    page_ids = page(Persona.user_id)
    actions = (
        sa.select(PersonaAction.persona_id, sa.func.count().label("n"))
        .where(PersonaAction.persona_id.in_(page_ids), PersonaAction.created_at >= since)
        .group_by(PersonaAction.persona_id)
        .subquery("actions7d")
    )
    ratings = (
        sa.select(
            PersonaFeedback.persona_id, sa.func.avg(PersonaFeedback.rating).label("avg_rating_7d")
        )
        .where(PersonaFeedback.persona_id.in_(page_ids), PersonaFeedback.created_at >= since)
        .group_by(PersonaFeedback.persona_id)
        .subquery("ratings7d")
    )
    return (
        sa.select(
            personas,
            sa.func.coalesce(actions.c.n, 0).label("actions7d"),
            ratings.c.avg_rating_7d,
        )
        .select_from(
            personas.outerjoin(actions, actions.c.persona_id == personas.c.user_id).outerjoin(
                ratings, ratings.c.persona_id == personas.c.user_id
            )
        )
        .order_by(personas.c.email)
    )


def list_query(
    *, now: datetime, limit: int, archetype: str | None = None, after_email: str | None = None
) -> Query:
    """One page of personas (by email, after `after_email`) with their 7-day action count and
    average rating. Statements are built once per filter combination: building this one costs
    ~2 ms of CPU, more than running it on a page of 50."""
    params: dict[str, Any] = {"since": now - STATS_WINDOW, "page_limit": limit}
    if archetype is not None:
        params["archetype"] = archetype
    if after_email is not None:
        params["after_email"] = after_email
    statement = _list_statement(filtered=archetype is not None, paged=after_email is not None)
    return Query(statement, params)


async def list_personas(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    archetype: str | None = None,
    after_email: str | None = None,
) -> tuple[list[PersonaListItem], str | None]:
    """A page of personas by email, and the email to continue after (None on the last page)."""
    query = list_query(now=now, limit=limit + 1, archetype=archetype, after_email=after_email)
    (rows,) = await _read(session, [query.statement], query.params)
    # The statement's column labels are the item's field names (or aliases): one validation
    # call for the page instead of a model built field by field per row.
    items = _LIST_ITEMS.validate_python(rows[:limit])
    return items, (items[-1].email if len(rows) > limit else None)


async def _read(
    session: AsyncSession,
    statements: Sequence[AnySelect],
    params: dict[str, Any],
    *,
    required_first: bool = False,
) -> list[list[dict[str, Any]]]:
    """Each statement's rows as plain dicts (pydantic validates a dict several times faster
    than a Row read through `from_attributes`, which tries each field's alias first and fails).

    All of a read's statements run in one call into SQLAlchemy's sync layer (`run_sync`, one
    greenlet) on the session's connection (Core, no ORM: these statements load no objects).
    Awaiting `AsyncConnection.execute` per statement cost ~0.1 ms of CPU each on top of the
    driver's own work, about as much as the statement itself (issue 14). Nothing pending in
    the session is flushed first: only for reads. `required_first`: when the first statement
    finds nothing, the others are not run (one empty list comes back)."""

    def run(sync_session: Session) -> list[list[dict[str, Any]]]:
        connection = sync_session.connection()
        results: list[list[dict[str, Any]]] = []
        for statement in statements:
            if required_first and results and not results[0]:
                break
            results.append([dict(row) for row in connection.execute(statement, params).mappings()])
        return results

    return await session.run_sync(run)


@lru_cache(maxsize=1)
def _detail_statements() -> tuple[AnySelect, ...]:
    """The reads behind a persona's detail page, built once (bind parameter `persona_id`),
    every one of them selecting columns labelled as the response's fields, so no ORM objects
    are built: the persona with its user and its story (one row), the newest actions, the
    newest ticks, feedback per module (the real average and count over all ratings, and the
    newest rating), the newest observations."""
    persona_id: sa.BindParameter[uuid.UUID] = sa.bindparam("persona_id")
    module = PersonaFeedback.module
    ranked = (
        sa.select(
            module,
            PersonaFeedback.rating,
            PersonaFeedback.created_at,
            sa.func.avg(PersonaFeedback.rating).over(partition_by=module).label("avg_rating"),
            sa.func.count().over(partition_by=module).label("n"),
            sa.func.row_number()
            .over(
                partition_by=module,
                order_by=(PersonaFeedback.created_at.desc(), PersonaFeedback.id.desc()),
            )
            .label("rn"),
        )
        .where(PersonaFeedback.persona_id == persona_id)
        .subquery("ranked")
    )
    persona: AnySelect = (
        sa.select(
            User.id.label("user_id"),
            User.email,
            User.name,
            User.kind,
            User.access_tier.label("tier"),
            User.email_verified,
            Persona.archetype,
            Persona.system_prompt,
            Persona.module_mix,
            Persona.tick_cadence,
            Persona.last_active_at,
            Persona.leased_until,
            Persona.leased_by,
            Persona.created_at,
            Persona.updated_at,
            PersonaMemory.story,
        )
        .join(User, User.id == Persona.user_id)
        .outerjoin(PersonaMemory, PersonaMemory.persona_id == Persona.user_id)
        .where(Persona.user_id == persona_id)
    )
    actions: AnySelect = (
        sa.select(
            PersonaAction.id,
            PersonaAction.tick_id,
            PersonaAction.seq,
            PersonaAction.tool_name,
            PersonaAction.input_hash,
            PersonaAction.result,
            PersonaAction.error_message,
            PersonaAction.latency_ms,
            PersonaAction.created_at,
        )
        .where(PersonaAction.persona_id == persona_id)
        .order_by(PersonaAction.created_at.desc(), PersonaAction.id.desc())
        .limit(RECENT_ACTIONS)
    )
    ticks: AnySelect = (
        sa.select(
            PersonaTick.id.label("tick_id"),
            PersonaTick.runner_id,
            PersonaTick.brain,
            PersonaTick.space_id,
            PersonaTick.status,
            PersonaTick.started_at,
            PersonaTick.finished_at,
            PersonaTick.tool_calls,
            PersonaTick.errors,
            PersonaTick.summary,
            PersonaTick.usage,
            PersonaTick.error_message,
        )
        .where(PersonaTick.persona_id == persona_id)
        .order_by(PersonaTick.started_at.desc(), PersonaTick.id)
        .limit(RECENT_TICKS)
    )
    feedback: AnySelect = (
        sa.select(
            ranked.c.module,
            ranked.c.avg_rating,
            ranked.c.n.label("count"),
            ranked.c.rating.label("last_rating"),
            ranked.c.created_at.label("last_at"),
        )
        .where(ranked.c.rn == 1)
        .order_by(ranked.c.module)
    )
    observations: AnySelect = (
        sa.select(
            PersonaObservation.tick_id,
            PersonaObservation.seq,
            PersonaObservation.kind,
            PersonaObservation.module,
            PersonaObservation.tool_name,
            PersonaObservation.action_seq,
            PersonaObservation.item_id,
            PersonaObservation.evidence,
            PersonaObservation.created_at,
        )
        .where(PersonaObservation.persona_id == persona_id)
        .order_by(PersonaObservation.created_at.desc(), PersonaObservation.id.desc())
        .limit(RECENT_OBSERVATIONS)
    )
    return persona, actions, ticks, feedback, observations


def detail_queries(persona_id: uuid.UUID) -> list[Query]:
    """Every statement the detail page runs for one persona, in order (the benchmark's
    baseline runs exactly these)."""
    return [Query(stmt, {"persona_id": persona_id}) for stmt in _detail_statements()]


async def get_persona_detail(session: AsyncSession, *, persona_id: uuid.UUID) -> PersonaDetailOut:
    """The persona, its newest actions and ticks, its ratings per module, its story and newest
    observations (issue 10): five indexed reads, the first one deciding the 404."""
    results = await _read(
        session, _detail_statements(), {"persona_id": persona_id}, required_first=True
    )
    if not results[0]:
        raise PersonaNotFound(persona_id)
    (persona,), actions, ticks, feedback, observations = results
    story = persona.pop("story")
    return PersonaDetailOut(
        persona=PersonaOut.model_validate(persona),
        recent_actions=_ACTIONS.validate_python(actions),
        recent_ticks=_TICKS.validate_python(ticks),
        feedback_by_module=_FEEDBACK.validate_python(feedback),
        # No row yet (before the first tick, or after `forget`): an empty story.
        story=Story() if story is None else story,
        recent_observations=_OBSERVATIONS.validate_python(observations),
    )


async def delete_persona(session: AsyncSession, *, user_id: uuid.UUID) -> PersonaDeleted:
    """Hard-delete a persona's user; the database cascades to everything it owns.

    Refuses non-persona users: an admin typo here would otherwise run the full user-delete
    chain on a real account.
    """
    user = await session.scalar(sa.select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.kind != "persona":
        raise NotAPersona(
            f"user {user_id} is a {user.kind} account, not a persona; this endpoint only "
            "deletes personas (kind='persona') — nothing was deleted"
        )
    email = user.email
    # Lock the shared spaces this persona is in (in id order, so concurrent deletes cannot
    # deadlock): two members of one space deleted at once would otherwise each still see the
    # other's membership and both leave the emptied space behind (PostgreSQL, read committed).
    await session.execute(
        sa.select(Space.id)
        .join(SpaceMember, SpaceMember.space_id == Space.id)
        .where(SpaceMember.user_id == user_id, Space.type != "personal")
        .order_by(Space.id)
        .with_for_update(of=Space)
    )
    await session.execute(sa.delete(User).where(User.id == user_id))
    session.expunge(user)
    orphaned = await delete_orphaned_shared_spaces(session)
    await session.flush()
    return PersonaDeleted(
        deleted=user_id, user_id=user_id, email=email, orphaned_spaces_deleted=orphaned
    )


# --- one tick with everything it left (admin tick detail) -----------------------------------

# Bounds what one page can pull in: a tick is capped far below this by the runner's turn limit
# and the ingest batch size, so these only guard against a runaway writer.
MAX_TICK_ACTIONS = 2000
MAX_TICK_OBSERVATIONS = 2000


class TickNotFound(NotFound):
    def __init__(self, tick_id: uuid.UUID) -> None:
        super().__init__(f"tick {tick_id} not found", details={"tickId": str(tick_id)})


@dataclass(frozen=True)
class TickDetail:
    tick: PersonaTick
    user: User
    actions: list[PersonaAction]
    feedback: list[PersonaFeedback]
    observations: list[PersonaObservation]


async def get_tick_detail(session: AsyncSession, *, tick_id: uuid.UUID) -> TickDetail:
    """Four indexed reads: the tick with its persona's user, then its rows by `tick_id`."""
    found = (
        await session.execute(
            sa.select(PersonaTick, User)
            .join(User, User.id == PersonaTick.persona_id)
            .where(PersonaTick.id == tick_id)
        )
    ).first()
    if found is None:
        raise TickNotFound(tick_id)
    tick, user = found.tuple()
    actions = await session.scalars(
        sa.select(PersonaAction)
        .where(PersonaAction.tick_id == tick_id)
        .order_by(PersonaAction.seq)
        .limit(MAX_TICK_ACTIONS)
    )
    feedback = await session.scalars(
        sa.select(PersonaFeedback)
        .where(PersonaFeedback.tick_id == tick_id)
        .order_by(PersonaFeedback.module)
    )
    observations = await session.scalars(
        sa.select(PersonaObservation)
        .where(PersonaObservation.tick_id == tick_id)
        .order_by(PersonaObservation.seq)
        .limit(MAX_TICK_OBSERVATIONS)
    )
    return TickDetail(
        tick=tick,
        user=user,
        actions=list(actions),
        feedback=list(feedback),
        observations=list(observations),
    )
