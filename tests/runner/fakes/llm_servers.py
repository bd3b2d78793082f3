"""Local servers that speak the Anthropic Messages and OpenAI chat-completions wire formats.

Each replies from a script (a queue of canned responses: tool calls, final answers, usage, 429
with Retry-After, 5xx …) and records every request it received, with its arrival time, so tests
can check what the official SDKs actually sent. Run one with mana.kit.server.BackgroundServer.
An empty script answers 400 (not retried), so a test that calls more often than it scripted
fails fast with a clear message instead of hanging or retrying.

A reply scripted with `input_tokens=COUNT` (`prompt_tokens=COUNT`) gets its prompt usage
counted from the request (about 4 characters a token), with prompt caching as the real API
reports it:

- Anthropic: a prefix up to a `cache_control` breakpoint of at least 1024 tokens is written to
  the cache (`cache_creation_input_tokens`); a later request whose breakpoint, or one of the 20
  blocks before it, ends a cached prefix reads it (`cache_read_input_tokens`); `input_tokens`
  is the rest. No breakpoint, no caching.
- OpenAI: any prefix (tools, then messages) of at least 1024 tokens seen before is read, in
  steps of 128 tokens (`prompt_tokens_details.cached_tokens`); `prompt_tokens` is all of it.

Entries never expire here (a test or a bench run is shorter than the real 5-minute lifetime).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)

# Script a reply with this as its prompt tokens to have them counted from the request.
COUNT: Final = "count"
CHARS_PER_TOKEN = 4
MIN_CACHEABLE_TOKENS = 1024  # both APIs (Claude Sonnet/Opus; OpenAI's automatic caching)
ANTHROPIC_LOOKBACK_BLOCKS = 20
OPENAI_CACHE_STEP = 128


def count_tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Prefix:
    """The prompt cut into blocks, in the order the API reads it: per block, the tokens up to
    and including it and a hash of everything up to it (cache markers left out)."""

    tokens: list[int]
    hashes: list[str]
    breakpoints: list[int]  # indices of blocks that carry `cache_control`

    @classmethod
    def of(cls, model: str, blocks: list[Any]) -> Prefix:
        tokens, hashes, breakpoints = [], [], []
        running, digest = 0, hashlib.sha256(model.encode())
        for index, block in enumerate(blocks):
            if isinstance(block, dict) and "cache_control" in block:
                breakpoints.append(index)
                block = {k: v for k, v in block.items() if k != "cache_control"}
            running += count_tokens(block)
            digest.update(json.dumps(block, sort_keys=True).encode())
            tokens.append(running)
            hashes.append(digest.copy().hexdigest())
        return cls(tokens, hashes, breakpoints)

    @property
    def total(self) -> int:
        return self.tokens[-1] if self.tokens else 0


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds the server waits before answering (client timeouts).
    delay: float = 0.0
    # Fill in the prompt usage from the request (see COUNT).
    count_usage: bool = False


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
        self._cached: set[str] = set()  # prefix hashes in the prompt cache
        # False: report counted usage as an API without prompt caching would.
        self.caching = True

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self._cached.clear()

    @property
    def unused(self) -> int:
        with self._lock:
            return len(self._script)

    def empty_script_reply(self) -> Reply:
        raise NotImplementedError

    def counted_usage(self, request: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """The reply's usage with its prompt counted from the request (caller holds the lock)."""
        raise NotImplementedError

    async def _handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        received = Received(body=body, headers=dict(request.headers), at=time.monotonic())
        with self._lock:
            self.requests.append(received)
            reply = self._script.popleft() if self._script else self.empty_script_reply()
            content = reply.body
            if reply.count_usage:
                if not self.caching:
                    self._cached.clear()
                content = {**content, "usage": self.counted_usage(body, content["usage"])}
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return JSONResponse(content, status_code=reply.status, headers=reply.headers)


# --- Anthropic Messages API ------------------------------------------------------------------


class FakeAnthropic(ScriptedServer):
    path = "/v1/messages"

    def empty_script_reply(self) -> Reply:
        return anthropic_error(400, "invalid_request_error", "fake server: no scripted reply left")

    def counted_usage(self, request: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        system = request.get("system") or []
        blocks: list[Any] = [*request.get("tools", [])]
        blocks += [system] if isinstance(system, str) else system
        for message in request["messages"]:
            content = message["content"]
            blocks += [content] if isinstance(content, str) else content
        prefix = Prefix.of(request["model"], blocks)
        read_at = -1
        for point in prefix.breakpoints:
            for index in range(point, max(-1, point - ANTHROPIC_LOOKBACK_BLOCKS - 1), -1):
                if prefix.hashes[index] in self._cached:
                    read_at = max(read_at, index)
                    break
        read = prefix.tokens[read_at] if read_at >= 0 else 0
        written = 0
        cacheable = [p for p in prefix.breakpoints if prefix.tokens[p] >= MIN_CACHEABLE_TOKENS]
        if cacheable and cacheable[-1] > read_at:
            written = prefix.tokens[cacheable[-1]] - read
        self._cached.update(prefix.hashes[p] for p in cacheable)
        return {
            **usage,
            "input_tokens": prefix.total - read - written,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(
    name: str, arguments: dict[str, Any], *, id: str | None = None
) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or _next_id("toolu_"), "name": name, "input": arguments}


def anthropic_message(
    *blocks: dict[str, Any],
    stop_reason: str | None = None,
    input_tokens: int | Literal["count"] = 120,
    output_tokens: int = 30,
    model: str = "claude-test",
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
) -> Reply:
    """`input_tokens` as the API means it: the prompt after the last cache breakpoint."""
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
            "usage": {
                "input_tokens": 0 if input_tokens == COUNT else input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_creation_input_tokens,
                "cache_read_input_tokens": cache_read_input_tokens,
            },
        },
        count_usage=input_tokens == COUNT,
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

    def counted_usage(self, request: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        prefix = Prefix.of(request["model"], [*request.get("tools", []), *request["messages"]])
        seen = [
            tokens
            for tokens, digest in zip(prefix.tokens, prefix.hashes, strict=True)
            if tokens >= MIN_CACHEABLE_TOKENS and digest in self._cached
        ]
        cached = max(seen, default=0) // OPENAI_CACHE_STEP * OPENAI_CACHE_STEP
        self._cached.update(
            digest
            for tokens, digest in zip(prefix.tokens, prefix.hashes, strict=True)
            if tokens >= MIN_CACHEABLE_TOKENS
        )
        return {
            **usage,
            "prompt_tokens": prefix.total,
            "total_tokens": prefix.total + usage["completion_tokens"],
            "prompt_tokens_details": {"cached_tokens": cached},
        }


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
    prompt_tokens: int | Literal["count"] | None = 120,
    completion_tokens: int = 30,
    model: str = "gpt-test",
    cached_tokens: int | None = None,
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
        prompt = 0 if prompt_tokens == COUNT else prompt_tokens
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }
        if cached_tokens is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return Reply(body=body, count_usage=prompt_tokens == COUNT)


def openai_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    error_type = "rate_limit_error" if status == 429 else "server_error"
    return Reply(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": None}},
        headers=headers or {},
    )
