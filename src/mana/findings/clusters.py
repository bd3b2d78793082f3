"""Error clusters (Sentry-style): failures grouped by tool and normalised message.

On PostgreSQL the normalisation runs in SQL and the grouping happens there; on SQLite (no
`regexp_replace`) rows are grouped by raw message and persona in SQL and merged here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.ext.asyncio import AsyncSession

from mana.findings.normalise import fingerprint, normalise, normalise_sql
from mana.findings.queries import Window, in_window, is_postgres, module_of, tool_of_module
from mana.personas.models import PersonaAction


@dataclass
class Cluster:
    fingerprint: str
    tool: str
    message: str
    example_message: str
    count: int
    first_seen: datetime
    last_seen: datetime
    personas: int
    example_tick_id: uuid.UUID

    @property
    def module(self) -> str:
        return module_of(self.tool)


async def error_clusters(
    session: AsyncSession,
    *,
    window: Window,
    module: str | None = None,
    limit: int | None = None,
) -> list[Cluster]:
    """Failures grouped by tool and normalised message, most frequent first."""
    # A literal, not a bound parameter: a generic plan could not match the partial index
    # `WHERE result = 'error'` with a parameter.
    failed = PersonaAction.result == sa.literal_column("'error'")
    condition = sa.and_(failed, in_window(PersonaAction.created_at, window))
    if module is not None:
        condition = sa.and_(condition, tool_of_module(module))
    if is_postgres(session):
        clusters = await _clusters_postgres(session, condition)
    else:
        clusters = await _clusters_sqlite(session, condition)
    clusters.sort(key=lambda c: (-c.count, -c.last_seen.timestamp(), c.fingerprint))
    return clusters[:limit] if limit is not None else clusters


async def _clusters_postgres(
    session: AsyncSession, condition: sa.ColumnElement[bool]
) -> list[Cluster]:
    failures = (
        sa.select(
            PersonaAction.tool_name.label("tool"),
            normalise_sql(PersonaAction.error_message).label("message"),
            PersonaAction.error_message.label("raw"),
            PersonaAction.persona_id,
            PersonaAction.tick_id,
            PersonaAction.created_at,
        )
        .where(condition)
        .subquery()
    )
    c = failures.c
    rows = await session.execute(
        sa.select(
            c.tool,
            c.message,
            sa.func.count(),
            sa.func.min(c.created_at),
            sa.func.max(c.created_at),
            sa.func.count(sa.distinct(c.persona_id)),
            array_agg(aggregate_order_by(c.tick_id, c.created_at.desc()))[1],
            sa.func.max(c.raw),
        ).group_by(c.tool, c.message)
    )
    return [
        Cluster(
            fingerprint=fingerprint(tool, message),
            tool=tool,
            message=message,
            example_message=raw or "",
            count=int(count),
            first_seen=first,
            last_seen=last,
            personas=int(personas),
            example_tick_id=tick,
        )
        for tool, message, count, first, last, personas, tick, raw in rows
    ]


async def _clusters_sqlite(
    session: AsyncSession, condition: sa.ColumnElement[bool]
) -> list[Cluster]:
    # Grouped by raw message and persona in SQL, merged by normalised message here: the
    # embedded database has no regexp_replace. Bounded by the distinct failures in the window.
    created = PersonaAction.created_at
    rows = await session.execute(
        sa.select(
            PersonaAction.tool_name,
            PersonaAction.error_message,
            PersonaAction.persona_id,
            sa.func.count(),
            sa.func.min(created),
            sa.func.max(created),
            sa.func.max(PersonaAction.tick_id),
        )
        .where(condition)
        .group_by(PersonaAction.tool_name, PersonaAction.error_message, PersonaAction.persona_id)
    )
    merged: dict[str, Cluster] = {}
    personas: dict[str, set[uuid.UUID]] = defaultdict(set)
    for tool, raw, persona_id, count, first, last, tick in rows:
        first, last = _aware(first), _aware(last)
        message = normalise(raw)
        key = fingerprint(tool, message)
        personas[key].add(persona_id)
        cluster = merged.get(key)
        tick_id = tick if isinstance(tick, uuid.UUID) else uuid.UUID(str(tick))
        if cluster is None:
            merged[key] = Cluster(
                key, tool, message, raw or "", int(count), first, last, 0, tick_id
            )
            continue
        cluster.count += int(count)
        cluster.first_seen = min(cluster.first_seen, first)
        if last > cluster.last_seen:
            cluster.last_seen, cluster.example_tick_id = last, tick_id
        cluster.example_message = max(cluster.example_message, raw or "")
    for key, cluster in merged.items():
        cluster.personas = len(personas[key])
    return list(merged.values())


def _aware(value: datetime | str) -> datetime:
    # min()/max() over a UTCDateTime column come back as SQLite's naive text.
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
