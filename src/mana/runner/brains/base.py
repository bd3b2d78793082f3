"""The contract between the tick and a brain."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from mana.runner.types import (
    ActionRecord,
    Observation,
    PersonaProfile,
    PersonaSpace,
    RatingOutcome,
    ToolInfo,
    Usage,
)


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    data: Any
    error: str | None
    latency_ms: int


class ToolBox(Protocol):
    """What a brain may touch: the tools on offer, and a way to call one (each call recorded)."""

    @property
    def tools(self) -> list[ToolInfo]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome: ...


@dataclass
class DayContext:
    """Everything a brain gets for one tick."""

    persona: PersonaProfile
    space: PersonaSpace
    today: date
    seed: int
    rng: random.Random
    usage: Usage = field(default_factory=Usage)
    # The persona's story so far, compact (issue 10): what it made, how it left it, last days.
    story: str = ""


@dataclass(frozen=True)
class ModuleExperience:
    """What the persona went through in one module: the raw material for its rating."""

    module: str
    calls: int
    errors: list[str]
    slow_calls: int
    empty_reads: int
    mean_latency_ms: float


@dataclass(frozen=True)
class Experience:
    actions: list[ActionRecord]
    modules: dict[str, ModuleExperience]
    # What the persona noticed (broken expectations with evidence): the basis of its ratings.
    observations: list[Observation] = field(default_factory=list)

    def observed(self, module: str) -> list[Observation]:
        return [o for o in self.observations if o.module == module]

    @property
    def modules_used(self) -> list[str]:
        return sorted(self.modules)


class BudgetExceeded(Exception):
    """The brain stopped because the next model call would exceed the tick's or day's budget."""


class Brain(Protocol):
    name: str

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        """Use the tools as the persona would. Usage (tokens, cost) goes into day.usage."""
        ...

    async def rate(self, day: DayContext, experience: Experience) -> RatingOutcome:
        """Rate every module used, 1–5, with a note in the persona's voice."""
        ...

    async def aclose(self) -> None:
        """Release clients (HTTP connections) at shutdown."""
        ...
