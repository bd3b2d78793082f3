"""The bridge between MCP and the tool registry: `tools/list` and `tools/call` handlers.

A tool call validates its arguments with the tool's input model, runs the handler in its own
database transaction with a `ToolContext` for the caller's principal and active space, and
answers with the output as `structured_content` (matching the declared `output_schema`) plus the
same JSON as text.

Two error channels, as MCP intends: anything about the *call* — unknown tool, bad arguments, a
`ToolError`, even a bug in a tool — becomes a tool result with `isError: true` and a message a
model can act on, and the session carries on. Protocol errors stay protocol errors. A bug never
shows its details to the caller: they get a generic message with a reference that is also in the
server log.

With the development fault mode on (`MANA_FAULTS`, `mana.mcp.faults`) each call first gets its
fault plan: added latency and a planted error before the tool runs, a rolled-back transaction
(`noop_write`), and answers altered inside the transaction (`hide_older`, `foreign_items`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp_types import INVALID_REQUEST
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mana.db import transaction
from mana.kit.clock import Clock
from mana.kit.errors import AppError
from mana.kit.hashing import input_hash
from mana.mcp.auth import PRINCIPAL_KEY, Principal
from mana.mcp.faults import FaultInjector, FaultPlan
from mana.mcp.metrics import Result, ToolMetrics
from mana.mcp.runtime import McpRuntime
from mana.tools.registry import ToolContext, ToolError, ToolSpec

logger = logging.getLogger(__name__)
# One JSON line per tool call: {userId, kind, tool, inputHash, latencyMs, result}.
call_log = logging.getLogger("mana.mcp.calls")

MAX_REPORTED_ERRORS = 10
MAX_LOGGED_NAME = 128

INSTRUCTIONS = (
    "Mana's product modules as tools named module.verb (todo.create, journal.list, ...). "
    "Every tool acts in the active space: the one named by the X-Mana-Space header, or your "
    "personal space when the header is absent. A failed call returns isError with a message "
    "saying what to change."
)


def describe(spec: ToolSpec) -> types.Tool:
    read_only = spec.policy == "read"
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=None if read_only else False,
            open_world_hint=False,
        ),
    )


def describe_validation_error(exc: ValidationError) -> str:
    """'invalid arguments: title: String should have at least 1 character; due: …' — every
    offending field by the name the caller used, capped so a huge input gives a short answer."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        parts.append(f"{path or 'arguments'}: {error['msg']}")
    if len(errors) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more")
    return "invalid arguments: " + "; ".join(parts)


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def principal_of(ctx: ServerRequestContext[Any, Any]) -> Principal:
    request = ctx.request
    scope = getattr(request, "scope", None)
    principal = scope.get("state", {}).get(PRINCIPAL_KEY) if isinstance(scope, dict) else None
    if not isinstance(principal, Principal):
        # Only reachable if the endpoint were mounted without McpAuthMiddleware.
        raise MCPError(code=INVALID_REQUEST, message="not authenticated")
    return principal


