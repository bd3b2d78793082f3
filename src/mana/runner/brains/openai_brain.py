"""`openai`: any OpenAI-compatible chat-completions endpoint through the official SDK.

The hosted API or a local model server (llama.cpp, vLLM, Ollama …): set OPENAI_BASE_URL.

Prompt caching is automatic on the hosted API (a repeated prefix of at least 1024 tokens): the
request keeps one order — tools (sorted by name, the same for every persona), the system prompt,
then the transcript, only ever appended to — and the cached part the API reports
(`prompt_tokens_details.cached_tokens`) is priced apart.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallUnionParam,
)

from mana.config import Settings
from mana.kit.clock import Clock
from mana.runner.brains.llm_common import (
    OPENAI_CACHE_READ_RATIO,
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

# Local model servers take any key, but the SDK insists on having one.
LOCAL_SERVER_API_KEY = "not-needed-by-local-servers"


def _arguments(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not raw or not raw.strip():
        return {}, None  # some servers send "" for a call without arguments
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, f"the arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, "the arguments must be a JSON object"
    return value, None


class OpenAIConversation(Conversation):
    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        max_tokens: int,
        max_tokens_param: str,
        system: str,
        user: str,
        tools: list[ChatCompletionFunctionToolParam],
    ) -> None:
        super().__init__()
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._legacy_max_tokens = max_tokens_param == "max_tokens"
        self._tools = tools
        self.messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]

    def request_payload(self) -> Any:
        return [self.messages, self._tools]

    async def send(self) -> ModelReply:
        completion = await self._client.chat.completions.create(
            model=self._model,
            messages=self.messages,
            tools=self._tools if self._tools else openai.omit,
            max_tokens=self._max_tokens if self._legacy_max_tokens else openai.omit,
            max_completion_tokens=openai.omit if self._legacy_max_tokens else self._max_tokens,
        )
        usage = completion.usage  # optional: some local servers leave it out
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        details = usage.prompt_tokens_details if usage else None
        cached = (details.cached_tokens or 0) if details else 0
        if not completion.choices:
            return ModelReply("", [], input_tokens, output_tokens, None, cache_read_tokens=cached)
        choice = completion.choices[0]
        message = choice.message
        calls: list[ToolCall] = []
        echoed: list[ChatCompletionMessageToolCallUnionParam] = []
        for index, tool_call in enumerate(message.tool_calls or []):
            # Some local servers omit ids; the reply must still be matched to its call.
            call_id = tool_call.id or f"call_{len(self.messages)}_{index}"
            if tool_call.type == "function":
                arguments, problem = _arguments(tool_call.function.arguments)
                calls.append(ToolCall(call_id, tool_call.function.name, arguments, problem))
                echoed.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": tool_call.function.name,
                            "arguments": tool_call.function.arguments,
                        },
                    }
                )
            else:
                calls.append(
                    ToolCall(call_id, tool_call.custom.name, None, "only function tools exist")
                )
                echoed.append(
                    {
                        "id": call_id,
                        "type": "custom",
                        "custom": {"name": tool_call.custom.name, "input": tool_call.custom.input},
                    }
                )
        assistant: ChatCompletionAssistantMessageParam = {
            "role": "assistant",
            "content": message.content,
        }
        if echoed:
            assistant["tool_calls"] = echoed
        self.messages.append(assistant)
        return ModelReply(
            text=message.content or "",
            tool_calls=calls,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            stop_reason=choice.finish_reason,
            cache_read_tokens=cached,
        )

    def add_tool_results(self, results: list[ToolResult]) -> None:
        # The chat format has no error flag: the "ERROR: …" text says it.
        for result in results:
            self.messages.append(
                {"role": "tool", "tool_call_id": result.call_id, "content": result.content}
            )


class OpenAIBrain(LLMBrain):
    name = "openai"
    provider = "OpenAI-compatible"
    api_errors = (openai.APIStatusError, openai.APIConnectionError)

    def __init__(
        self,
        settings: Settings,
        *,
        client: openai.AsyncOpenAI | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        daily_spend: DailySpend | None = None,
    ) -> None:
        super().__init__(
            settings,
            model=settings.openai_model,
            prices=Prices.with_cache_ratios(
                settings.openai_input_usd_per_mtok,
                settings.openai_output_usd_per_mtok,
                write_ratio=1.0,  # automatic caching: writing costs what plain input costs
                read_ratio=OPENAI_CACHE_READ_RATIO,
            ),
            clock=clock,
            retry=retry,
            daily_spend=daily_spend,
        )
        self.max_tokens_param = settings.openai_max_tokens_param
        self._owns_client = client is None
        if client is None:
            if settings.openai_api_key is not None:
                api_key = settings.openai_api_key.get_secret_value()
            elif settings.openai_base_url:
                api_key = LOCAL_SERVER_API_KEY
            else:
                raise BrainConfigError(
                    "the openai brain needs OPENAI_API_KEY, or OPENAI_BASE_URL pointing at a "
                    "local model server"
                )
            client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=settings.openai_base_url,
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
        cache: bool = False,  # nothing to mark: the API caches any repeated prefix itself
    ) -> OpenAIConversation:
        params: list[ChatCompletionFunctionToolParam] = [
            {
                "type": "function",
                "function": {
                    "name": names.api(tool.name),
                    "description": tool.description or tool.name,
                    "parameters": input_schema(tool),
                },
            }
            for tool in tools
        ]
        return OpenAIConversation(
            self.client,
            model=self.model,
            max_tokens=self.max_output_tokens,
            max_tokens_param=self.max_tokens_param,
            system=system,
            user=user,
            tools=params,
        )

    def classify_error(self, exc: Exception) -> ApiFailure:
        if isinstance(exc, openai.APIStatusError):
            return status_failure(exc.status_code, exc.response.headers, exc.message)
        return ApiFailure(retryable=True, description=f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()
