"""The figures of a simulation: aggregates only, so a long run keeps no per-tick history."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here; importing the tick pulls in the MCP client
    from mana.runner.tick import TickReport

MAX_FAILURES_KEPT = 20


@dataclass
class ModuleRatings:
    count: int = 0
    total: int = 0
    distribution: Counter[int] = field(default_factory=Counter)

    @property
    def mean(self) -> float | None:
        return None if self.count == 0 else self.total / self.count


@dataclass
class SimulationSummary:
    start: date
    days: int
    seed: int
    ticks: int = 0
    failed_ticks: int = 0
    unclaimed: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    ticks_per_day: Counter[str] = field(default_factory=Counter)
    ratings: defaultdict[str, ModuleRatings] = field(
        default_factory=lambda: defaultdict(ModuleRatings)
    )
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def add(self, report: TickReport, day: date) -> None:
        self.ticks += 1
        self.ticks_per_day[day.isoformat()] += 1
        self.tool_calls += len(report.actions)
        self.tool_errors += report.errors
        if report.failed:
            self.failed_ticks += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append(
                    f"{day} {report.persona.email}: {report.status}: {report.error_message}"
                )
        for rating in report.ratings:
            figures = self.ratings[rating.module]
            figures.count += 1
            figures.total += rating.rating
            figures.distribution[rating.rating] += 1

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.start.toordinal() + self.days - 1)

    @property
    def ticks_per_second(self) -> float:
        return self.ticks / self.wall_seconds if self.wall_seconds else 0.0

    def figures(self) -> dict[str, object]:
        """What the run produced, without timings: equal for two runs with the same inputs."""
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "seed": self.seed,
            "ticks": self.ticks,
            "failedTicks": self.failed_ticks,
            "unclaimed": self.unclaimed,
            "toolCalls": self.tool_calls,
            "toolErrors": self.tool_errors,
            "ticksPerDay": dict(sorted(self.ticks_per_day.items())),
            "ratings": {
                module: {
                    "count": r.count,
                    "mean": None if r.mean is None else round(r.mean, 4),
                    "distribution": {str(k): r.distribution[k] for k in sorted(r.distribution)},
                }
                for module, r in sorted(self.ratings.items())
            },
        }
