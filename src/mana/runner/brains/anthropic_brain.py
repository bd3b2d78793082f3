"""`anthropic`: Claude through the official SDK (Messages API with tool use).

Prompt caching: a day's conversation marks three cache breakpoints (`cache_control`), in the
order the API reads a prompt: the last tool (the tool list is the same for every persona, so
one cache entry serves them all while it is warm), the system prompt (persona, story, the
day's instruction), and the newest message (so each turn reads the previous turns from the
cache and writes only what is new). A rating is a single call with nothing to reuse: it sets
no breakpoint, since a cache write costs more than plain input.
"""

from __future__ import annotations

from typing import Any, cast

import anthropic
from anthropic.types import (
    CacheControlEphemeralParam,
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.llm_common import (
    ANTHROPIC_CACHE_READ_RATIO,
    ANTHROPIC_CACHE_WRITE_RATIO,
    ApiFailure,
    BrainConfigError,
    Conversation,
    DailySpend,
    LLMBrain,
    ModelReply,
    Prices,
    RetryPolicy,
    ToolCall,
    ToolNames,
    ToolResult,
    input_schema,
    status_failure,
)
from mana.runner.types import ToolInfo

# The default 5-minute cache entry: long enough for a day's turns and for the next persona's
# tick to reuse the tool list; the 1-hour one costs twice the input price to write.
EPHEMERAL: CacheControlEphemeralParam = {"type": "ephemeral"}


class AnthropicConversation(Conversation):
    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        model: str,
        max_tokens: int,
        system: str,
        user: str,
        tools: list[ToolParam],
        cache: bool = False,
    ) -> None:
        super().__init__()
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._cache = cache
        self._system: str | list[TextBlockParam] = (
            [{"type": "text", "text": system, "cache_control": EPHEMERAL}] if cache else system
        )
        if cache and tools:
            tools = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
        self._tools = tools
        self.messages: list[MessageParam] = [{"role": "user", "content": user}]

    def request_payload(self) -> Any:
        return [self._system, self.messages, self._tools]

    def _messages_to_send(self) -> list[MessageParam]:
        """The transcript, with the moving breakpoint on the newest block when caching. The
        transcript itself stays unmarked: the API allows four breakpoints per request."""
        if not self._cache:
            return self.messages
        *earlier, last = self.messages
        content = last["content"]
        blocks: list[Any] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        )
        blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}
        marked = cast(MessageParam, {"role": last["role"], "content": blocks})
        return [*earlier, marked]

    async def send(self) -> ModelReply:
        message = await self._client.messages.create(
            model=self._model,
            max_tokens=self._max_tokens,
            system=self._system,
            messages=self._messages_to_send(),
            tools=self._tools if self._tools else anthropic.omit,
        )
        content: list[TextBlockParam | ToolUseBlockParam] = []
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            if block.type == "text":
                if block.text:  # the API refuses empty text blocks in a request
                    texts.append(block.text)
                    content.append({"type": "text", "text": block.text})
            elif block.type == "tool_use":
                arguments = block.input if isinstance(block.input, dict) else None
                calls.append(
                    ToolCall(
                        id=block.id,
                        name=block.name,
                        arguments=dict(arguments) if arguments is not None else None,
                        problem=None if arguments is not None else "tool input is not an object",
                    )
                )
                content.append(
                    {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
                )
        if content:
            self.messages.append({"role": "assistant", "content": content})
        usage = message.usage
        # The API's input_tokens is only the part after the last breakpoint; the prompt is all
        # three, each priced apart.
        written = usage.cache_creation_input_tokens or 0
        read = usage.cache_read_input_tokens or 0
        return ModelReply(
            text="\n".join(texts),
            tool_calls=calls,
            input_tokens=usage.input_tokens + written + read,
            output_tokens=usage.output_tokens,
            stop_reason=message.stop_reason,
            cache_write_tokens=written,
            cache_read_tokens=read,
        )

    def add_tool_results(self, results: list[ToolResult]) -> None:
        blocks: list[ToolResultBlockParam] = []
        for result in results:
            block: ToolResultBlockParam = {
                "type": "tool_result",
                "tool_use_id": result.call_id,
                "content": result.content,
            }
            if result.is_error:
                block["is_error"] = True
            blocks.append(block)
        self.messages.append({"role": "user", "content": blocks})


class AnthropicBrain(LLMBrain):
    name = "anthropic"
    provider = "Anthropic"
    api_errors = (anthropic.APIStatusError, anthropic.APIConnectionError)

    def __init__(
        self,
        settings: Settings,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        daily_spend: DailySpend | None = None,
    ) -> None:
        super().__init__(
            settings,
            model=settings.anthropic_model,
            prices=Prices.with_cache_ratios(
                settings.anthropic_input_usd_per_mtok,
                settings.anthropic_output_usd_per_mtok,
                write_ratio=ANTHROPIC_CACHE_WRITE_RATIO,
                read_ratio=ANTHROPIC_CACHE_READ_RATIO,
            ),
            clock=clock,
            retry=retry,
            daily_spend=daily_spend,
        )
        self._owns_client = client is None
        if client is None:
            if settings.anthropic_api_key is None:
                raise BrainConfigError("the anthropic brain needs ANTHROPIC_API_KEY to be set")
            client = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key.get_secret_value(),
                base_url=settings.anthropic_base_url,
                timeout=settings.llm_timeout_seconds,
                max_retries=0,  # the runner retries (see llm_common.call_with_retries)
            )
        elif client.max_retries != 0:
            client = client.with_options(max_retries=0)
        self.client = client

    def conversation(
        self,
        *,
        system: str,
        user: str,
        tools: list[ToolInfo],
        names: ToolNames,
        cache: bool = False,
    ) -> AnthropicConversation:
        params: list[ToolParam] = [
            {
                "name": names.api(tool.name),
                "description": tool.description or tool.name,
                "input_schema": input_schema(tool),
            }
            for tool in tools
        ]
        return AnthropicConversation(
            self.client,
            model=self.model,
            max_tokens=self.max_output_tokens,
            system=system,
            user=user,
            tools=params,
            cache=cache,
        )

    def classify_error(self, exc: Exception) -> ApiFailure:
        if isinstance(exc, anthropic.APIStatusError):
            return status_failure(exc.status_code, exc.response.headers, exc.message)
        return ApiFailure(retryable=True, description=f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()
