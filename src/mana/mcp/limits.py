"""Request limits of the MCP endpoint, answered as JSON-RPC errors (issue 13).

The SDK has a body limit of its own, but it answers with a plain-text 413, and it has no batch
support at all: a JSON array fails its message validation with a dump of every element's
errors (a 1000-request batch gave a wall of pydantic text). Both are refused here first, in
this endpoint's error shape (`mana.mcp.auth.Rejected`), with a message that says what to do.

- Body over `MANA_MCP_MAX_BODY_BYTES`: 413, decided on `Content-Length` without reading the
  body, or — for a chunked body — as soon as the bytes read pass the limit.
- A JSON-RPC batch (the body is a JSON array): 400, code -32600. Streamable HTTP since the
  2025-06-18 protocol carries one message per POST, and the SDK serves nothing else.
"""

from __future__ import annotations

import re
from collections import deque

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mana.mcp.auth import Rejected

# A JSON array, after optional whitespace and a UTF-8 byte order mark.
_BATCH_START = re.compile(rb"[ \t\r\n]*(?:\xef\xbb\xbf)?[ \t\r\n]*\[")


def too_large(limit: int) -> Rejected:
    return Rejected(
        413,
        "payload_too_large",
        f"request body too large: the limit is {limit} bytes (MANA_MCP_MAX_BODY_BYTES)",
        data={"limitBytes": limit},
    )


def batch_refused() -> Rejected:
    return Rejected(
        400,
        "batch_not_supported",
        "JSON-RPC batches are not supported: send one JSON-RPC message per POST request",
    )


def _is_batch(body: bytes | bytearray) -> bool:
    return _BATCH_START.match(body) is not None


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_large(self.max_body_bytes).respond(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away mid-body: nobody to answer
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                await too_large(self.max_body_bytes).respond(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if _is_batch(body):
            await batch_refused().respond(scope, receive, send)
            return
        replay: deque[Message] = deque(
            [{"type": "http.request", "body": bytes(body), "more_body": False}]
        )

        async def replayed() -> Message:
            return replay.popleft() if replay else await receive()

        await self.app(scope, replayed, send)
