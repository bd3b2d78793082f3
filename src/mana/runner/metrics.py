"""Runner metrics. Labels carry statuses and tool names, never user ids or emails."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class RunnerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.ticks = Counter(
            "persona_ticks_total",
            "Finished persona ticks by status",
            ["status"],
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "persona_tool_calls_total",
            "Tool calls made by personas",
            ["tool", "result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "persona_errors_total", "Failed tool calls and failed ticks", registry=self.registry
        )
        self.tick_duration = Histogram(
            "persona_tick_duration_seconds",
            "Wall time of one persona tick",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "persona_ticks_in_flight", "Persona ticks running now", registry=self.registry
        )
