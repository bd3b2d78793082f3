"""The internal API's simulated ticks: a tick started at `startedAt` dates everything it writes
on that time (start + the real time elapsed), so a simulation's history lands on its days, and
the alert evaluation its finish schedules is taken as of that time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mana.db import create_engine, create_sessionmaker
from mana.findings.delivery import AlertEvaluator, AlertNotifier
from mana.findings.settings import AlertSettings
from mana.kit.clock import Clock
from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, action, app_now, sql_id

INTERNAL = "/api/v1/internal/personas"
# Real time a test may take between its requests (a loaded machine).
SLACK = timedelta(seconds=60)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _between(value: Any, low: datetime, high: datetime) -> bool:
    return low <= _aware(value) <= high


def test_a_simulated_tick_dates_its_actions_feedback_finish_and_last_activity_on_its_day(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    started = (app_now(personas.auth) - timedelta(days=9)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    tick_id = personas.start_tick(persona_id, startedAt=started.isoformat())
    client_dated = started + timedelta(seconds=1)
    assert personas.post_actions(
        persona_id,
        [action(tick_id, 0), action(tick_id, 1, createdAt=client_dated.isoformat())],
    ).is_success
    personas.rate(persona_id, tick_id, {"todo": 4})
    assert personas.finish_tick(persona_id, tick_id, toolCalls=2).is_success

    tick = db.fetch(
        "SELECT started_at, finished_at FROM auth.persona_ticks WHERE id=:t",
        t=sql_id(db, tick_id),
    )[0]
    assert _aware(tick.started_at) == started
    assert _between(tick.finished_at, started, started + SLACK)
    created = [
        row.created_at
        for row in db.fetch(
            "SELECT created_at FROM auth.persona_actions WHERE tick_id=:t ORDER BY seq",
            t=sql_id(db, tick_id),
        )
    ]
    assert _between(created[0], started, started + SLACK)  # defaulted: on the tick's clock
    assert _aware(created[1]) == client_dated  # a client's time is kept as sent
    feedback_at = db.scalar(
        "SELECT created_at FROM auth.persona_feedback WHERE tick_id=:t", t=sql_id(db, tick_id)
    )
    assert _between(feedback_at, started, started + SLACK)
    detail = personas.detail(persona_id)
    assert _aware(detail["persona"]["lastActiveAt"]) == _aware(tick.finished_at)


def test_a_live_tick_is_still_dated_now_and_a_simulated_past_never_moves_last_activity_back(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    before = app_now(personas.auth)
    live = personas.start_tick(persona_id)
    personas.rate(persona_id, live, {"mood": 5})
    assert personas.finish_tick(persona_id, live).is_success
    active = _aware(personas.detail(persona_id)["persona"]["lastActiveAt"])
    assert _between(active, before, app_now(personas.auth))

    past = personas.start_tick(persona_id, startedAt=(before - timedelta(days=3)).isoformat())
    assert personas.finish_tick(persona_id, past).is_success

    detail = personas.detail(persona_id)
    assert _aware(detail["persona"]["lastActiveAt"]) == active
    ratings = {t["tickId"]: t for t in detail["recentTicks"]}
    assert _aware(ratings[past]["finishedAt"]) < before - timedelta(days=2)


def test_simulated_start_is_idempotent_on_its_time_and_refused_far_from_the_server_clock(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    now = app_now(personas.auth)
    tick_id = str(uuid.uuid4())
    body = {
        "tickId": tick_id,
        "runnerId": "sim",
        "brain": "scripted",
        "startedAt": (now - timedelta(days=2)).isoformat(),
    }
    with personas.internal() as client:
        first = client.post(f"{INTERNAL}/{persona_id}/ticks", json=body)
        again = client.post(f"{INTERNAL}/{persona_id}/ticks", json=body)
        moved = client.post(
            f"{INTERNAL}/{persona_id}/ticks",
            json={**body, "startedAt": (now - timedelta(days=1)).isoformat()},
        )
        too_old = client.post(
            f"{INTERNAL}/{persona_id}/ticks",
            json={**body, "tickId": None, "startedAt": (now - timedelta(days=401)).isoformat()},
        )
        naive = client.post(
            f"{INTERNAL}/{persona_id}/ticks",
            json={**body, "tickId": None, "startedAt": "2026-11-20T09:00:00"},
        )

    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert moved.status_code == 409 and "startedAt" in moved.json()["message"]
    assert too_old.status_code == 422, too_old.text
    assert too_old.json()["details"][0]["field"] == "startedAt"
    assert naive.status_code == 422, naive.text


@pytest.mark.anyio
async def test_alert_evaluation_after_a_simulated_tick_is_taken_as_of_that_tick(
    fresh_database_url: str,
) -> None:
    class NoClock(Clock):
        """Reading the clock fails: an evaluation that succeeds did not use it."""

        def now(self) -> datetime:
            raise RuntimeError("the evaluation read the server's clock")

    engine = create_engine(fresh_database_url)
    settings = AlertSettings(_env_file=None, debounce_seconds=0)  # type: ignore[call-arg]
    sessions = create_sessionmaker(engine)
    evaluator = AlertEvaluator(
        sessions, NoClock(), settings, AlertNotifier(settings, sessions, NoClock())
    )
    try:
        await evaluator.poke(as_of=datetime.now(UTC) - timedelta(days=9))
        async with asyncio.timeout(30):
            await evaluator.wait_idle()
        assert evaluator.runs == 1
    finally:
        await evaluator.stop()
        await engine.dispose()
