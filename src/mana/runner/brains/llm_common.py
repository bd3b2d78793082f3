"""What every language-model brain shares: one tool loop, prompts, retries, cost and budgets.

A provider module (`anthropic_brain`, `openai_brain`) only translates between this loop and its
API's wire format (a `Conversation`) and says which of its SDK's errors are worth retrying.
Everything a persona's day depends on — how many turns, what a tool result looks like to the
model, when to stop for money, how a rating answer is judged — lives here, once.

The runner owns retries (the SDK clients are built with `max_retries=0`) so that the attempt
count, the `Retry-After` handling and the budget checks are the same for every provider.
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import hashlib
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.base import BudgetExceeded, DayContext, Experience, ToolBox
from mana.runner.recording import SLOW_CALL_MS, checked_ratings
from mana.runner.types import (
    ModuleRating,
    PersonaSpace,
    RatingOutcome,
    ToolInfo,
    Usage,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Both APIs accept tool names matching this; MCP names (`todo.create`) do not.
API_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NOT_ALLOWED_IN_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_TOOL_NAME = 64

# What a tool result may take up in the model's context; the rest is cut (and said so).
MAX_TOOL_RESULT_CHARS = 8_000
# A model asking for dozens of calls at once is not a person using an app.
MAX_TOOL_CALLS_PER_TURN = 8
# A rough, deliberately generous size-to-tokens ratio for budgeting a call before it is made.
CHARS_PER_TOKEN = 3
MAX_NOTES_CHARS = 2_000
# A rating answer longer than this is not an answer (and would make JSON extraction slow).
MAX_RATING_ANSWER_CHARS = 50_000

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DAY_INSTRUCTION = (
    "You are using the Mana app through the tools you have been given. Do what this person "
    "would really do in the app today: a few actions, not a tour of every feature, with content "
    "written in your own words and language, the way you would type it. The tool results are "
    "what the app showed you; when something fails or confuses you, react as this person would. "
    "When you are done for today, stop calling tools and reply with one short sentence."
)


class BrainConfigError(RuntimeError):
    """A language-model brain cannot be built from the settings; the message names the variable."""


class ModelCallFailed(Exception):
    """The model API refused a call or kept failing after the allowed attempts."""


# --- tool names ------------------------------------------------------------------------------


def _with_digest(candidate: str, original: str) -> str:
    digest = hashlib.sha256(original.encode()).hexdigest()[:8]
    return f"{candidate[: _MAX_TOOL_NAME - 9]}_{digest}"


def _sanitize(name: str) -> str:
    # `.` becomes `__` (not `_`) so `todo.create` reads back naturally as `todo__create`.
    candidate = _NOT_ALLOWED_IN_TOOL_NAME.sub("_", name.replace(".", "__")) or "tool"
    if len(candidate) > _MAX_TOOL_NAME:
        candidate = _with_digest(candidate, name)
    return candidate


class ToolNames:
    """MCP tool names ↔ the names the model APIs accept (`^[a-zA-Z0-9_-]{1,64}$`).

    Two MCP names that sanitize alike (`todo.create`, `todo__create`) never share an API name:
    the later one (in sorted order, so the mapping is stable) gets a digest of its real name.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._to_api: dict[str, str] = {}
        self._to_mcp: dict[str, str] = {}
        for name in sorted(set(names)):
            candidate = _sanitize(name)
            salt = 0
            while candidate in self._to_mcp:
                salt += 1
                candidate = _with_digest(_sanitize(name), f"{name}#{salt}")
            self._to_api[name] = candidate
            self._to_mcp[candidate] = name

    def api(self, mcp_name: str) -> str:
        return self._to_api[mcp_name]

    def mcp(self, api_name: str) -> str:
        # A name the model invented is passed on unchanged: the toolbox records it as a failed
        # call to an unknown tool, which is what happened.
        return self._to_mcp.get(api_name, api_name)


