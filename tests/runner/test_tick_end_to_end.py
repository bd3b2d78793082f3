"""One tick, end to end, against the real auth service and MCP server on 127.0.0.1: what the
runner records matches what the personas did in the product's own tables."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest

from mana.kit.clock import FrozenClock
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.metrics import RunnerMetrics
from mana.runner.tick import TickReport, run_tick
from mana.runner.types import ActionRecord
from tests.fixtures.personas import sql_id
from tests.fixtures.runner import (
    ALL_MODULES,
    ROW_PER_CALL,
    RUN_TIMEOUT_SECONDS,
    RunnerWorld,
    auth_proxy,
    by_email,
    in_process_runner,
    metric_value,
    tick_by_email,
    usage_of,
)
from tests.personas.seed_support import unique_catalog

# Tools whose arguments carry ids the product chose (they differ between two runs).
ID_ARGUMENTS = {
    "todo.complete",
    "todo.update",
    "notes.update",
    "habits.log",
    "habits.recent",
    "contacts.update",
}


def check_recorded(world: RunnerWorld, report: TickReport) -> None:
    """The stored tick, actions and ratings are exactly the report's, and the product's
    tables hold exactly the rows the successful calls created."""
    persona_id = str(report.persona.user_id)
    (tick,) = world.ticks(persona_id)
    assert tick.status == "ok", tick.error_message
    assert tick.brain == "scripted"
    assert tick.tool_calls == len(report.actions) > 0
    assert tick.errors == sum(1 for a in report.actions if a.result == "error")
    assert tick.summary == report.summary() and "\n" not in tick.summary
    assert usage_of(tick) == {
        "inputTokens": 0,
        "outputTokens": 0,
        "tokens": 0,
        "costUsd": 0.0,
        "modelCalls": 0,
    }
    assert tick.finished_at is not None
    assert report.space is not None
    assert str(uuid.UUID(str(tick.space_id))) == str(report.space.id)
    assert world.lease(persona_id) == (None, None)

    stored = world.actions(tick.id)
    assert [a.seq for a in stored] == list(range(len(report.actions)))
    assert [(a.tool_name, a.input_hash, a.result, a.error_message) for a in stored] == [
        (a.tool_name, a.input_hash, a.result, a.error_message) for a in report.actions
    ]
    assert all(a.latency_ms >= 0 for a in stored)
    assert all(a.error_message for a in stored if a.result == "error")

    modules_used = {a.tool_name.split(".")[0] for a in stored}
    feedback = world.feedback(tick.id)
    assert {f.module for f in feedback} == modules_used
    assert all(1 <= f.rating <= 5 and f.notes for f in feedback)

    ok_calls = Counter(a.tool_name for a in stored if a.result == "ok")
    for tool, table in ROW_PER_CALL.items():
        rows = world.rows_created_by(table, persona_id)
        assert len(rows) == ok_calls[tool], (report.persona.email, tool)
        # Written as the persona, in the space the tick chose (the X-Mana-Space header).
        assert {str(uuid.UUID(str(r.space_id))) for r in rows} <= {str(report.space.id)}
    new_logs = [
        a
        for a in report.actions
        if a.tool_name == "habits.log" and a.result == "ok" and not a.output["alreadyLogged"]
    ]
    assert len(world.rows_created_by("app.habit_logs", persona_id)) == len(new_logs)


def test_one_tick_of_every_catalog_persona_is_recorded_and_matches_the_product(
    runner_world: RunnerWorld, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=10, spaces=5)
    runner_world.seed_catalog(catalog)
    metrics = RunnerMetrics()

    reports = tick_by_email(
        runner_world.settings(persona_concurrency=4),
        [p.email for p in catalog.personas],
        brain=ScriptedBrain(catalog),
        metrics=metrics,
    )

    assert sorted(by_email(reports)) == sorted(p.email for p in catalog.personas)
    assert all(r.status == "ok" and r.posted for r in reports), [
        (r.persona.email, r.error_message) for r in reports if r.failed
    ]
    for report in reports:
        check_recorded(runner_world, report)
    # Shared spaces were visited as well as personal ones (5 pairs, ~30% each: not every time,
    # so only the spaces' membership is checked, not that one was chosen).
    for report in reports:
        assert report.space is not None
        assert report.space.id in {s.id for s in report.persona.spaces}

    exposition = generate_latest(metrics.registry).decode()
    actions = [a for r in reports for a in r.actions]
    assert metric_value(exposition, "persona_ticks_total", status="ok") == 10
    assert metric_value(exposition, "persona_tick_duration_seconds_count") == 10
    assert metric_value(exposition, "persona_ticks_in_flight") == 0
    for (tool, result), count in Counter((a.tool_name, a.result) for a in actions).items():
        assert metric_value(exposition, "persona_tool_calls_total", tool=tool, result=result) == (
            count
        )
    errors = sum(1 for a in actions if a.result == "error")
    assert metric_value(exposition, "persona_errors_total") == errors
    # No user ids or emails in metric labels.
    for report in reports:
        assert str(report.persona.user_id) not in exposition
        assert report.persona.email not in exposition
    assert "@" not in exposition


def sequence(actions: list[ActionRecord]) -> list[tuple[str, str, str | None]]:
    return [
        (a.tool_name, a.result, None if a.tool_name in ID_ARGUMENTS else a.input_hash)
        for a in actions
    ]


def test_the_scripted_brain_repeats_a_day_exactly_for_the_same_seed(
    runner_world: RunnerWorld,
) -> None:
    """Two fresh personas with the same profile and the same seed make the same calls with the
    same results; only ids the product chose (and so arguments holding them) differ."""
    emails = [
        runner_world.create_persona(module_mix=ALL_MODULES, archetype="overwhelmed-newbie")[1]
        for _ in range(2)
    ]
    clock = FrozenClock(datetime.now(UTC))

    async def run() -> list[TickReport]:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(runner_world.settings(), clock=clock) as runner:
                reports = []
                for email in emails:
                    profile = await runner.internal.claim_one(
                        email=email, runner_id=runner.runner_id, lease_seconds=90
                    )
                    assert profile is not None
                    reports.append(await run_tick(profile, ScriptedBrain(), runner.deps, seed=7))
                return reports

    first, second = asyncio.run(run())
    assert first.status == second.status == "ok"
    assert len(first.actions) >= 4
    assert sequence(first.actions) == sequence(second.actions)
    assert [(r.module, r.rating, r.notes) for r in first.ratings] == [
        (r.module, r.rating, r.notes) for r in second.ratings
    ]
    for report in (first, second):
        (tick,) = runner_world.ticks(str(report.persona.user_id))
        assert [(a.tool_name, a.result) for a in runner_world.actions(tick.id)] == [
            (a.tool_name, a.result) for a in first.actions
        ]


def test_a_persona_logs_in_once_and_refreshes_its_session_on_the_next_tick(
    runner_world: RunnerWorld,
) -> None:
    _, email = runner_world.create_persona(module_mix={"journal": 1})
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):

        async def run() -> list[TickReport]:
            settings = runner_world.settings(auth_url=proxy_url)
            async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
                async with in_process_runner(settings) as runner:
                    first, _ = await runner.tick_by_email([email])
                    second, _ = await runner.tick_by_email([email])
                    return first + second

        reports = asyncio.run(run())
    assert [r.status for r in reports] == ["ok", "ok"]
    assert proxy.count("POST", "/api/v1/auth/login") == 1
    assert proxy.count("POST", "/api/v1/auth/refresh") == 1
    assert runner_world.tick_statuses(runner_world.user_id(email)) == ["ok", "ok"]


def test_a_tick_runs_as_the_persona_itself_with_its_own_token(runner_world: RunnerWorld) -> None:
    """Rows carry the persona's user id: no service identity writes on its behalf."""
    persona_id, email = runner_world.create_persona(module_mix={"todo": 1})
    (report,) = tick_by_email(runner_world.settings(), [email])
    assert report.status == "ok"
    created = runner_world.db.fetch(
        "SELECT created_by FROM app.todos WHERE space_id = :s",
        s=sql_id(runner_world.db, report.space.id if report.space else uuid.uuid4()),
    )
    assert created and {str(uuid.UUID(str(r.created_by))) for r in created} == {persona_id}
