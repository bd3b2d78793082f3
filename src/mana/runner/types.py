"""Plain data the runner passes between its parts (no I/O here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# The claim's persona and its spaces are the wire contract's own models, re-exported here
# because every part of the runner passes them around; request bodies are built with the
# contract's request models, so field names are written down once.
from mana.personas.contract import (
    ActionIn,
    FeedbackIn,
    PersonaProfile,
    PersonaSpace,
    TickUsage,
)

__all__ = [
    "ActionRecord",
    "ModuleRating",
    "PersonaProfile",
    "PersonaSpace",
    "RatingOutcome",
    "ToolInfo",
    "Usage",
]


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
        # Not validated again here: a bad row is the server's to refuse (422), as before.
        return ActionIn.model_construct(
            tick_id=tick_id,
            seq=self.seq,
            tool_name=self.tool_name,
            input_hash=self.input_hash,
            result=self.result,
            error_message=self.error_message,
            latency_ms=self.latency_ms,
            created_at=self.created_at,
        ).model_dump(mode="json", by_alias=True)


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
        return FeedbackIn.model_construct(
            tick_id=tick_id, module=self.module, rating=self.rating, notes=self.notes
        ).model_dump(mode="json", by_alias=True)


@dataclass
class Usage:
    """What a tick's model calls used. `input_tokens` is every prompt token (as before caching
    existed); the cache fields say how many of them were written to or read from the provider's
    prompt cache, which are priced apart (see `llm.budget.Prices`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.calls += other.calls
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_read_tokens += other.cache_read_tokens

    def wire(self) -> dict[str, Any]:
        # The cache fields are sent only when there is something to say, so a tick without
        # prompt caching posts exactly what it posted before they existed.
        return TickUsage.model_construct(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens=self.input_tokens + self.output_tokens,
            cost_usd=round(self.cost_usd, 6),
            model_calls=self.calls,
            cache_write_tokens=self.cache_write_tokens or None,
            cache_read_tokens=self.cache_read_tokens or None,
        ).stored()


@dataclass
class RatingOutcome:
    """The brain's ratings. `problem` says why an answer was unusable (then ratings may be
    partial or empty): recorded on the tick, never replaced by an invented rating."""

    ratings: list[ModuleRating] = field(default_factory=list)
    problem: str | None = None