def input_schema(tool: ToolInfo) -> dict[str, Any]:
    """The tool's JSON schema, as an object schema (both APIs insist on one)."""
    schema = dict(tool.input_schema)
    if schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    schema.setdefault("properties", {})
    return schema


def tool_result_text(data: Any) -> str:
    if data is None:
        return "OK (no data returned)"
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        cut = len(text) - MAX_TOOL_RESULT_CHARS
        text = f"{text[:MAX_TOOL_RESULT_CHARS]}… [{cut} more characters not shown]"
    return text or "OK (empty result)"


# --- cost and budgets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class Reservation:
    day: date
    amount: float


class DailySpend:
    """Model spend per UTC date, shared by every tick one brain instance runs.

    A call's worst-case cost is reserved before it is made and settled with the real cost
    afterwards, so concurrent ticks cannot all pass the check and then overspend together.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._day: date | None = None
        self._spent = 0.0
        self._reserved = 0.0

    @property
    def today(self) -> date:
        today = self._clock.now().astimezone(UTC).date()
        if today != self._day:
            self._day, self._spent, self._reserved = today, 0.0, 0.0
        return today

    @property
    def spent(self) -> float:
        _ = self.today
        return self._spent

    def committed(self) -> float:
        """Spent today plus what calls in flight may still cost."""
        _ = self.today
        return self._spent + self._reserved

    def reserve(self, amount: float) -> Reservation:
        reservation = Reservation(day=self.today, amount=amount)
        self._reserved += amount
        return reservation

    def settle(self, reservation: Reservation, actual: float) -> None:
        if reservation.day == self.today:
            self._reserved = max(0.0, self._reserved - reservation.amount)
        # A call that straddled midnight is paid today: that is when the money went.
        self._spent += actual


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiFailure:
    retryable: bool
    description: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_seconds: float = 0.5
    # The longest wait the runner accepts; an API asking for more fails the call at once
    # (the tick has a deadline, and the persona can come back tomorrow).
    max_delay_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before attempt `attempt + 1`; None when asked to wait too long."""
        if retry_after is not None and retry_after > 0:
            if retry_after > self.max_delay_seconds:
                return None
            # Never sooner than asked; a little later, so that callers told the same moment do
            # not all come back at once.
            return retry_after * (1 + 0.1 * rng.random())
        backoff = min(self.base_delay_seconds * 2 ** (attempt - 1), self.max_delay_seconds)
        return backoff * (0.5 + 0.5 * rng.random())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, then `Retry-After` as seconds or as an HTTP date."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def status_failure(status: int, headers: Mapping[str, str], message: str) -> ApiFailure:
    # 408/429/5xx are the API's own trouble or load (529: overloaded); any other 4xx is ours
    # and would fail the same way again.
    retryable = status in (408, 429) or status >= 500
    return ApiFailure(
        retryable=retryable,
        description=f"HTTP {status}: {message[:300]}",
        retry_after=retry_after_seconds(headers),
    )


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    errors: tuple[type[Exception], ...],
    classify: Callable[[Exception], ApiFailure],
    policy: RetryPolicy,
    provider: str,
    rng: random.Random | None = None,
) -> T:
    """Run `attempt` up to `policy.max_attempts` times; fail with ModelCallFailed."""
    rng = rng or random.Random()
    for number in range(1, policy.max_attempts + 1):
        try:
            return await attempt()
        except errors as exc:
            failure = classify(exc)
            if not failure.retryable:
                raise ModelCallFailed(
                    f"{provider} API refused the call: {failure.description}"
                ) from exc
            if number == policy.max_attempts:
                raise ModelCallFailed(
                    f"{provider} API failed {number} times, giving up: {failure.description}"
                ) from exc
            wait = policy.delay(number, failure.retry_after, rng)
            if wait is None:
                raise ModelCallFailed(
                    f"{provider} API asks to wait {failure.retry_after:g}s, longer than the "
                    f"{policy.max_delay_seconds:g}s a tick waits: {failure.description}"
                ) from exc
            logger.warning(
                "%s API call failed (%s); attempt %d of %d in %.2fs",
                provider,
                failure.description,
                number + 1,
                policy.max_attempts,
                wait,
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


# --- prompts ---------------------------------------------------------------------------------


def long_date(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]}, {day.isoformat()}"


