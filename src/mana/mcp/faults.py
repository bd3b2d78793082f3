"""Development-only fault injection for the MCP server (`MANA_FAULTS`, issue 10 §5).

A team proves that its personas notice broken behaviour by planting it: a JSON file of rules,
each naming a tool pattern (fnmatch on the MCP tool name) and a fault:

- `error`: the call fails as a tool error (isError) with `message`; nothing runs.
- `latency`: `latencyMs` added before the call.
- `noop_write`: the tool runs and answers as usual, but its transaction is rolled back.
- `hide_older`: items created more than `olderThanSeconds` ago (server clock) vanish from
  answers; an answer *about* such an item becomes "not found" (and changes nothing).
- `foreign_items`: list answers in a personal space also hold `count` items of another user's
  personal space (real rows when there are any, otherwise a made-up item of the same shape).

Everything works on the registry's contract, not on module code: the tool name, the policy, the
output model, the item shape (`id`, `createdAt`) and the module's space-scoped tables (defined
beside its tools, all with `id`, `space_id`, `created_at`). So a module added later gets every
fault without a line here.

The file is re-read when it changes (checked at most every `MANA_FAULTS_CHECK_SECONDS`), so a
test or `mana simulate` switches faults while the server runs. A broken file at start is an
error; a broken edit later keeps the last good rules and logs one warning. Production refuses
the setting altogether (`Settings.require_no_faults_in_production`).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from mana.auth.models import Space
from mana.mcp import fault_items
from mana.tools.registry import ToolContext, ToolError, ToolSpec

logger = logging.getLogger(__name__)

FaultKind = Literal["error", "latency", "noop_write", "hide_older", "foreign_items"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
DEFAULT_ERROR_MESSAGE = "Something went wrong. Please try again later."
MAX_RULES = 100


class FaultRulesError(ValueError):
    """The rules file is missing or invalid. The message names the file and what is wrong."""


# --- the rules file ----------------------------------------------------------------------------


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    tool: str = Field(min_length=1, max_length=200, description="fnmatch pattern on tool names")
    rate: float = Field(default=1.0, ge=0.0, le=1.0)

    def matches(self, tool_name: str) -> bool:
        return fnmatch.fnmatchcase(tool_name, self.tool)


class ErrorRule(_Rule):
    fault: Literal["error"]
    message: str = Field(default=DEFAULT_ERROR_MESSAGE, min_length=1, max_length=2000)


class LatencyRule(_Rule):
    fault: Literal["latency"]
    latency_ms: int = Field(ge=0, le=600_000)


class NoopWriteRule(_Rule):
    fault: Literal["noop_write"]


class HideOlderRule(_Rule):
    fault: Literal["hide_older"]
    older_than_seconds: float = Field(ge=0)


class ForeignItemsRule(_Rule):
    fault: Literal["foreign_items"]
    count: int = Field(default=1, ge=1, le=100)


Rule = Annotated[
    ErrorRule | LatencyRule | NoopWriteRule | HideOlderRule | ForeignItemsRule,
    Field(discriminator="fault"),
]


class FaultRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, description="Seeds the rate draws: runs repeat.")
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)


def describe_rules_error(exc: ValidationError) -> str:
    """'rules[0].latencyMS: Extra inputs are not permitted; …' — by the names in the file."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        path = ""
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif str(part) not in FAULT_KINDS:  # the union's tag says nothing to the reader
                path += f".{part}" if path else str(part)
        parts.append(f"{path or 'file'}: {error['msg']}")
    return "; ".join(parts)


