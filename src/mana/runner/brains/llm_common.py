"""What every language-model brain shares: one tool loop and the rating turn, for any provider.

A provider module (`anthropic_brain`, `openai_brain`) only translates between this loop and its
API's wire format (a `Conversation`) and says which of its SDK's errors are worth retrying.
Everything a persona's day depends on lives in small modules beside it, once:

- `llm.names`    MCP tool names ↔ API tool names, input schemas, tool results as text
- `llm.budget`   prices and the day's spend (the daily budget)
- `llm.retries`  which API failures are retried, and how long to wait
- `llm.prompts`  the day's system prompt, the opening message, the rating prompt
- `llm.ratings`  judging the rating answer

This module is the one place to import them from: the names below are re-exported.
"""

from __future__ import annotations

import abc
import json
import logging
from dataclasses import dataclass
from typing import Any

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.base import BudgetExceeded, DayContext, Experience, ToolBox
from mana.runner.brains.llm.budget import (
    ANTHROPIC_CACHE_READ_RATIO,
    ANTHROPIC_CACHE_WRITE_RATIO,
    OPENAI_CACHE_READ_RATIO,
    DailySpend,
    Prices,
    Reservation,
)
from mana.runner.brains.llm.names import (
    API_TOOL_NAME,
    MAX_TOOL_RESULT_CHARS,
    ToolNames,
    input_schema,
    tool_result_text,
)
from mana.runner.brains.llm.prompts import (
    DAY_INSTRUCTION,
    day_system_prompt,
    experience_digest,
    long_date,
    opening_message,
    rating_prompt,
    rating_system_prompt,
)
from mana.runner.brains.llm.ratings import (
    MAX_NOTES_CHARS,
    MAX_RATING_ANSWER_CHARS,
    extract_json,
    parse_ratings,
)
from mana.runner.brains.llm.retries import (
    ApiFailure,
    ModelCallFailed,
    RetryPolicy,
    call_with_retries,
    retry_after_seconds,
    status_failure,
)
from mana.runner.brains.voice import persona_locale
from mana.runner.types import RatingOutcome, ToolInfo, Usage
from mana.runner.verdict import bounded_by_evidence

__all__ = [
    "ANTHROPIC_CACHE_READ_RATIO",
    "ANTHROPIC_CACHE_WRITE_RATIO",
    "API_TOOL_NAME",
    "DAY_INSTRUCTION",
    "MAX_NOTES_CHARS",
    "MAX_RATING_ANSWER_CHARS",
    "MAX_TOOL_CALLS_PER_TURN",
    "MAX_TOOL_RESULT_CHARS",
    "OPENAI_CACHE_READ_RATIO",
    "ApiFailure",
    "BrainConfigError",
    "Conversation",
    "DailySpend",
    "LLMBrain",
    "ModelCallFailed",
    "ModelReply",
    "Prices",
    "Reservation",
    "RetryPolicy",
    "ToolCall",
    "ToolNames",
    "ToolResult",
    "call_with_retries",
    "day_system_prompt",
    "experience_digest",
    "extract_json",
    "input_schema",
    "long_date",
    "opening_message",
    "parse_ratings",
    "rating_prompt",
    "rating_system_prompt",
    "retry_after_seconds",
    "status_failure",
    "tool_result_text",
]

logger = logging.getLogger(__name__)

# A model asking for dozens of calls at once is not a person using an app.
MAX_TOOL_CALLS_PER_TURN = 8
# A rough, deliberately generous size-to-tokens ratio for budgeting a call before it is made.
CHARS_PER_TOKEN = 3


class BrainConfigError(RuntimeError):
    """A language-model brain cannot be built from the settings; the message names the variable."""


# --- one model exchange ----------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str  # as the API spelled it
    arguments: dict[str, Any] | None
    # Why the call cannot be made (e.g. its arguments are not a JSON object).
    problem: str | None = None


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: str
    is_error: bool


@dataclass(frozen=True)
class ModelReply:
    text: str
    tool_calls: list[ToolCall]
    input_tokens: int  # the whole prompt, cached parts included
    output_tokens: int
    stop_reason: str | None
    # Of input_tokens: written to the provider's prompt cache, and read from it.
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0


