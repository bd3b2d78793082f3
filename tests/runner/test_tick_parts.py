"""The pieces a tick is made of, without servers: choosing the day's space, recording calls
that fail in every way, keeping only usable ratings, and the one-line summary."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mana.kit.clock import FrozenClock
from mana.runner.recording import RecordingToolBox, checked_ratings
from mana.runner.tick import SHARED_SPACE_SHARE, TickReport, choose_space, tick_seed
from mana.runner.types import (
    ActionRecord,
    ModuleRating,
    PersonaProfile,
    PersonaSpace,
    RatingOutcome,
    ToolInfo,
)

pytestmark = pytest.mark.anyio

NOW = datetime(2025, 5, 14, 9, 30, tzinfo=UTC)
PERSONAL = PersonaSpace(id=uuid.uuid4(), name="Kai", type="personal", role="owner")
TEAM = PersonaSpace(id=uuid.uuid4(), name="Ship It Club", type="team", role="member")
FAMILY = PersonaSpace(id=uuid.uuid4(), name="Weber", type="family", role="owner")


def persona(*spaces: PersonaSpace) -> PersonaProfile:
    return PersonaProfile(
        user_id=uuid.uuid4(),
        email="persona.kai@mana.test",
        archetype="solo-dev",
        system_prompt="You are Kai.",
        module_mix={"todo": 1},
        spaces=list(spaces),
    )


def test_a_persona_without_shared_spaces_always_spends_the_day_in_its_personal_space() -> None:
    kai = persona(PERSONAL)
    assert {choose_space(kai, random.Random(seed)).id for seed in range(200)} == {PERSONAL.id}


def test_a_persona_with_shared_spaces_now_and_then_spends_the_day_in_one() -> None:
    kai = persona(PERSONAL, TEAM, FAMILY)
    chosen = [choose_space(kai, random.Random(seed)) for seed in range(2000)]
    shared = [s for s in chosen if s is not None and s.type != "personal"]
    assert abs(len(shared) / len(chosen) - SHARED_SPACE_SHARE) < 0.05
    assert {s.id for s in shared} == {TEAM.id, FAMILY.id}


def test_the_tick_seed_depends_on_persona_and_tick_only() -> None:
    kai, tick = persona(PERSONAL), uuid.uuid4()
    assert tick_seed(kai, tick) == tick_seed(kai, tick)
    assert tick_seed(kai, tick) != tick_seed(kai, uuid.uuid4())


def toolbox(raw: Any) -> RecordingToolBox:
    tools = [ToolInfo("todo.create", "", {}), ToolInfo("todo.list", "", {})]
    return RecordingToolBox(tools, raw, FrozenClock(NOW))


async def test_a_transport_failure_is_recorded_as_a_failed_call_and_the_day_goes_on() -> None:
    async def raw(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        if name == "todo.create":
            raise httpx.ConnectError("connection refused")
        return False, {"items": []}

    box = toolbox(raw)
    failed = await box.call("todo.create", {"title": "x"})
    listed = await box.call("todo.list", {})
    assert not failed.ok and failed.error == "ConnectError: connection refused"
    assert listed.ok
    assert [(r.seq, r.result, r.error_message) for r in box.records] == [
        (0, "error", "ConnectError: connection refused"),
        (1, "ok", None),
    ]
    assert box.records[0].created_at == NOW


async def test_a_made_up_tool_is_recorded_as_a_failed_call_without_reaching_the_server() -> None:
    reached: list[str] = []

    async def raw(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        reached.append(name)
        return False, {}

    box = toolbox(raw)
    outcome = await box.call("todo.teleport", {})
    assert not outcome.ok and outcome.error == "unknown tool 'todo.teleport'"
    assert reached == []
    assert box.records[0].tool_name == "todo.teleport" and box.records[0].result == "error"


async def test_a_call_cut_off_by_the_deadline_is_recorded_before_the_cancellation_goes_on() -> None:
    started = asyncio.Event()

    async def raw(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    box = toolbox(raw)
    task = asyncio.create_task(box.call("todo.list", {}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = box.records
    assert record.result == "error"
    assert record.error_message == "cancelled: the tick ran out of time"


async def test_a_long_error_text_is_cut_to_a_storable_length() -> None:
    async def raw(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        return True, "x" * 10_000

    box = toolbox(raw)
    await box.call("todo.list", {})
    assert len(box.records[0].error_message or "") == 2000


def test_unusable_ratings_are_dropped_and_named_never_replaced() -> None:
    answer = RatingOutcome(
        ratings=[
            ModuleRating("todo", 4, "fine"),
            ModuleRating("todo", 2, "second opinion"),
            ModuleRating("mood", 9, "off the scale"),
            ModuleRating("calendar", 3, "never used it"),
        ]
    )
    checked = checked_ratings(answer, ["mood", "notes", "todo"])
    assert checked.ratings == [ModuleRating("todo", 4, "fine")]
    assert checked.problem is not None
    for part in (
        "second rating for todo ignored",
        "rating 9 for mood is not 1-5",
        "rating for unused module 'calendar' ignored",
        "no usable rating for mood, notes",
    ):
        assert part in checked.problem


def test_a_brain_that_could_not_answer_keeps_its_reason() -> None:
    checked = checked_ratings(RatingOutcome(problem="model answered prose"), ["todo"])
    assert checked.ratings == []
    assert checked.problem == "model answered prose; no usable rating for todo"


def action(seq: int, tool: str, result: str = "ok") -> ActionRecord:
    return ActionRecord(
        seq=seq,
        tool_name=tool,
        input_hash="0" * 64,
        result=result,
        error_message=None if result == "ok" else "bad\nsecond line",
        latency_ms=3,
        created_at=NOW,
    )


def test_the_tick_summary_is_one_line_with_counts_modules_and_ratings() -> None:
    report = TickReport(persona=persona(PERSONAL), tick_id=uuid.uuid4(), status="ok")
    report.actions = [
        action(0, "todo.list"),
        action(1, "todo.create", "error"),
        action(2, "mood.log"),
    ]
    report.ratings = [ModuleRating("mood", 5, "ok"), ModuleRating("todo", 3, "meh")]
    report.rating_problem = "no usable rating for notes"
    summary = report.summary()
    assert "\n" not in summary
    assert summary == (
        "3 tool calls in mood, todo, 1 errors; mood 5/5, todo 3/5; "
        "rating problem: no usable rating for notes"
    )
