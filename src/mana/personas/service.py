"""Persona lifecycle (admin API) and the runner's bookkeeping (internal API).

Services flush, never commit: the caller (a request's DbSession, a CLI command, a bench) owns
the transaction, so "nothing written" on an error is simply the rollback of that transaction.

Everything a runner may retry is idempotent: the persona upsert by email, a tick start by its
client-chosen id, a tick finish by its content, audit rows by `(tick_id, seq)` and feedback by
`(tick_id, module)`. A retry that carries *different* content for the same key is refused
(409) instead of being silently dropped, because it means two writers disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth import passwords
from mana.auth import service as auth_service
from mana.auth.models import Space, SpaceMember, User
from mana.kit.errors import Conflict, InvalidInput, NotFound
from mana.personas.due import due_condition, due_order
from mana.personas.models import Persona, PersonaAction, PersonaFeedback, PersonaTick
from mana.personas.schemas import MAX_SIMULATED_OFFSET, ActionIn, FeedbackIn, Usage
from mana.spaces.service import delete_orphaned_shared_spaces

RECENT_ACTIONS = 20
RECENT_TICKS = 20
STATS_WINDOW = timedelta(days=7)


class NotAPersona(Conflict):
    error = "not_a_persona"


class PersonaNotFound(NotFound):
    def __init__(self, persona_id: uuid.UUID) -> None:
        super().__init__(f"persona {persona_id} not found")


def _insert_ignoring_conflicts(
    session: AsyncSession, table: sa.Table, conflict_columns: Sequence[str]
) -> sa.Insert:
    """`INSERT … ON CONFLICT (cols) DO NOTHING` in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


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


