"""The tick loop's pool, on a database of each test's own (the loop claims every due persona):
at most `concurrency` ticks in flight, claims sized to the free slots, passes that never
overlap, every due persona ticked exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mana.runner.brains.base import DayContext, ToolBox
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.loop import Runner
from tests.fixtures.runner import (
    RUN_TIMEOUT_SECONDS,
    RunnerWorld,
    backend_of,
    fresh_world,
    in_process_runner,
)

CONCURRENCY = 2


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[RunnerWorld]:
    with fresh_world(backend_of(database_url), tmp_path) as running:
        yield running


class CrowdedBrain(ScriptedBrain):
    """Holds each day until `concurrency` days run at once (so the pool must really run them
    side by side), and remembers the most it ever saw."""

    def __init__(self, concurrency: int) -> None:
        super().__init__()
        self.concurrency = concurrency
        self.active = 0
        self.peak = 0
        self.full = asyncio.Event()

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.active >= self.concurrency:
            self.full.set()
        try:
            await asyncio.wait_for(self.full.wait(), RUN_TIMEOUT_SECONDS)
            await super().run_day(day, toolbox)
        finally:
            self.active -= 1


@dataclass
class ClaimSpy:
    """Wraps a runner's claim: what it asked for, with how many ticks in flight, and whether
    two claims were ever open at once."""

    runner: Runner
    calls: list[tuple[int, int]] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    open: int = 0
    most_open: int = 0

    def install(self) -> None:
        original = self.runner.internal.claim

        async def claim(**kwargs: Any) -> Any:
            self.calls.append((kwargs["limit"], len(self.runner.in_flight)))
            self.open += 1
            self.most_open = max(self.most_open, self.open)
            try:
                personas = await original(**kwargs)
            finally:
                self.open -= 1
            self.claimed += [p.email for p in personas]
            return personas

        self.runner.internal.claim = claim


def test_the_loop_runs_at_most_concurrency_ticks_at_once_claiming_only_free_slots(
    world: RunnerWorld,
) -> None:
    personas = dict(world.create_persona() for _ in range(5))
    brain = CrowdedBrain(CONCURRENCY)

    async def run() -> ClaimSpy:
        settings = world.settings(persona_concurrency=CONCURRENCY)
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(settings, brain=brain) as runner:
                spy = ClaimSpy(runner)
                spy.install()
                reports = await runner.drain()
        assert sorted(r.persona.email for r in reports) == sorted(personas.values())
        return spy

    spy = asyncio.run(run())
    assert brain.peak == CONCURRENCY  # really side by side, and never more
    assert sorted(spy.claimed) == sorted(personas.values())
    for limit, in_flight in spy.calls:
        assert limit == CONCURRENCY - in_flight >= 1
    for persona_id in personas:
        assert world.tick_statuses(persona_id) == ["ok"]
        assert world.lease(persona_id) == (None, None)


def test_claiming_passes_never_overlap_and_never_overfill_the_pool(world: RunnerWorld) -> None:
    personas = dict(world.create_persona() for _ in range(3))

    async def run() -> tuple[list[int], ClaimSpy]:
        settings = world.settings(persona_concurrency=CONCURRENCY)
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(settings) as runner:
                spy = ClaimSpy(runner)
                spy.install()
                # The interval loop and an operator's /diag/tick may ask at the same moment.
                started = await asyncio.gather(*(runner.claim_and_start() for _ in range(3)))
                assert len(runner.in_flight) <= CONCURRENCY
                await runner.drain()
        return list(started), spy

    started, spy = asyncio.run(run())
    assert sorted(started) == [0, 0, CONCURRENCY]
    assert spy.most_open == 1
    assert sorted(spy.claimed) == sorted(personas.values())
    for persona_id in personas:
        assert world.tick_statuses(persona_id) == ["ok"]


def test_the_service_loop_claims_again_as_soon_as_a_slot_frees_up(world: RunnerWorld) -> None:
    """With an interval far longer than the test, every persona is still ticked: a finished
    tick wakes the loop instead of waiting for the next interval."""
    personas = dict(world.create_persona() for _ in range(3))

    async def run() -> None:
        settings = world.settings(persona_concurrency=1, tick_interval_ms=3_600_000)
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            async with in_process_runner(settings) as runner:
                stop = asyncio.Event()
                loop = asyncio.create_task(runner.run_forever(stop))
                # One pass at start, then one per finished tick (the last one finds nothing).
                wanted_passes = len(personas) + 1
                while len(runner.reports) < len(personas) or runner.passes < wanted_passes:
                    assert not loop.done()
                    await asyncio.sleep(0.02)  # polling, bounded by the timeout above
                stop.set()
                await loop
                assert runner.passes == wanted_passes

    asyncio.run(run())
    for persona_id in personas:
        assert world.tick_statuses(persona_id) == ["ok"]
