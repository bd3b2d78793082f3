"""Personas notice what the product got wrong (issue 10), against a real MCP server with the
development fault mode: each check fires on its fault and stays silent on a clean build; the
rating drops and the note names the symptom with its evidence, in the persona's language.

Days pass on one clock shared by the MCP server (item ages, the lost-data fault) and the runner
(its "today", its memory). The auth service keeps real time: the tokens it signs are checked
against the wall clock, and a tick claims its persona by email, due or not.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mana.kit.clock import OffsetClock
from mana.personas.catalog import CatalogVoice, load_catalog
from mana.runner.brains.base import DayContext, ToolBox
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.tick import TickReport
from tests.fixtures.mcp import McpService, running_mcp_service
from tests.fixtures.personas import sql_id
from tests.fixtures.runner import RUN_TIMEOUT_SECONDS, RunnerWorld, in_process_runner
from tests.fixtures.servers import AuthService

CHORES = {"todo": 1.0, "journal": 1.0, "notes": 1.0}
HENRIK = load_catalog().by_email("persona.henrik@mana.test")


class ChoreBrain(ScriptedBrain):
    """On its first day a persona writes one of everything (and makes one mistake); on later
    days it only looks (the tick's look back). Rates like the scripted brain."""

    def __init__(self, german: set[str] | None = None) -> None:
        super().__init__()
        self.german = german or set()

    def _voice(self, email: str) -> tuple[CatalogVoice, str]:
        if email in self.german and HENRIK is not None:
            return HENRIK.voice, HENRIK.locale
        return super()._voice(email)

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        if "first day" not in day.story:
            return
        await toolbox.call("todo.create", {"title": ""})  # the persona's own slip
        created = await toolbox.call("todo.create", {"title": "Buy milk", "priority": "high"})
        if created.ok:
            await toolbox.call("todo.complete", {"id": created.data["id"]})
        await toolbox.call("journal.add", {"body": "Quiet Monday, long walk."})
        await toolbox.call("notes.create", {"title": "Gift ideas", "body": "Books, a plant."})


def write_rules(path: Path, *rules: dict[str, Any]) -> None:
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"seed": 1, "rules": list(rules)}), encoding="utf-8")
    os.replace(scratch, path)


@dataclass
class Days:
    """The fault rules and the calendar of a test."""

    rules: Path
    clock: OffsetClock

    def fault(self, *rules: dict[str, Any]) -> None:
        write_rules(self.rules, *rules)

    def next_day(self, days: int = 1) -> None:
        self.clock.advance(timedelta(days=days))


@pytest.fixture(scope="module")
def faulty_mcp(
    auth_service: AuthService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[McpService, Days]]:
    """An MCP server with the fault mode on (rules re-read on every call) and a clock of its
    own that the runner shares."""
    days = Days(rules=tmp_path_factory.mktemp("noticing") / "faults.json", clock=OffsetClock())
    write_rules(days.rules)
    with running_mcp_service(
        auth_service, clock=days.clock, faults=str(days.rules), faults_check_seconds=0
    ) as service:
        yield service, days


@pytest.fixture
def world(
    runner_world: RunnerWorld, faulty_mcp: tuple[McpService, Days]
) -> Iterator[tuple[RunnerWorld, Days]]:
    service, days = faulty_mcp
    days.fault()
    days.clock.reset()
    yield (
        RunnerWorld(auth=runner_world.auth, mcp=service, db=runner_world.db, api=runner_world.api),
        days,
    )
    days.fault()
    days.clock.reset()


def live(
    world: RunnerWorld, days: Days, emails: list[str], brain: ChoreBrain
) -> dict[str, TickReport]:
    """One day of these personas, on the shared clock."""

    async def run() -> list[TickReport]:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(world.settings(), brain=brain, clock=days.clock) as runner:
                reports, unclaimed = await runner.tick_by_email(emails)
        assert not unclaimed
        return reports

    reports = {r.persona.email: r for r in asyncio.run(run())}
    assert all(r.status == "ok" and r.posted for r in reports.values()), reports
    return reports


def rating(report: TickReport, module: str) -> tuple[int, str]:
    (found,) = [r for r in report.ratings if r.module == module]
    return found.rating, found.notes


def kinds(report: TickReport) -> set[tuple[str, str]]:
    return {(o.kind, o.module) for o in report.observations}


def test_a_clean_build_brings_no_complaint_on_the_first_day_or_later(
    world: tuple[RunnerWorld, Days],
) -> None:
    runner_world, days = world
    _, email = runner_world.create_persona(module_mix=CHORES)
    brain = ChoreBrain()

    first = live(runner_world, days, [email], brain)[email]
    days.next_day()
    second = live(runner_world, days, [email], brain)[email]

    # Day one: three empty lists and a slip the product refused clearly: nothing to complain.
    assert first.observations == []
    assert [(r.module, r.rating) for r in first.ratings] == [
        ("journal", 5),
        ("notes", 5),
        ("todo", 5),
    ]
    assert all("did what I needed" in r.notes for r in first.ratings)
    # Day two: everything remembered is there and as it was left.
    assert second.observations == []
    assert {r.rating for r in second.ratings} == {5}
    stored = runner_world.api.detail(str(first.persona.user_id))
    assert {i["label"] for i in stored["story"]["items"]} == {
        "Buy milk",
        "Quiet Monday, long walk.",
        "Gift ideas",
    }
    assert len(stored["story"]["days"]) == 2
    assert stored["recentObservations"] == []


