"""Plain data the runner passes between its parts (no I/O here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PersonaSpace(_Wire):
    id: uuid.UUID
    name: str
    type: str
    role: str = "member"


class PersonaProfile(_Wire):
    """What the internal API's claim returns for one persona: all a runner needs to play it."""

    user_id: uuid.UUID
    email: str
    name: str | None = None
    archetype: str
    system_prompt: str
    module_mix: dict[str, float]
    tick_cadence: str = "daily"
    last_active_at: datetime | None = None
    spaces: list[PersonaSpace] = Field(default_factory=list)

    @property
    def personal_space(self) -> PersonaSpace | None:
        return next((s for s in self.spaces if s.type == "personal"), None)

    @property
    def shared_spaces(self) -> list[PersonaSpace]:
        return [s for s in self.spaces if s.type != "personal"]


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str
    input_schema: dict[str, Any]
    # As the MCP server publishes them (None: not said). The expectation checks read these.
    output_schema: dict[str, Any] | None = None
    read_only: bool | None = None
    destructive: bool | None = None

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class ActionRecord:
    """One tool call, exactly as it happened: its own result, its own latency."""

    seq: int
    tool_name: str
    input_hash: str
    result: Literal["ok", "error"]
    error_message: str | None
    latency_ms: int
    created_at: datetime
    # Kept in memory for the brain's rating step; never posted (hashes only leave the runner).
    output: Any = None
    arguments: Any = None

    @property
    def module(self) -> str:
        return self.tool_name.split(".", 1)[0]

    def wire(self, tick_id: uuid.UUID) -> dict[str, Any]:
        return {
            "tickId": str(tick_id),
            "seq": self.seq,
            "toolName": self.tool_name,
            "inputHash": self.input_hash,
            "result": self.result,
            "errorMessage": self.error_message,
            "latencyMs": self.latency_ms,
            "createdAt": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Observation:
    """A broken expectation the persona noticed, with its evidence (issue 10)."""

    kind: str
    module: str
    evidence: str
    tool_name: str | None = None
    action_seq: int | None = None
    item_id: str | None = None
    # For the persona's own note (never posted): what it was about, in plain words.
    label: str = ""
    field: str | None = None
    expected: Any = None
    found: Any = None
    cause_tool: str | None = None

    def wire(self, tick_id: uuid.UUID, seq: int) -> dict[str, Any]:
        return {
            "tickId": str(tick_id),
            "seq": seq,
            "kind": self.kind,
            "module": self.module,
            "toolName": self.tool_name,
            "actionSeq": self.action_seq,
            "itemId": self.item_id[:120] if self.item_id else None,
            "evidence": self.evidence[:2000],
        }


@dataclass(frozen=True)
class ModuleRating:
    module: str
    rating: int
    notes: str

    def wire(self, tick_id: uuid.UUID) -> dict[str, Any]:
        return {
            "tickId": str(tick_id),
            "module": self.module,
            "rating": self.rating,
            "notes": self.notes,
        }


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.calls += other.calls

    def wire(self) -> dict[str, Any]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "tokens": self.input_tokens + self.output_tokens,
            "costUsd": round(self.cost_usd, 6),
            "modelCalls": self.calls,
        }


@dataclass
class RatingOutcome:
    """The brain's ratings. `problem` says why an answer was unusable (then ratings may be
    partial or empty): recorded on the tick, never replaced by an invented rating."""

    ratings: list[ModuleRating] = field(default_factory=list)
    problem: str | None = None