def load_rules(path: Path) -> FaultRules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaultRulesError(
            f"MANA_FAULTS: {path}: cannot read it ({exc.strerror or exc})"
        ) from exc
    try:
        return FaultRules.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise FaultRulesError(f"MANA_FAULTS: {path} is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        raise FaultRulesError(f"MANA_FAULTS: {path}: {describe_rules_error(exc)}") from exc


# --- what one call gets ------------------------------------------------------------------------


@dataclass
class FaultPlan:
    """The faults that fired for one call (rates already drawn)."""

    tool: str
    error: str | None = None
    latency_ms: int = 0
    noop_write: bool = False
    hide_older_seconds: float | None = None
    foreign_count: int = 0

    @property
    def touches_result(self) -> bool:
        return self.hide_older_seconds is not None or self.foreign_count > 0


class FaultInjector:
    def __init__(
        self,
        path: Path,
        *,
        registry: CollectorRegistry,
        tool_names: list[str],
        check_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._check_interval = check_interval
        self._monotonic = monotonic
        self._known = set(tool_names)
        self.injected = Counter(
            "mcp_faults_injected_total",
            "Faults injected by the development fault mode (MANA_FAULTS), by tool and fault",
            ["tool", "fault"],
            registry=registry,
        )
        # A broken file at start is the operator's error to fix now: raise, don't serve.
        self._signature = self._stat()
        self._apply(load_rules(path))
        self._last_check = self._monotonic()
        self._refused_signature: tuple[int, int, int] | None = None

    @property
    def rules(self) -> FaultRules:
        return self._rules

    def _stat(self) -> tuple[int, int, int]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise FaultRulesError(
                f"MANA_FAULTS: {self.path}: cannot read it ({exc.strerror or exc})"
            ) from exc
        # mtime alone misses two writes within the filesystem's timestamp granularity; an
        # atomic replace always changes the inode, a rewrite usually the size.
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _apply(self, rules: FaultRules, *, reloaded: bool = False) -> None:
        self._rules = rules
        # Re-seeded with every new version: a run that starts from the same file repeats.
        self._random = random.Random(rules.seed)
        for rule in rules.rules:
            if not any(rule.matches(name) for name in self._known):
                logger.warning("fault rule for %r matches no served tool", rule.tool)
        if reloaded:
            logger.info("fault rules reloaded from %s: %d rule(s)", self.path, len(rules.rules))
        else:
            logger.warning(
                "fault mode on (%s): %d rule(s) — development only", self.path, len(rules.rules)
            )

    def refresh(self) -> None:
        """Re-read the file if it changed; keep the last good rules if it is now broken."""
        now = self._monotonic()
        if now - self._last_check < self._check_interval:
            return
        self._last_check = now
        try:
            signature = self._stat()
            if signature == self._signature or signature == self._refused_signature:
                return
            rules = load_rules(self.path)
        except FaultRulesError as exc:
            signature = self._refused_signature_for_error()
            if signature != self._refused_signature:
                logger.warning("%s; keeping the previous %d rule(s)", exc, len(self._rules.rules))
            self._refused_signature = signature
            return
        self._signature = signature
        self._refused_signature = None
        self._apply(rules, reloaded=True)

    def _refused_signature_for_error(self) -> tuple[int, int, int]:
        try:
            return self._stat()
        except FaultRulesError:
            return (-1, -1, -1)  # missing: one warning until the file is back

    def plan(self, spec: ToolSpec) -> FaultPlan:
        self.refresh()
        plan = FaultPlan(tool=spec.name)
        for rule in self._rules.rules:
            if not rule.matches(spec.name) or not self._fires(rule.rate):
                continue
            if isinstance(rule, ErrorRule):
                plan.error = plan.error or rule.message
            elif isinstance(rule, LatencyRule):
                plan.latency_ms += rule.latency_ms
            elif isinstance(rule, NoopWriteRule):
                plan.noop_write = True
            elif isinstance(rule, HideOlderRule):
                seconds = plan.hide_older_seconds
                plan.hide_older_seconds = (
                    rule.older_than_seconds
                    if seconds is None
                    else min(seconds, rule.older_than_seconds)
                )
            else:
                plan.foreign_count += rule.count
        return plan

    def _fires(self, rate: float) -> bool:
        # Rules that always (or never) fire draw nothing, so adding one does not shift the
        # sequence another rule's rate sees.
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._random.random() < rate

    def record(self, tool: str, fault: FaultKind, detail: str = "") -> None:
        label = tool if tool in self._known else "unknown"
        self.injected.labels(label, fault).inc()
        logger.info(
            "fault injected: tool=%s fault=%s%s", tool, fault, f" ({detail})" if detail else ""
        )

    async def alter_result(
        self,
        plan: FaultPlan,
        spec: ToolSpec,
        data: BaseModel,
        ctx: ToolContext,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        """hide_older and foreign_items, inside the call's transaction (a ToolError raised here
        rolls the call back, as a real "not found" would have)."""
        if plan.hide_older_seconds is not None:
            cutoff = ctx.now - timedelta(seconds=plan.hide_older_seconds)
            created = await fault_items.creation_times(spec, ctx, result)
            result = self._hide_older(spec, result, cutoff, created)
        if plan.foreign_count and spec.policy == "read":
            result = await self._add_foreign(plan.foreign_count, spec, data, ctx, result)
        return result

    # --- hide_older ----------------------------------------------------------------------------

    def _hide_older(
        self,
        spec: ToolSpec,
        result: dict[str, Any],
        cutoff: datetime,
        created: dict[str, datetime],
    ) -> dict[str, Any]:
        hidden: list[str] = []
        kept = fault_items.prune(result, cutoff, created, hidden)
        if kept is fault_items.HIDDEN:
            self.record(spec.name, "hide_older", "not found")
            item_id = result.get("id") or (hidden[0] if hidden else "")
            # Worded like the modules' own "not found" (`tools.base.get_in_space`).
            lister = f"{spec.module}.list"
            where = f"use {lister} to find ids" if lister in self._known else "it may be gone"
            raise ToolError(f"{spec.module} item {item_id} not found in this space; {where}")
        if hidden:
            self.record(spec.name, "hide_older", f"{len(hidden)} item(s) left out")
        return cast(dict[str, Any], kept)

    # --- foreign_items -------------------------------------------------------------------------

    async def _add_foreign(
        self,
        count: int,
        spec: ToolSpec,
        data: BaseModel,
        ctx: ToolContext,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        key, item_model = fault_items.item_list_field(spec.output_model)
        if key is None or item_model is None or not isinstance(result.get(key), list):
            return result
        space_type = await ctx.session.scalar(sa.select(Space.type).where(Space.id == ctx.space_id))
        if space_type != "personal":
            return result
        foreign = await fault_items.items_of_other_spaces(spec, data, ctx, key, count)
        source = "real rows of another space"
        if not foreign:
            made_up = fault_items.made_up_item(item_model, ctx.now)
            foreign = [made_up] if made_up is not None else []
            source = "a made-up item"
        if not foreign:
            return result
        self.record(spec.name, "foreign_items", f"{len(foreign)} item(s), {source}")
        return {**result, key: foreign + list(result[key])}
