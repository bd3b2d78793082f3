"""A small MCP server (the SDK's own, over streamable HTTP) whose tool list and version a test
can change, as a redeploy would. It counts listings and records, per call, the token and the
MCP session it came with — what the runner's reuse between ticks must get right."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Route

ITEMS_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "object"}}},
    "required": ["items"],
}


def list_tool(name: str, description: str = "List what you have.") -> types.Tool:
    return types.Tool(
        name=name,
        description=description,
        input_schema={"type": "object", "properties": {}},
        output_schema=ITEMS_SCHEMA,
    )


@dataclass(frozen=True)
class Call:
    tool: str
    authorization: str | None
    session_id: str | None


class FakeMcp:
    def __init__(self, *, version: str = "1.0") -> None:
        self._lock = threading.Lock()
        self.tools = [list_tool("todo.list"), list_tool("notes.list")]
        self.listings = 0
        self.calls: list[Call] = []
        self.server: Server[Any] = Server(
            "fake-mana", version=version, on_list_tools=self._list, on_call_tool=self._call
        )
        self.manager = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=False
        )

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with self.manager.run():
                yield

        self.app = Starlette(
            routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(self.manager))],
            lifespan=lifespan,
        )

    def redeploy(self, *, version: str, tools: list[types.Tool]) -> None:
        with self._lock:
            self.server.version = version
            self.tools = tools

    async def _list(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        with self._lock:
            self.listings += 1
            return types.ListToolsResult(tools=list(self.tools))

    async def _call(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        headers = getattr(ctx.request, "headers", {})
        with self._lock:
            known = any(t.name == params.name for t in self.tools)
            self.calls.append(
                Call(params.name, headers.get("authorization"), headers.get("mcp-session-id"))
            )
        if not known:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"unknown tool {params.name!r}")],
                is_error=True,
            )
        data = {"items": [{"tool": params.name}]}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=str(data))], structured_content=data
        )
