"""A tick under faults, against the real servers: a persona that cannot log in, a brain that
crashes, postings that fail or lose their answers, a tool that hangs past the timeout, a rating
answer that is unusable, a runner stopped mid-tick. Whatever happens, the tick is finished and
recorded, nothing is posted twice, and the other personas carry on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from anyio import ClosedResourceError
from prometheus_client import generate_latest

from mana.clients.internal import ACTION_BATCH, InternalApi
from mana.runner.brains.base import DayContext, Experience, ToolBox
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.metrics import RunnerMetrics
from mana.runner.types import ActionRecord, ModuleRating, RatingOutcome
from mana.tools.habits import LogHabit
from tests.fixtures.mcp import McpService, running_mcp_service
from tests.fixtures.runner import (
    HABITS_ONLY,
    RUN_TIMEOUT_SECONDS,
    HangingHabitLog,
    RunnerWorld,
    auth_proxy,
    by_email,
    in_process_runner,
    metric_value,
    tick_by_email,
)
from tests.fixtures.servers import TEST_SERVICE_KEY


class CrashingBrain(ScriptedBrain):
    """The scripted brain, except that it crashes after two calls for one persona."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        if day.persona.email != self.victim:
            await super().run_day(day, toolbox)
            return
        await toolbox.call("mood.recent", {"days": 7})
        await toolbox.call("mood.log", {"score": 6})
        raise RuntimeError("brain fell over")


def test_one_personas_failure_never_stops_the_others(runner_world: RunnerWorld) -> None:
    locked_out_id, locked_out = runner_world.create_persona(secret="another-seed-secret")
    crashing_id, crashing = runner_world.create_persona()
    fine_id, fine = runner_world.create_persona()
    metrics = RunnerMetrics()

    reports = by_email(
        tick_by_email(
            runner_world.settings(persona_concurrency=2),
            [locked_out, crashing, fine],
            brain=CrashingBrain(crashing),
            metrics=metrics,
        )
    )

    # Login refused: recorded as an error with the auth service's message; lease released.
    assert reports[locked_out].status == "error"
    assert reports[locked_out].error_message == "login failed (401): invalid email or password"
    (tick,) = runner_world.ticks(locked_out_id)
    assert (tick.status, tick.error_message, tick.tool_calls) == (
        "error",
        reports[locked_out].error_message,
        0,
    )
    assert runner_world.lease(locked_out_id) == (None, None)
    # Brain crash: an error, with the calls made before it kept.
    (tick,) = runner_world.ticks(crashing_id)
    assert tick.status == "error"
    assert tick.error_message == "RuntimeError: brain fell over"
    # The tick's look back at the persona's modules first, then the brain's calls.
    assert [a.tool_name for a in runner_world.actions(tick.id)] == [
        "mood.recent",
        "mood.recent",
        "mood.log",
    ]
    assert len(runner_world.rows_created_by("app.mood_entries", crashing_id)) == 1
    # Its memory holds what happened before the crash, written once at the end of the tick.
    story = runner_world.api.detail(crashing_id)["story"]
    assert [(i["module"], i["tool"]) for i in story["items"]] == [("mood", "mood.log")]
    assert runner_world.lease(crashing_id) == (None, None)
    # The third persona had an ordinary day.
    assert runner_world.tick_statuses(fine_id) == ["ok"]
    assert reports[fine].status == "ok"

    exposition = generate_latest(metrics.registry).decode()
    assert metric_value(exposition, "persona_ticks_total", status="error") == 2
    assert metric_value(exposition, "persona_ticks_total", status="ok") == 1


@pytest.mark.parametrize("lost", [False, True], ids=["refused", "answer-lost"])
def test_a_posting_that_fails_twice_then_succeeds_stores_each_row_once(
    runner_world: RunnerWorld, lost: bool
) -> None:
    """503 before the write reaches the server, or after it (the answer is lost): either way
    the third attempt succeeds and every action is stored exactly once."""
    persona_id, email = runner_world.create_persona(module_mix={"todo": 2, "journal": 1})
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):
        proxy.fail("POST", "/actions", times=2, lost=lost)
        proxy.fail("POST", "/feedback", times=2, lost=lost)
        (report,) = tick_by_email(runner_world.settings(auth_url=proxy_url), [email])

    assert report.status == "ok" and report.posted
    assert proxy.count("POST", "/actions") == 3
    assert proxy.count("POST", "/feedback") == 3
    (tick,) = runner_world.ticks(persona_id)
    assert tick.status == "ok"
    assert [a.seq for a in runner_world.actions(tick.id)] == list(range(len(report.actions)))
    assert [f.module for f in runner_world.feedback(tick.id)] == sorted(
        {a.module for a in report.actions}
    )