class Gateway:
    def __init__(
        self,
        *,
        tools: Mapping[str, ToolSpec],
        runtime: McpRuntime,
        clock: Clock,
        metrics: ToolMetrics,
        faults: FaultInjector | None = None,
    ) -> None:
        self._tools = dict(tools)
        self._runtime = runtime
        self._clock = clock
        self._metrics = metrics
        self._faults = faults
        # The registry is fixed for the life of the process: describe it once.
        self._listing = types.ListToolsResult(tools=[describe(s) for s in self._tools.values()])
        self._tool_loggers = {
            name: logging.getLogger(f"mana.tools.{spec.module}")
            for name, spec in self._tools.items()
        }

    @property
    def tool_names(self) -> list[str]:
        return list(self._tools)

    def server(self, *, name: str, version: str) -> Server[Any]:
        return Server(
            name,
            version=version,
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return self._listing

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = principal_of(ctx)
        started = time.perf_counter()
        result, answer = await self._run(principal, params.name, params.arguments or {})
        elapsed = time.perf_counter() - started
        self._metrics.observe(params.name, result, elapsed)
        if call_log.isEnabledFor(logging.INFO):  # hashing and dumping are paid only when logged
            call_log.info(
                json.dumps(
                    {
                        "userId": str(principal.user_id),
                        "kind": principal.kind,
                        "tool": params.name[:MAX_LOGGED_NAME],
                        "inputHash": input_hash(params.arguments),
                        "latencyMs": round(elapsed * 1000, 2),
                        "result": result,
                    },
                    ensure_ascii=False,
                )
            )
        return answer

    async def _run(
        self, principal: Principal, name: str, arguments: dict[str, Any]
    ) -> tuple[Result, types.CallToolResult]:
        spec = self._tools.get(name)
        if spec is None:
            return "unknown_tool", error_result(
                f"unknown tool {name[:MAX_LOGGED_NAME]!r}; call tools/list for the available tools"
            )
        try:
            data = spec.input_model.model_validate(arguments)
        except ValidationError as exc:
            return "invalid_input", error_result(describe_validation_error(exc))
        plan = None
        if self._faults is not None:  # development fault mode (MANA_FAULTS)
            plan = self._faults.plan(spec)
            if plan.latency_ms:
                self._faults.record(spec.name, "latency", f"{plan.latency_ms} ms")
                await anyio.sleep(plan.latency_ms / 1000)
            if plan.error is not None:
                self._faults.record(spec.name, "error")
                return "tool_error", error_result(plan.error)
        try:
            structured = await self._execute(spec, data, principal, plan)
        except (ToolError, AppError) as exc:
            # Raised on purpose, with a message written for the caller; the transaction rolled back.
            return "tool_error", error_result(str(exc))
        except Exception:
            # The one boundary a tool's bug must not cross: the session and the server carry on.
            ref = uuid.uuid4().hex[:12]
            logger.exception(
                "tool %s failed unexpectedly (ref %s, user %s)", name, ref, principal.user_id
            )
            return "internal_error", error_result(
                f"internal error in {name}; nothing was changed. It has been logged (ref {ref})."
            )
        text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
        return "ok", types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=structured
        )

    @asynccontextmanager
    async def _unit_of_work(self, *, keep: bool, reads_only: bool) -> AsyncIterator[AsyncSession]:
        if keep and reads_only:
            # A read tool needs no transaction of its own: on PostgreSQL that saves the BEGIN
            # and COMMIT round trips, two of a `todo.list`'s three; the session connects only
            # when the tool runs a statement (`mana.db.reads_only_engine`).
            async with self._runtime.reader() as session:
                yield session
            return
        if keep:
            async with self._runtime.writing(), transaction(self._runtime.sessionmaker) as session:
                yield session
            return
        # The noop_write fault: the tool sees a normal transaction, which is then thrown away.
        async with self._runtime.writing(), self._runtime.sessionmaker() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def _execute(
        self, spec: ToolSpec, data: BaseModel, principal: Principal, plan: FaultPlan | None
    ) -> dict[str, Any]:
        noop_write = plan is not None and plan.noop_write
        # A fault that alters the answer works inside the tool's transaction (savepoints).
        reads_only = spec.policy == "read" and (plan is None or not plan.touches_result)
        async with self._unit_of_work(keep=not noop_write, reads_only=reads_only) as session:
            ctx = ToolContext(
                user_id=principal.user_id,
                kind=principal.kind,
                space_id=principal.space_id,
                session=session,
                now=self._clock.now(),
                logger=self._tool_loggers[spec.name],
            )
            output = await spec.handler(data, ctx)
            if not isinstance(output, spec.output_model):
                # The declared output schema is a promise the client checks: keep it.
                raise TypeError(
                    f"{spec.name} returned {type(output).__name__}, "
                    f"not its declared {spec.output_model.__name__}"
                )
            # Serialised inside the transaction: if this fails, nothing is committed either.
            result = output.model_dump(mode="json", by_alias=True)
            if plan is not None and self._faults is not None:
                if plan.touches_result:
                    result = await self._faults.alter_result(plan, spec, data, ctx, result)
                if noop_write and spec.policy == "write":
                    self._faults.record(spec.name, "noop_write", "change rolled back")
            return result