def _space_line(space: PersonaSpace) -> str:
    if space.type == "personal":
        return f'You are in your personal space "{space.name}".'
    return (
        f'You are in the shared {space.type} space "{space.name}"; the other people in it see '
        "what you add there."
    )


def day_system_prompt(day: DayContext) -> str:
    persona = day.persona
    lines = [persona.system_prompt.strip(), "", f"Today is {long_date(day.today)}."]
    lines.append(_space_line(day.space))
    usual = sorted(persona.module_mix, key=lambda m: (-persona.module_mix[m], m))
    if usual:
        lines.append(f"The parts of the app you use most, most used first: {', '.join(usual)}.")
    if day.story:  # issue 10: the story so far, so the persona can notice what changed
        lines += ["", "What you remember (check it is still so):", day.story]
    lines += ["", DAY_INSTRUCTION]
    return "\n".join(lines)


def opening_message(day: DayContext) -> str:
    return f"It is {long_date(day.today)}. Open the app and go about your day."


def rating_system_prompt(day: DayContext) -> str:
    return "\n".join(
        [
            day.persona.system_prompt.strip(),
            "",
            f"Today is {long_date(day.today)}. You have just used the Mana app and are asked "
            "what you thought of it.",
        ]
    )


def _quote(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def experience_digest(experience: Experience) -> str:
    """A short factual account per module: what was called, what failed and how, what was
    slow or empty. Facts only — the judgement is the persona's."""
    tools_by_module: dict[str, Counter[str]] = {}
    for action in experience.actions:
        tools_by_module.setdefault(action.module, Counter())[action.tool_name] += 1
    lines = []
    for module in experience.modules_used:
        seen = experience.modules[module]
        tools = tools_by_module.get(module, Counter())
        used = ", ".join(f"{name} ×{count}" for name, count in sorted(tools.items()))
        parts = [f"{seen.calls} call{'s' if seen.calls != 1 else ''} ({used})"]
        if seen.errors:
            failures = Counter(seen.errors)
            shown = "; ".join(
                f"{_quote(message)}" + (f" ×{count}" if count > 1 else "")
                for message, count in failures.most_common(5)
            )
            more = len(failures) - 5
            parts.append(
                f"{len(seen.errors)} failed: {shown}"
                + (f" and {more} other errors" if more > 0 else "")
            )
        else:
            parts.append("nothing failed")
        if seen.empty_reads:
            parts.append(
                f"{seen.empty_reads} list{'s' if seen.empty_reads != 1 else ''} came back empty"
            )
        if seen.slow_calls:
            parts.append(f"{seen.slow_calls} slow (over {SLOW_CALL_MS / 1000:g} s)")
        parts.append(f"typical response {seen.mean_latency_ms:.0f} ms")
        # issue 10: what the checks found, with its evidence (tool, call), for the note to name
        parts += [
            f"noticed {o.kind}: {_quote(o.evidence)}" for o in experience.observed(module)[:5]
        ]
        lines.append(f"- {module}: " + "; ".join(parts))
    return "\n".join(lines)


def rating_prompt(experience: Experience) -> str:
    modules = ", ".join(experience.modules_used)
    return (
        "Here is what happened in the app today, part by part:\n\n"
        f"{experience_digest(experience)}\n\n"
        f"Rate each part you used ({modules}) from 1 (awful) to 5 (great), the way you really "
        "judge it, with a short note in your own voice and language about what worked and what "
        "did not.\n"
        "Answer with only this JSON object, one entry per part, and nothing else:\n"
        '{"ratings": [{"module": "<part>", "rating": <whole number 1-5>, "notes": "<your note>"}]}'
    )


# --- the rating answer -----------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_NOTHING = object()


def extract_json(text: str) -> Any:
    """The first JSON value in a model's answer: the whole answer, a fenced block, or the first
    `{...}` that parses. Returns `_NOTHING` when there is none."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return value
    return _NOTHING


class _RatingItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    module: str = Field(min_length=1, max_length=100)
    # Strict: "4", 4.5 or true is not a rating the persona gave; it is a broken answer.
    rating: int = Field(strict=True, ge=1, le=5)
    notes: str = ""

    @field_validator("notes")
    @classmethod
    def _bounded(cls, value: str) -> str:
        return value.strip()[:MAX_NOTES_CHARS]


def _snippet(text: str, limit: int = 200) -> str:
    return _quote(text, limit) if text.strip() else "(empty answer)"


def _item_problem(index: int, item: Any, exc: ValidationError) -> str:
    label = f"rating #{index + 1}"
    if isinstance(item, dict) and isinstance(item.get("module"), str):
        label += f" ({item['module']})"
    details = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}"
        + (f" (got {err['input']!r})" if err["loc"] and err["type"] != "missing" else "")
        for err in exc.errors()
    )
    return f"{label} unusable: {details}"


def parse_ratings(text: str, modules_used: list[str]) -> RatingOutcome:
    """Judge a rating answer. What is usable is kept, what is not is named in `problem`;
    nothing is ever filled in."""
    if len(text) > MAX_RATING_ANSWER_CHARS:
        return RatingOutcome(problem=f"rating answer too long ({len(text)} characters)")
    payload = extract_json(text)
    if payload is _NOTHING:
        return RatingOutcome(problem=f"rating answer is not JSON: {_snippet(text)}")
    if not isinstance(payload, dict) or not isinstance(payload.get("ratings"), list):
        return RatingOutcome(
            problem='rating answer has the wrong shape (expected {"ratings": [...]}): '
            + _snippet(json.dumps(payload, ensure_ascii=False))
        )
    by_folded = {m.casefold(): m for m in modules_used}
    problems: list[str] = []
    ratings: list[ModuleRating] = []
    for index, item in enumerate(payload["ratings"]):
        try:
            parsed = _RatingItem.model_validate(item)
        except ValidationError as exc:
            problems.append(_item_problem(index, item, exc))
            continue
        module = by_folded.get(parsed.module.strip().casefold(), parsed.module)
        if not parsed.notes:
            problems.append(f"rating for {module} has no notes")
        ratings.append(ModuleRating(module=module, rating=parsed.rating, notes=parsed.notes))
    outcome = checked_ratings(
        RatingOutcome(ratings=ratings, problem="; ".join(problems) or None), modules_used
    )
    if outcome.problem and outcome.ratings:
        kept = ", ".join(r.module for r in outcome.ratings)
        outcome.problem += f"; kept the ratings for {kept}"
    return outcome


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
    input_tokens: int
    output_tokens: int
    stop_reason: str | None


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
        self, *, system: str, user: str, tools: list[ToolInfo], names: ToolNames
    ) -> Conversation: ...

    @abc.abstractmethod
    def classify_error(self, exc: Exception) -> ApiFailure: ...

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the SDK client if this brain made it."""

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        tools = toolbox.tools
        names = ToolNames(t.name for t in tools)
        conversation = self.conversation(
            system=day_system_prompt(day), user=opening_message(day), tools=tools, names=names
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
        return parse_ratings(reply.text, modules)

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
        # Worst case: all the context is new input and the model writes its maximum.
        estimate = self.prices.cost(conversation.estimated_input_tokens(), self.max_output_tokens)
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
            cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
        finally:
            self.daily_spend.settle(reservation, cost)
        day.usage.add(
            Usage(
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=cost,
                calls=1,
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
