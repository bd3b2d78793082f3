"""Every tool call a brain makes goes through here: timed, hashed, numbered, recorded.

The record is built around the one call it describes (its own result, its own latency), so
results can never be paired with the wrong call even when a brain runs calls concurrently.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mana.kit.clock import Clock
from mana.kit.hashing import input_hash
from mana.runner.brains.base import Experience, ModuleExperience, ToolOutcome
from mana.runner.types import ActionRecord, ModuleRating, Observation, RatingOutcome, ToolInfo

SLOW_CALL_MS = 1_000
MAX_ERROR_TEXT = 2_000

# (name, arguments) -> (is_error, payload or error text). The MCP session provides it.
RawCall = Callable[[str, dict[str, Any]], Awaitable[tuple[bool, Any]]]


class RecordingToolBox:
    def __init__(self, tools: list[ToolInfo], raw_call: RawCall, clock: Clock) -> None:
        self._tools = tools
        self._by_name = {t.name: t for t in tools}
        self._raw_call = raw_call
        self._clock = clock
        self._next_seq = 0
        self.records: list[ActionRecord] = []

    @property
    def tools(self) -> list[ToolInfo]:
        return list(self._tools)

    def _record(self, record: ActionRecord) -> None:
        self.records.append(record)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        seq = self._next_seq
        self._next_seq += 1
        digest = input_hash(arguments)
        created_at = self._clock.now()
        start = time.perf_counter()

        def finish(ok: bool, payload: Any, error: str | None) -> ToolOutcome:
            latency_ms = round((time.perf_counter() - start) * 1000)
            self._record(
                ActionRecord(
                    seq=seq,
                    tool_name=name,
                    input_hash=digest,
                    result="ok" if ok else "error",
                    error_message=None if ok else (error or "error")[:MAX_ERROR_TEXT],
                    latency_ms=latency_ms,
                    created_at=created_at,
                    output=payload if ok else None,
                    arguments=arguments,
                )
            )
            return ToolOutcome(
                ok=ok, data=payload if ok else None, error=error, latency_ms=latency_ms
            )

        if name not in self._by_name:
            # Still a real attempt by the brain (e.g. a model inventing a tool): record it.
            return finish(False, None, f"unknown tool {name!r}")
        try:
            is_error, payload = await self._raw_call(name, arguments)
        except asyncio.CancelledError:
            finish(False, None, "cancelled: the tick ran out of time")
            raise
        except Exception as exc:  # transport failure: the call happened and failed
            return finish(False, None, f"{type(exc).__name__}: {exc}")
        if is_error:
            return finish(False, None, str(payload))
        return finish(True, payload, None)


def _is_empty_read(record: ActionRecord) -> bool:
    data = record.output
    if not isinstance(data, dict):
        return False
    for key in ("items", "entries", "events", "logs", "results"):
        value = data.get(key)
        if isinstance(value, list):
            return not value
    return False


def summarize_experience(
    records: list[ActionRecord], observations: Sequence[Observation] = ()
) -> Experience:
    by_module: dict[str, list[ActionRecord]] = {}
    for record in records:
        by_module.setdefault(record.module, []).append(record)
    modules = {
        module: ModuleExperience(
            module=module,
            calls=len(rows),
            errors=[r.error_message or "error" for r in rows if r.result == "error"],
            slow_calls=sum(1 for r in rows if r.latency_ms >= SLOW_CALL_MS),
            empty_reads=sum(1 for r in rows if _is_empty_read(r)),
            mean_latency_ms=sum(r.latency_ms for r in rows) / len(rows),
        )
        for module, rows in by_module.items()
    }
    return Experience(actions=list(records), modules=modules, observations=list(observations))


def checked_ratings(outcome: RatingOutcome, modules_used: list[str]) -> RatingOutcome:
    """Keep exactly one valid rating per module used; say what was wrong with the rest.

    Never invents a rating: a module the brain did not rate validly stays unrated and the
    problem is recorded on the tick.
    """
    problems = [outcome.problem] if outcome.problem else []
    used = set(modules_used)
    kept: dict[str, ModuleRating] = {}
    for rating in outcome.ratings:
        if rating.module not in used:
            problems.append(f"rating for unused module {rating.module!r} ignored")
        elif not isinstance(rating.rating, int) or not 1 <= rating.rating <= 5:
            problems.append(f"rating {rating.rating!r} for {rating.module} is not 1-5")
        elif rating.module in kept:
            problems.append(f"second rating for {rating.module} ignored")
        else:
            kept[rating.module] = rating
    missing = sorted(used - kept.keys())
    if missing:
        problems.append(f"no usable rating for {', '.join(missing)}")
    # A brain may already have run this check: keep each problem once.
    unique = list(dict.fromkeys(p for part in problems for p in part.split("; ") if p))
    return RatingOutcome(ratings=[kept[m] for m in sorted(kept)], problem="; ".join(unique) or None)


def json_payload(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
