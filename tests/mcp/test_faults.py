"""The development fault mode (MANA_FAULTS): every fault kind, seen through the official client
over a real MCP session, switched at runtime through the rules file; refused in production."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mana.kit.clock import OffsetClock
from tests.fixtures.mcp import McpService, McpSession, mcp_session, running_mcp_service, text_of
from tests.fixtures.servers import AuthService

pytestmark = pytest.mark.anyio


def write_rules(path: Path, *rules: dict[str, Any], seed: int | None = None) -> None:
    """Replace the file atomically, as an editor or `mana simulate` would."""
    body: dict[str, Any] = {"rules": list(rules)}
    if seed is not None:
        body["seed"] = seed
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(body), encoding="utf-8")
    os.replace(scratch, path)


@dataclass
class Faulty:
    mcp: McpService
    rules: Path
    clock: OffsetClock

    def set(self, *rules: dict[str, Any], seed: int | None = None) -> None:
        write_rules(self.rules, *rules, seed=seed)


@pytest.fixture(scope="module")
def faulty_service(
    auth_service: AuthService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faulty]:
    """One MCP server per backend with the fault mode on; each test writes its own rules.
    Checked on every call (interval 0), so a test needs no waiting after a switch."""
    rules = tmp_path_factory.mktemp("faults") / "faults.json"
    write_rules(rules)
    clock = OffsetClock()
    with running_mcp_service(
        auth_service, clock=clock, faults=str(rules), faults_check_seconds=0
    ) as service:
        yield Faulty(mcp=service, rules=rules, clock=clock)


@pytest.fixture
def faulty(faulty_service: Faulty) -> Iterator[Faulty]:
    yield faulty_service
    faulty_service.set()
    faulty_service.clock.offset = timedelta(0)


async def call(mcp: McpSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await mcp.client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def injected(service: McpService, tool: str, fault: str) -> float:
    prefix = f'mcp_faults_injected_total{{fault="{fault}",tool="{tool}"}} '
    for line in service.metrics().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


# --- error, latency, noop_write ----------------------------------------------------------------


async def test_an_error_rule_fails_matching_tools_with_its_message_and_runs_nothing(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    faulty.set({"tool": "todo.*", "fault": "error", "message": "Something went wrong"})
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        failed = await mcp.client.call_tool("todo.create", {"title": "Buy milk"})
        assert failed.is_error
        assert text_of(failed) == "Something went wrong"
        assert (await call(mcp, "notes.create", title="Untouched module"))["title"]
        faulty.set()
        assert (await call(mcp, "todo.list", status="all"))["items"] == []
    assert injected(faulty.mcp, "todo.create", "error") >= 1


async def test_an_error_rate_is_drawn_from_the_seeded_generator_so_runs_repeat(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    rule = {"tool": "todo.list", "fault": "error", "rate": 0.5}

    async def outcomes() -> list[bool]:
        faulty.set(rule, seed=7)  # a new file: the generator starts again from the seed
        return [(await mcp.client.call_tool("todo.list", {})).is_error for _ in range(16)]

    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        first = await outcomes()
        faulty.set()
        second = await outcomes()
    assert first == second
    assert 0 < sum(first) < len(first)


async def test_a_latency_rule_delays_only_the_matching_tool(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    faulty.set({"tool": "calendar.list", "fault": "latency", "latencyMs": 400})
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        started = time.perf_counter()
        await call(mcp, "calendar.list")
        slowed = time.perf_counter() - started
        started = time.perf_counter()
        await call(mcp, "todo.list")
        plain = time.perf_counter() - started
    assert slowed >= 0.4
    assert plain < slowed
    assert injected(faulty.mcp, "calendar.list", "latency") >= 1


async def test_a_noop_write_answers_as_usual_but_the_change_is_not_kept(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        todo = await call(mcp, "todo.create", title="Buy milk")
        faulty.set({"tool": "todo.complete", "fault": "noop_write"})
        answer = await call(mcp, "todo.complete", id=todo["id"])
        assert answer["done"] is True
        (still,) = (await call(mcp, "todo.list", status="all"))["items"]
        assert still["id"] == todo["id"]
        assert still["done"] is False

        faulty.set({"tool": "journal.*", "fault": "noop_write"})
        entry = await call(mcp, "journal.add", body="A day to remember")
        assert entry["body"] == "A day to remember"
        faulty.set()
        assert (await call(mcp, "journal.list"))["items"] == []
    assert injected(faulty.mcp, "todo.complete", "noop_write") >= 1