@dataclass(frozen=True)
class PersonaSummary:
    user_id: uuid.UUID
    email: str
    name: str | None
    archetype: str
    tick_cadence: str
    last_active_at: datetime | None
    created_at: datetime
    actions7d: int
    avg_rating7d: float | None


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
            PersonaFeedback.persona_id, sa.func.avg(PersonaFeedback.rating).label("avg_rating")
        )
        .where(PersonaFeedback.persona_id.in_(page_ids), PersonaFeedback.created_at >= since)
        .group_by(PersonaFeedback.persona_id)
        .subquery("ratings7d")
    )
    return (
        sa.select(
            personas,
            sa.func.coalesce(actions.c.n, 0).label("actions7d"),
            ratings.c.avg_rating,
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
) -> tuple[list[PersonaSummary], str | None]:
    """A page of personas by email, and the email to continue after (None on the last page)."""
    query = list_query(now=now, limit=limit + 1, archetype=archetype, after_email=after_email)
    rows = (await session.execute(query.statement, query.params)).all()
    items = [
        PersonaSummary(
            user_id=row.user_id,
            email=row.email,
            name=row.name,
            archetype=row.archetype,
            tick_cadence=row.tick_cadence,
            last_active_at=row.last_active_at,
            created_at=row.created_at,
            actions7d=int(row.actions7d),
            avg_rating7d=None if row.avg_rating is None else float(row.avg_rating),
        )
        for row in rows[:limit]
    ]
    return items, (items[-1].email if len(rows) > limit else None)


@dataclass(frozen=True)
class ModuleFeedback:
    module: str
    avg_rating: float
    count: int
    last_rating: int
    last_at: datetime


@dataclass(frozen=True)
class PersonaDetail:
    user: User
    persona: Persona
    recent_actions: list[PersonaAction]
    recent_ticks: list[PersonaTick]
    feedback_by_module: list[ModuleFeedback]


@lru_cache(maxsize=1)
def _detail_statements() -> tuple[
    sa.Select[Persona, User], sa.Select[PersonaAction], sa.Select[PersonaTick], sa.Select[Any]
]:
    """The four reads behind a persona's detail page, built once (bind parameter
    `persona_id`). Feedback per module: the real average and count over all ratings, and the
    newest rating."""
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
    return (
        sa.select(Persona, User)
        .join(User, User.id == Persona.user_id)
        .where(Persona.user_id == persona_id),
        sa.select(PersonaAction)
        .where(PersonaAction.persona_id == persona_id)
        .order_by(PersonaAction.created_at.desc(), PersonaAction.id.desc())
        .limit(RECENT_ACTIONS),
        sa.select(PersonaTick)
        .where(PersonaTick.persona_id == persona_id)
        .order_by(PersonaTick.started_at.desc(), PersonaTick.id)
        .limit(RECENT_TICKS),
        sa.select(
            ranked.c.module, ranked.c.avg_rating, ranked.c.n, ranked.c.rating, ranked.c.created_at
        )
        .where(ranked.c.rn == 1)
        .order_by(ranked.c.module),
    )


def detail_queries(persona_id: uuid.UUID) -> list[Query]:
    """The detail page's reads for one persona (exposed for the benchmark's baseline)."""
    return [Query(stmt, {"persona_id": persona_id}) for stmt in _detail_statements()]


async def get_persona_detail(session: AsyncSession, *, persona_id: uuid.UUID) -> PersonaDetail:
    persona_stmt, actions_stmt, ticks_stmt, feedback_stmt = _detail_statements()
    params = {"persona_id": persona_id}
    found = (await session.execute(persona_stmt, params)).first()
    if found is None:
        raise PersonaNotFound(persona_id)
    persona, user = found.tuple()
    actions = await session.scalars(actions_stmt, params)
    ticks = await session.scalars(ticks_stmt, params)
    feedback = await session.execute(feedback_stmt, params)
    return PersonaDetail(
        user=user,
        persona=persona,
        recent_actions=list(actions),
        recent_ticks=list(ticks),
        feedback_by_module=[
            ModuleFeedback(
                module=row.module,
                avg_rating=float(row.avg_rating),
                count=int(row.n),
                last_rating=int(row.rating),
                last_at=row.created_at,
            )
            for row in feedback
        ],
    )


@dataclass(frozen=True)
class DeleteResult:
    user_id: uuid.UUID
    email: str
    orphaned_spaces_deleted: int


async def delete_persona(session: AsyncSession, *, user_id: uuid.UUID) -> DeleteResult:
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
    await session.execute(sa.delete(User).where(User.id == user_id))
    session.expunge(user)
    orphaned = await delete_orphaned_shared_spaces(session)
    await session.flush()
    return DeleteResult(user_id=user_id, email=email, orphaned_spaces_deleted=orphaned)


# --- internal: due and claim --------------------------------------------------------------


@dataclass(frozen=True)
class PersonaSpace:
    id: uuid.UUID
    name: str
    type: str
    role: str


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


# --- internal: ticks ----------------------------------------------------------------------


async def _lock_persona(session: AsyncSession, persona_id: uuid.UUID) -> Persona:
    """The persona, with a key-share lock: a concurrent delete waits for this transaction, so
    rows we insert never hit a foreign-key error halfway (PostgreSQL; SQLite serialises)."""
    persona = await session.scalar(
        sa.select(Persona)
        .where(Persona.user_id == persona_id)
        .with_for_update(read=True, key_share=True)
    )
    if persona is None:
        raise PersonaNotFound(persona_id)
    return persona


def _differences(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    return [name for name, value in given.items() if stored[name] != value]


def _simulated_offset_ms(started_at: datetime, now: datetime) -> int:
    offset = started_at - now
    if abs(offset) > MAX_SIMULATED_OFFSET:
        raise InvalidInput(
            f"startedAt must be within {MAX_SIMULATED_OFFSET.days} days of the server's time "
            f"({now.isoformat()})",
            details=[{"field": "startedAt", "message": "too far from the server's time"}],
        )
    return round(offset / timedelta(milliseconds=1))


def tick_time(now: datetime, clock_offset_ms: int | None) -> datetime:
    """When something a tick writes happens on that tick's clock: the server's time for a
    live tick, shifted onto the simulated day for a tick started with `startedAt`. Every
    timestamp a tick writes (its finish, actions without a time, feedback, observations, the
    persona's last activity) goes through here, and so should alert evaluation at its finish."""
    return now if clock_offset_ms is None else now + timedelta(milliseconds=clock_offset_ms)


async def start_tick(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    tick_id: uuid.UUID | None,
    runner_id: str,
    brain: str,
    space_id: uuid.UUID | None,
    now: datetime,
    started_at: datetime | None = None,
) -> tuple[PersonaTick, bool]:
    """Create a tick row (`running`). The same tick id again returns the stored row
    (created=False) when it matches, and 409 when it belongs elsewhere or differs.

    `started_at` (a simulation's tick time) dates the tick on that time: the offset to `now`
    is stored, and everything the tick writes later is dated `server time + offset`, i.e. the
    simulated start plus the real time elapsed since (`tick_time`)."""
    offset_ms = None if started_at is None else _simulated_offset_ms(started_at, now)
    await _lock_persona(session, persona_id)
    if space_id is not None:
        member = await session.get(SpaceMember, (space_id, persona_id))
        if member is None:
            raise NotFound(
                f"space {space_id} is not one of this persona's spaces",
                details=[{"field": "spaceId", "message": "not one of this persona's spaces"}],
            )
    tick_id = tick_id or uuid.uuid4()
    table = PersonaTick.__table__
    inserted = await session.scalar(
        _insert_ignoring_conflicts(session, table, ["id"])  # type: ignore[arg-type]
        .values(
            id=tick_id,
            persona_id=persona_id,
            runner_id=runner_id,
            brain=brain,
            space_id=space_id,
            status="running",
            started_at=now if started_at is None else started_at,
            clock_offset_ms=offset_ms,
            tool_calls=0,
            errors=0,
        )
        .returning(table.c.id)
    )
    tick = await session.get(PersonaTick, tick_id, populate_existing=True)
    if tick is None:  # pragma: no cover - the row was just inserted or already existed
        raise NotFound(f"tick {tick_id} not found")
    if inserted is None:
        if tick.persona_id != persona_id:
            raise Conflict(f"tick id {tick_id} is already used by another persona")
        stored: dict[str, Any] = {
            "runnerId": tick.runner_id,
            "brain": tick.brain,
            "spaceId": tick.space_id,
        }
        given: dict[str, Any] = {"runnerId": runner_id, "brain": brain, "spaceId": space_id}
        if started_at is not None:  # a retried simulated start names the same time
            stored["startedAt"], given["startedAt"] = tick.started_at, started_at
        differing = _differences(stored, given)
        if differing:
            raise Conflict(
                f"tick {tick_id} was already started with a different {', '.join(differing)}",
                details=[
                    {"field": f, "message": "differs from the stored tick"} for f in differing
                ],
            )
    return tick, inserted is not None


async def finish_tick(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    tick_id: uuid.UUID,
    status: str,
    tool_calls: int,
    errors: int,
    summary: str | None,
    usage: Usage | None,
    error_message: str | None,
    now: datetime,
) -> tuple[PersonaTick, bool]:
    """Close a tick, mark the persona active and release its lease.

    Finishing again with identical content is a no-op (changed=False); different content is
    a 409. The lease is released only if the tick's runner holds it: a runner whose lease ran
    out must not free the persona under the runner that has claimed it since.
    """
    tick = await session.scalar(
        sa.select(PersonaTick)
        .where(PersonaTick.id == tick_id, PersonaTick.persona_id == persona_id)
        .with_for_update()
    )
    if tick is None:
        raise NotFound(f"tick {tick_id} not found for persona {persona_id}")
    usage_json = None if usage is None else usage.stored()
    given = {
        "status": status,
        "toolCalls": tool_calls,
        "errors": errors,
        "summary": summary,
        "usage": usage_json,
        "errorMessage": error_message,
    }
    if tick.status != "running":
        stored = {
            "status": tick.status,
            "toolCalls": tick.tool_calls,
            "errors": tick.errors,
            "summary": tick.summary,
            "usage": tick.usage,
            "errorMessage": tick.error_message,
        }
        differing = _differences(stored, given)
        if differing:
            raise Conflict(
                f"tick {tick_id} is already finished with a different {', '.join(differing)}",
                details=[
                    {"field": f, "message": "differs from the finished tick"} for f in differing
                ],
            )
        return tick, False
    tick.status = status
    tick.tool_calls = tool_calls
    tick.errors = errors
    tick.summary = summary
    tick.usage = usage_json
    tick.error_message = error_message
    now = tick_time(now, tick.clock_offset_ms)
    tick.finished_at = now
    # Never backwards: a simulated past tick must not make a persona that was active since
    # look idle (and so due) to a live runner.
    await session.execute(
        sa.update(Persona)
        .where(
            Persona.user_id == persona_id,
            sa.or_(Persona.last_active_at.is_(None), Persona.last_active_at < now),
        )
        .values(last_active_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Persona)
        .where(
            Persona.user_id == persona_id,
            sa.or_(Persona.leased_by == tick.runner_id, Persona.leased_by.is_(None)),
        )
        .values(leased_until=None, leased_by=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return tick, True


# --- internal: audit rows -----------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    inserted: int
    duplicates: int


async def _check_ticks(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    tick_ids: Sequence[uuid.UUID],
    collection: str,
) -> dict[uuid.UUID, int | None]:
    """Every row's tick must be one of this persona's ticks: 404 naming each offending row.
    Returns each tick's clock offset, to date the rows on their tick's clock (`tick_time`)."""
    wanted = set(tick_ids)
    rows = await session.execute(
        sa.select(PersonaTick.id, PersonaTick.clock_offset_ms).where(
            PersonaTick.id.in_(wanted), PersonaTick.persona_id == persona_id
        )
    )
    owned: dict[uuid.UUID, int | None] = dict(rows.tuples().all())
    bad = [
        {"field": f"{collection}[{index}].tickId", "message": "no such tick for this persona"}
        for index, tick_id in enumerate(tick_ids)
        if tick_id not in owned
    ]
    if bad:
        raise NotFound(
            f"{len(bad)} {collection} row(s) name a tick that is not this persona's "
            f"(first: {bad[0]['field']})",
            details=bad,
        )
    return owned


def _reject_duplicate_keys(keys: Sequence[tuple[Any, ...]], collection: str, key: str) -> None:
    first_at: dict[tuple[Any, ...], int] = {}
    bad = []
    for index, value in enumerate(keys):
        if value in first_at:
            bad.append(
                {
                    "field": f"{collection}[{index}].{key}",
                    "message": f"duplicates {collection}[{first_at[value]}] (same tickId and {key})",
                }
            )
        else:
            first_at[value] = index
    if bad:
        raise InvalidInput(f"{collection}: the same key appears twice in one batch", details=bad)


async def _insert_batch(
    session: AsyncSession,
    *,
    table: sa.Table,
    key_columns: tuple[str, str],
    rows: list[dict[str, Any]],
    compared: list[tuple[str, ...]],
    collection: str,
) -> IngestResult:
    """One batched `INSERT … ON CONFLICT DO NOTHING RETURNING key`, then a content check of the
    rows that were already there: equal → a harmless retry, different → 409 (the caller's
    transaction rolls back, so nothing of the batch is written).

    `compared[i]` names the columns that make up row i's content.
    """
    if not rows:
        return IngestResult(inserted=0, duplicates=0)
    first, second = key_columns
    stmt = _insert_ignoring_conflicts(session, table, key_columns).returning(
        table.c[first], table.c[second]
    )
    inserted = {(a, b) for a, b in (await session.execute(stmt, rows)).tuples()}
    conflicting = [i for i, row in enumerate(rows) if (row[first], row[second]) not in inserted]
    if conflicting:
        columns = sorted({name for i in conflicting for name in compared[i]})
        stored_rows = await session.execute(
            sa.select(table.c[first], table.c[second], *(table.c[name] for name in columns)).where(
                table.c[first].in_({rows[i][first] for i in conflicting}),
                table.c[second].in_({rows[i][second] for i in conflicting}),
            )
        )
        stored = {(r[0], r[1]): r._mapping for r in stored_rows}
        bad = []
        for index in conflicting:
            row = rows[index]
            existing = stored[(row[first], row[second])]
            differing = [name for name in compared[index] if existing[name] != row[name]]
            if differing:
                bad.append(
                    {
                        "field": f"{collection}[{index}]",
                        "message": "differs from the stored row in " + ", ".join(differing),
                    }
                )
        if bad:
            raise Conflict(
                f"{len(bad)} {collection} row(s) were already recorded with different content",
                details=bad,
            )
    return IngestResult(inserted=len(inserted), duplicates=len(conflicting))


_ACTION_CONTENT = ("tool_name", "input_hash", "result", "error_message", "latency_ms")


async def record_actions(
    session: AsyncSession, *, persona_id: uuid.UUID, actions: Sequence[ActionIn], now: datetime
) -> IngestResult:
    """Store a batch of tool-call audit rows, idempotent on (tick_id, seq)."""
    await _lock_persona(session, persona_id)
    _reject_duplicate_keys([(a.tick_id, a.seq) for a in actions], "actions", "seq")
    offsets = await _check_ticks(
        session, persona_id=persona_id, tick_ids=[a.tick_id for a in actions], collection="actions"
    )
    rows = [
        {
            "persona_id": persona_id,
            "tick_id": a.tick_id,
            "seq": a.seq,
            "tool_name": a.tool_name,
            "input_hash": a.input_hash.lower(),
            "result": a.result,
            "error_message": a.error_message,
            "latency_ms": a.latency_ms,
            "created_at": a.created_at or tick_time(now, offsets[a.tick_id]),
        }
        for a in actions
    ]
    return await _insert_batch(
        session,
        table=PersonaAction.__table__,  # type: ignore[arg-type]
        key_columns=("tick_id", "seq"),
        rows=rows,
        # A client timestamp is content; a defaulted one ("now") differs on every retry.
        compared=[
            (*_ACTION_CONTENT, "created_at") if a.created_at else _ACTION_CONTENT for a in actions
        ],
        collection="actions",
    )


async def record_feedback(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    feedback: Sequence[FeedbackIn],
    now: datetime,
) -> IngestResult:
    """Store a batch of per-module ratings, idempotent on (tick_id, module)."""
    await _lock_persona(session, persona_id)
    _reject_duplicate_keys([(f.tick_id, f.module) for f in feedback], "feedback", "module")
    offsets = await _check_ticks(
        session,
        persona_id=persona_id,
        tick_ids=[f.tick_id for f in feedback],
        collection="feedback",
    )
    rows = [
        {
            "persona_id": persona_id,
            "tick_id": f.tick_id,
            "module": f.module,
            "rating": f.rating,
            "notes": f.notes,
            "created_at": tick_time(now, offsets[f.tick_id]),
        }
        for f in feedback
    ]
    return await _insert_batch(
        session,
        table=PersonaFeedback.__table__,  # type: ignore[arg-type]
        key_columns=("tick_id", "module"),
        rows=rows,
        compared=[("rating", "notes")] * len(rows),
        collection="feedback",
    )