def test_a_completion_that_did_not_stick_is_noticed_the_next_day_in_english_and_german(
    world: tuple[RunnerWorld, Days],
) -> None:
    runner_world, days = world
    _, english = runner_world.create_persona(module_mix=CHORES)
    _, german = runner_world.create_persona(module_mix=CHORES)
    brain = ChoreBrain(german={german})
    days.fault({"tool": "todo.complete", "fault": "noop_write"})

    live(runner_world, days, [english, german], brain)
    days.next_day()
    reports = live(runner_world, days, [english, german], brain)

    for email in (english, german):
        report = reports[email]
        assert kinds(report) == {("not_applied", "todo")}, report.observations
        (seen,) = report.observations
        assert seen.field == "done" and seen.item_id and seen.tool_name == "todo.list"
        assert "todo.complete" in seen.evidence
        assert rating(report, "todo")[0] <= 3
        assert rating(report, "journal")[0] == rating(report, "notes")[0] == 5
    _, note = rating(reports[english], "todo")
    assert "I ticked off 'Buy milk' and it was still open afterwards (todo.list, call " in note
    _, note = rating(reports[german], "todo")
    assert note.startswith("Zu todo: ich hab 'Buy milk' abgehakt und es war danach immer noch")
    assert "Aufruf" in note
    stored = runner_world.db.fetch(
        "SELECT kind, tool_name, action_seq FROM auth.persona_observations WHERE tick_id = :t",
        t=sql_id(runner_world.db, reports[english].tick_id),
    )
    assert [(s.kind, s.tool_name) for s in stored] == [("not_applied", "todo.list")]
    assert "1 observations (not_applied 1)" in reports[english].summary()


def test_data_lost_after_a_day_is_missed_and_named(world: tuple[RunnerWorld, Days]) -> None:
    runner_world, days = world
    _, email = runner_world.create_persona(module_mix=CHORES)
    brain = ChoreBrain()
    live(runner_world, days, [email], brain)
    days.fault({"tool": "journal.*", "fault": "hide_older", "olderThanSeconds": 86400})
    days.next_day(2)

    report = live(runner_world, days, [email], brain)[email]

    assert kinds(report) == {("missing", "journal")}
    score, note = rating(report, "journal")
    assert score <= 3
    assert "'Quiet Monday, long walk.' that I made with journal.add was gone (journal.list" in note
    assert rating(report, "todo")[0] == rating(report, "notes")[0] == 5


def test_a_strangers_item_in_the_personal_space_is_suspicious(
    world: tuple[RunnerWorld, Days],
) -> None:
    runner_world, days = world
    _, email = runner_world.create_persona(module_mix=CHORES)
    _, neighbour = runner_world.create_persona(module_mix=CHORES)
    brain = ChoreBrain()
    live(runner_world, days, [email], brain)
    days.next_day()
    live(runner_world, days, [neighbour], brain)  # a note in another personal space
    days.fault({"tool": "notes.list", "fault": "foreign_items", "count": 1})

    report = live(runner_world, days, [email], brain)[email]

    assert kinds(report) == {("unexpected_item", "notes")}, report.observations
    score, note = rating(report, "notes")
    assert score <= 3
    assert "showed up in my own space and I never created it (notes.list, call" in note


def test_failures_vague_refusals_and_slow_calls_cost_less_and_are_named(
    world: tuple[RunnerWorld, Days],
) -> None:
    runner_world, days = world
    _, email = runner_world.create_persona(module_mix=CHORES)
    brain = ChoreBrain()
    days.fault(
        {"tool": "todo.create", "fault": "error", "message": "Invalid input"},
        {"tool": "journal.add", "fault": "error", "message": "Something went wrong"},
        {"tool": "journal.list", "fault": "latency", "latencyMs": 1100},
    )

    report = live(runner_world, days, [email], brain)[email]

    # The empty title is refused by the product itself, clearly: not a finding.
    assert kinds(report) == {("unclear_error", "todo"), ("error", "journal"), ("slow", "journal")}
    score, note = rating(report, "todo")
    assert score == 4
    assert 'refused my input with just "Invalid input", not what was wrong (todo.create, ' in note
    score, note = rating(report, "journal")
    assert score == 3
    assert 'failed with "Something went wrong" (journal.add, call ' in note
    assert "and 1 more problem(s)" in note
    slow = [o for o in report.observations if o.kind == "slow"]
    assert slow[0].tool_name == "journal.list" and slow[0].action_seq == 0
    assert rating(report, "notes")[0] == 5
