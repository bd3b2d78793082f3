"""The development fault mode (MANA_FAULTS): every fault kind, seen through the official client
over a real MCP session, switched at runtime through the rules file; refused in production."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry

from mana.config import ProductionConfigError
from mana.kit.clock import OffsetClock
from mana.kit.server import free_port
from mana.mcp.app import create_mcp_app
from mana.mcp.faults import FaultInjector, FaultRulesError
from mana.tools.registry import exposed_tools
from tests.cli.conftest import one_line_error, run_mana
from tests.fixtures.database import Db
from tests.fixtures.mcp import (
    McpService,
    McpSession,
    db_uuid,
    mcp_session,
    personal_space_id,
    running_mcp_service,
    text_of,
)
from tests.fixtures.servers import TEST_SERVICE_KEY, AuthService, make_settings
from tests.mcp.faults_support import write_rules
from tests.mcp.test_spaces_and_sessions import shared_space

pytestmark = pytest.mark.anyio


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


# --- hide_older, foreign_items -----------------------------------------------------------------


async def test_hide_older_leaves_old_items_out_of_lists_and_answers_not_found_for_them(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        old_entry = await call(mcp, "journal.add", body="Monday: long walk")
        old_note = await call(mcp, "notes.create", title="Recipes")
        old_todo = await call(mcp, "todo.create", title="Call the bank")
        faulty.clock.offset = timedelta(days=2)
        new_entry = await call(mcp, "journal.add", body="Wednesday: rain")
        faulty.set(
            {"tool": "journal.*", "fault": "hide_older", "olderThanSeconds": 86400},
            # Note summaries carry no createdAt: their age is read from the notes table.
            {"tool": "notes.list", "fault": "hide_older", "olderThanSeconds": 86400},
        )
        listed = await call(mcp, "journal.list")
        assert [e["id"] for e in listed["items"]] == [new_entry["id"]]
        for tool, arguments in (
            ("journal.get", {"id": old_entry["id"]}),
            ("journal.update", {"id": old_entry["id"], "body": "rewritten"}),
        ):
            lost = await mcp.client.call_tool(tool, arguments)
            assert lost.is_error
            assert f"{old_entry['id']} not found" in text_of(lost)
        assert (await call(mcp, "notes.list"))["items"] == []
        assert [t["id"] for t in (await call(mcp, "todo.list"))["items"]] == [old_todo["id"]]

        faulty.set()
        assert (await call(mcp, "journal.get", id=old_entry["id"]))["body"] == "Monday: long walk"
        assert [n["id"] for n in (await call(mcp, "notes.list"))["items"]] == [old_note["id"]]
    assert injected(faulty.mcp, "journal.list", "hide_older") >= 1


async def test_hide_older_follows_item_shapes_not_modules_nested_items_and_missing_stamps(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        habit = await call(mcp, "habits.create", name="Stretch")
        await call(mcp, "mood.log", score=7)  # a mood entry shows no createdAt
        faulty.clock.offset = timedelta(days=2)
        faulty.set({"tool": "*", "fault": "hide_older", "olderThanSeconds": 86400})
        # Logging an old habit is about a lost item: not found, and nothing is logged.
        lost = await mcp.client.call_tool("habits.log", {"habitId": habit["id"]})
        assert lost.is_error and f"{habit['id']} not found" in text_of(lost)
        assert (await call(mcp, "habits.recent"))["habits"] == []
        assert (await call(mcp, "mood.recent", days=7))["entries"] == []
        faulty.set()
        (history,) = (await call(mcp, "habits.recent"))["habits"]
        assert history["habit"]["id"] == habit["id"] and history["logs"] == []
        assert len((await call(mcp, "mood.recent", days=7))["entries"]) == 1


async def test_foreign_items_show_real_rows_of_another_users_space_in_a_personal_list(
    auth: AuthService, faulty: Faulty, db: Db
) -> None:
    _, alice = auth.user_token()
    _, bob = auth.user_token()
    async with mcp_session(faulty.mcp.endpoint, alice) as mcp:
        await call(mcp, "notes.create", title="Alice's diary")
    bobs_space = personal_space_id(auth, bob)
    async with mcp_session(faulty.mcp.endpoint, bob) as mcp:
        own = await call(mcp, "notes.create", title="Bob's list")
        faulty.set({"tool": "notes.list", "fault": "foreign_items", "count": 1})
        items = (await call(mcp, "notes.list"))["items"]
    assert len(items) == 2
    (foreign,) = [item for item in items if item["id"] != own["id"]]
    home = await anyio.to_thread.run_sync(
        lambda: db.scalar(
            "SELECT space_id FROM app.notes WHERE id = :id", id=db_uuid(db, foreign["id"])
        )
    )
    assert home is not None  # a real row …
    assert uuid.UUID(str(home)) != bobs_space  # … of someone else's space
    assert injected(faulty.mcp, "notes.list", "foreign_items") >= 1


async def test_foreign_items_are_made_up_when_no_other_space_has_matching_rows(
    auth: AuthService, faulty: Faulty
) -> None:
    _, token = auth.user_token()
    faulty.set({"tool": "todo.list", "fault": "foreign_items", "count": 1})
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        # The official client checks structured content against the tool's output schema.
        items = (await call(mcp, "todo.list", search=f"nothing-{uuid.uuid4().hex}"))["items"]
    assert len(items) == 1
    assert uuid.UUID(items[0]["id"])


async def test_foreign_items_leave_shared_spaces_alone(auth: AuthService, faulty: Faulty) -> None:
    _, owner_token = auth.user_token()
    member, member_token = auth.user_token()
    space = shared_space(auth, owner_token, member, member_token)
    async with mcp_session(faulty.mcp.endpoint, owner_token, space=space) as mcp:
        note = await call(mcp, "notes.create", title="Shopping for the weekend")
        faulty.set({"tool": "notes.list", "fault": "foreign_items", "count": 2})
        items = (await call(mcp, "notes.list"))["items"]
    assert [item["id"] for item in items] == [note["id"]]


# --- the rules file while the server runs ------------------------------------------------------


async def test_a_broken_or_missing_rules_file_keeps_the_last_good_rules_with_one_warning(
    auth: AuthService, faulty: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = auth.user_token()
    faulty.set({"tool": "todo.list", "fault": "error", "message": "down for maintenance"})
    async with mcp_session(faulty.mcp.endpoint, token) as mcp:
        assert (await mcp.client.call_tool("todo.list", {})).is_error
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mana.mcp.faults"):
            faulty.rules.write_text('{"rules": [{"tool": "todo.list", "fault": "eror"}]}')
            for _ in range(3):
                kept = await mcp.client.call_tool("todo.list", {})
                assert text_of(kept) == "down for maintenance"
            faulty.rules.unlink()
            for _ in range(3):
                assert (await mcp.client.call_tool("todo.list", {})).is_error
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.name == "mana.mcp.faults" and r.levelno == logging.WARNING
        ]
        assert len(warnings) == 2, warnings  # one per broken version, not one per call
        assert "rules[0]" in warnings[0] and "'eror'" in warnings[0]
        assert "keeping the previous 1 rule(s)" in warnings[0]
        assert "cannot read" in warnings[1]
        faulty.set()
        assert not (await mcp.client.call_tool("todo.list", {})).is_error


# --- refused at start --------------------------------------------------------------------------


def test_production_refuses_the_fault_mode_naming_the_variable(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    write_rules(rules)
    settings = make_settings(
        f"sqlite:///{tmp_path / 'unused.db'}", env="production", faults=str(rules)
    )
    with pytest.raises(ProductionConfigError, match="MANA_FAULTS must be empty"):
        create_mcp_app(settings)
    with pytest.raises(ProductionConfigError, match="MANA_FAULTS"):
        settings.require_production_secrets()  # auth and runner refuse it as well

    result = run_mana(
        "serve",
        "mcp",
        "--port",
        str(free_port()),
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
        env={
            "MANA_ENV": "production",
            "MANA_SERVICE_KEY": TEST_SERVICE_KEY,
            "MANA_FAULTS": str(rules),
        },
    )
    line = one_line_error(result)
    assert "MANA_FAULTS" in line and "MANA_ENV=production" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("{rules: []}", "is not valid JSON"),
        (
            '{"rules": [{"tool": "calendar.list", "fault": "latency", "latencyMS": 10}]}',
            "rules[0].latencyMS: Extra inputs are not permitted",
        ),
        ('{"rules": [], "sed": 1}', "sed: Extra inputs are not permitted"),
        ('{"rules": [{"tool": "todo.*", "fault": "error", "rate": 2}]}', "rules[0].rate"),
    ],
)
def test_a_bad_rules_file_is_a_clear_error_at_start(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    rules = tmp_path / "faults.json"
    if content is not None:
        rules.write_text(content)
    settings = make_settings(f"sqlite:///{tmp_path / 'unused.db'}", faults=str(rules))
    with pytest.raises(FaultRulesError) as refused:
        create_mcp_app(settings)
    assert str(refused.value).startswith(f"MANA_FAULTS: {rules}")
    assert expected in str(refused.value)


def test_serve_mcp_with_a_bad_rules_file_fails_with_one_line(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text('{"rules": [{"tool": "todo.*", "fault": "explode"}]}')
    result = run_mana(
        "serve",
        "mcp",
        "--port",
        str(free_port()),
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
        env={"MANA_FAULTS": str(rules)},
    )
    line = one_line_error(result)
    assert str(rules) in line and "rules[0]" in line and "explode" in line


def test_the_rules_file_is_looked_at_no_more_often_than_the_check_interval(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    write_rules(rules)
    now = [100.0]
    injector = FaultInjector(
        rules,
        registry=CollectorRegistry(),
        tool_names=["todo.list"],
        check_interval=1.0,
        monotonic=lambda: now[0],
    )
    spec = exposed_tools()["todo.list"]
    write_rules(rules, {"tool": "todo.*", "fault": "error"})
    now[0] += 0.5
    assert injector.plan(spec).error is None  # not looked at yet
    now[0] += 0.6
    assert injector.plan(spec).error == "Something went wrong. Please try again later."
