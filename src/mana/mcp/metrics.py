"""Tool-call metrics, in the app's own Prometheus registry (served at /metrics).

Labels are bounded: `tool` is a registered tool name (or "unknown"), `result` one of RESULTS.
Never a user id, a space id or an argument.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

Result = Literal["ok", "invalid_input", "tool_error", "unknown_tool", "internal_error"]
RESULTS: tuple[Result, ...] = (
    "ok",
    "invalid_input",
    "tool_error",
    "unknown_tool",
    "internal_error",
)
UNKNOWN_TOOL_LABEL = "unknown"

# Tool calls are DB round trips: most take milliseconds, a slow one a second or more.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ToolMetrics:
    def __init__(self, registry: CollectorRegistry, tool_names: list[str]) -> None:
        self.calls = Counter(
            "mcp_tool_calls_total",
            "MCP tool calls by tool and result",
            ["tool", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "mcp_tool_call_duration_seconds",
            "MCP tool call latency (validation, transaction and handler) by tool",
            ["tool"],
            registry=registry,
            buckets=BUCKETS,
        )
        self._known = set(tool_names)

    def observe(self, tool: str, result: Result, seconds: float) -> None:
        label = tool if tool in self._known else UNKNOWN_TOOL_LABEL
        self.calls.labels(label, result).inc()
        self.duration.labels(label).observe(seconds)
