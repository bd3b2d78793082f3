"""Failing tools never break a session or commit half their work; every call is logged and
counted, without tokens, raw arguments or user ids in metric labels."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import BaseModel

from mana.kit.hashing import input_hash
from mana.tools.base import NoInput, ToolOutput
from mana.tools.registry import (
    Handler,
    Policy,
    Scope,
    ToolContext,
    ToolError,
    ToolSpec,
    exposed_tools,
)
from mana.tools.todo import CreateTodo, Todo, TodoOut, TodoPage
from tests.fixtures.mcp import McpService, mcp_session, running_mcp_service, text_of
from tests.fixtures.servers import AuthService

pytestmark = pytest.mark.anyio

SECRET_DETAIL = "disk on fire at /srv/secret-path-4711"


async def explode(data: NoInput, ctx: ToolContext) -> TodoOut:
    raise RuntimeError(SECRET_DETAIL)


def _todo(data: CreateTodo, ctx: ToolContext) -> Todo:
    return Todo(
        space_id=ctx.space_id,
        created_by=ctx.user_id,
        title=data.title,
        priority="normal",
        created_at=ctx.now,
        updated_at=ctx.now,
    )


async def write_then_refuse(data: CreateTodo, ctx: ToolContext) -> TodoOut:
    ctx.session.add(_todo(data, ctx))
    await ctx.session.flush()
    raise ToolError("changed my mind")


async def write_then_crash(data: CreateTodo, ctx: ToolContext) -> TodoOut:
    ctx.session.add(_todo(data, ctx))
    await ctx.session.flush()
    raise KeyError("bug")


async def write_and_answer_wrongly(data: CreateTodo, ctx: ToolContext) -> TodoOut:
    ctx.session.add(_todo(data, ctx))
    await ctx.session.flush()
    return TodoPage(items=[], next_cursor=None)  # type: ignore[return-value]


class Nothing(ToolOutput):
    pass


async def never_served(data: NoInput, ctx: ToolContext) -> Nothing:
    return Nothing()


def spec(
    name: str,
    handler: Handler,
    input_model: type[BaseModel],
    output_model: type[BaseModel],
    *,
    scope: Scope = "user-space",
    policy: Policy = "write",
) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=f"test tool {name}",
        module=name.split(".")[0],
        scope=scope,
        policy=policy,
        input_model=input_model,
        output_model=output_model,
        handler=handler,
    )


TEST_TOOLS = {
    s.name: s
    for s in [
        spec("boom.explode", explode, NoInput, TodoOut),
        spec("boom.refuse", write_then_refuse, CreateTodo, TodoOut),
        spec("boom.crash", write_then_crash, CreateTodo, TodoOut),
        spec("boom.wrong_output", write_and_answer_wrongly, CreateTodo, TodoOut),
        spec("boom.admin", never_served, NoInput, Nothing, scope="admin", policy="read"),
        spec("boom.destroy", never_served, NoInput, Nothing, policy="destructive"),
    ]
}


@pytest.fixture(scope="module")
def boom_service(auth_service: AuthService) -> Iterator[McpService]:
    """An MCP server with the real todo tools plus the failing test tools above."""
    tools = {**{n: s for n, s in exposed_tools().items() if n.startswith("todo.")}, **TEST_TOOLS}
    with running_mcp_service(auth_service, tools=tools) as service:
        yield service


async def test_a_tool_that_raises_unexpectedly_gives_a_generic_error_and_the_session_goes_on(
    auth: AuthService, boom_service: McpService, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = auth.user_token()
    async with mcp_session(boom_service.endpoint, token) as mcp:
        result = await mcp.client.call_tool("boom.explode", {})
        text = text_of(result)
        assert result.is_error
        assert text.startswith("internal error in boom.explode; nothing was changed")
        assert SECRET_DETAIL not in text and "RuntimeError" not in text
        ref = re.search(r"ref ([0-9a-f]{12})", text)
        assert ref is not None
        # Same session, still working.
        assert not (await mcp.client.call_tool("todo.create", {"title": "still fine"})).is_error
    logged = [
        r for r in caplog.records if r.name == "mana.mcp.gateway" and ref[1] in r.getMessage()
    ]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert SECRET_DETAIL in str(logged[0].exc_info[1])


async def test_a_failed_call_commits_nothing_it_wrote(
    auth: AuthService, boom_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(boom_service.endpoint, token) as mcp:
        refused = await mcp.client.call_tool("boom.refuse", {"title": "refused"})
        assert refused.is_error and text_of(refused) == "changed my mind"
        crashed = await mcp.client.call_tool("boom.crash", {"title": "crashed"})
        assert crashed.is_error and "internal error in boom.crash" in text_of(crashed)
        wrong = await mcp.client.call_tool("boom.wrong_output", {"title": "wrong"})
        assert wrong.is_error and "internal error in boom.wrong_output" in text_of(wrong)
        listed = await mcp.client.call_tool("todo.list", {"status": "all"})
    assert listed.structured_content == {"items": [], "nextCursor": None}


async def test_injected_admin_and_destructive_tools_are_never_served(
    auth: AuthService, boom_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(boom_service.endpoint, token) as mcp:
        names = {t.name for t in (await mcp.client.list_tools()).tools}
        assert "boom.explode" in names
        assert not {"boom.admin", "boom.destroy"} & names
        for name in ("boom.admin", "boom.destroy"):
            result = await mcp.client.call_tool(name, {})
            assert result.is_error and "unknown tool" in text_of(result)


async def test_each_call_is_one_json_log_line_without_token_or_arguments(
    auth: AuthService, boom_service: McpService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    user, token = auth.user_token()
    marker = f"private-{uuid.uuid4().hex}"
    arguments = {"title": marker, "priority": "high"}
    async with mcp_session(boom_service.endpoint, token) as mcp:
        await mcp.client.call_tool("todo.create", arguments)
        await mcp.client.call_tool("todo.create", {"title": ""})
        await mcp.client.call_tool("boom.explode", {})
        await mcp.client.call_tool("no.such_tool", {})

    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "mana.mcp.calls" and user["id"] in r.getMessage()
    ]
    assert [(line["tool"], line["result"]) for line in lines] == [
        ("todo.create", "ok"),
        ("todo.create", "invalid_input"),
        ("boom.explode", "internal_error"),
        ("no.such_tool", "unknown_tool"),
    ]
    first = lines[0]
    assert set(first) == {"userId", "kind", "tool", "inputHash", "latencyMs", "result"}
    assert first["userId"] == user["id"] and first["kind"] == "human"
    assert first["inputHash"] == input_hash(arguments)
    assert isinstance(first["latencyMs"], float) and first["latencyMs"] > 0
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in everything
    assert marker not in everything


async def test_tool_calls_are_counted_in_metrics_by_tool_and_result_only(
    auth: AuthService, boom_service: McpService
) -> None:
    user, token = auth.user_token()
    async with mcp_session(boom_service.endpoint, token) as mcp:
        await mcp.client.call_tool("todo.create", {"title": "counted"})
        await mcp.client.call_tool("boom.explode", {})
        await mcp.client.call_tool(f"made.up_{uuid.uuid4().hex[:6]}", {})
    metrics = boom_service.metrics()
    assert re.search(r'mcp_tool_calls_total\{result="ok",tool="todo.create"\} [1-9]', metrics)
    assert re.search(
        r'mcp_tool_calls_total\{result="internal_error",tool="boom.explode"\} [1-9]', metrics
    )
    assert re.search(r'mcp_tool_calls_total\{result="unknown_tool",tool="unknown"\} [1-9]', metrics)
    assert re.search(r'mcp_tool_call_duration_seconds_count\{tool="todo.create"\} [1-9]', metrics)
    assert user["id"] not in metrics and "made.up_" not in metrics


def test_health_reports_ok(mcp_service: McpService) -> None:
    response = httpx.get(f"{mcp_service.url}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["service"] == "mcp"
    assert body["tools"] == len(exposed_tools())
