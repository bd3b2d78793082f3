"""What a runner keeps between ticks (McpConnections): the HTTP pool and the tool list per server
version — invalidated by a new version, a refused listed tool, or age — and never an MCP
session: each tick is its own persona's session. Against the SDK's own server over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mana.kit.clock import Clock
from mana.kit.server import BackgroundServer
from mana.runner.session import McpConnections, mcp_toolbox
from tests.runner.fakes.mcp_server import FakeMcp, list_tool

pytestmark = pytest.mark.anyio


@pytest.fixture
def mcp() -> Iterator[tuple[FakeMcp, str]]:
    fake = FakeMcp()
    with BackgroundServer(fake.app) as server:
        yield fake, f"{server.url}/mcp"


async def tick(
    url: str, connections: McpConnections, *, token: str = "persona-a", tool: str = "todo.list"
) -> tuple[list[str], bool]:
    """One tick's session: the tools on offer, and whether calling `tool` worked."""
    async with mcp_toolbox(
        url, token=token, space_id=None, clock=Clock(), connections=connections
    ) as toolbox:
        outcome = await toolbox.call(tool, {})
        return [t.name for t in toolbox.tools], outcome.ok


async def test_a_later_tick_on_the_same_server_version_reuses_the_tool_list(
    mcp: tuple[FakeMcp, str],
) -> None:
    fake, url = mcp
    async with McpConnections() as connections:
        first = await tick(url, connections, token="persona-a")
        second = await tick(url, connections, token="persona-b")
    assert first == second == (["todo.list", "notes.list"], True)
    # Listed once: the second session validated its result against the kept listing
    # instead of listing again (the SDK would, for a tool it has not seen listed).
    assert fake.listings == 1
    assert connections.tool_lists_fetched == 1


async def test_a_new_server_version_is_listed_again_with_its_changed_tools(
    mcp: tuple[FakeMcp, str],
) -> None:
    fake, url = mcp
    async with McpConnections() as connections:
        await tick(url, connections)
        fake.redeploy(version="1.1", tools=[list_tool("todo.list"), list_tool("habits.list")])
        tools, ok = await tick(url, connections, tool="habits.list")
    assert tools == ["todo.list", "habits.list"]
    assert ok
    assert fake.listings == 2


async def test_a_listed_tool_refused_under_the_same_version_drops_the_kept_list(
    mcp: tuple[FakeMcp, str],
) -> None:
    fake, url = mcp
    async with McpConnections() as connections:
        await tick(url, connections)
        fake.redeploy(version="1.0", tools=[list_tool("todo.list")])
        # Still the kept list, until the server refuses a tool on it ...
        assert await tick(url, connections, tool="notes.list") == (
            ["todo.list", "notes.list"],
            False,
        )
        # ... then the next tick lists afresh.
        assert await tick(url, connections) == (["todo.list"], True)
    assert fake.listings == 2


async def test_a_kept_tool_list_is_listed_again_once_it_is_too_old(
    mcp: tuple[FakeMcp, str],
) -> None:
    fake, url = mcp
    now = [0.0]
    async with McpConnections(tool_list_max_age_seconds=60, monotonic=lambda: now[0]) as conn:
        await tick(url, conn)
        now[0] = 59.0
        await tick(url, conn)
        assert fake.listings == 1
        now[0] = 60.0
        await tick(url, conn)
    assert fake.listings == 2


async def test_concurrent_ticks_share_the_pool_but_each_has_its_own_persona_session(
    mcp: tuple[FakeMcp, str],
) -> None:
    fake, url = mcp

    async def persona(token: str) -> None:
        async with mcp_toolbox(
            url, token=token, space_id=None, clock=Clock(), connections=connections
        ) as toolbox:
            for _ in range(3):
                assert (await toolbox.call("todo.list", {})).ok

    async with McpConnections() as connections:
        await asyncio.gather(persona("persona-a"), persona("persona-b"))
    by_session: dict[str | None, set[str | None]] = {}
    for call in fake.calls:
        by_session.setdefault(call.session_id, set()).add(call.authorization)
    assert None not in by_session
    assert sorted(by_session.values(), key=str) == [{"Bearer persona-a"}, {"Bearer persona-b"}]