class Conversation(abc.ABC):
    """One conversation with a model in its provider's wire format."""

    def __init__(self) -> None:
        # What the last call cost in tokens: the next one re-reads all of it, and more.
        self._floor_tokens = 0

    @abc.abstractmethod
    async def send(self) -> ModelReply:
        """One API call with the transcript so far; on success the reply joins the transcript."""

    @abc.abstractmethod
    def add_tool_results(self, results: list[ToolResult]) -> None: ...

    @abc.abstractmethod
    def request_payload(self) -> Any:
        """What is sent (system, messages, tools), for estimating its size."""

    def estimated_input_tokens(self) -> int:
        size = len(json.dumps(self.request_payload(), ensure_ascii=False, default=str))
        return max(size // CHARS_PER_TOKEN + 1, self._floor_tokens)

    def note_usage(self, reply: ModelReply) -> None:
        self._floor_tokens = reply.input_tokens + reply.output_tokens


# --- the brain -------------------------------------------------------------------------------


class LLMBrain(abc.ABC):
    """The day loop and the rating turn, for any provider.

    One instance serves every tick of a runner process, concurrently: nothing about a tick is
    kept on the instance, only the day's spend.
    """

    name: str
    provider: str
    # The SDK's errors worth classifying (status and connection errors); others propagate.
    api_errors: tuple[type[Exception], ...]
    # Mark a day's prompt for the provider's cache (where it needs marking); off only to
    # measure what caching saves (bench/llm_cost_bench.py).
    prompt_cache = True

    def __init__(
        self,
        settings: Settings,
        *,
        model: str,
        prices: Prices,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        daily_spend: DailySpend | None = None,
    ) -> None:
        self.model = model
        self.prices = prices
        self.max_turns = settings.llm_max_turns
        self.max_output_tokens = settings.llm_max_output_tokens
        self.tick_budget_usd = settings.tick_budget_usd
        self.daily_budget_usd = settings.daily_budget_usd
        self.retry = retry or RetryPolicy(max_attempts=settings.llm_max_attempts)
        self.daily_spend = daily_spend or DailySpend(clock)

    @abc.abstractmethod
    def conversation(
        self,
        *,
        system: str,
        user: str,
        tools: list[ToolInfo],
        names: ToolNames,
        cache: bool = False,
    ) -> Conversation:
        """`cache`: the conversation will take several turns, so marking its prefix for the
        provider's prompt cache pays for itself (where the provider needs marking at all)."""

    @abc.abstractmethod
    def classify_error(self, exc: Exception) -> ApiFailure: ...

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the SDK client if this brain made it."""

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        # One order whatever order the server lists them in: the tools open every request, and
        # a provider's prompt cache only matches a byte-identical prefix.
        tools = sorted(toolbox.tools, key=lambda t: t.name)
        names = ToolNames(t.name for t in tools)
        conversation = self.conversation(
            system=day_system_prompt(day),
            user=opening_message(day),
            tools=tools,
            names=names,
            cache=self.prompt_cache,
        )
        for turn in range(1, self.max_turns + 1):
            reply = await self._complete(day, conversation)
            if not reply.tool_calls:
                logger.debug(
                    "%s: day of %s ended after %d turns", self.name, day.persona.email, turn
                )
                return
            results = [
                await self._run_tool(call, names, toolbox)
                for call in reply.tool_calls[:MAX_TOOL_CALLS_PER_TURN]
            ]
            # Every call the model made needs an answer, or the API refuses the next request.
            results += [
                ToolResult(
                    call.id,
                    f"ERROR: not run: at most {MAX_TOOL_CALLS_PER_TURN} tool calls per turn",
                    True,
                )
                for call in reply.tool_calls[MAX_TOOL_CALLS_PER_TURN:]
            ]
            conversation.add_tool_results(results)
        logger.info(
            "%s: day of %s stopped at the %d-turn limit",
            self.name,
            day.persona.email,
            self.max_turns,
        )

    async def rate(self, day: DayContext, experience: Experience) -> RatingOutcome:
        modules = experience.modules_used
        if not modules:
            return RatingOutcome()
        conversation = self.conversation(
            system=rating_system_prompt(day),
            user=rating_prompt(experience),
            tools=[],
            names=ToolNames([]),
        )
        try:
            reply = await self._complete(day, conversation)
        except BudgetExceeded as exc:
            return RatingOutcome(problem=f"budget: no rating call: {exc}")
        except ModelCallFailed as exc:
            return RatingOutcome(problem=f"rating call failed: {exc}")
        outcome = parse_ratings(reply.text, modules)
        outcome.ratings = bounded_by_evidence(
            outcome.ratings, experience.observations, persona_locale(day.persona.email)
        )
        return outcome

    def _check_budgets(self, day: DayContext, estimate: float) -> None:
        spent = day.usage.cost_usd
        if self.tick_budget_usd is not None and spent + estimate > self.tick_budget_usd:
            raise BudgetExceeded(
                f"tick budget ${self.tick_budget_usd:.2f} reached: ${spent:.4f} spent, the next "
                f"model call may cost up to ${estimate:.4f}"
            )
        if self.daily_budget_usd is not None:
            committed = self.daily_spend.committed()
            if committed + estimate > self.daily_budget_usd:
                raise BudgetExceeded(
                    f"daily budget ${self.daily_budget_usd:.2f} for {self.daily_spend.today} "
                    f"(UTC) reached: ${committed:.4f} spent, the next model call may cost up "
                    f"to ${estimate:.4f}"
                )

    async def _complete(self, day: DayContext, conversation: Conversation) -> ModelReply:
        """One model call: budget check, retries, usage and cost into day.usage."""
        estimate = self.prices.worst_case(
            conversation.estimated_input_tokens(), self.max_output_tokens
        )
        self._check_budgets(day, estimate)
        reservation = self.daily_spend.reserve(estimate)
        cost = 0.0
        try:
            reply = await call_with_retries(
                conversation.send,
                errors=self.api_errors,
                classify=self.classify_error,
                policy=self.retry,
                provider=self.provider,
            )
            cost = self.prices.cost(
                reply.input_tokens,
                reply.output_tokens,
                cache_write_tokens=reply.cache_write_tokens,
                cache_read_tokens=reply.cache_read_tokens,
            )
        finally:
            self.daily_spend.settle(reservation, cost)
        day.usage.add(
            Usage(
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=cost,
                calls=1,
                cache_write_tokens=reply.cache_write_tokens,
                cache_read_tokens=reply.cache_read_tokens,
            )
        )
        conversation.note_usage(reply)
        return reply

    async def _run_tool(self, call: ToolCall, names: ToolNames, toolbox: ToolBox) -> ToolResult:
        if call.arguments is None:
            # The model's mistake, not the product's: answered, but not sent to the app.
            return ToolResult(call.id, f"ERROR: {call.problem or 'no arguments'}", True)
        outcome = await toolbox.call(names.mcp(call.name), call.arguments)
        if outcome.ok:
            return ToolResult(call.id, tool_result_text(outcome.data), False)
        return ToolResult(call.id, f"ERROR: {outcome.error or 'the tool failed'}", True)
