"""Findings queries give the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings import clusters, queries
from mana.findings.normalise import fingerprint, normalise
from mana.findings.queries import Window
from mana.personas.models import PersonaAction, PersonaTick
from tests.findings.history import far_start, write_personas

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """The shared database of this backend; the test's rows live in a window of their own."""
    engine = create_engine(database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


async def write_calls(
    session: AsyncSession, *, at: datetime, calls: list[tuple[uuid.UUID, str, str | None, int]]
) -> list[uuid.UUID]:
    """One tick per call: (persona, tool, error message or None, latency)."""
    ticks = []
    for n, (persona_id, tool, error, latency) in enumerate(calls):
        tick_id = uuid.uuid4()
        ticks.append(tick_id)
        when = at + timedelta(minutes=n)
        session.add(
            PersonaTick(
                id=tick_id,
                persona_id=persona_id,
                runner_id="queries-test",
                brain="scripted",
                status="ok",
                started_at=when,
            )
        )
        await session.flush()
        await session.execute(
            sa.insert(PersonaAction),
            [
                {
                    "persona_id": persona_id,
                    "tick_id": tick_id,
                    "seq": 0,
                    "tool_name": tool,
                    "input_hash": hashlib.sha256(tick_id.bytes).hexdigest(),
                    "result": "error" if error else "ok",
                    "error_message": error,
                    "latency_ms": latency,
                    "created_at": when,
                }
            ],
        )
    return ticks


def day_window(start: datetime) -> Window:
    return Window(start=start, end=start + timedelta(days=1))


async def test_clusters_group_messages_that_differ_only_in_ids_numbers_and_dates(
    session: AsyncSession,
) -> None:
    (alice, bob, carol), _ = await write_personas(session, 3)
    start = datetime.combine(far_start(), time(0), tzinfo=UTC)
    same = [
        f"todo {uuid.uuid4()} not found",
        f"todo {uuid.uuid4()} not found",
        f"todo {uuid.uuid4().hex} not found",
    ]
    ticks = await write_calls(
        session,
        at=start,
        calls=[
            (alice, "todo.update", same[0], 10),
            (bob, "todo.update", same[1], 10),
            (alice, "todo.update", same[2], 10),
            (carol, "todo.update", "title must not be empty", 10),
            (carol, "todo.complete", same[0], 10),  # another tool: another cluster
            (alice, "calendar.create", "event at 2031-03-04T10:00:00Z overlaps 3 others", 10),
            (bob, "calendar.create", "event at 2032-11-30 09:15 overlaps 12 others", 10),
            (bob, "calendar.create", None, 10),  # a success is no failure
        ],
    )

    found = await clusters.error_clusters(session, window=day_window(start))

    by_key = {(c.tool, c.message): c for c in found}
    assert set(by_key) == {
        ("todo.update", "todo <id> not found"),
        ("todo.update", "title must not be empty"),
        ("todo.complete", "todo <id> not found"),
        ("calendar.create", "event at <date> overlaps <n> others"),
    }
    not_found = by_key["todo.update", "todo <id> not found"]
    assert (not_found.count, not_found.personas) == (3, 2)
    assert not_found.first_seen == start
    assert not_found.last_seen == start + timedelta(minutes=2)
    assert not_found.example_tick_id == ticks[2]  # the latest occurrence
    assert not_found.example_message in same
    assert not_found.fingerprint == fingerprint("todo.update", normalise(same[0]))
    assert by_key["calendar.create", "event at <date> overlaps <n> others"].personas == 2
    assert found[0] is not_found  # most frequent first


async def test_latency_percentiles_interpolate_like_percentile_cont(session: AsyncSession) -> None:
    (alice,), _ = await write_personas(session, 1)
    start = datetime.combine(far_start(), time(0), tzinfo=UTC)
    await write_calls(
        session,
        at=start,
        calls=[(alice, "notes.create", None, ms) for ms in range(100, 0, -1)]
        + [(alice, "notes.list", None, 10), (alice, "notes.list", "boom", 20)]
        + [(alice, "mood.log", None, 7)],
    )

    tools = await queries.tool_figures(session, window=day_window(start))

    assert (tools["notes.create"].p50_ms, tools["notes.create"].p95_ms) == (
        50.5,
        pytest.approx(95.05),
    )
    assert (tools["notes.list"].p50_ms, tools["notes.list"].p95_ms) == (15.0, 19.5)
    assert (tools["notes.list"].calls, tools["notes.list"].errors) == (2, 1)
    assert (tools["mood.log"].p50_ms, tools["mood.log"].p95_ms) == (7.0, 7.0)
    only_notes = await queries.tool_figures(session, window=day_window(start), module="notes")
    assert set(only_notes) == {"notes.create", "notes.list"}
    covered = queries.coverage(tools.values(), module="notes")
    assert "notes.create" not in covered.never_called and "notes.search" in covered.never_called
    assert covered.always_failing == []
