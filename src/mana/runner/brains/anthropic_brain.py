"""`anthropic`: Claude through the official SDK (Messages API with tool use)."""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import (
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.llm_common import (
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
    ) -> None:
        super().__init__()
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._system = system
        self._tools = tools
        self.messages: list[MessageParam] = [{"role": "user", "content": user}]

    def request_payload(self) -> Any:
        return [self._system, self.messages, self._tools]

    async def send(self) -> ModelReply:
        message = await self._client.messages.create(
            model=self._model,
            max_tokens=self._max_tokens,
            system=self._system,
            messages=self.messages,
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
        # Cache reads are cheaper and cache writes dearer than plain input; this brain sets no
        # cache breakpoints, so both are normally zero and counting them as input is close.
        input_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        return ModelReply(
            text="\n".join(texts),
            tool_calls=calls,
            input_tokens=input_tokens,
            output_tokens=usage.output_tokens,
            stop_reason=message.stop_reason,
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
            prices=Prices(
                settings.anthropic_input_usd_per_mtok, settings.anthropic_output_usd_per_mtok
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
        self, *, system: str, user: str, tools: list[ToolInfo], names: ToolNames
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
        )

    def classify_error(self, exc: Exception) -> ApiFailure:
        if isinstance(exc, anthropic.APIStatusError):
            return status_failure(exc.status_code, exc.response.headers, exc.message)
        return ApiFailure(retryable=True, description=f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()