def test_a_posting_that_keeps_failing_is_retried_until_it_lands(
    runner_world: RunnerWorld,
) -> None:
    """Issue 13: the record of a tick used to be given up after three attempts (~0.6 s), and
    the tick stayed `running` for good. Now it is retried with backoff until it lands."""
    persona_id, email = runner_world.create_persona()
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):
        proxy.fail("POST", "/actions", times=4)
        (report,) = tick_by_email(runner_world.settings(auth_url=proxy_url), [email])

    assert proxy.count("POST", "/actions") == 5
    assert report.posted and not report.failed
    (tick,) = runner_world.ticks(persona_id)
    assert tick.status == "ok"
    assert len(runner_world.actions(tick.id)) == len(report.actions) > 0
    assert runner_world.lease(persona_id) == (None, None)


def test_actions_are_posted_in_batches_of_at_most_500(runner_world: RunnerWorld) -> None:
    persona_id, _ = runner_world.create_persona()
    tick_id = uuid.uuid4()
    now = datetime.now(UTC)
    actions = [
        ActionRecord(
            seq=i,
            tool_name="todo.list",
            input_hash=f"{i:064x}",
            result="ok",
            error_message=None,
            latency_ms=1,
            created_at=now + timedelta(microseconds=i),
        )
        for i in range(2 * ACTION_BATCH + 1)
    ]
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):

        async def run() -> None:
            internal = InternalApi(proxy_url, TEST_SERVICE_KEY)
            try:
                await internal.start_tick(
                    uuid.UUID(persona_id),
                    tick_id=tick_id,
                    runner_id="batch-test",
                    brain="scripted",
                    space_id=None,
                )
                await internal.post_actions(uuid.UUID(persona_id), tick_id, actions)
                # Posting again (a retry of the whole tick's actions) adds nothing.
                await internal.post_actions(uuid.UUID(persona_id), tick_id, actions)
            finally:
                await internal.aclose()

        asyncio.run(run())
    assert proxy.count("POST", "/actions") == 6
    assert len(runner_world.actions(tick_id)) == len(actions)


class HalfHeartedRater(ScriptedBrain):
    """Rates one module 9/5, another twice, and forgets the rest."""

    async def rate(self, day: DayContext, experience: Experience) -> RatingOutcome:
        first, *rest = experience.modules_used
        ratings = [ModuleRating(first, 9, "best ever"), ModuleRating("calendar", 4, "never used")]
        if rest:
            ratings += [ModuleRating(rest[0], 4, "good"), ModuleRating(rest[0], 1, "no, bad")]
        return RatingOutcome(ratings=ratings)


def test_an_unusable_rating_answer_is_recorded_and_never_replaced_by_an_invented_one(
    runner_world: RunnerWorld,
) -> None:
    persona_id, email = runner_world.create_persona(module_mix={"mood": 1, "journal": 1})
    (report,) = tick_by_email(runner_world.settings(), [email], brain=HalfHeartedRater())

    assert report.status == "ok"
    modules = sorted({a.module for a in report.actions})
    (tick,) = runner_world.ticks(persona_id)
    stored = runner_world.feedback(tick.id)
    assert f"rating 9 for {modules[0]} is not 1-5" in tick.summary
    if len(modules) > 1:
        assert [(f.module, f.rating) for f in stored] == [(modules[1], 4)]
        assert f"second rating for {modules[1]} ignored" in tick.summary
    else:
        assert stored == []
    assert f"no usable rating for {modules[0]}" in tick.summary
    assert "rating for unused module 'calendar' ignored" in tick.summary


@pytest.fixture
def hanging() -> Iterator[HangingHabitLog]:
    tool = HangingHabitLog()
    yield tool
    tool.released.set()  # let the server's stuck handlers finish so it can stop


@pytest.fixture
def hanging_mcp(runner_world: RunnerWorld, hanging: HangingHabitLog) -> Iterator[McpService]:
    with running_mcp_service(runner_world.auth, tools=hanging.tools()) as service:
        yield service


def test_a_tool_that_hangs_ends_the_tick_as_timeout_keeping_the_calls_made_before(
    runner_world: RunnerWorld, hanging_mcp: McpService
) -> None:
    persona_id, email = runner_world.create_persona(module_mix=HABITS_ONLY)
    metrics = RunnerMetrics()
    settings = runner_world.settings(mcp_url=hanging_mcp.endpoint, tick_timeout_seconds=2)

    (report,) = tick_by_email(settings, [email], metrics=metrics)

    assert report.status == "timeout"
    assert report.error_message == "tick exceeded 2s and was cancelled"
    (tick,) = runner_world.ticks(persona_id)
    assert (tick.status, tick.error_message) == ("timeout", report.error_message)
    stored = runner_world.actions(tick.id)
    assert [(a.tool_name, a.result) for a in stored] == [
        ("habits.list", "ok"),  # the tick's look back
        ("habits.list", "ok"),
        ("habits.create", "ok"),
        ("habits.log", "error"),
    ]
    assert stored[-1].error_message == "cancelled: the tick ran out of time"
    assert len(runner_world.rows_created_by("app.habits", persona_id)) == 1
    assert runner_world.lease(persona_id) == (None, None)
    exposition = generate_latest(metrics.registry).decode()
    assert metric_value(exposition, "persona_ticks_total", status="timeout") == 1


