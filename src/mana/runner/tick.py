"""One persona's tick: start, log in, spend the day through the tools, rate, post, finish.

Whatever happens inside (login refused, tool errors, a brain crash, the timeout, a shutdown), the
tick is finished with a status and the actions already made are posted — nothing is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from mana.clients.internal import InternalApi, InternalApiError
from mana.kit.clock import Clock
from mana.personas.contract import Story
from mana.runner.brains.base import Brain, BudgetExceeded, DayContext
from mana.runner.expectations import Checker, look_back
from mana.runner.heartbeat import Heartbeat
from mana.runner.memory import Memory, after_tick, compact
from mana.runner.outages import DESCRIPTIONS, failed_service, one_line
from mana.runner.recording import checked_ratings, summarize_experience
from mana.runner.session import LoginFailed, McpConnections, PersonaAuth, mcp_toolbox
from mana.runner.streaming import ActionStream
from mana.runner.toolmap import ToolMap
from mana.runner.types import (
    ActionRecord,
    ModuleRating,
    Observation,
    PersonaProfile,
    PersonaSpace,
    Usage,
)

logger = logging.getLogger(__name__)

# How often a persona spends its day in a shared space instead of its personal one.
SHARED_SPACE_SHARE = 0.3


@dataclass
class TickReport:
    persona: PersonaProfile
    tick_id: uuid.UUID
    status: str = "running"
    space: PersonaSpace | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    ratings: list[ModuleRating] = field(default_factory=list)
    rating_problem: str | None = None
    error_message: str | None = None
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    posted: bool = False
    observations: list[Observation] = field(default_factory=list)
    memory: Memory = field(default_factory=Memory.unavailable)
    # The story after this tick (None: not written, e.g. the memory could not be read).
    story: Story | None = None
    # How many of `actions` were posted while the tick ran (the rest go with its finish).
    actions_posted: int = 0
    # Set when the tick was `unavailable`: which service was unreachable, and the exception
    # (for the runner's breaker, which logs one traceback per outage; dropped after that).
    failed_service: str | None = None
    failure: BaseException | None = None

    @property
    def errors(self) -> int:
        return sum(1 for a in self.actions if a.result == "error")

    @property
    def failed(self) -> bool:
        return self.status != "ok" or not self.posted

    def summary(self) -> str:
        modules = sorted({a.module for a in self.actions})
        rated = ", ".join(f"{r.module} {r.rating}/5" for r in self.ratings) or "no ratings"
        text = (
            f"{len(self.actions)} tool calls in {', '.join(modules) or 'no module'}, "
            f"{self.errors} errors; {rated}"
        )
        if self.observations:
            kinds = Counter(o.kind for o in self.observations)
            text += (
                f"; {len(self.observations)} observations ("
                + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
                + ")"
            )
        if self.rating_problem:
            text += f"; rating problem: {self.rating_problem}"
        return text


@dataclass
class TickDeps:
    internal: InternalApi
    auth: PersonaAuth
    mcp_url: str
    clock: Clock
    runner_id: str
    timeout_seconds: float
    # The persona's lease, renewed by the tick's heartbeat every third of it.
    lease_seconds: int = 60
    # Audit rows go to the server while the tick runs: every this many calls or seconds.
    action_batch_calls: int = 20
    action_batch_seconds: float = 5.0
    # `mana simulate`: `clock` runs on the simulated day and the tick is started at its time,
    # so the auth service dates everything the tick writes on that day.
    simulated: bool = False
    # The runner's HTTP pool and tool lists, shared by its ticks (never an MCP session).
    mcp: McpConnections | None = None


def tick_seed(persona: PersonaProfile, tick_id: uuid.UUID) -> int:
    digest = hashlib.sha256(f"{persona.email}:{tick_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def choose_space(persona: PersonaProfile, rng: random.Random) -> PersonaSpace | None:
    shared = persona.shared_spaces
    if shared and rng.random() < SHARED_SPACE_SHARE:
        return rng.choice(shared)
    return persona.personal_space


async def run_tick(
    persona: PersonaProfile,
    brain: Brain,
    deps: TickDeps,
    *,
    seed: int | None = None,
    tick_id: uuid.UUID | None = None,
    observe: Callable[[TickReport], None] | None = None,
    stopped: Callable[[], bool] | None = None,
) -> TickReport:
    """Run one tick and post it. `observe` sees the posted report in every outcome, including
    a cancelled tick (which then re-raises CancelledError and so returns no report).

    `stopped` says whether the caller cancelled this tick on purpose (a runner shutting down).
    It is needed because the MCP client's task group can turn that cancellation into an
    ordinary error (an ExceptionGroup of ClosedResourceError/BrokenResourceError) and withdraw
    the task's cancel request while unwinding, so neither the exception nor
    `Task.cancelling()` reliably shows it."""

    def shut_down() -> bool:
        return not deadline.expired() and (_cancel_requested() or bool(stopped and stopped()))

    tick_id = tick_id or uuid.uuid4()
    seed = tick_seed(persona, tick_id) if seed is None else seed
    rng = random.Random(seed)
    report = TickReport(persona=persona, tick_id=tick_id, space=choose_space(persona, rng))
    started = time.perf_counter()
    day = DayContext(
        persona=persona,
        space=report.space or PersonaSpace(id=uuid.uuid4(), name="?", type="personal"),
        today=deps.clock.now().date(),
        seed=seed,
        rng=rng,
        usage=report.usage,
    )
    await deps.internal.start_tick(
        persona.user_id,
        tick_id=tick_id,
        runner_id=deps.runner_id,
        brain=brain.name,
        space_id=report.space.id if report.space else None,
        started_at=deps.clock.now() if deps.simulated else None,
    )
    heartbeat = Heartbeat(
        deps.internal,
        runner_id=deps.runner_id,
        persona_id=persona.user_id,
        lease_seconds=deps.lease_seconds,
    )
    tick_started = deps.clock.now()
    report.memory = await _read_memory(deps, persona)
    space_id = report.space.id if report.space else None
    personal = report.space is not None and report.space.type == "personal"
    if report.memory.loaded:
        day.story = compact(report.memory.story, space_id)
    toolbox = None
    stream: ActionStream | None = None
    checker: Checker | None = None
    cancelled = False
    deadline = asyncio.timeout(deps.timeout_seconds)
    try:
        async with deadline:
            token = await deps.auth.access_token(persona)
            async with mcp_toolbox(
                deps.mcp_url,
                token=token,
                space_id=report.space.id if report.space else None,
                clock=deps.clock,
                connections=deps.mcp,
            ) as toolbox:
                stream = _stream_actions(deps, report, toolbox.records)
                toolmap = ToolMap.of(toolbox.tools)
                checker = Checker(
                    toolmap,
                    story=report.memory.story if report.memory.loaded else None,
                    space_id=space_id,
                    personal=personal,
                    persona_id=persona.user_id,
                )
                # Look first at what should still be there, then live the day.
                checker.look = await look_back(
                    toolbox,
                    toolmap,
                    report.memory.story,
                    space_id=space_id,
                    personal=personal,
                    module_mix=persona.module_mix,
                    today=day.today,
                )
                try:
                    await brain.run_day(day, toolbox)
                except BudgetExceeded as exc:
                    report.rating_problem = f"budget: {exc}"
                report.observations = checker.run(list(toolbox.records))
                experience = summarize_experience(toolbox.records, report.observations)
                outcome = checked_ratings(
                    await brain.rate(day, experience), experience.modules_used
                )
                report.ratings = outcome.ratings
                if outcome.problem:
                    report.rating_problem = "; ".join(
                        p for p in (report.rating_problem, outcome.problem) if p
                    )
        report.status = "ok"
    except asyncio.CancelledError:
        cancelled = True
    except Exception as exc:  # the per-persona boundary: one persona never stops the others
        service = failed_service(exc, auth_url=deps.auth.base_url, mcp_url=deps.mcp_url)
        if shut_down():  # our cancellation, disguised as an error by the MCP client
            cancelled = True
        elif service is not None and not deadline.expired():
            # Not the persona's day: recorded as such, and the runner's breaker logs it once.
            report.status = "unavailable"
            report.error_message = f"{DESCRIPTIONS[service]} unreachable: {one_line(exc)}"
            report.failed_service, report.failure = service, exc
        else:
            report.status, report.error_message = _failure(exc, deadline, deps.timeout_seconds)
            if report.status == "error" and not isinstance(exc, LoginFailed):
                logger.exception("tick of %s failed", persona.email)
    except BaseExceptionGroup as group:  # a task group that was cancelled while it unwound
        if group.subgroup(asyncio.CancelledError) is None:
            raise
        if deadline.expired():
            report.status, report.error_message = _timed_out(deps.timeout_seconds)
        else:
            cancelled = True
    finally:
        if stream is not None:
            report.actions_posted = await stream.close()
        if toolbox is not None:
            report.actions = list(toolbox.records)
            if checker is not None:
                if not checker.observations and report.actions:
                    # The tick broke off before its checks: what was seen is still evidence.
                    report.observations = checker.run(report.actions)
                if report.memory.loaded:
                    report.story = after_tick(
                        report.memory.story,
                        report.actions,
                        report.observations,
                        checker.toolmap,
                        space_id=space_id,
                        now=deps.clock.now(),
                        today=day.today,
                        tick_started=tick_started,
                    )
        report.duration_s = time.perf_counter() - started
    # A library may also swallow the cancellation outright.
    cancelled = cancelled or shut_down()
    if cancelled:
        report.status = "error"
        report.error_message = "runner shut down during the tick"
    await _post(report, brain, deps)
    await heartbeat.stop()
    if observe is not None:
        observe(report)
    if cancelled:
        raise asyncio.CancelledError
    return report


def _stream_actions(
    deps: TickDeps, report: TickReport, records: list[ActionRecord]
) -> ActionStream:
    stream = ActionStream(
        deps.internal,
        report.persona.user_id,
        report.tick_id,
        lambda: records,
        every_calls=deps.action_batch_calls,
        every_seconds=deps.action_batch_seconds,
    )
    stream.start()
    return stream


def _cancel_requested() -> bool:
    """Whether a cancel request for this task is still pending (asyncio.timeout withdraws its
    own when it fires, so the tick deadline does not count here)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _timed_out(timeout: float) -> tuple[str, str]:
    return "timeout", f"tick exceeded {timeout:g}s and was cancelled"


