"""Local servers that speak the Anthropic Messages and OpenAI chat-completions wire formats.

Each replies from a script (a queue of canned responses: tool calls, final answers, usage, 429
with Retry-After, 5xx …) and records every request it received, with its arrival time, so tests
can check what the official SDKs actually sent. Run one with mana.kit.server.BackgroundServer.
An empty script answers 400 (not retried), so a test that calls more often than it scripted
fails fast with a clear message instead of hanging or retrying.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds the server waits before answering (client timeouts).
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


class ScriptedServer:
    path: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.url = ""  # set once the server runs
        self.app = Starlette(routes=[Route(self.path, self._handle, methods=["POST"])])

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def unused(self) -> int:
        with self._lock:
            return len(self._script)

    def empty_script_reply(self) -> Reply:
        raise NotImplementedError

    async def _handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        received = Received(body=body, headers=dict(request.headers), at=time.monotonic())
        with self._lock:
            self.requests.append(received)
            reply = self._script.popleft() if self._script else self.empty_script_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


# --- Anthropic Messages API ------------------------------------------------------------------


class FakeAnthropic(ScriptedServer):
    path = "/v1/messages"

    def empty_script_reply(self) -> Reply:
        return anthropic_error(400, "invalid_request_error", "fake server: no scripted reply left")


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(
    name: str, arguments: dict[str, Any], *, id: str | None = None
) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or _next_id("toolu_"), "name": name, "input": arguments}


def anthropic_message(
    *blocks: dict[str, Any],
    stop_reason: str | None = None,
    input_tokens: int = 120,
    output_tokens: int = 30,
    model: str = "claude-test",
) -> Reply:
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return Reply(
        body={
            "id": _next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(blocks),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    )


def anthropic_error(
    status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": error_type, "message": message}},
        headers=headers or {},
    )


# --- OpenAI chat completions -----------------------------------------------------------------


class FakeOpenAI(ScriptedServer):
    path = "/v1/chat/completions"

    def empty_script_reply(self) -> Reply:
        return openai_error(400, "fake server: no scripted reply left")


def function_call(
    name: str, arguments: dict[str, Any] | str, *, id: str | None = None
) -> dict[str, Any]:
    return {
        "id": id or _next_id("call_"),
        "type": "function",
        "function": {
            "name": name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def openai_completion(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    prompt_tokens: int | None = 120,
    completion_tokens: int = 30,
    model: str = "gpt-test",
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": _next_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
                "logprobs": None,
            }
        ],
    }
    if prompt_tokens is not None:  # None: a local server that reports no usage
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return Reply(body=body)


def openai_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    error_type = "rate_limit_error" if status == 429 else "server_error"
    return Reply(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": None}},
        headers=headers or {},
    )
