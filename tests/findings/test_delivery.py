"""The evaluation scheduler behind the tick-finish hook: debounced, never raising to a caller."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.findings.delivery import AlertEvaluator, AlertNotifier, Evaluation
from mana.findings.settings import AlertSettings
from mana.kit.clock import Clock

pytestmark = pytest.mark.anyio


async def test_a_burst_of_finishes_runs_one_evaluation_and_a_later_one_waits_for_the_debounce(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = AlertSettings(_env_file=None, debounce_seconds=0.3)  # type: ignore[call-arg]
    evaluator = AlertEvaluator(
        sessionmaker, Clock(), settings, AlertNotifier(settings, sessionmaker, Clock())
    )
    first_poke = time.monotonic()
    try:
        for _ in range(20):
            await evaluator.poke()
        async with asyncio.timeout(30):
            await evaluator.wait_idle()
        assert evaluator.runs == 1  # every poke came before the run read the data
        await evaluator.poke()  # a later finish, inside the debounce window: waits for it
        async with asyncio.timeout(30):
            await evaluator.wait_idle()
        assert evaluator.runs == 2
        # The second run started no earlier than one debounce window after the first.
        assert time.monotonic() - first_poke >= 0.3
    finally:
        await evaluator.stop()


async def test_evaluation_also_runs_on_its_period_without_any_tick(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = AlertSettings(  # type: ignore[call-arg]
        _env_file=None, debounce_seconds=0, evaluate_interval_seconds=0.1
    )
    twice = asyncio.Event()

    class Observed(AlertEvaluator):
        async def evaluate_now(self) -> Evaluation:
            evaluation = await super().evaluate_now()
            if self.runs >= 2:
                twice.set()
            return evaluation

    evaluator = Observed(
        sessionmaker, Clock(), settings, AlertNotifier(settings, sessionmaker, Clock())
    )
    try:
        evaluator.start_periodic()
        async with asyncio.timeout(30):
            await twice.wait()  # nobody pokes: the period alone runs it, again and again
    finally:
        await evaluator.stop()
    runs = evaluator.runs
    await asyncio.sleep(0.3)
    assert evaluator.runs == runs  # stopped means stopped


async def test_a_failing_evaluation_is_logged_and_never_raised(
    sessionmaker: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenClock(Clock):
        def now(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("clock broke")

    settings = AlertSettings(_env_file=None, debounce_seconds=0)  # type: ignore[call-arg]
    evaluator = AlertEvaluator(
        sessionmaker, BrokenClock(), settings, AlertNotifier(settings, sessionmaker, Clock())
    )
    await evaluator.poke()
    async with asyncio.timeout(30):
        await evaluator.wait_idle()  # returns: the failure stayed inside the task
    assert "alert evaluation failed" in caplog.text
    assert evaluator.runs == 0
    await evaluator.poke()  # and the next finish schedules a fresh evaluation
    async with asyncio.timeout(30):
        await evaluator.wait_idle()
    assert caplog.text.count("alert evaluation failed") == 2
