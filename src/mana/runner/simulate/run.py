"""Playing a simulation's slots with the runner's own tick code (`run_tick`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date

from mana.runner.brains.base import Brain
from mana.runner.loop import Runner
from mana.runner.simulate.plan import SimulatedClock, Slot, simulation_seed
from mana.runner.simulate.summary import SimulationSummary
from mana.runner.tick import TickReport, run_tick

TickObserver = Callable[[Slot, TickReport | None], None]
SlotHook = Callable[[Slot], None]


async def run_simulation(
    runner: Runner,
    brain: Brain,
    clock: SimulatedClock,
    slots: Sequence[Slot],
    *,
    start: date,
    days: int,
    seed: int,
    concurrency: int = 4,
    on_tick: TickObserver | None = None,
    before_slot: SlotHook | None = None,
) -> SimulationSummary:
    """Play every slot in order with `runner`'s clients. `runner.deps.clock` must be `clock`.

    A persona another runner holds right now is skipped (counted as unclaimed); a failing
    claim or tick start (the auth service refusing the runner) ends the simulation."""
    if runner.deps.clock is not clock:
        raise ValueError("the runner must run on the simulation's clock")
    deps = replace(runner.deps, simulated=True)
    summary = SimulationSummary(start=start, days=days, seed=seed)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def play(slot: Slot, group: tuple[str, ...]) -> None:
        async with gate:
            for email in group:
                profile = await runner.internal.claim_one(
                    email=email,
                    runner_id=runner.runner_id,
                    lease_seconds=runner.config.lease_seconds,
                )
                if profile is None:
                    summary.unclaimed += 1
                    if on_tick:
                        on_tick(slot, None)
                    continue
                report = await run_tick(
                    profile, brain, deps, seed=simulation_seed(seed, email, slot.at)
                )
                summary.add(report, slot.at.date())
                if on_tick:
                    on_tick(slot, report)

    started = time.perf_counter()
    try:
        for slot in slots:
            if before_slot:
                before_slot(slot)
            clock.set(slot.at)
            async with asyncio.TaskGroup() as group:
                for members in slot.groups:
                    group.create_task(play(slot, members))
    except* Exception as failures:
        # A TaskGroup wraps even a single failure: hand the first one on as itself.
        raise failures.exceptions[0] from None
    finally:
        summary.wall_seconds = time.perf_counter() - started
    return summary