def test_a_runner_stopped_mid_tick_finishes_the_tick_and_releases_the_lease(
    runner_world: RunnerWorld, hanging_mcp: McpService, hanging: HangingHabitLog
) -> None:
    persona_id, email = runner_world.create_persona(module_mix=HABITS_ONLY)
    metrics = RunnerMetrics()
    settings = runner_world.settings(mcp_url=hanging_mcp.endpoint, runner_paused=True)

    async def run() -> None:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(settings, metrics=metrics) as runner:
                runner.config.shutdown_grace_seconds = 0.2
                stop = asyncio.Event()
                loop = asyncio.create_task(runner.run_forever(stop))
                profile = await runner.internal.claim_one(
                    email=email, runner_id=runner.runner_id, lease_seconds=600
                )
                assert profile is not None
                runner.start(profile)
                await asyncio.to_thread(hanging.entered.wait, 30)
                stop.set()
                await loop
                assert not runner.in_flight

    asyncio.run(run())
    (tick,) = runner_world.ticks(persona_id)
    assert (tick.status, tick.error_message) == ("error", "runner shut down during the tick")
    assert [(a.tool_name, a.result) for a in runner_world.actions(tick.id)] == [
        ("habits.list", "ok"),  # the tick's look back
        ("habits.list", "ok"),
        ("habits.create", "ok"),
        ("habits.log", "error"),
    ]
    assert runner_world.lease(persona_id) == (None, None)
    exposition = generate_latest(metrics.registry).decode()
    assert metric_value(exposition, "persona_ticks_total", status="error") == 1


def test_the_hanging_tool_is_the_real_one_once_released(
    runner_world: RunnerWorld, hanging_mcp: McpService, hanging: HangingHabitLog
) -> None:
    """Guards the two tests above: the injected tool differs from the real one only by hanging."""
    hanging.released.set()
    _, email = runner_world.create_persona(module_mix=HABITS_ONLY)
    settings = runner_world.settings(mcp_url=hanging_mcp.endpoint)
    (report,) = tick_by_email(settings, [email])
    assert report.status == "ok"
    logged = [a for a in report.actions if a.tool_name == "habits.log"]
    assert logged and all(a.result == "ok" for a in logged)
    assert LogHabit.model_json_schema()  # the same input model as the registry's tool


def test_cancelling_a_pass_winds_its_ticks_down_and_records_them(
    runner_world: RunnerWorld, hanging_mcp: McpService, hanging: HangingHabitLog
) -> None:
    """What Ctrl-C does to `mana runner tick --once`: the pass is cancelled, its ticks are
    cancelled too and still post what they did, so no lease is left to expire."""
    persona_id, email = runner_world.create_persona(module_mix=HABITS_ONLY)
    settings = runner_world.settings(mcp_url=hanging_mcp.endpoint)

    async def run() -> None:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(settings) as runner:
                task = asyncio.create_task(runner.tick_by_email([email]))
                await asyncio.to_thread(hanging.entered.wait, 30)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not runner.in_flight
                assert [r.status for r in runner.reports] == ["error"]

    asyncio.run(run())
    (tick,) = runner_world.ticks(persona_id)
    assert (tick.status, tick.error_message) == ("error", "runner shut down during the tick")
    assert len(runner_world.actions(tick.id)) == 4  # the look back, then three calls of the brain
    assert runner_world.lease(persona_id) == (None, None)


class DisguisingBrain(ScriptedBrain):
    """Waits mid-day; when cancelled, does what the MCP client's task group can do while it
    unwinds: withdraw the task's cancel request and raise its children's errors instead."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        await toolbox.call("mood.recent", {"days": 7})
        self.waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            raise ExceptionGroup(
                "unhandled errors in a TaskGroup", [ClosedResourceError()]
            ) from None


def test_a_shutdown_disguised_as_an_error_by_a_library_is_still_recorded_as_a_shutdown(
    runner_world: RunnerWorld,
) -> None:
    persona_id, email = runner_world.create_persona()
    brain = DisguisingBrain()

    async def run() -> None:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(runner_world.settings(), brain=brain) as runner:
                runner.config.shutdown_grace_seconds = 0
                profile = await runner.internal.claim_one(
                    email=email, runner_id=runner.runner_id, lease_seconds=600
                )
                assert profile is not None
                task = runner.start(profile)
                await brain.waiting.wait()
                await runner.shutdown()
                assert task.cancelled()
                assert [r.error_message for r in runner.reports] == [
                    "runner shut down during the tick"
                ]

    asyncio.run(run())
    (tick,) = runner_world.ticks(persona_id)
    assert (tick.status, tick.error_message) == ("error", "runner shut down during the tick")
    assert [a.tool_name for a in runner_world.actions(tick.id)] == ["mood.recent", "mood.recent"]
    assert runner_world.lease(persona_id) == (None, None)