def _failure(exc: Exception, deadline: asyncio.Timeout, timeout: float) -> tuple[str, str]:
    # Cancelling an in-flight MCP call can surface as an ExceptionGroup from the client's task
    # group instead of a clean TimeoutError; the deadline itself says whether time ran out.
    if deadline.expired():
        return _timed_out(timeout)
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        first = exc.exceptions[0]
        if not isinstance(first, Exception):
            break
        exc = first
    return "error", str(exc) if isinstance(exc, LoginFailed) else f"{type(exc).__name__}: {exc}"


async def _post(report: TickReport, brain: Brain, deps: TickDeps) -> None:
    persona_id = report.persona.user_id
    try:
        await deps.internal.post_actions(
            persona_id, report.tick_id, report.actions[report.actions_posted :]
        )
        await deps.internal.post_observations(persona_id, report.tick_id, report.observations)
        await deps.internal.post_feedback(persona_id, report.tick_id, report.ratings)
        await _write_memory(report, deps)
        await deps.internal.finish_tick(
            persona_id,
            report.tick_id,
            status=report.status,
            tool_calls=len(report.actions),
            errors=report.errors,
            summary=report.summary(),
            usage=report.usage,
            error_message=report.error_message,
        )
        report.posted = True
    except Exception as exc:  # recorded on the report; the lease expiry makes it due again
        logger.exception("posting tick %s of %s failed", report.tick_id, report.persona.email)
        report.error_message = f"posting failed: {exc}"


async def _read_memory(deps: TickDeps, persona: PersonaProfile) -> Memory:
    """The story so far; without it the tick still runs, but checks and writes no memory."""
    try:
        return Memory.of(await deps.internal.read_memory(persona.user_id))
    except (InternalApiError, httpx.TransportError, ValueError) as exc:
        logger.warning(
            "memory of %s unavailable (%s): no memory checks this tick", persona.email, exc
        )
        return Memory.unavailable()


async def _write_memory(report: TickReport, deps: TickDeps) -> None:
    if report.story is None:
        return
    try:
        await deps.internal.write_memory(
            report.persona.user_id,
            report.tick_id,
            base_tick_id=report.memory.base_tick_id,
            story=report.story.model_dump(mode="json", by_alias=True),
        )
    except InternalApiError as exc:
        if exc.status != 409:
            raise
        # Another tick wrote the story since we read it (our lease ran out): keep theirs.
        logger.warning("memory of %s not written: %s", report.persona.email, exc)
