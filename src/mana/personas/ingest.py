"""The runner's bookkeeping on the internal API: tick start/finish, tool-call audit rows and
ratings.

Everything a runner may retry is idempotent: a tick start by its client-chosen id, a tick
finish by its content, audit rows by `(tick_id, seq)` and feedback by `(tick_id, module)`. A
retry that carries *different* content for the same key is refused (409) instead of being
silently dropped, because it means two writers disagree. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import SpaceMember
from mana.kit.errors import Conflict, InvalidInput, NotFound
from mana.personas.contract import (
    MAX_SIMULATED_OFFSET,
    ActionIn,
    FeedbackIn,
    ObservationIn,
    TickUsage,
)
from mana.personas.errors import PersonaNotFound
from mana.personas.models import (
    NOT_A_DAY_STATUSES,
    Persona,
    PersonaAction,
    PersonaFeedback,
    PersonaObservation,
    PersonaTick,
)


def _insert_ignoring_conflicts(
    session: AsyncSession, table: sa.Table, conflict_columns: Sequence[str]
) -> sa.Insert:
    """`INSERT … ON CONFLICT (cols) DO NOTHING` in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


# --- internal: ticks ----------------------------------------------------------------------


async def lock_persona(session: AsyncSession, persona_id: uuid.UUID) -> Persona:
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
    await lock_persona(session, persona_id)
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
    usage: TickUsage | None,
    error_message: str | None,
    now: datetime,
) -> tuple[PersonaTick, bool]:
    """Close a tick, mark the persona active and release its lease.

    Finishing again with identical content is a no-op (changed=False); different content is
    a 409. The lease is released only if the tick's runner holds it: a runner whose lease ran
    out must not free the persona under the runner that has claimed it since.

    `unavailable` (a service the tick needed was unreachable) leaves `last_active_at` alone:
    the persona's day is not used up. A tick the server closed as `abandoned` takes the real
    outcome when it arrives late (from a runner's spool), but its lease is not touched: the
    abandon already let the persona go.
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
    late = tick.status == "abandoned"
    if tick.status != "running" and not late:
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
    if status not in NOT_A_DAY_STATUSES:
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
    if not late:
        await session.execute(
            sa.update(Persona)
            .where(
                Persona.user_id == persona_id,
                sa.or_(Persona.leased_by == tick.runner_id, Persona.leased_by.is_(None)),
            )
            .values(leased_until=None, leased_by=None, lease_claim_id=None)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    return tick, True


# --- internal: audit rows -----------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    inserted: int
    duplicates: int


async def check_ticks(
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
    owned: dict[uuid.UUID, int | None] = dict(rows.all())
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
    inserted = {(a, b) for a, b in await session.execute(stmt, rows)}
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


async def _admit_batch(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    keys: Sequence[tuple[uuid.UUID, Any]],
    collection: str,
    key: str,
) -> dict[uuid.UUID, int | None]:
    """What every batch goes through before its insert: the persona locked, no key twice in
    the batch, every row's tick one of this persona's. Returns each tick's clock offset."""
    await lock_persona(session, persona_id)
    _reject_duplicate_keys(keys, collection, key)
    return await check_ticks(
        session, persona_id=persona_id, tick_ids=[k[0] for k in keys], collection=collection
    )


_ACTION_CONTENT = ("tool_name", "input_hash", "result", "error_message", "latency_ms")


async def record_actions(
    session: AsyncSession, *, persona_id: uuid.UUID, actions: Sequence[ActionIn], now: datetime
) -> IngestResult:
    """Store a batch of tool-call audit rows, idempotent on (tick_id, seq)."""
    offsets = await _admit_batch(
        session,
        persona_id=persona_id,
        keys=[(a.tick_id, a.seq) for a in actions],
        collection="actions",
        key="seq",
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
    offsets = await _admit_batch(
        session,
        persona_id=persona_id,
        keys=[(f.tick_id, f.module) for f in feedback],
        collection="feedback",
        key="module",
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


_OBSERVATION_CONTENT = ("kind", "module", "tool_name", "action_seq", "item_id", "evidence")


async def record_observations(
    session: AsyncSession,
    *,
    persona_id: uuid.UUID,
    observations: Sequence[ObservationIn],
    now: datetime,
) -> IngestResult:
    """Store a batch of observations, idempotent on (tick_id, seq)."""
    offsets = await _admit_batch(
        session,
        persona_id=persona_id,
        keys=[(o.tick_id, o.seq) for o in observations],
        collection="observations",
        key="seq",
    )
    rows = [
        {
            "persona_id": persona_id,
            "tick_id": o.tick_id,
            "seq": o.seq,
            "kind": o.kind,
            "module": o.module,
            "tool_name": o.tool_name,
            "action_seq": o.action_seq,
            "item_id": o.item_id,
            "evidence": o.evidence,
            "created_at": tick_time(now, offsets[o.tick_id]),
        }
        for o in observations
    ]
    return await _insert_batch(
        session,
        table=PersonaObservation.__table__,  # type: ignore[arg-type]
        key_columns=("tick_id", "seq"),
        rows=rows,
        compared=[_OBSERVATION_CONTENT] * len(rows),
        collection="observations",
    )
